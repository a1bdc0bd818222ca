"""One self-contained model file: safetensors weights plus a JSON metadata header.

The header (``__metadata__["rsdsva"]``) holds everything needed to use the
weights: backbone and head configs, the seen ClassSpace with its vocabulary,
preprocessing (input size, mean/std, band order), the ground sample distance and
tile footprint the model was trained for, the GZSL calibration and provenance.
Loading parses that header and the raw tensors; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from rsdsva.classes import ClassSpace
from rsdsva.errors import CheckpointError, MissingFileError
from rsdsva.models.backbones import BackboneConfig, build_backbone
from rsdsva.models.dsva import DSVA, DSVAConfig

FORMAT = "rsdsva-checkpoint"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024


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
        held = ClassSpace.from_dict(data, source="checkpoint held-out classes")
        return held.rescaled(self.classes.scale).with_seen(False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "backbone": self.backbone.to_dict(),
            "dsva": self.dsva.to_dict(),
            "classes": self.classes.to_dict(),
            "preprocessing": asdict(self.preprocessing),
            "gsd_m": self.gsd_m,
            "tile_m": self.tile_m,
            "calibration": self.calibration,
            "map_calibration": self.map_calibration,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            backbone=BackboneConfig.from_dict(data["backbone"]),
            dsva=DSVAConfig.from_dict(data["dsva"]),
            classes=ClassSpace.from_dict(data["classes"], source="checkpoint classes"),
            preprocessing=Preprocessing.from_dict(data["preprocessing"]),
            gsd_m=data.get("gsd_m"),
            tile_m=data.get("tile_m"),
            calibration=data.get("calibration"),
            map_calibration=data.get("map_calibration"),
            provenance=dict(data.get("provenance") or {}),
        )


def create_model(
    classes: ClassSpace,
    backbone: str | BackboneConfig = "ViT-B-32",
    weights: str | Path | None = None,
    score_head: str = "prototype",
    prototypes: bool = True,
    **info: Any,
) -> tuple[DSVA, ModelInfo]:
    """A new DSVA over ``classes`` (the seen classes), offline.

    Args:
        classes: seen classes and their attribute vocabulary.
        backbone: a backbone name or config (see :mod:`rsdsva.models.backbones`).
        weights: optional local file of backbone weights (open_clip, timm or rsdsva).
        score_head, prototypes: see :class:`DSVAConfig`.
        info: other :class:`ModelInfo` fields (gsd_m, tile_m, provenance).
    """
    from rsdsva.models.weights import load_backbone_weights

    config = BackboneConfig(name=backbone) if isinstance(backbone, str) else backbone
    net = build_backbone(config)
    if weights is not None:
        load_backbone_weights(net, weights)
    dsva_config = DSVAConfig(num_attributes=classes.num_attributes, score_head=score_head, prototypes=prototypes)
    model = DSVA(net, dsva_config)
    pre = Preprocessing(image_size=net.image_size, mean=tuple(net.mean), std=tuple(net.std))
    model_info = ModelInfo(backbone=config, dsva=dsva_config, classes=classes.with_seen(True), preprocessing=pre, **info)
    return model, model_info


def save_checkpoint(
    model: DSVA, info: ModelInfo, path: str | Path, dtype: torch.dtype = torch.float32
) -> Path:
    """Write weights and ``info`` to one ``.safetensors`` file, atomically."""
    from safetensors.torch import save_file

    from rsdsva._io import atomic_path

    state = {
        k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
        for k, v in model.state_dict().items()
    }
    meta = {"rsdsva": json.dumps(info.to_dict())}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return Path(path)


def read_model_info(path: str | Path) -> ModelInfo:
    """Parse only the metadata header (fast; no tensors read)."""
    return ModelInfo.from_dict(_read_header(Path(path)))


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[DSVA, ModelInfo]:
    """Rebuild the model from ``path`` and load its weights, strictly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    info = ModelInfo.from_dict(_read_header(path))
    model = DSVA(build_backbone(info.backbone, init=False), info.dsva)  # every weight is loaded below
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: weights unreadable ({err}); the file is damaged, re-save it") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the recorded architecture (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}); the file was edited or written by another version"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return model.to(device).eval(), info


def _read_header(path: Path) -> dict[str, Any]:
    """The rsdsva metadata of a safetensors file, with one clear error per failure."""
    if not path.is_file():
        raise MissingFileError(f"model file not found: {path}; give the path of an rsdsva .safetensors model")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: file is too short to be a model ({size} bytes); it is truncated")
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
    data = json.loads(raw)
    if data.get("format") != FORMAT or int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format {data.get('format')} v{data.get('format_version')} is not readable by this "
            f"rsdsva (reads {FORMAT} v{FORMAT_VERSION}); upgrade rsdsva"
        )
    return data
