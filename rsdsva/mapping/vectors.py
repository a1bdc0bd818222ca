"""Reading the vector files users hand to rsdsva (areas of interest, example areas)."""

from __future__ import annotations

from pathlib import Path

from rsdsva.errors import MissingFileError, RasterError


def read_vector(path: str | Path, what: str, layer: str | None = None):
    """A GeoDataFrame (index: the features' ids, as QGIS shows them) from any file GDAL reads;
    one clear line when the file is missing, unreadable or has no CRS."""
    import geopandas as gpd
    import pyogrio

    from rsdsva._io import check_input_file

    path = Path(path)
    if path.exists() and not path.is_dir():  # a folder may be a shapefile's
        check_input_file(path, f"the {what} file")
    if not path.exists():
        raise MissingFileError(f"{what} file not found: {path}; give a vector file (GeoPackage, GeoJSON, shapefile)")
    if layer is not None:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        if layer not in layers:
            raise RasterError(f"{path}: no layer {layer!r}; its layers are {', '.join(layers)}")
    try:
        shapes = gpd.read_file(path, layer=layer, fid_as_index=True)
    except Exception as err:  # pyogrio raises several types for unreadable files
        raise RasterError(f"{path}: not a vector file GDAL can read ({str(err)[:100]})") from None
    if shapes.crs is None:
        raise RasterError(f"{path}: the {what} has no CRS; save it with one")
    return _repaired(shapes, path, what)


def _repaired(shapes, path: Path, what: str):
    """``shapes`` with invalid geometries (a self-intersecting polygon, a bow tie) made valid, and a
    one-line warning naming them: unions and overlaps of invalid shapes fail or mislead."""
    import warnings

    import shapely

    from rsdsva.errors import RsdsvaWarning

    present = shapes.geometry.notna() & ~shapes.geometry.is_empty
    invalid = present & ~shapes.geometry.is_valid
    if not invalid.any():
        return shapes
    ids = ", ".join(str(i) for i in shapes.index[invalid][:5]) + (" ..." if invalid.sum() > 5 else "")
    warnings.warn(f"{path}: {what} feature{'s' if invalid.sum() > 1 else ''} {ids} not valid (self-intersecting?); "
                  "repaired with make_valid: check them in QGIS (Vector > Geometry Tools > Check Validity)",
                  RsdsvaWarning, stacklevel=3)
    shapes = shapes.copy()
    shapes.loc[invalid, "geometry"] = shapely.make_valid(shapes.geometry[invalid].to_numpy())
    return shapes


def read_run_layer(path: str | Path) -> dict | None:
    """The ``run`` layer of a map's GeoPackage (key -> value, decoded from the JSON ``rsdsva map``
    writes); None for any other vector file."""
    import json

    import pyogrio

    path = Path(path)
    try:
        if "run" not in [str(name) for name, _ in pyogrio.list_layers(path)]:
            return None
        table = pyogrio.read_dataframe(path, layer="run")
    except Exception:  # not a GeoPackage GDAL can list: read_vector says why when it reads it
        return None
    if not {"key", "value"} <= set(table.columns):
        return None
    def decoded(text):
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            return None

    return {str(k): decoded(v) for k, v in zip(table["key"], table["value"])}
