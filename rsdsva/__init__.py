"""rsdsva: zero-shot scene classification of remote-sensing imagery with DSVA."""

from importlib.metadata import PackageNotFoundError, version

from rsdsva._lazy import lazy_members
from rsdsva.class_files import load_classes, save_classes
from rsdsva.classes import ClassSpace
from rsdsva.errors import RsdsvaError, RsdsvaWarning

# torch-backed names import on first use, so that reading files (rsdsva --help, classes,
# info) starts without torch
_MODULES = {
    "rsdsva.models.dsva": ("DSVA",),
    "rsdsva.models.info": ("ModelInfo",),
    "rsdsva.models.model_file": ("read_model_info",),
    "rsdsva.models.checkpoint": ("create_model", "load_checkpoint", "save_checkpoint"),
    "rsdsva.models.weights": ("load_backbone_weights",),
    "rsdsva.predict": ("Classifier", "Prediction", "build_classifier", "classify"),
    "rsdsva.inference": ("ClassifierSettings",),
    "rsdsva.mapping": ("MapSettings", "map_scene"),
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
    "ClassifierSettings",
    "MapSettings",
    "ModelInfo",
    "Prediction",
    "RsdsvaError",
    "RsdsvaWarning",
    "build_classifier",
    "classify",
    "create_model",
    "load_backbone_weights",
    "load_checkpoint",
    "load_classes",
    "map_scene",
    "read_model_info",
    "save_checkpoint",
    "save_classes",
]
