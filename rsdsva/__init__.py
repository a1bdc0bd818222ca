"""rsdsva: zero-shot scene classification of remote-sensing imagery with DSVA."""

from importlib.metadata import PackageNotFoundError, version

from rsdsva._lazy import lazy_members
from rsdsva.classes import ClassSpace
from rsdsva.errors import RsdsvaError, RsdsvaWarning

# torch-backed names import on first use, so that reading files (rsdsva --help, classes,
# info) starts without torch
_MEMBERS = {
    "DSVA": "rsdsva.models.dsva",
    "ModelInfo": "rsdsva.models.info",
    "read_model_info": "rsdsva.models.info",
    "create_model": "rsdsva.models.checkpoint",
    "load_checkpoint": "rsdsva.models.checkpoint",
    "save_checkpoint": "rsdsva.models.checkpoint",
    "load_backbone_weights": "rsdsva.models.weights",
    "Classifier": "rsdsva.predict",
    "Prediction": "rsdsva.predict",
    "classify": "rsdsva.predict",
}
__getattr__ = lazy_members(__name__, _MEMBERS)

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
