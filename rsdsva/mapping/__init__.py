"""Map scene classes over rasters: read tiles, classify, write GeoPackages."""

from rsdsva.mapping.pipeline import MapResult, map_scene
from rsdsva.mapping.settings import MapSettings
from rsdsva.models.model_file import default_model_path

__all__ = ["MapResult", "MapSettings", "default_model_path", "map_scene"]
