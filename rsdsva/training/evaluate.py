"""Evaluate a DSVA on a zero-shot split: ZSL, GZSL (U, S, H), calibration, reports."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from rsdsva.classes import ClassSpace
from rsdsva.data.folders import Sample, SceneDataset
from rsdsva.data.resident import ResidentImages
from rsdsva.data.splits import ZeroShotSplit
from rsdsva.data.transforms import ModelInput, eval_transform
from rsdsva.models.checkpoint import ModelInfo
from rsdsva.models.dsva import DSVA, class_matrix_tensor
from rsdsva.training import metrics as M


@dataclass
class EvalReport:
    """Everything the evaluation measured; ``to_json`` writes it."""

    classes: list[str]
    seen_mask: list[bool]
    zsl_accuracy: float
    seen_accuracy: float
    calibration: float
    gzsl_test: dict[str, float]
    gzsl_validation: dict[str, float]
    gzsl_uncalibrated: dict[str, float]
    us_curve: list[dict[str, float]]
    per_class_accuracy: dict[str, float]
    confusion: list[list[int]]
    counts: dict[str, int] = field(default_factory=dict)
    map_calibration: float | None = None  # lambda maximising mean accuracy over all classes on validation

    def summary(self) -> dict[str, float]:
        t = self.gzsl_test
        return {
            "zsl": self.zsl_accuracy,
            "seen": self.seen_accuracy,
            "u": t["u"],
            "s": t["s"],
            "h": t["h"],
            "lambda": self.calibration,
        }

    def to_json(self, path: str | Path) -> Path:
        from rsdsva._io import atomic_write_text

        return atomic_write_text(path, json.dumps(asdict(self), indent=1))


def logits_for(
    model: DSVA,
    info: ModelInfo,
    classes: ClassSpace,
    samples: Sequence[Sample],
    batch_size: int = 64,
    num_workers: int = 0,
    torchgeo_dataset: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Uncalibrated logits (N, C) over ``classes`` and the labels (N,) of ``samples``."""
    if not samples:
        return np.zeros((0, len(classes)), np.float32), np.zeros(0, np.int64)
    pre = info.preprocessing
    ds = SceneDataset(samples, classes.names, eval_transform(pre.image_size, pre.mean, pre.std), torchgeo_dataset)
    return logits_over(model, classes, DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False))


def logits_resident(
    model: DSVA, info: ModelInfo, classes: ClassSpace, images: ResidentImages, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`logits_for` on images already decoded (labels over ``classes``)."""
    pre = info.preprocessing
    batches = (
        (images.normalised(s, s + batch_size, pre.mean, pre.std), images.labels[s : s + batch_size])
        for s in range(0, len(images), batch_size)
    )
    return logits_over(model, classes, batches)


def classifier_logits(classifier, samples: Sequence[Sample], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a :class:`rsdsva.predict.Classifier` (its routes and calibration, so classes
    from example areas by their prototypes) over its classes, and the labels of ``samples``."""
    if not samples:
        return np.zeros((0, len(classifier.classes)), np.float32), np.zeros(0, np.int64)
    pre = classifier.info.preprocessing
    resize = ModelInput(pre.image_size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # to size only: forward normalises
    ds = SceneDataset(samples, classifier.classes.names, resize)
    out, labels = [], []
    for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False):
        out.append(classifier.forward(x).logits)
        labels.append(y.numpy())
    return np.concatenate(out), np.concatenate(labels)


def logits_over(
    model: DSVA, classes: ClassSpace, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[np.ndarray, np.ndarray]:
    """The model's logits over ``classes`` for each (images, labels) batch, in eval mode."""
    logits, _, labels = outputs_over(model, classes, batches)
    return logits, labels


def outputs_over(
    model: DSVA, classes: ClassSpace, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits over ``classes``, unit-norm features (the prototypes' space) and labels."""
    device = next(model.parameters()).device
    cm = class_matrix_tensor(classes, device)
    width = model.backbone.width
    out, feats, labels = [np.zeros((0, len(classes)), np.float32)], [np.zeros((0, width), np.float32)], [np.zeros(0, np.int64)]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for x, y in batches:
            result = model(x.to(device), cm)
            out.append(result.logits.float().cpu().numpy())
            feats.append(torch.nn.functional.normalize(result.features.float(), dim=-1).cpu().numpy())
            labels.append(y.cpu().numpy())
    model.train(was_training)
    return np.concatenate(out), np.concatenate(feats), np.concatenate(labels)


def fit_example_calibrations(
    model: DSVA,
    info: ModelInfo,
    split: ZeroShotSplit,
    recipes: Sequence[str],
    shots: int = 3,
    draws: int = 3,
    seed: int = 0,
    batch_size: int = 64,
    torchgeo_dataset: Any = None,
    val_dataset: Any = None,
) -> dict[str, tuple[float, float]]:
    """Per recipe, the (scale, bias) that put a tile's similarity to an example class's nearest
    example (features taken as the recipe says) on the scale of the model's logits, fitted on
    the seen classes' validation images. ``recipes`` take the same windows (they may differ in
    layers and orientations): the images are read, and their logits computed, once for all.

    Each seen class in turn plays an example class: its examples are ``shots`` of its training
    images (``draws`` random draws), and its similarity score replaces its attribute logit;
    :func:`rsdsva.training.metrics.fit_example_calibration` fits scale and bias so that the
    validation images are classified right. A training image stands for the recipes' widest
    window; its narrower windows are centred crops of it (the tile is its middle). Empty
    without validation images. ``val_dataset``: the torchgeo dataset the validation samples
    index, when it is not ``torchgeo_dataset`` (a data module's own splits).
    """
    from rsdsva.examples.recipe import parse_recipe
    from rsdsva.predict import Classifier

    seen = info.classes.subset(split.seen)
    if not split.val_seen or not recipes:
        return {}
    scales = {parse_recipe(r).scales for r in recipes}
    if len(scales) > 1:
        raise ValueError(f"recipes {', '.join(recipes)} take different windows; fit each windows' recipes apart")
    scales = scales.pop()
    pre = info.preprocessing
    side = int(round(pre.image_size * max(scales)))  # the widest window, so the tile is seen at the model's size
    ds_transform = ModelInput(side, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # resized only: the classifier normalises
    clf = Classifier(model.eval(), info, seen, mode="seen")

    def run(samples, dataset):
        ds = SceneDataset(samples, seen.names, ds_transform, dataset)
        logits, feats, labels = [], {r: [] for r in recipes}, []
        for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False):
            views = {}
            for sc in scales:
                n = int(round(side * sc / max(scales)))
                o = (side - n) // 2
                views[sc] = x[:, :, o : o + n, o : o + n]
            for r in recipes:
                feats[r].append(clf.example_features(views, r)[0])
            logits.append(clf.forward(x).logits)
            labels.append(y.numpy())
        return np.concatenate(logits), {r: np.concatenate(f) for r, f in feats.items()}, np.concatenate(labels)

    rng = np.random.default_rng(seed)
    by_class: dict[str, list] = {}
    for s in split.train:
        by_class.setdefault(s.label, []).append(s)
    picks = [[c[i] for i in rng.permutation(len(c))[: shots * draws]] for c in (by_class[n] for n in seen.names)]
    _, train_feats, train_labels = run([s for p in picks for s in p], torchgeo_dataset)
    logits, val_feats, labels = run(split.val_seen, torchgeo_dataset if val_dataset is None else val_dataset)
    fitted = {}
    for r in recipes:
        sims = []
        for d in range(draws):
            draw = np.full((len(labels), len(seen)), -1.0, np.float32)
            for k in range(len(seen)):
                rows = train_feats[r][train_labels == k][d * shots : (d + 1) * shots]
                if not len(rows):  # fewer images than draws x shots: reuse the first ones
                    rows = train_feats[r][train_labels == k][:shots]
                draw[:, k] = (val_feats[r] @ rows.T).max(axis=1)
            sims.append(draw)
        fitted[r] = M.fit_example_calibration(np.tile(logits, (draws, 1)), np.tile(labels, draws), np.concatenate(sims))
    return fitted


def fit_example_features(model: DSVA, info: ModelInfo, split: ZeroShotSplit, batch_size: int = 64,
                         torchgeo_dataset: Any = None, val_dataset: Any = None, whiten: bool = True) -> ModelInfo:
    """Fit what classes from example areas need of a trained model: the whitening of the
    features they compare (:func:`rsdsva.training.whitening.fit_tap_whitening`, installed in
    ``model``; kept as it is with ``whiten=False``) and the calibrations of the recipes they are
    made with: the model's default windows (the tile and twice its window) and the tile alone
    (for images without surroundings), each as read, mirrored and in all eight orientations.
    Returns ``info`` recording both."""
    from rsdsva.models.backbones import example_layers
    from rsdsva.examples.recipe import EXAMPLE_SCALES, ORIENTATIONS, example_recipe
    from rsdsva.training.whitening import fit_tap_whitening

    layers = example_layers(model.backbone)
    if whiten:
        info = fit_tap_whitening(model, info, split, layers, batch_size=batch_size, torchgeo_dataset=torchgeo_dataset)
    out = {}
    for scales in (EXAMPLE_SCALES, (1.0,)):
        out |= fit_example_calibrations(model, info, split, [example_recipe(layers, scales, n) for n in ORIENTATIONS],
                                        batch_size=batch_size, torchgeo_dataset=torchgeo_dataset,
                                        val_dataset=val_dataset)
    return info.replace(example_calibrations=out)


def evaluate_split(
    model: DSVA,
    info: ModelInfo,
    classes: ClassSpace,
    split: ZeroShotSplit,
    batch_size: int = 64,
    num_workers: int = 0,
    torchgeo_dataset: Any = None,
    calibration: float | None = None,
    logits: Callable[[Sequence[Sample]], tuple[np.ndarray, np.ndarray]] | None = None,
) -> EvalReport:
    """ZSL and GZSL on ``split``'s test images; lambda chosen on its validation images.

    Args:
        classes: all classes (seen and unseen flags set), over the model's vocabulary.
        calibration: use this lambda instead of choosing one on validation data.
        logits: samples -> (uncalibrated logits over ``classes``, labels), instead of the
            model's attribute logits (:func:`logits_for`).
    """
    run = logits or (lambda samples: logits_for(model, info, classes, samples, batch_size, num_workers,
                                                torchgeo_dataset))
    seen = classes.seen
    lv_u, yv_u = run(split.val_unseen)
    lv_s, yv_s = run(split.val_seen)
    lt_u, yt_u = run(split.test_unseen)
    lt_s, yt_s = run(split.test_seen)
    if calibration is None:
        chosen = M.choose_calibration(lv_u, yv_u, lv_s, yv_s, seen) if len(yv_u) else M.GZSLScore(0.0, 0, 0, 0)
        calibration = chosen.lam
    map_lam = M.choose_calibration(lv_u, yv_u, lv_s, yv_s, seen, criterion="accuracy").lam if len(yv_u) else 0.0
    val = M.gzsl_score(lv_u, yv_u, lv_s, yv_s, seen, calibration)
    test = M.gzsl_score(lt_u, yt_u, lt_s, yt_s, seen, calibration)
    raw = M.gzsl_score(lt_u, yt_u, lt_s, yt_s, seen, 0.0)
    both = np.concatenate([lt_u, lt_s])
    gaps = both[:, seen].max(1) - both[:, ~seen].max(1)
    lo, hi = np.percentile(gaps, [1, 99]) if len(gaps) else (0.0, 1.0)
    curve = [
        asdict(M.gzsl_score(lt_u, yt_u, lt_s, yt_s, seen, float(lam)))
        for lam in np.linspace(min(lo, 0.0), max(hi, calibration), 41)
    ]
    labels = np.concatenate([yt_u, yt_s])
    preds = M.calibrated_predictions(both, seen, calibration)
    per_class = {
        classes.names[c]: float(np.mean(preds[labels == c] == c)) for c in np.unique(labels)
    }
    return EvalReport(
        classes=list(classes.names),
        seen_mask=[bool(x) for x in seen],
        zsl_accuracy=M.zsl_accuracy(lt_u, yt_u, ~seen),
        seen_accuracy=M.seen_accuracy(lt_s, yt_s, seen),
        calibration=float(calibration),
        gzsl_test=asdict(test),
        gzsl_validation=asdict(val),
        gzsl_uncalibrated=asdict(raw),
        us_curve=curve,
        per_class_accuracy=per_class,
        confusion=M.confusion_matrix(labels, preds, len(classes)).tolist(),
        counts={k: len(getattr(split, k)) for k in ("val_seen", "val_unseen", "test_seen", "test_unseen")},
        map_calibration=float(map_lam),
    )


def plot_report(report: EvalReport, path: str | Path) -> Path:
    """A PNG with the GZSL confusion matrix and the U/S curve over lambda."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rsdsva._io import atomic_path

    cm = np.array(report.confusion, dtype=float)
    cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(report.classes)
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 6.5), gridspec_kw={"width_ratios": [1.3, 1]})
    a.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    names = [f"{c}{'' if s else ' *'}" for c, s in zip(report.classes, report.seen_mask)]
    a.set_xticks(range(n), names, rotation=90, fontsize=7)
    a.set_yticks(range(n), names, fontsize=7)
    a.set_xlabel("predicted")
    a.set_ylabel("true (* unseen)")
    a.set_title(f"GZSL confusion, lambda={report.calibration:.3g}")
    us = report.us_curve
    b.plot([p["s"] for p in us], [p["u"] for p in us], "o-", ms=3, label="test, lambda sweep")
    t = report.gzsl_test
    b.plot([t["s"]], [t["u"]], "r*", ms=14, label=f"chosen on validation: H={t['h']:.3f}")
    b.set_xlabel("S (seen accuracy)")
    b.set_ylabel("U (unseen accuracy)")
    b.set_xlim(0, 1)
    b.set_ylim(0, 1)
    b.legend(loc="upper right")
    b.set_title(f"ZSL {report.zsl_accuracy:.3f}   U {t['u']:.3f}  S {t['s']:.3f}  H {t['h']:.3f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
