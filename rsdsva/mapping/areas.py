"""Classes from example areas: polygons drawn on the rasters to map, turned into classes.

For each class name of a polygon layer, the tiles of the map's grid (the model's
footprint, as ``rsdsva map`` lays it out) that its polygons cover by at least
``min_cover`` of a tile are read with the map's reader and preprocessing. A polygon
too small to cover any tile so (or a point) gets one tile centred on it. The model
then gives each class:

* an attribute vector, as ``rsdsva attributes from-images`` estimates one from example
  images (explainable, and usable by any model with the same vocabulary);
* a prototype: the mean of the tiles' unit-norm features (the mean of the model's
  tokens), which this model ranks by cosine similarity (:mod:`rsdsva.predict`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from rsdsva.classes import ClassSpace
from rsdsva.errors import ClassSpaceError, RasterError, RsdsvaWarning


@dataclass
class ExampleTiles:
    """The tiles one class was drawn on, and where they came from."""

    images: list[np.ndarray] = field(default_factory=list)  # (3, S, S) uint8 each, at the raster's resolution
    polygons: set = field(default_factory=set)  # feature ids of the polygons that gave tiles
    rasters: set = field(default_factory=set)
    where: list[tuple[str, int, int]] = field(default_factory=list)  # (raster, row, col); -1, -1 for a centred tile


def example_tiles(
    rasters: Sequence[str | Path],
    areas,
    name_field: str,
    tile_m: float | None,
    tile_size: int | None = None,
    min_cover: float = 0.5,
    max_nodata: float = 0.5,
    source: str = "example areas",
) -> dict[str, ExampleTiles]:
    """Class name -> its example tiles, from ``areas`` (a GeoDataFrame) over ``rasters``."""
    from rasterio.windows import from_bounds
    from shapely.geometry import box

    from rsdsva.mapping.pipeline import GridSettings, check_grid, tile_pixels
    from rsdsva.mapping.classify import tile_reader
    from rsdsva.mapping.raster import Tile, iter_windows, make_spec, open_raster, window_bounds

    if not 0 < min_cover <= 1:
        raise ClassSpaceError(f"--min-cover {min_cover:g} must be above 0 and at most 1 (a share of a tile)")
    if name_field not in areas.columns:
        fields = ", ".join(c for c in areas.columns if c != "geometry") or "none"
        raise ClassSpaceError(f"{source}: no field {name_field!r}; its fields are {fields}")
    areas = areas[areas.geometry.notna() & ~areas.geometry.is_empty]
    names = areas[name_field]
    if names.isna().any() or (names.astype(str).str.strip() == "").any():
        fid = names.index[names.isna() | (names.astype(str).str.strip() == "")][0]
        raise ClassSpaceError(f"{source}: feature {fid} has no {name_field}; give every example area a class name")
    out: dict[str, ExampleTiles] = {str(n): ExampleTiles() for n in dict.fromkeys(names.astype(str))}
    placed: set = set()
    settings = GridSettings(tile_size=tile_size, tile_m=tile_m)
    for raster in rasters:
        with open_raster(raster) as src:
            spec = make_spec(src)
            size, stride = tile_pixels(src, settings, tile_m)
            check_grid(Path(raster), src, settings, size, stride, tile_m, max_nodata)
            shapes = areas.to_crs(spec.crs)
            inside = shapes[shapes.intersects(box(*src.bounds))]
            read = tile_reader(spec, size)
            grid = list(iter_windows(src.width, src.height, size, stride))
            for name, group in inside.groupby(inside[name_field].astype(str), sort=False):
                union = group.geometry.union_all()
                near = from_bounds(*union.bounds, transform=src.transform)
                chosen: list[tuple[Tile, list]] = []
                for tile in grid:
                    w = tile.window
                    if not (w.col_off < near.col_off + near.width and near.col_off < w.col_off + size
                            and w.row_off < near.row_off + near.height and near.row_off < w.row_off + size):
                        continue
                    cell = box(*window_bounds(spec, w))
                    if not cell.intersects(union):
                        continue
                    if union.intersection(cell).area >= min_cover * cell.area:
                        chosen.append((tile, [fid for fid, g in group.geometry.items() if g.intersection(cell).area > 0]))
                covered = {fid for _, fids in chosen for fid in fids}
                for fid, geom in group.geometry.items():  # too small for any tile: one centred on it
                    if fid not in covered:
                        chosen.append((_centred_tile(src, geom, size), [fid]))
                tiles = out[str(name)]
                for tile, fids in chosen:
                    batch = read([tile])
                    if batch.valid[0] < 1.0 - max_nodata:
                        continue
                    tiles.images.append(batch.images[0])
                    tiles.polygons.update(int(f) for f in fids)
                    tiles.rasters.add(str(raster))
                    tiles.where.append((str(raster), tile.row, tile.col))
                placed.update(group.index)
    outside = [fid for fid in areas.index if fid not in placed]
    if outside:
        where = ", ".join(str(r) for r in rasters)
        raise RasterError(f"{source}: feature {outside[0]} ({areas.loc[outside[0], name_field]}) lies outside "
                          f"{where}; draw the example areas on the raster they describe")
    for name, tiles in out.items():
        if not tiles.images:
            raise ClassSpaceError(f"{source}: class {name!r} has no usable tile (every tile it covers is more than "
                                  f"{max_nodata:.0%} nodata); draw it over valid pixels")
    return out


def _centred_tile(src, geom, size: int):
    from rasterio.windows import Window

    from rsdsva.mapping.raster import Tile

    point = geom.representative_point()
    row, col = src.index(point.x, point.y)
    return Tile(-1, -1, Window(col - size // 2, row - size // 2, size, size))


def classes_from_areas(
    classifier,
    tiles: dict[str, ExampleTiles],
    head: str = "vam",
    batch_size: int = 32,
) -> ClassSpace:
    """Unseen classes with an attribute vector and a prototype each, from their example tiles.

    ``classifier`` supplies the model and its preprocessing (:class:`rsdsva.predict.Classifier`).
    """
    import torch

    from rsdsva.attributes.examples import vector_from_scores
    from rsdsva.models.dsva import feature_space_id

    model, vocab = classifier.model, classifier.info.classes
    rows, protos = [], []
    for name, found in tiles.items():
        scores, feats = [], []
        for start in range(0, len(found.images), batch_size):
            batch = torch.from_numpy(np.stack(found.images[start : start + batch_size]))
            with torch.inference_mode():
                out = model(classifier.prepare(batch.float() / 255))
            head_scores = {"vam": out.vam_attributes, "prototype": out.prototype_attributes}.get(head, out.attributes)
            scores.append(head_scores.float().cpu().numpy())
            feats.append(torch.nn.functional.normalize(out.features.float(), dim=-1).cpu().numpy())
        rows.append(vector_from_scores(name, np.concatenate(scores), vocab))
        mean = np.concatenate(feats).mean(axis=0)
        protos.append(mean / np.linalg.norm(mean))
    return ClassSpace(
        names=list(tiles), attributes=vocab.attributes, matrix=np.stack(rows), seen=np.zeros(len(tiles), bool),
        groups=vocab.groups, scale=vocab.scale, prototypes=np.stack(protos), feature_space=feature_space_id(model),
    )


def check_names(names: Sequence[str], info, source: str) -> None:
    """Refuse a class named like one of the model's seen classes (map would rank both)."""
    taken = [n for n in names if n in info.classes.names]
    if taken:
        raise ClassSpaceError(f"{source}: class {taken[0]!r} is one of the model's seen classes; name the example "
                              f"class otherwise (e.g. {taken[0]}_here)")


def write_example_classes(path: str | Path, classes: ClassSpace, tiles: dict[str, ExampleTiles], model: str) -> Path:
    """The classes file, with where each class came from beside its definition."""
    import yaml

    from rsdsva._io import atomic_write_text

    data = classes.to_dict()
    data = {"model": model, "feature_space": data.pop("feature_space"), **data}
    for name, found in tiles.items():
        entry = data["classes"][name]
        cells: dict[str, list] = {}
        for raster, row, col in found.where:
            if row >= 0:  # a grid tile (a centred one has no cell)
                cells.setdefault(Path(raster).name, []).append([row, col])
        entry["examples"] = {
            "tiles": len(found.images),
            "polygons": sorted(found.polygons),
            "rasters": sorted(Path(r).name for r in found.rasters),
            "cells": cells,
        }
        entry["prototype"] = entry.pop("prototype")  # the long list last, after what a reader wants
    if any(len(t.images) < 3 for t in tiles.values()):
        few = ", ".join(f"{n} ({len(t.images)})" for n, t in tiles.items() if len(t.images) < 3)
        warnings.warn(f"classes from few tiles: {few}; draw more example areas for a steadier class",
                      RsdsvaWarning, stacklevel=2)
    if Path(path).suffix.lower() == ".json":
        import json

        return atomic_write_text(path, json.dumps(data, indent=1))
    text = "# rsdsva classes from example areas (rsdsva classes from-map)\n"
    text += yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    return atomic_write_text(path, text)
