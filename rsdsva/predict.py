"""Score images into seen and unseen classes.

Modes:

* ``seen``: the model's seen classes only;
* ``zsl``: the unseen classes only (classic zero-shot);
* ``gzsl``: all classes together, with calibrated stacking: ``calibration``
  (lambda) is subtracted from the seen classes' logits before the softmax.
  Logits are attribute scores times unit-norm class vectors, so lambda is in
  those units (typically 0 to a few); probabilities are the softmax of the
  calibrated logits.

Classes defined by example areas (``rsdsva classes from-map``) keep the features of every
example tile, taken as their recipe says (a middle layer of the backbone, pooled, on the
tile and on a window around it). A tile is scored by its cosine similarity to the class's
nearest example, put on the attribute logits' scale by the model's calibration for that
recipe (fitted against the uncalibrated seen-class logits, so lambda is subtracted from
them as from the seen classes). A seen class given examples (a correction) takes the
larger of its attribute logit and its example score. ``examples="attributes"`` ranks
classes from example areas by their attribute vectors instead.

Context: the zero-shot scores can be taken on several windows around a tile (``context``,
in tile sizes); their probabilities are averaged.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rsdsva.classes import ClassSpace
from rsdsva.data.transforms import to_model_input
from rsdsva.errors import ClassSpaceError, ConfigError, RsdsvaWarning
from rsdsva.inference import (EXAMPLE_ROUTES, MODES, PRECISIONS, ClassifierSettings, assemble_classes, check_context,
                              classes_for)
from rsdsva.models.dsva import DSVA, DSVAOutput, class_matrix_tensor, feature_space_id
from rsdsva.models.info import ModelInfo, parse_recipe


@dataclass(frozen=True)
class Prediction:
    """Results for N images over the C classes of ``classes``."""

    classes: ClassSpace
    probabilities: np.ndarray  # (N, C)
    logits: np.ndarray  # (N, C), calibrated
    attributes: np.ndarray  # (N, A) attribute scores of the score head
    top_k: np.ndarray  # (N, k) class indices, best first

    @property
    def labels(self) -> list[str]:
        return [self.classes.names[i] for i in self.top_k[:, 0]]

    @property
    def scores(self) -> np.ndarray:
        return np.take_along_axis(self.probabilities, self.top_k[:, :1], axis=1)[:, 0]


def class_space_for_mode(classes: ClassSpace, mode: str) -> ClassSpace:
    """The classes a prediction ranks in ``mode``."""
    if mode not in MODES:
        raise ClassSpaceError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "gzsl":
        return classes
    keep = classes.seen if mode == "seen" else classes.unseen
    if not keep.any():
        fix = "add unseen classes (--classes FILE)" if mode == "zsl" else "use --mode zsl"
        raise ClassSpaceError(f"mode {mode!r} needs {'unseen' if mode == 'zsl' else 'seen'} classes; {fix}")
    return classes.subset([n for n, k in zip(classes.names, keep) if k])


class Scored(NamedTuple):
    """One forward pass of a :class:`Classifier` over a batch."""

    logits: torch.Tensor  # (N, C) calibrated; with several context windows, log of their mean probabilities
    output: DSVAOutput  # the model's output on the first context window (attributes: their mean)
    similarity: torch.Tensor | None  # (N, E) cosine similarity to each example class's nearest example


class Classifier:
    """A model with a fixed set of classes, ready to score batches of images.

    Args:
        model: a DSVA (in eval mode).
        info: its metadata (preprocessing, calibrations).
        classes: the classes to rank (seen and unseen flags matter for ``gzsl``).
        mode: ``gzsl``, ``zsl`` or ``seen``.
        calibration: lambda for calibrated stacking (``gzsl`` only).
        examples: how classes with example tiles are scored: ``examples`` (similarity to the
            nearest example; where the model cannot, their attribute vectors, with a warning)
            or ``attributes``.
        precision: ``fp16`` or ``bf16`` autocast on CUDA, ``bf16`` on CPU (about 1.6x faster
            on CPUs with AVX512-BF16 or AMX); None for float32.
        held_out: the names among ``classes`` that are the model's held-out classes (for
            :attr:`routes`).
        context: the windows (in tile sizes, 1 = the tile) whose zero-shot probabilities are
            averaged.

    Build one with :func:`build_classifier`, which assembles the classes and calibration from
    settings the same way for every entry point.
    """

    def __init__(
        self,
        model: DSVA,
        info: ModelInfo,
        classes: ClassSpace,
        mode: str = "gzsl",
        calibration: float = 0.0,
        examples: str = "examples",
        precision: str | None = None,
        held_out: Sequence[str] = (),
        context: Sequence[float] = (1.0,),
    ) -> None:
        if examples not in EXAMPLE_ROUTES:
            raise ConfigError(f"example route {examples!r} is not one of {', '.join(EXAMPLE_ROUTES)}")
        if classes.attributes != info.classes.attributes:
            raise ClassSpaceError(
                "the classes' attribute vocabulary differs from the model's "
                f"({len(classes.attributes)} vs {len(info.classes.attributes)} attributes); "
                "define the classes over the model's vocabulary (rsdsva info MODEL lists it)"
            )
        self.model = model
        self.info = info
        self.classes = class_space_for_mode(classes, mode)
        self.mode = mode
        self.held_out = frozenset(held_out)
        self.calibration = float(calibration)
        self.context = check_context(context)
        device = next(model.parameters()).device
        self.device = device
        self.precision = precision
        self.autocast_dtype = autocast_dtype(precision, device)
        self.class_matrix = class_matrix_tensor(self.classes, device)
        self.by_examples = self._example_classes(model, info) if examples == "examples" else None
        stacked = self.classes.seen | (self.by_examples if self.by_examples is not None else False)
        offset = stacked.astype(np.float32) * (calibration if mode == "gzsl" else 0.0)
        self.offset = torch.from_numpy(offset).to(device)
        self.example_scales: tuple[float, ...] = ()
        if self.by_examples is not None:
            self.example_layers, self.example_scales = parse_recipe(self.classes.recipe)
            index = np.flatnonzero(self.by_examples)
            rows = [self.classes.examples[i] for i in index]
            self.example_index = torch.from_numpy(index).to(device)
            self.example_rows = torch.from_numpy(np.concatenate(rows)).to(device)
            owner = np.concatenate([np.full(len(r), j) for j, r in enumerate(rows)])
            self.example_owner = torch.from_numpy(owner).to(device)
            self.example_corrects = torch.from_numpy(self.classes.seen[index]).to(device)
            self.example_scale, self.example_bias = info.example_calibrations[self.classes.recipe]
        self.scales = tuple(sorted(set(self.context) | set(self.example_scales)))

    def _example_classes(self, model: DSVA, info: ModelInfo) -> np.ndarray | None:
        """(C,) mask of the classes scored by their examples; None when there are none."""
        has = self.classes.has_examples
        if not has.any():
            return None
        names = ", ".join(n for n, h in zip(self.classes.names, has) if h)
        if self.classes.feature_space != feature_space_id(model):
            why = (f"their examples were taken with another model (feature space {self.classes.feature_space}, "
                   f"this one is {feature_space_id(model)}); make them again with rsdsva classes from-map --model")
        elif self.classes.recipe not in info.example_calibrations:
            known = ", ".join(info.example_calibrations) or "none"
            why = (f"this model records no calibration for their recipe {self.classes.recipe} (it has: {known}); "
                   "make them again with rsdsva classes from-map")
        else:
            return has
        warnings.warn(f"classes {names}: ranked by their attribute vectors: {why}", RsdsvaWarning, stacklevel=3)
        return None

    @property
    def example_names(self) -> list[str]:
        """The classes scored by their examples, in the order of :attr:`Scored.similarity`."""
        if self.by_examples is None:
            return []
        return [n for n, e in zip(self.classes.names, self.by_examples) if e]

    @property
    def routes(self) -> list[str]:
        """How each class was defined: ``seen`` (trained on), ``held-out`` (recorded in the
        model), ``attributes`` (a vector), ``examples`` (scored by its example tiles) or
        ``seen+examples`` (a seen class corrected by examples)."""
        ex = self.by_examples if self.by_examples is not None else np.zeros(len(self.classes), bool)
        return ["seen+examples" if e and s else "examples" if e else "seen" if s else
                "held-out" if n in self.held_out else "attributes"
                for n, s, e in zip(self.classes.names, self.classes.seen, ex)]

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Float images in [0, 1] (N, 3, H, W) -> the model's input (:func:`to_model_input`)."""
        pre = self.info.preprocessing
        return to_model_input(images.to(self.device, torch.float32, non_blocking=True), pre.image_size, pre.mean, pre.std)

    def _run(self, images: torch.Tensor, tap: tuple[str, ...] = ()) -> DSVAOutput:
        dtype = self.autocast_dtype
        with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return self.model(self.prepare(images), self.class_matrix, tap=tap)

    @torch.inference_mode()
    def forward(self, images: torch.Tensor | Mapping[float, torch.Tensor]) -> Scored:
        """Score a batch at the classifier's precision, on the device.

        ``images``: [0, 1] floats (N, 3, H, W), or one such batch per window of :attr:`scales`
        (window size -> the windows around the tiles). A single batch stands for every window:
        an image without surroundings is its own context.
        """
        views = images if isinstance(images, Mapping) else {s: images for s in self.scales}
        outs, taps = [], []
        for s in self.scales:
            tap = self.example_layers if s in self.example_scales else ()
            if s not in self.context and not tap:
                continue
            out = self._run(views[s], tap)
            taps += out.tapped
            if s in self.context:
                outs.append(out)
        similarity = ex_logits = None
        if taps:
            sims = joined_features(taps) @ self.example_rows.T  # (N, examples)
            similarity = sims.new_full((len(sims), len(self.example_index)), -1.0).scatter_reduce_(
                1, self.example_owner.expand(len(sims), -1), sims, "amax")
            ex_logits = self.example_scale * similarity + self.example_bias

        def calibrated(out: DSVAOutput) -> torch.Tensor:
            logits = out.logits.float()
            if ex_logits is not None:
                own = logits.index_select(1, self.example_index)
                mixed = torch.where(self.example_corrects, torch.maximum(own, ex_logits), ex_logits)
                logits = logits.index_copy(1, self.example_index, mixed)
            return logits - self.offset

        if len(outs) == 1:
            return Scored(calibrated(outs[0]), outs[0], similarity)
        probs = torch.stack([calibrated(o).softmax(dim=-1) for o in outs]).mean(dim=0)
        attrs = torch.stack([o.attributes.float() for o in outs]).mean(dim=0)
        return Scored(probs.clamp_min(1e-30).log(), outs[0]._replace(attributes=attrs), similarity)

    @torch.inference_mode()
    def example_features(self, views: Mapping[float, torch.Tensor], recipe: str) -> tuple[torch.Tensor, DSVAOutput]:
        """Features of tiles as classes from example areas keep them (:func:`joined_features` of
        ``recipe``'s layer on each of its windows; ``views``: window size -> [0, 1] images),
        and the model's output on the first window."""
        layers, scales = parse_recipe(recipe)
        outs = [self._run(views[s], layers) for s in scales]
        return joined_features([t for o in outs for t in o.tapped]), outs[0]

    def logits_and_attributes(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated logits (N, C) and attribute scores (N, A) as tensors on the device."""
        scored = self.forward(images)
        return scored.logits, scored.output.attributes.float()

    def contributions(self, attributes: torch.Tensor, class_ids: torch.Tensor) -> torch.Tensor:
        """Per-attribute terms (N, A) of each image's score for ``class_ids``.

        They sum to the class's uncalibrated logit: attribute score x the class's
        (unit-norm) attribute value. A class scored by its examples is explained by its
        attribute vector, whose terms then do not sum to its score.
        """
        return attributes.float() * self.class_matrix.T[class_ids].float()

    def predict(self, images: torch.Tensor, top_k: int = 3, batch_size: int = 64) -> Prediction:
        """Rank the classes for ``images`` ([0, 1] floats, any size; each is its own context)."""
        logits, attrs = [], []
        for start in range(0, images.shape[0], batch_size):
            lg, at = self.logits_and_attributes(images[start : start + batch_size])
            logits.append(lg.cpu())
            attrs.append(at.cpu())
        lg = torch.cat(logits)
        k = min(top_k, len(self.classes))
        return Prediction(
            classes=self.classes,
            probabilities=lg.softmax(dim=-1).numpy(),
            logits=lg.numpy(),
            attributes=torch.cat(attrs).numpy(),
            top_k=lg.topk(k, dim=-1).indices.numpy(),
        )


def joined_features(taps: Sequence[torch.Tensor]) -> torch.Tensor:
    """One unit-norm feature from layers' pooled outputs on several windows: each normalised,
    then concatenated (a cosine of two is the mean of the layers' and windows' cosines)."""
    return torch.cat([F.normalize(t.float(), dim=-1) for t in taps], dim=1) / math.sqrt(len(taps))


def autocast_dtype(precision: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None runs in float32.

    fp16 on a CPU would be slower than float32 there, so it falls back (with a warning).
    """
    if precision is None:
        return None
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not fp16 or bf16 (or none, for float32)")
    if device.type == "cuda":
        return torch.float16 if precision == "fp16" else torch.bfloat16
    if precision == "bf16" and device.type == "cpu":
        return torch.bfloat16
    warnings.warn(f"--amp {precision} is not supported on {device.type}; running in float32 "
                  "(use --amp bf16 on a CPU)", RsdsvaWarning, stacklevel=3)
    return None


def build_classifier(settings: ClassifierSettings = ClassifierSettings()) -> Classifier:
    """The one way to a classifier: load the model and set up the classes, mode, calibration,
    device, precision, example route and context that ``settings`` name."""
    from rsdsva.models.checkpoint import load_checkpoint
    from rsdsva.models.device import pick_device

    model, info = load_checkpoint(settings.model_path, device=pick_device(settings.device))
    classes, held_names = classes_for(settings, info)
    return Classifier(model.eval(), info, classes, mode=settings.mode, calibration=settings.calibration_for(info),
                      examples=settings.example_route, precision=settings.precision, held_out=held_names,
                      context=settings.context)


def classify(
    model: DSVA,
    info: ModelInfo,
    images: torch.Tensor,
    unseen: ClassSpace | None = None,
    mode: str = "gzsl",
    calibration: float | None = None,
    top_k: int = 3,
    held_out: bool = True,
    precision: str | None = None,
) -> Prediction:
    """One-call prediction: the model's seen classes, its held-out classes (unless
    ``held_out`` is False) and the optional ``unseen`` ones, ranked as ``rsdsva map`` does."""
    classes = assemble_classes(info, unseen, held_out=held_out, mode=mode)
    lam = info.prediction_calibration() if calibration is None else calibration
    return Classifier(model, info, classes, mode=mode, calibration=lam, precision=precision).predict(images, top_k=top_k)
