"""Zero-shot metrics on precomputed logits: pure numpy, hand-checkable.

Protocol:

* ZSL accuracy: unseen test images ranked among the unseen classes only; top-1
  accuracy averaged over classes (mean per-class accuracy).
* GZSL: test images ranked among all classes after calibrated stacking (lambda
  subtracted from seen-class logits); U and S are the mean per-class accuracies
  on unseen and seen test images, H their harmonic mean.
* lambda is chosen to maximise H on the validation images (seen validation and
  the unseen classes' validation part, never the test images). The search is
  exact: predictions only change where lambda crosses an image's gap between its
  best seen and best unseen logit, so those gaps are the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def mean_per_class_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Top-1 accuracy per true class, averaged over the classes present in ``labels``."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.size == 0:
        return float("nan")
    return float(np.mean([np.mean(predictions[labels == c] == c) for c in np.unique(labels)]))


def harmonic_mean(u: float, s: float) -> float:
    return 0.0 if u + s == 0 else 2 * u * s / (u + s)


def calibrated_predictions(logits: np.ndarray, seen_mask: np.ndarray, lam: float) -> np.ndarray:
    return np.argmax(logits - lam * seen_mask.astype(logits.dtype), axis=1)


@dataclass(frozen=True)
class GZSLScore:
    lam: float
    u: float
    s: float
    h: float


def gzsl_score(
    logits_unseen: np.ndarray,
    labels_unseen: np.ndarray,
    logits_seen: np.ndarray,
    labels_seen: np.ndarray,
    seen_mask: np.ndarray,
    lam: float,
) -> GZSLScore:
    """U, S and H at one lambda; labels index the columns of the logits (all classes)."""
    u = mean_per_class_accuracy(labels_unseen, calibrated_predictions(logits_unseen, seen_mask, lam))
    s = mean_per_class_accuracy(labels_seen, calibrated_predictions(logits_seen, seen_mask, lam))
    return GZSLScore(lam, u, s, harmonic_mean(u, s))


def zsl_accuracy(logits: np.ndarray, labels: np.ndarray, unseen_mask: np.ndarray) -> float:
    """Unseen images among unseen classes only."""
    cols = np.flatnonzero(unseen_mask)
    return mean_per_class_accuracy(labels, cols[np.argmax(logits[:, cols], axis=1)])


def seen_accuracy(logits: np.ndarray, labels: np.ndarray, seen_mask: np.ndarray) -> float:
    """Seen images among seen classes only (plain supervised accuracy)."""
    cols = np.flatnonzero(seen_mask)
    return mean_per_class_accuracy(labels, cols[np.argmax(logits[:, cols], axis=1)])


def lambda_candidates(logits: np.ndarray, seen_mask: np.ndarray) -> np.ndarray:
    """Every lambda at which some image's prediction can switch, plus 0."""
    gaps = logits[:, seen_mask].max(axis=1) - logits[:, ~seen_mask].max(axis=1)
    eps = 1e-6 * max(1.0, float(np.abs(gaps).max(initial=0.0)))
    return np.unique(np.concatenate([[0.0], gaps + eps, [gaps.min(initial=0.0) - 1.0]]))


def choose_calibration(
    logits_unseen: np.ndarray,
    labels_unseen: np.ndarray,
    logits_seen: np.ndarray,
    labels_seen: np.ndarray,
    seen_mask: np.ndarray,
    criterion: str = "h",
) -> GZSLScore:
    """The lambda maximising ``criterion`` on these (validation) logits; ties go to the smallest |lambda|.

    ``h``: the harmonic mean of U and S, the zero-shot literature's protocol (it weighs the
    few unseen classes as much as all seen ones). ``accuracy``: the mean per-class accuracy
    over all classes, each class counted once, seen or not; lower, so that an unseen class wins
    a tile only when the model is sure, which suits a map, where most tiles are of known classes.
    """
    if criterion not in ("h", "accuracy"):
        raise ValueError(f"criterion {criterion!r} is not 'h' or 'accuracy'")
    n_seen, n_unseen = int(np.sum(seen_mask)), int(np.sum(~np.asarray(seen_mask)))
    value = (lambda g: g.h) if criterion == "h" else (lambda g: (n_seen * g.s + n_unseen * g.u) / (n_seen + n_unseen))
    both = np.concatenate([logits_unseen, logits_seen])
    best: GZSLScore | None = None
    for lam in sorted(lambda_candidates(both, seen_mask), key=abs):
        score = gzsl_score(logits_unseen, labels_unseen, logits_seen, labels_seen, seen_mask, float(lam))
        if best is None or value(score) > value(best):
            best = score
    assert best is not None
    return best


@dataclass(frozen=True)
class Validation:
    """What validation logits say, the same for the training loop, Lightning and evaluation."""

    seen_acc: float  # seen images among the seen classes
    zsl: float | None = None  # unseen images among the unseen classes (None: no unseen validation images)
    chosen: GZSLScore | None = None  # the lambda maximising H, with its U, S and H
    map_lambda: float | None = None  # the lambda maximising the mean accuracy over all classes (maps use it)

    @property
    def calibration(self) -> float:
        return self.chosen.lam if self.chosen is not None else 0.0

    def metrics(self) -> dict[str, float]:
        """``val_*`` numbers to log; ``selection`` (H, or the seen accuracy without unseen images)
        picks the best epoch."""
        out = {"val_seen_acc": self.seen_acc}
        if self.chosen is not None:
            g = self.chosen
            out.update(val_zsl=self.zsl, val_u=g.u, val_s=g.s, val_h=g.h, val_lambda=g.lam, selection=g.h)
        else:
            out.update(val_lambda=0.0, selection=self.seen_acc)
        return out


def validate(logits_unseen: np.ndarray, labels_unseen: np.ndarray, logits_seen: np.ndarray,
             labels_seen: np.ndarray, seen_mask: np.ndarray) -> Validation:
    """Seen accuracy and, where there are images of both kinds, ZSL and the lambdas chosen for H and
    for maps, on these validation logits."""
    seen_mask = np.asarray(seen_mask, bool)
    seen_acc = seen_accuracy(logits_seen, labels_seen, seen_mask) if len(labels_seen) else 0.0
    if not (len(labels_unseen) and len(labels_seen)):
        return Validation(seen_acc)
    args = (logits_unseen, labels_unseen, logits_seen, labels_seen, seen_mask)
    return Validation(seen_acc, zsl_accuracy(logits_unseen, labels_unseen, ~seen_mask), choose_calibration(*args),
                      choose_calibration(*args, criterion="accuracy").lam)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(predictions)), 1)
    return cm


def fit_example_calibration(logits: np.ndarray, labels: np.ndarray, sims: np.ndarray) -> tuple[float, float]:
    """(scale, bias) for which ``scale * sims[:, k] + bias`` best stands in for class k's logit.

    For every image i and class k, class k's logit is replaced by its prototype score and
    the image is classified among all classes (cross-entropy). The images of class k (k
    must win) and the others (k must not win) are weighted equally, as a map's tiles of an
    example class and of every other class both count.

    Args:
        logits: (N, C) uncalibrated logits of the seen classes for validation images.
        labels: (N,) their classes, in [0, C).
        sims: (N, C) cosine similarity of each image's features to each class's prototype.
    """
    import torch

    a = torch.as_tensor(logits, dtype=torch.float64)
    s = torch.as_tensor(sims, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.int64)
    n, c = a.shape
    eye = torch.eye(c, dtype=torch.bool)
    positive = y[:, None] == torch.arange(c)[None, :]  # (N, C): image i is of class k
    spread = float(a.std()) / max(float(s.std()), 1e-6)
    params = torch.tensor([spread, float(a.mean()) - spread * float(s.mean())], dtype=torch.float64, requires_grad=True)

    def loss() -> torch.Tensor:
        z = params[0] * s + params[1]  # (N, C)
        m = torch.where(eye[None], z[:, :, None].expand(n, c, c), a[:, None, :].expand(n, c, c))
        xe = torch.logsumexp(m, dim=-1) - m.gather(2, y[:, None, None].expand(n, c, 1))[..., 0]
        return 0.5 * (xe[positive].mean() + xe[~positive].mean())

    opt = torch.optim.LBFGS([params], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    opt.step(closure)
    scale, bias = (float(v) for v in params.detach())
    return scale, bias
