"""rsdsva: zero-shot scene classification of remote-sensing imagery with DSVA."""

from importlib.metadata import PackageNotFoundError, version

from rsdsva._lazy import lazy_members
from rsdsva.classes import ClassSpace
from rsdsva.errors import RsdsvaError, RsdsvaWarning

# torch-backed names import on first use, so that reading files (rsdsva --help, classes,
# info) starts without torch
_MODULES = {
    "rsdsva.models.dsva": ("DSVA",),
    "rsdsva.models.info": ("ModelInfo", "read_model_info"),
    "rsdsva.models.checkpoint": ("create_model", "load_checkpoint", "save_checkpoint"),
    "rsdsva.models.weights": ("load_backbone_weights",),
    "rsdsva.predict": ("Classifier", "Prediction", "classify"),
}
__getattr__ = lazy_members(__name__, _MODULES)

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
