"""rsdsva: zero-shot scene classification of remote-sensing imagery with DSVA."""

from importlib.metadata import PackageNotFoundError, version

from rsdsva.classes import ClassSpace
from rsdsva.errors import RsdsvaError, RsdsvaWarning
from rsdsva.models import (
    DSVA,
    ModelInfo,
    create_model,
    load_backbone_weights,
    load_checkpoint,
    read_model_info,
    save_checkpoint,
)
from rsdsva.predict import Classifier, Prediction, classify

try:
    __version__ = version("rsdsva")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "DSVA",
    "ClassSpace",
    "Classifier",
    "ModelInfo",
    "Prediction",
    "RsdsvaError",
    "RsdsvaWarning",
    "classify",
    "create_model",
    "load_backbone_weights",
    "load_checkpoint",
    "read_model_info",
    "save_checkpoint",
]
