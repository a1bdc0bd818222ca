"""Backbones, the DSVA model, its losses and its one-file checkpoints.

Every name imports its module (and torch) on first use, but the header side of a model
file, :mod:`rsdsva.models.info`, needs no torch.
"""

from rsdsva._lazy import lazy_members

_MEMBERS = {
    "Backbone": "rsdsva.models.backbones",
    "build_backbone": "rsdsva.models.backbones",
    "BackboneConfig": "rsdsva.models.info",
    "DSVAConfig": "rsdsva.models.info",
    "ModelInfo": "rsdsva.models.info",
    "Preprocessing": "rsdsva.models.info",
    "read_model_info": "rsdsva.models.info",
    "create_model": "rsdsva.models.checkpoint",
    "load_checkpoint": "rsdsva.models.checkpoint",
    "save_checkpoint": "rsdsva.models.checkpoint",
    "DSVA": "rsdsva.models.dsva",
    "DSVAOutput": "rsdsva.models.dsva",
    "class_matrix_tensor": "rsdsva.models.dsva",
    "LossWeights": "rsdsva.models.losses",
    "dsva_loss": "rsdsva.models.losses",
    "load_backbone_weights": "rsdsva.models.weights",
}
__getattr__ = lazy_members(__name__, _MEMBERS)
__all__ = sorted(_MEMBERS)
