"""The one exception tree. Every error a user can cause is an :class:`RsdsvaError`.

Messages name the value, the file and the fix; the CLI prints them as one line. A message names a
setting as the library knows it, in backticks (`tile_m`); the CLI shows the flag that sets it
(--tile-m) in one place (:func:`rsdsva.cli.options.in_flags`), so each reader gets advice in their
own words.
Subclasses also inherit the builtin a caller would expect (as rasterio does), so
``except FileNotFoundError`` keeps working.
"""


# the packages of the torch extra (pyproject.toml) by their import names, and how to get them:
# the light install lacks them, and a command that needs one says so in one line
TORCH_FAMILY = ("torch", "torchvision", "timm", "open_clip", "torchgeo", "lightning", "onnx", "safetensors",
                "huggingface_hub")
TORCH_INSTALL = "pip install 'rsdsva[torch]' (about 6 GB)"


class RsdsvaError(Exception):
    """Root of every error rsdsva raises on purpose. ``setting``, where given, names the setting
    (``tile_size``) that would fix it, so a caller can give advice in its own words."""

    def __init__(self, *args, setting: str | None = None) -> None:
        super().__init__(*args)
        self.setting = setting


class RsdsvaWarning(UserWarning):
    """Something suspicious that does not stop the run."""


class MissingFileError(RsdsvaError, FileNotFoundError):
    """A file the user named does not exist."""


class ClassSpaceError(RsdsvaError, ValueError):
    """A class-attribute definition is invalid."""


class CheckpointError(RsdsvaError, ValueError):
    """A model file is not a usable rsdsva checkpoint."""


class WeightsError(RsdsvaError, ValueError):
    """Weights do not fit the architecture (missing or unexpected keys, shapes)."""


class BackboneError(RsdsvaError, ValueError):
    """An unknown or unsupported backbone name or setting."""


class ConfigError(RsdsvaError, ValueError):
    """A setting that is not one of its allowed values (a score head, an optimizer)."""


class DatasetError(RsdsvaError, ValueError):
    """Training or evaluation data is missing or inconsistent."""


class RasterError(RsdsvaError, OSError):
    """An input raster cannot be used."""


class OutputError(RsdsvaError, OSError):
    """An output cannot be written where it was asked for."""


class EngineError(RsdsvaError, RuntimeError):
    """An inference engine cannot run here: its package is not installed, or the model has no
    file for it (an ONNX export)."""
