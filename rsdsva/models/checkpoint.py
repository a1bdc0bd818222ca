"""One self-contained model file: safetensors weights plus a JSON metadata header.

The header (``__metadata__["rsdsva"]``, parsed by :mod:`rsdsva.models.model_file` without
torch) holds everything needed to use the weights: backbone and head configs, the
seen ClassSpace with its vocabulary, preprocessing (input size, mean/std, band order),
the ground sample distance and tile footprint the model was trained for, the GZSL
calibrations and provenance. Loading parses that header and the raw tensors; nothing
is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rsdsva.classes import ClassSpace
from rsdsva.errors import CheckpointError
from rsdsva.models.backbones import BackboneConfig, build_backbone
from rsdsva.models.dsva import DSVA
from rsdsva.models.info import DEFAULT_BACKBONE, DSVAConfig, ModelInfo, Preprocessing
from rsdsva.models.model_file import read_model_info


def create_model(
    classes: ClassSpace,
    backbone: str | BackboneConfig = DEFAULT_BACKBONE,
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


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[DSVA, ModelInfo]:
    """Rebuild the model from ``path`` and load its weights, strictly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    info = read_model_info(path)
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
            f"{path}: weights do not fit the recorded architecture (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}); the file was edited or written by another version"
        )
    wrong = [k for k, v in state.items() if v.shape != expected[k].shape]
    if wrong:
        k = wrong[0]
        raise CheckpointError(
            f"{path}: weights do not fit the recorded architecture ({k} is {tuple(state[k].shape)}, expected "
            f"{tuple(expected[k].shape)}); the file was edited or written by another version"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return model.to(device).eval(), info
