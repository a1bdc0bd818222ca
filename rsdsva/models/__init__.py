"""Backbones, the DSVA model, its losses and its one-file checkpoints."""

from rsdsva.models.backbones import Backbone, BackboneConfig, build_backbone
from rsdsva.models.checkpoint import (
    ModelInfo,
    Preprocessing,
    create_model,
    load_checkpoint,
    read_model_info,
    save_checkpoint,
)
from rsdsva.models.dsva import DSVA, DSVAConfig, DSVAOutput, class_matrix_tensor
from rsdsva.models.losses import LossWeights, dsva_loss
from rsdsva.models.weights import load_backbone_weights

__all__ = [
    "Backbone",
    "BackboneConfig",
    "DSVA",
    "DSVAConfig",
    "DSVAOutput",
    "LossWeights",
    "ModelInfo",
    "Preprocessing",
    "build_backbone",
    "class_matrix_tensor",
    "create_model",
    "dsva_loss",
    "load_backbone_weights",
    "load_checkpoint",
    "read_model_info",
    "save_checkpoint",
]
