"""Map scene classes over rasters: read tiles, classify, write GeoPackages."""

from rsdsva.mapping.pipeline import MapResult, default_model_path, map_scene
from rsdsva.mapping.settings import MapSettings

__all__ = ["MapResult", "MapSettings", "default_model_path", "map_scene"]
