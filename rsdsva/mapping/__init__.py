"""Map scene classes over rasters: read tiles, classify, write GeoPackages."""

from rsdsva.mapping.pipeline import MapResult, MapSettings, default_model_path, map_scene

__all__ = ["MapResult", "MapSettings", "default_model_path", "map_scene"]
