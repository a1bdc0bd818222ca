"""Backbones, the DSVA model and its one-file checkpoints (its training losses are in rsdsva.training).

Every name imports its module (and torch) on first use, but the header side of a model
file, :mod:`rsdsva.models.info` and :mod:`rsdsva.models.model_file`, needs no torch.
"""

from rsdsva._lazy import lazy_members

_MODULES = {
    "rsdsva.models.backbones": ("Backbone", "build_backbone"),
    "rsdsva.models.info": ("BackboneConfig", "DSVAConfig", "ModelInfo", "Preprocessing"),
    "rsdsva.models.model_file": ("default_model_path", "read_model_info"),
    "rsdsva.models.checkpoint": ("create_model", "load_checkpoint", "save_checkpoint"),
    "rsdsva.models.device": ("pick_device",),
    "rsdsva.models.dsva": ("DSVA", "DSVAOutput", "class_matrix_tensor"),
    "rsdsva.models.weights": ("load_backbone_weights",),
}
__getattr__ = lazy_members(__name__, _MODULES)
__all__ = sorted(name for names in _MODULES.values() for name in names)
