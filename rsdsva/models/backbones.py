"""Backbones that return a sequence of tokens, built offline by name.

A Vision Transformer's tokens are its class token(s) and patch tokens; a
convolutional network's are the cells of its last feature map (H' x W' positions,
row-major), as in the attribute-prototype networks DSVA builds on.

Names resolve in this order:

* ``tiny-vit`` and ``tiny-clip``: tiny random architectures for tests (depth 1,
  width 32, 32-px input, 8-px patches: a 4x4 grid); ``tiny-cnn``: a two-stage
  EfficientNet-like network (32-px input: a 16x16 feature map).
* an open_clip model name (``ViT-B-32``, ``ViT-B-32-quickgelu``, ...): its vision
  tower. OpenAI CLIP and RemoteCLIP ViT-B/32 weights were trained with QuickGELU:
  use ``ViT-B-32-quickgelu`` for them.
* a timm model name: a ViT (``vit_*``, ``deit_*``, hybrids such as
  ``vit_tiny_r_s16_p8_224``) or a convolutional network (``tf_efficientnet_lite0``,
  ``efficientnet_lite0``, ``resnet18``, ...; anything whose ``forward_features``
  returns a feature map).

Nothing is downloaded here: architectures come from the packages' own configs, and
weights only from :func:`load_backbone_weights` (a local file, or weights the caller names
by hub name, :mod:`rsdsva.models.hub`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rsdsva.errors import BackboneError
from rsdsva.models.info import BackboneConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """Common face of every backbone: ``forward(images) -> tokens (B, T, D)``.

    ``T = num_prefix_tokens + grid[0] * grid[1]``; the prefix is the class token
    (and a timm model's other prefix tokens); the rest is the patch grid in
    row-major order.
    """

    family: str = ""
    width: int
    grid: tuple[int, int]
    num_prefix_tokens: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.config = config

    # -- weights: each family says where its weights go and how a file's tensors map there --

    checkpoint_prefix = "model."  # under "backbone." in an rsdsva checkpoint

    @property
    def weights_target(self) -> nn.Module:
        """The module a weights file is loaded into."""
        return self.model

    def select_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The tensors of a (non-rsdsva) weights file meant for this backbone, renamed to its
        layout: an EfficientNet-PyTorch file is converted, a classifier head is left out."""
        from rsdsva.models.convert import convert_efficientnet_pytorch, is_efficientnet_pytorch

        if is_efficientnet_pytorch(state) and hasattr(self.model, "blocks"):
            state = convert_efficientnet_pytorch(state, [len(s) for s in self.model.blocks])
        classifier = (getattr(self.model, "pretrained_cfg", None) or {}).get("classifier", "head")
        heads = tuple(h + "." for h in ((classifier,) if isinstance(classifier, str) else classifier))
        return {k: v for k, v in state.items() if not k.startswith(heads)}

    def adapt_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` fitted to this input size (position embeddings resampled); as is by default."""
        return state


class OpenClipBackbone(Backbone):
    """The vision tower of an open_clip CLIP model, returning all tokens after ``ln_post``."""

    family = "open_clip"
    checkpoint_prefix = "visual."

    @property
    def weights_target(self) -> nn.Module:
        return self.visual

    def select_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A full CLIP state dict gives its vision tower; the text tower is ignored."""
        if any(k.startswith("visual.") for k in state):
            return {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
        return state

    def adapt_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "positional_embedding" not in state:
            return state
        from open_clip.model import resize_pos_embed

        class _Clip:  # resize_pos_embed expects a CLIP model with a ``visual`` attribute
            visual = self.visual

        wrapped = {"visual." + k: v for k, v in state.items()}
        resize_pos_embed(wrapped, _Clip())
        return {k[len("visual."):]: v for k, v in wrapped.items()}

    def __init__(self, config: BackboneConfig, visual: nn.Module) -> None:
        super().__init__(config)
        if not hasattr(visual, "conv1") or getattr(visual, "attn_pool", None) is not None:
            raise BackboneError(
                f"open_clip model {config.name!r} has no plain ViT vision tower; "
                "choose a ViT model such as ViT-B-32"
            )
        self.visual = visual
        self.width = visual.conv1.out_channels
        self.grid = tuple(visual.grid_size)
        self.num_prefix_tokens = 1
        self.image_size = int(visual.image_size[0])
        self.mean = tuple(getattr(visual, "image_mean", None) or IMAGENET_MEAN)
        self.std = tuple(getattr(visual, "image_std", None) or IMAGENET_STD)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        v = self.visual
        x = v.conv1(images).flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        x = v.patch_dropout(x)
        x = v.ln_pre(x)
        x = v.transformer(x)
        return v.ln_post(x)


class TimmBackbone(Backbone):
    """A timm Vision Transformer (plain, DeiT or hybrid) without its classifier head."""

    family = "timm"

    def __init__(self, config: BackboneConfig, model: nn.Module) -> None:
        super().__init__(config)
        if not hasattr(model, "patch_embed") or not hasattr(model, "num_prefix_tokens"):
            raise BackboneError(
                f"timm model {config.name!r} is not a Vision Transformer; choose a vit_* or deit_* model"
            )
        self.model = model
        self.width = int(model.embed_dim)
        self.grid = tuple(int(g) for g in model.patch_embed.grid_size)
        self.num_prefix_tokens = int(model.num_prefix_tokens)
        self.image_size = int(model.patch_embed.img_size[0])
        cfg = getattr(model, "pretrained_cfg", None) or {}
        self.mean = tuple(cfg.get("mean", IMAGENET_MEAN))
        self.std = tuple(cfg.get("std", IMAGENET_STD))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(images)

    def adapt_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "pos_embed" not in state:
            return state
        from timm.models.vision_transformer import checkpoint_filter_fn

        try:
            return checkpoint_filter_fn(state, self.model)
        except Exception:  # odd layouts: let the strict key check report them
            return state


class TimmCnnBackbone(Backbone):
    """A timm convolutional network; the cells of its last feature map are the tokens.

    There is no prefix token, and the grid is the feature map's size at the
    configured input size (``ceil(size / 32)`` for EfficientNets and ResNets).
    """

    family = "timm"

    def __init__(self, config: BackboneConfig, model: nn.Module, image_size: int) -> None:
        super().__init__(config)
        self.model = model
        self.width = int(model.num_features)
        self.num_prefix_tokens = 0
        self.image_size = image_size
        cfg = getattr(model, "pretrained_cfg", None) or {}
        self.mean = tuple(cfg.get("mean", IMAGENET_MEAN))
        self.std = tuple(cfg.get("std", IMAGENET_STD))
        was_training = model.training
        model.eval()
        with torch.no_grad():  # a dry run: the grid depends on padding and strides, not only on size / 32
            fmap = model.forward_features(torch.zeros(1, 3, image_size, image_size))
        model.train(was_training)
        if fmap.ndim != 4:
            raise BackboneError(f"timm model {config.name!r} gives no feature map (shape {tuple(fmap.shape)})")
        self.grid = (int(fmap.shape[2]), int(fmap.shape[3]))
        # channels-last convolutions: 1.8x the CPU throughput of lite0 at 128 px (oneDNN)
        self.model.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        fmap = self.model.forward_features(images.contiguous(memory_format=torch.channels_last))
        return fmap.flatten(2).transpose(1, 2)


def example_layers(backbone: Backbone) -> tuple[str, ...]:
    """The names, within ``backbone``, of the two stages (or blocks) before its last: the layers
    whose pooled outputs classes from example areas are compared on. Less specialised to the
    training classes than the last, they find both the sample scene's kinds and unseen UC Merced
    and AID classes from a few examples better (scripts/bench/probe_recipes.py)."""
    for prefix in ("model.blocks", "visual.transformer.resblocks"):
        try:
            blocks = backbone.get_submodule(prefix)
        except AttributeError:
            continue
        n = len(blocks)
        picked = (n - 3, n - 2) if n >= 3 else (n // 2,)
        return tuple(f"{prefix}.{i}" for i in picked)
    raise BackboneError(f"backbone {backbone.config.name!r} has no stages or blocks to take example features from")


def build_backbone(config: BackboneConfig | str, init: bool = True) -> Backbone:
    """Build a backbone by name, with random weights and without any network access.

    ``init=False`` skips timm ViTs' weight initialisation (half their build time) for a
    model whose every weight is loaded next; other backbones ignore it.
    """
    if isinstance(config, str):
        config = BackboneConfig(name=config)
    name = config.name
    if name in TEST_BACKBONES:
        return TEST_BACKBONES[name](config, init)
    for knows, build in FAMILIES.values():
        if knows(name):
            return build(config, init)
    raise BackboneError(
        f"unknown backbone {name!r}; use an open_clip ViT name (e.g. ViT-B-32), a timm model "
        "(e.g. vit_tiny_patch16_224, tf_efficientnet_lite0, resnet18) or tiny-vit / tiny-cnn for tests"
    )


def build_tiny_clip(image_size: int = 32) -> nn.Module:
    """A whole tiny open_clip CLIP model (vision and text), for tests and examples."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=image_size)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=32, heads=2, layers=1)
    return CLIP(embed_dim=16, vision_cfg=vision, text_cfg=text)


def _build_open_clip(config: BackboneConfig) -> nn.Module:
    import open_clip

    kwargs: dict[str, Any] = {"pretrained": None, "pretrained_text": False}
    if config.image_size:
        kwargs["force_image_size"] = config.image_size
    return open_clip.create_model(config.name, **kwargs)


def _build_timm(config: BackboneConfig, tiny: bool, init: bool = True) -> TimmBackbone:
    import timm

    kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 0, **config.options}
    if tiny:
        from timm.models.vision_transformer import VisionTransformer

        size = config.image_size or 32
        model = VisionTransformer(
            img_size=size, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=0
        )
        return TimmBackbone(config, model)
    if not _is_vit(config.name):
        return _build_timm_cnn(config, kwargs)
    if config.image_size:
        kwargs["img_size"] = config.image_size
    if not init and timm.models.model_entrypoint(config.name).__module__ == "timm.models.vision_transformer":
        kwargs["weight_init"] = "skip"
    try:
        model = timm.create_model(config.name, **kwargs)
    except TypeError as err:
        raise BackboneError(f"timm model {config.name!r} does not take these settings: {err}") from None
    return TimmBackbone(config, model)


def _is_vit(name: str) -> bool:
    import timm

    module = timm.models.model_entrypoint(name).__module__
    return module.rsplit(".", 1)[-1] in ("vision_transformer", "vision_transformer_hybrid", "deit")


def _build_timm_cnn(config: BackboneConfig, kwargs: dict[str, Any]) -> TimmCnnBackbone:
    import timm

    kwargs["global_pool"] = ""
    try:
        model = timm.create_model(config.name, **kwargs)
    except TypeError as err:
        raise BackboneError(f"timm model {config.name!r} does not take these settings: {err}") from None
    size = config.image_size or int(model.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
    return TimmCnnBackbone(config, model, size)


def _build_tiny_cnn(config: BackboneConfig) -> TimmCnnBackbone:
    """A two-stage EfficientNet-Lite-like network of a few thousand weights (tests), with
    TensorFlow's "same" padding as the tf_ networks have (the default model's)."""
    from timm.models._efficientnet_builder import decode_arch_def
    from timm.models.efficientnet import EfficientNet

    arch = decode_arch_def([["ds_r1_k3_s1_e1_c8"], ["ir_r2_k3_s2_e2_c16"]])
    model = EfficientNet(arch, num_features=24, stem_size=8, num_classes=0, global_pool="", fix_stem=True,
                         pad_type="same")
    model.pretrained_cfg = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
    return TimmCnnBackbone(config, model, config.image_size or 32)


def _is_timm(name: str) -> bool:
    import timm

    return timm.is_model(name)


def _is_open_clip(name: str) -> bool:
    import open_clip

    return name in open_clip.list_models()


# Architectures as data: the tiny test networks by name, then each family, asked in order whether it
# knows a name and how to build it (config, init) -> Backbone.
TEST_BACKBONES = {
    "tiny-vit": lambda config, init: _build_timm(config, tiny=True, init=init),
    "tiny-cnn": lambda config, init: _build_tiny_cnn(config),
    "tiny-clip": lambda config, init: OpenClipBackbone(config, build_tiny_clip(config.image_size or 32).visual),
}
FAMILIES = {
    "timm": (_is_timm, lambda config, init: _build_timm(config, tiny=False, init=init)),
    "open_clip": (_is_open_clip, lambda config, init: OpenClipBackbone(config, _build_open_clip(config).visual)),
}
