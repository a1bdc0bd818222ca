"""DSVA's training losses.

Reductions (chosen so the terms are comparable and independent of batch size,
vocabulary size and grid size):

* semantic compatibility: cross-entropy over classes, mean over the batch;
* semantic regression: squared error summed over attributes (the targets are unit
  vectors, so this is at most ~4), mean over the batch;
* attention concentration: per attribute map, sum over cells of
  ``sigmoid(map) * d^2``, where d is the distance to the map's argmax in units of
  the grid diagonal (so it lies in [0, 1] per cell), averaged over cells, maps and
  batch; it lies in [0, 1].

Default weights follow the paper's scripts for the four alignment terms (xe 1,
attri 1e-2, layer xe 1, layer attri 8e-2). The scripts' concentration weight 1e-9
multiplies an unnormalised sum over batch x attributes x cells and distances in
grid cells; with our normalised mean that contribution would vanish entirely, so
we use 1e-2, which makes the term about as large as the regression terms at the
start of training. ``LossWeights.official()`` keeps the scripts' numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rsdsva.models.dsva import DSVAOutput
from rsdsva.training.config import LossWeights


def semantic_compatibility(
    logits: torch.Tensor, labels: torch.Tensor, double_softmax: bool = False
) -> torch.Tensor:
    """Cross-entropy of class logits (attribute scores x class matrix).

    ``double_softmax=True`` applies cross-entropy to softmax probabilities, as the
    official code does: a softmax of a softmax, whose gradients vanish as the
    model grows confident. Kept only so a benchmark can compare.
    """
    if double_softmax:
        logits = logits.softmax(dim=-1)
    return F.cross_entropy(logits.float(), labels)


def semantic_regression(attributes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Squared distance of predicted attribute scores to the class's (unit) vector."""
    return (attributes.float() - targets).pow(2).sum(dim=-1).mean()


def attention_concentration(attention: torch.Tensor) -> torch.Tensor:
    """Pull each attention map (B, A, H, W) toward its peak cell."""
    b, a, h, w = attention.shape
    flat = attention.float().flatten(2)
    peak = flat.argmax(dim=-1)  # (B, A)
    rows = torch.arange(h, device=flat.device).repeat_interleave(w).float()
    cols = torch.arange(w, device=flat.device).repeat(h).float()
    d2 = (rows - rows[peak].unsqueeze(-1)) ** 2 + (cols - cols[peak].unsqueeze(-1)) ** 2
    d2 = d2 / max((h - 1) ** 2 + (w - 1) ** 2, 1)
    return (flat.sigmoid() * d2).mean()


def dsva_loss(
    out: DSVAOutput, labels: torch.Tensor, targets: torch.Tensor, weights: LossWeights
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the terms that apply to this model, and each term's value.

    Args:
        out: the forward pass, with logits over the training classes.
        labels: (B,) class indices into those logits.
        targets: (B, A) unit-norm attribute vectors of each image's class.
    """
    terms: dict[str, tuple[float, torch.Tensor]] = {
        "layer_xe": (weights.layer_xe, semantic_compatibility(out.vam_logits, labels, weights.double_softmax)),
        "layer_attri": (weights.layer_attri, semantic_regression(out.vam_attributes, targets)),
    }
    if out.prototype_attributes is not None:
        terms["xe"] = (weights.xe, semantic_compatibility(out.prototype_logits, labels, weights.double_softmax))
        terms["attri"] = (weights.attri, semantic_regression(out.prototype_attributes, targets))
        terms["cpt"] = (weights.cpt, attention_concentration(out.attention))
    total = sum(w * v for w, v in terms.values())
    return total, {k: float(v.detach()) for k, (_, v) in terms.items()}
