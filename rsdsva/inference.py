"""What shapes a classifier, and which classes it ranks; no torch here.

:class:`ClassifierSettings` is the one declaration of the model, classes, mode, calibration,
device, precision, example route, context, orientations and engine; :func:`classes_for`
assembles the classes from them. :func:`rsdsva.predict.build_classifier` turns the two into a
classifier, and every entry point that classifies (``rsdsva map`` and its Dask workers,
``explain``, ``evaluate --classes``, :func:`rsdsva.predict.classify`) goes through it, so the
same pixels, classes and settings get the same label everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rsdsva.class_files import load_classes
from rsdsva.classes import ClassSpace
from rsdsva.engines.registry import ENGINES, PRECISIONS
from rsdsva.errors import ClassSpaceError, ConfigError
from rsdsva.examples.recipe import check_orientations
from rsdsva.models.info import ModelInfo
from rsdsva.models.model_file import default_model_path

MODES = ("gzsl", "zsl", "seen")
DEVICES = ("auto", "cpu", "cuda")
EXAMPLE_ROUTES = ("examples", "attributes")  # how classes from example areas are scored


@dataclass(frozen=True)
class ClassifierSettings:
    """What shapes a classifier: the model, the classes, how they are ranked, where it runs.

    Frozen and hashable: a Dask worker keys its cache of built classifiers on it.
    """

    model: str | None = None  # model file; None: the embedded default model
    classes: str | None = None  # the user's (unseen) classes file
    held_out: bool = True  # also rank the classes the model was evaluated on as unseen
    mode: str = "gzsl"
    calibration: float | None = None  # GZSL lambda; None: the model's for prediction
    device: str = "auto"
    precision: str | None = None  # autocast: fp16 or bf16; None: float32
    example_route: str = "examples"  # classes from example areas: by their examples or by attribute vector
    context: tuple[float, ...] = (1.0,)  # windows (times the tile) the zero-shot scores are averaged over
    orientations: int = 1  # of each window, their zero-shot scores averaged too (examples.recipe.ORIENTATIONS)
    engine: str = "auto"  # what runs the network: torch, onnx (ONNX Runtime), or auto (rsdsva.engines)

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", check_context(self.context))
        if self.calibration is not None and not (math.isfinite(self.calibration) and abs(self.calibration) <= 1e3):
            raise ConfigError(f"`calibration` {self.calibration:g}: give a number from -1000 to 1000, in the units of "
                              "the attribute logits (typically 0 to a few; the model's is shown by rsdsva info)")
        if self.device not in DEVICES:
            raise ConfigError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"`precision` {self.precision!r} is not one of "
                              f"{', '.join(p or 'None (float32)' for p in PRECISIONS)}")
        if self.engine not in ENGINES:
            raise ConfigError(f"`engine` {self.engine!r} is not one of {', '.join(ENGINES)}")
        check_orientations(self.orientations)
        if self.example_route not in EXAMPLE_ROUTES:
            raise ConfigError(f"example route {self.example_route!r} is not one of {', '.join(EXAMPLE_ROUTES)}")

    @property
    def model_path(self) -> Path:
        return Path(self.model) if self.model else default_model_path()

    def calibration_for(self, info: ModelInfo) -> float:
        """The GZSL lambda: the settings', else the model's for prediction."""
        return self.calibration if self.calibration is not None else info.prediction_calibration()


def check_context(context) -> tuple[float, ...]:
    """``context`` as sorted window sizes (times the tile), each 1 or more, at most 8 (a window
    8 tiles wide is 64 tiles read for each one)."""
    if isinstance(context, (int, float)):
        context = (context,)
    try:
        values = tuple(sorted({float(c) for c in context}))
    except (TypeError, ValueError):
        raise ConfigError(f"`context` {context!r} must be numbers, e.g. 2 or 2,3") from None
    if not values or any(not 1 <= v <= 8 for v in values):
        shown = ",".join(f"{v:g}" for v in values) or "(none)"
        raise ConfigError(f"`context` {shown}: each window must be 1 (the tile alone) to 8 times the tile; "
                          "e.g. `context` 2,3")
    return values


def assemble_classes(
    info: ModelInfo,
    extra: ClassSpace | None = None,
    held_out: bool = True,
    mode: str = "gzsl",
    source: str = "the classes",
) -> ClassSpace:
    """The model's seen classes, its held-out (unseen) classes and ``extra`` (the user's).

    A class of ``extra`` replaces a held-out class of the same name, and in ``zsl`` mode
    (where seen classes are not ranked) a seen class of the same name too.
    """
    classes = info.classes.with_seen(True)
    if extra is not None:
        extra = extra.with_seen(False)
        taken = [n for n in extra.names if n in classes.names]
        # examples under a seen class's name correct it: the seen class keeps its vector and gains them
        corrected = [n for n in taken if mode != "zsl" and extra.has_examples[extra.index(n)]]
        if corrected:
            classes = classes.add_examples(extra.subset(corrected))
            rest = [n for n in extra.names if n not in corrected]
            extra = extra.subset(rest) if rest else None
            taken = [n for n in taken if n not in corrected]
    if extra is not None:
        if taken and mode == "zsl":
            classes = classes.subset([n for n in classes.names if n not in taken])
        elif taken:
            raise ClassSpaceError(f"{source}: {taken[0]!r} is already one of the model's seen classes; "
                                  "rename it, drop it from the file, or use `mode` zsl")
    held = info.held_out_classes() if held_out else None
    if held is not None:
        keep = [n for n in held.names if extra is None or n not in extra.names]
        if keep:
            classes = classes.concat(held.subset(keep))
    return classes.concat(extra) if extra is not None else classes


def load_extra_classes(settings: ClassifierSettings, info: ModelInfo) -> ClassSpace | None:
    """The settings' classes file over the model's vocabulary, flagged unseen."""
    if not settings.classes:
        return None
    return load_classes(settings.classes, vocabulary=info.classes.attributes).with_seen(False)


def classes_for(settings: ClassifierSettings, info: ModelInfo,
                extra: ClassSpace | None = None) -> tuple[ClassSpace, list[str]]:
    """The classes a classifier built from ``settings`` ranks (:func:`assemble_classes` with the
    settings' classes file, or ``extra`` where it was read already, flagged unseen) and the names
    among them that are the model's held-out classes."""
    extra = extra if extra is not None else load_extra_classes(settings, info)
    classes = assemble_classes(info, extra, settings.held_out, settings.mode, settings.classes or "the classes")
    held = info.held_out_classes() if settings.held_out else None
    held_names = [n for n in (held.names if held is not None else ()) if extra is None or n not in extra.names]
    return classes, held_names


def window_scales(settings: ClassifierSettings, extra: ClassSpace | None) -> tuple[float, ...]:
    """Every window (times the tile) a classifier built from ``settings`` looks at: its context,
    and the windows its classes from example areas (``extra``, :func:`load_extra_classes`) were
    made from; known before the model loads."""
    from rsdsva.examples.recipe import parse_recipe

    scales = set(settings.context)
    if extra is not None and extra.examples is not None and settings.example_route == "examples":
        scales |= set(parse_recipe(extra.examples.recipe).scales)
    return tuple(sorted(scales))
