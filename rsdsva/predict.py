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
example tile, taken as their recipe says; :class:`rsdsva.examples.scorer.ExampleScorer`
scores tiles against them, on the attribute logits' scale (the model's calibration for the
recipe is fitted against the uncalibrated seen-class logits, so lambda is subtracted from
them as from the seen classes). ``examples="attributes"`` ranks classes from example areas
by their attribute vectors instead.

Context: the zero-shot scores can be taken on several windows around a tile (``context``,
in tile sizes), each as read and also mirrored or turned (``orientations``: overhead images
have no up); their probabilities are averaged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from rsdsva.classes import ClassSpace, normalized_vectors
from rsdsva.confidence import confidences
from rsdsva.engines.base import Engine, Forward, largest, softmax
from rsdsva.errors import ClassSpaceError, ConfigError
from rsdsva.examples.recipe import Recipe, check_orientations, oriented, parse_recipe
from rsdsva.examples.scorer import ExampleScorer, mean_taps, take_features
from rsdsva.inference import EXAMPLE_ROUTES, MODES, ClassifierSettings, assemble_classes, check_context, classes_for
from rsdsva.models.info import ModelInfo


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
        fix = "add unseen classes (`classes` FILE)" if mode == "zsl" else "use `mode` zsl"
        raise ClassSpaceError(f"mode {mode!r} needs {'unseen' if mode == 'zsl' else 'seen'} classes; {fix}")
    return classes.subset([n for n, k in zip(classes.names, keep) if k])


class Scored(NamedTuple):
    """One forward pass of a :class:`Classifier` over a batch (numpy arrays)."""

    logits: np.ndarray  # (N, C) calibrated; with several windows or orientations, log of their mean probabilities
    attributes: np.ndarray  # (N, A) attribute scores (with several windows or orientations, their mean)
    attention: np.ndarray | None  # (N, A, grid_h, grid_w) on the first context window, as read
    similarity: np.ndarray | None  # (N, E) cosine similarity to each example class's nearest example


class ZeroShotHead:
    """Class logits from attribute scores: each class's unit attribute vector (the class matrix),
    less calibrated stacking's lambda on the classes a prediction favours in ``gzsl`` (the seen
    classes, and the classes from example areas, whose scores are fitted on the seen ones')."""

    def __init__(self, classes: ClassSpace, favoured: np.ndarray, mode: str, calibration: float) -> None:
        self.matrix = normalized_vectors(classes).T.astype(np.float32)  # (A, C)
        self.offset = favoured.astype(np.float32) * np.float32(calibration if mode == "gzsl" else 0.0)

    def logits(self, attributes: np.ndarray) -> np.ndarray:
        """(N, C) uncalibrated logits of attribute scores (N, A)."""
        return attributes.astype(np.float32, copy=False) @ self.matrix

    def contributions(self, attributes: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
        """Per-attribute terms (N, A) of each image's logit for ``class_ids``: attribute score x the
        class's (unit-norm) attribute value."""
        return np.asarray(attributes, np.float32) * self.matrix.T[np.asarray(class_ids)]


@dataclass(frozen=True)
class Views:
    """What the network is run on per batch: the zero-shot scores' windows (``context``, in tile
    sizes) each in ``orientations``, and the windows, layers and orientations the example classes'
    ``recipe`` takes features on (None: no example classes)."""

    context: tuple[float, ...]
    orientations: int
    recipe: Recipe | None = None

    @property
    def scales(self) -> tuple[float, ...]:
        """Every window, in tile sizes."""
        return tuple(sorted(set(self.context) | set(self.recipe.scales if self.recipe is not None else ())))

    def runs(self, scale: float) -> tuple[int, int, tuple[str, ...]]:
        """For window ``scale``: how many orientations give zero-shot scores, how many give example
        features, and the layers those take."""
        layers = self.recipe.layers if self.recipe is not None and scale in self.recipe.scales else ()
        return (self.orientations if scale in self.context else 0,
                self.recipe.orientations if layers else 0, layers)


class Classifier:
    """A network with a fixed set of classes, ready to score batches of images: its engine, the
    zero-shot head, the example scorer and the views, composed.

    Args:
        network: an :class:`~rsdsva.engines.base.Engine`, or a DSVA module (run by the torch
            engine at ``precision``).
        info: its metadata (preprocessing, calibrations).
        classes: the classes to rank (seen and unseen flags matter for ``gzsl``).
        mode: ``gzsl``, ``zsl`` or ``seen``.
        calibration: lambda for calibrated stacking (``gzsl`` only).
        examples: how classes with example tiles are scored: ``examples`` (similarity to the
            nearest example; where the model cannot, their attribute vectors, with a warning)
            or ``attributes``.
        precision: for a DSVA module: ``fp16`` or ``bf16`` autocast on CUDA, ``bf16`` on CPU;
            None for float32.
        held_out: the names among ``classes`` that are the model's held-out classes (for
            :attr:`routes`).
        context: the windows (in tile sizes, 1 = the tile) whose zero-shot probabilities are
            averaged.
        orientations: of each window, 1 (as read), 2 (and mirrored) or 8 (every quarter turn,
            mirrored or not), their probabilities averaged with the windows'. Classes from
            example areas compare tiles in the orientations their recipe names (as read,
            unless they were made otherwise), as their examples were taken.

    Build one with :func:`build_classifier`, which assembles the classes and calibration from
    settings the same way for every entry point. Everything after the network's forward is
    here, in numpy, the same for every engine.
    """

    def __init__(
        self,
        network,
        info: ModelInfo,
        classes: ClassSpace,
        mode: str = "gzsl",
        calibration: float = 0.0,
        examples: str = "examples",
        precision: str | None = None,
        held_out: Sequence[str] = (),
        context: Sequence[float] = (1.0,),
        orientations: int = 1,
    ) -> None:
        if examples not in EXAMPLE_ROUTES:
            raise ConfigError(f"example route {examples!r} is not one of {', '.join(EXAMPLE_ROUTES)}")
        if classes.attributes != info.classes.attributes:
            raise ClassSpaceError(
                "the classes' attribute vocabulary differs from the model's "
                f"({len(classes.attributes)} vs {len(info.classes.attributes)} attributes); "
                "define the classes over the model's vocabulary (rsdsva info MODEL lists it)"
            )
        if not isinstance(network, Engine):
            from rsdsva.engines.torch_engine import TorchEngine

            network = TorchEngine(network, info, precision)
        self.engine = network
        self.info = info
        self.classes = class_space_for_mode(classes, mode)
        self.held_out = frozenset(held_out)
        self.examples = (ExampleScorer.for_classes(self.classes, info, self.engine.feature_space)
                         if examples == "examples" else None)
        favoured = self.classes.seen | (self.examples.mask if self.examples is not None else False)
        self.head = ZeroShotHead(self.classes, favoured, mode, float(calibration))
        self.views = Views(check_context(context), check_orientations(orientations),
                           self.examples.recipe if self.examples is not None else None)

    @property
    def scales(self) -> tuple[float, ...]:
        """Every window the classifier looks at, in tile sizes (:attr:`Views.scales`)."""
        return self.views.scales

    @property
    def example_names(self) -> list[str]:
        """The classes scored by their examples, in the order of :attr:`Scored.similarity`."""
        return self.examples.names if self.examples is not None else []

    @property
    def spectra(self):
        """The examples' :class:`~rsdsva.examples.spectra.SpectralRecord`: tiles are compared by their
        spectra too (None: by the network's features alone, or no example classes)."""
        return self.examples.spectra if self.examples is not None else None

    @functools.cached_property  # the classes are set once, and the tile loop asks for every batch's confidence
    def routes(self) -> list[str]:
        """How each class was defined: ``seen`` (trained on), ``held-out`` (recorded in the
        model), ``attributes`` (a vector), ``examples`` (scored by its example tiles) or
        ``seen+examples`` (a seen class corrected by examples)."""
        ex = self.examples.mask if self.examples is not None else np.zeros(len(self.classes), bool)
        return ["seen+examples" if e and s else "examples" if e else "seen" if s else
                "held-out" if n in self.held_out else "attributes"
                for n, s, e in zip(self.classes.names, self.classes.seen, ex)]

    def forward(self, images, spectra: np.ndarray | None = None) -> Scored:
        """Score a batch.

        ``images``: [0, 1] floats (N, 3, H, W), numpy or torch, or one such batch per window of
        :attr:`scales` (window size -> the windows around the tiles). A single batch stands for
        every window: an image without surroundings is its own context. ``spectra``: (N, F) the
        tiles' spectra over every band (:func:`rsdsva.examples.spectra.tile_spectra`), which classes from
        example areas of a raster of more than three bands compare (:attr:`spectra`).
        """
        ex = self.examples
        if ex is not None:
            ex.check(spectra)
        windows = images if isinstance(images, Mapping) else {s: images for s in self.scales}
        outs: list[Forward] = []
        taps: list[np.ndarray] = []
        ran: dict[tuple[int, int, tuple[str, ...]], Forward] = {}  # a batch standing for several windows runs once
        for s in self.scales:
            scored, tapped, tap = self.views.runs(s)
            turned = []  # the orientations of a window nest (the first two of eight are as read and mirrored)
            for v in range(max(scored, tapped)):
                layers = tap if v < tapped else ()
                key = (id(windows[s]), v, layers)
                if key not in ran:
                    ran[key] = self.engine.run(oriented(windows[s], v), layers)
                out = ran[key]
                if v < tapped:
                    turned.append(out.tapped)
                if v < scored:
                    outs.append(out)
            taps += mean_taps(turned)
        similarity = ex_logits = None
        if taps:
            similarity, ex_logits = ex.score(ex.features(taps, spectra))

        def calibrated(out: Forward) -> np.ndarray:
            logits = self.head.logits(out.attributes)
            if ex_logits is not None:
                logits = ex.merged(logits, ex_logits)
            return logits - self.head.offset

        if len(outs) == 1:
            return Scored(calibrated(outs[0]), outs[0].attributes, outs[0].attention, similarity)
        probs = np.mean([softmax(calibrated(o)) for o in outs], axis=0)
        attrs = np.mean([o.attributes for o in outs], axis=0)
        return Scored(np.log(np.maximum(probs, 1e-30)), attrs, outs[0].attention, similarity)

    def example_features(self, views: Mapping[float, object], recipe: str) -> tuple[np.ndarray, Forward]:
        """Features of tiles as classes from example areas keep them (:func:`~rsdsva.examples.scorer.joined_features` of
        ``recipe``'s layer on each of its windows; ``views``: window size -> [0, 1] images),
        and the network's output on the first window, as read. A recipe of several orientations
        averages each window's pooled outputs over them."""
        return take_features(self.engine, views, parse_recipe(recipe))

    def logits_and_attributes(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated logits (N, C) and attribute scores (N, A)."""
        scored = self.forward(images)
        return scored.logits, scored.attributes

    def confidence(self, scores: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
        """Each image's confidence (how likely its label is right) from its winning class's
        score, on the model's curve for that class's route (:mod:`rsdsva.confidence`)."""
        routes = self.routes
        return confidences(scores, [routes[int(i)] for i in class_ids], self.info.confidence_curves)

    def contributions(self, attributes: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
        """Per-attribute terms (N, A) of each image's score for ``class_ids``, which sum to the
        class's uncalibrated logit (:meth:`ZeroShotHead.contributions`). A class scored by its
        examples is explained by its attribute vector, whose terms then do not sum to its score.
        """
        return self.head.contributions(attributes, class_ids)

    def predict(self, images, top_k: int = 3, batch_size: int = 64) -> Prediction:
        """Rank the classes for ``images`` ([0, 1] floats, any size; each is its own context)."""
        logits, attrs = [], []
        for start in range(0, images.shape[0], batch_size):
            lg, at = self.logits_and_attributes(images[start : start + batch_size])
            logits.append(lg)
            attrs.append(at)
        lg = np.concatenate(logits)
        k = min(top_k, len(self.classes))
        return Prediction(
            classes=self.classes,
            probabilities=softmax(lg),
            logits=lg,
            attributes=np.concatenate(attrs),
            top_k=largest(lg, k)[1],
        )


def build_classifier(settings: ClassifierSettings = ClassifierSettings(), threads: int | None = None,
                     extra: ClassSpace | None = None) -> Classifier:
    """The one way to a classifier: open the model on its engine and set up the classes, mode,
    calibration, device, precision, example route, context and orientations that ``settings`` name.
    ``threads``: CPU threads of the forward (None: the engine's default); ``extra``: the settings'
    classes file, where the caller has read it already (a map's plan has)."""
    from rsdsva.engines import open_engine

    engine, info = open_engine(settings.model_path, settings.engine, settings.device, settings.precision, threads)
    classes, held_names = classes_for(settings, info, extra)
    return Classifier(engine, info, classes, mode=settings.mode, calibration=settings.calibration_for(info),
                      examples=settings.example_route, precision=settings.precision, held_out=held_names,
                      context=settings.context, orientations=settings.orientations)


def classify(
    model,
    info: ModelInfo,
    images,
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
