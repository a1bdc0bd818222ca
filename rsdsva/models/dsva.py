"""DSVA: Deep Semantic-Visual Alignment (Xu et al., ISPRS J. 2023).

A ViT backbone gives tokens (B, T, D). Two heads map them into the attribute space:

* Visual-Attribute Mapping (VAM): mean of all tokens -> LayerNorm -> Linear(D, A).
* Attribute prototypes: A learned vectors in token space. Each is matched (dot
  product) against every patch token, giving an attention map per attribute over
  the patch grid; an attribute's score is its map's maximum.

Classes from example areas compare pooled outputs of middle backbone layers (``tap``);
a fitted model whitens them (``whitening``), so that directions along which the seen
classes' images vary within a class count less than those that tell classes apart.

Class logits are attribute scores times the class-attribute matrix (A, C), whose
columns are the class vectors L2-normalised (:func:`class_matrix_tensor`). A class
is only its vector, so classes can be added at prediction time without retraining.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from rsdsva.classes import ClassSpace, normalized_vectors
from rsdsva.models.backbones import Backbone
from rsdsva.models.info import DSVAConfig


class DSVAOutput(NamedTuple):
    """What one forward pass gives.

    ``attributes`` and ``logits`` are those of the configured score head; the
    per-head fields are for the losses. Prototype fields are None in a VAM-only
    model; logits are None when no class matrix was given.
    """

    attributes: torch.Tensor  # (B, A)
    logits: torch.Tensor | None  # (B, C)
    vam_attributes: torch.Tensor  # (B, A)
    vam_logits: torch.Tensor | None
    prototype_attributes: torch.Tensor | None  # (B, A)
    prototype_logits: torch.Tensor | None
    attention: torch.Tensor | None  # (B, A, grid_h, grid_w)
    features: torch.Tensor  # (B, D) mean of the tokens: the VAM's input
    tapped: tuple[torch.Tensor, ...] = ()  # (B, D_i) pooled outputs of the backbone layers asked for (example classes)


class DSVA(nn.Module):
    """Backbone plus the VAM and attribute-prototype heads."""

    def __init__(self, backbone: Backbone, config: DSVAConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = config
        width, a = backbone.width, config.num_attributes
        self.vam_norm = nn.LayerNorm(width)
        self.vam = nn.Linear(width, a)
        if config.prototypes:
            self.prototypes = nn.Parameter(torch.randn(a, width) * width**-0.5)
        else:
            self.register_parameter("prototypes", None)
        self.whitening = nn.ModuleDict({_key(layer): nn.Linear(w, w).requires_grad_(False) for layer, w in config.whitened})

    def set_whitening(self, fitted: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Whiten the pooled outputs of layers: ``fitted`` maps a layer to (mean (D,), matrix
        (D, D)), applied as ``(x - mean) @ matrix``; empty removes every whitening. Updates
        :attr:`config` (record it in the model's info)."""
        from dataclasses import replace

        self.whitening = nn.ModuleDict()
        for layer, (mean, matrix) in fitted.items():
            linear = nn.Linear(matrix.shape[0], matrix.shape[1]).requires_grad_(False).to(self.vam.weight.device)
            with torch.no_grad():
                linear.weight.copy_(matrix.T)
                linear.bias.copy_(-mean @ matrix)
            self.whitening[_key(layer)] = linear
        self.config = replace(self.config, whitened=tuple((layer, int(m.shape[0])) for layer, (_, m) in fitted.items()))

    def head_parameters(self) -> list[nn.Parameter]:
        """The parameters the paper's first training stage updates (prototypes, VAM linear)."""
        params = list(self.vam.parameters())
        if self.prototypes is not None:
            params.append(self.prototypes)
        return params

    def forward(self, images: torch.Tensor, class_matrix: torch.Tensor | None = None,
                tap: tuple[str, ...] = ()) -> DSVAOutput:
        """Score ``images`` (B, 3, H, W, normalised) against ``class_matrix`` (A, C).

        ``tap`` names layers of the backbone (:func:`rsdsva.models.backbones.example_layers`)
        whose outputs, pooled over positions, are returned as ``tapped``, in that order.
        """
        taken: dict[str, torch.Tensor] = {}
        hooks = [self.backbone.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: taken.__setitem__(name, self._tapped(name, out))) for name in tap]
        try:
            tokens = self.backbone(images)
        finally:
            for hook in hooks:
                hook.remove()
        features = tokens.mean(dim=1)
        vam_attr = self.vam(self.vam_norm(features))
        proto_attr = attention = None
        if self.prototypes is not None:
            patches = tokens[:, self.backbone.num_prefix_tokens :]
            maps = torch.einsum("bpd,ad->bap", patches, self.prototypes.to(patches.dtype))
            proto_attr = maps.amax(dim=-1)
            attention = maps.unflatten(-1, self.backbone.grid)

        def logits(attr: torch.Tensor | None) -> torch.Tensor | None:
            if attr is None or class_matrix is None:
                return None
            return attr @ class_matrix.to(attr.dtype)

        head = self.config.score_head
        attr = {"vam": vam_attr, "prototype": proto_attr}.get(head)
        if head == "sum":
            attr = vam_attr + proto_attr
        return DSVAOutput(
            attributes=attr,
            logits=logits(attr),
            vam_attributes=vam_attr,
            vam_logits=logits(vam_attr),
            prototype_attributes=proto_attr,
            prototype_logits=logits(proto_attr),
            attention=attention,
            features=features,
            tapped=tuple(taken[name] for name in tap),
        )

    def _tapped(self, name: str, out: torch.Tensor) -> torch.Tensor:
        """A tapped layer's output, pooled over positions, and whitened where the model is fitted to."""
        pooled = _pooled(out)
        key = _key(name)
        return self.whitening[key](pooled) if key in self.whitening else pooled


def _key(layer: str) -> str:
    return layer.replace(".", "-")  # a module name holds no dots


def _pooled(out: torch.Tensor) -> torch.Tensor:
    """A layer's output averaged over positions: (B, C, H, W) feature maps and (B, T, D) tokens."""
    return out.mean(dim=(2, 3)) if out.ndim == 4 else out.mean(dim=1)


def feature_space_id(model: DSVA) -> str:
    """A short fingerprint of a trained model, naming the feature space its example-class
    prototypes live in: any retraining changes the VAM weights, and refitting the whitening its
    weights, and so the fingerprint."""
    import hashlib

    digest = hashlib.sha256()
    for weight in [model.vam.weight] + list(model.whitening.parameters()):
        digest.update(weight.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def class_matrix_tensor(classes: ClassSpace, device: torch.device | str | None = None) -> torch.Tensor:
    """The (A, C) matrix that turns attribute scores into class logits."""
    return torch.from_numpy(normalized_vectors(classes).T.copy()).to(device)
