"""Classes from example areas: polygons drawn on the rasters to map, turned into classes.

For each class name of a polygon layer, the tiles of the map's grid that its polygons
cover by at least ``min_cover`` of a tile are read as ``rsdsva map`` lays out and reads
them (:mod:`rsdsva.mapping.source`: footprint, bands, stretch, nodata), each with the
window around it that the recipe names. A polygon too small to cover any tile so
(or a point) gets one tile centred on it. The model then gives each class:

* an attribute vector, as ``rsdsva attributes from-images`` estimates one from example
  images (explainable, and usable by any model with the same vocabulary);
* the features of every example tile: the backbone's two stages before its last, pooled,
  on the tile and on the window twice its size around it. This model ranks a tile by its
  similarity to the class's nearest example (:mod:`rsdsva.predict`). A kind with several
  looks (a parking lot full, empty, striped) keeps each of them, which a mean would blur.

On the sample scene's reference tiles (3 random examples per kind, 20 draws) that recipe
finds 78 % of the other tiles, where the mean of the last layer's features on the tile alone
found 62 % (``scripts/bench/probe_recipes.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from rasterio.windows import Window

from rsdsva.class_files import classes_from_dict, classes_to_dict
from rsdsva.classes import ClassSpace
from rsdsva.errors import ClassSpaceError, ConfigError, RasterError, RsdsvaWarning
from rsdsva.examples.bank import ExampleBank
from rsdsva.examples.spectra import SpectralRecord
from rsdsva.mapping.grid import Tile
from rsdsva.mapping.record import RECORD_KEY, ReadRecord
from rsdsva.mapping.settings import GridSettings, ReadSettings
from rsdsva.mapping.source import TileSource


@dataclass
class ExampleTiles:
    """The tiles one class was drawn on, and where they came from."""

    views: list[dict[float, np.ndarray]] = field(default_factory=list)  # window size -> (3, S, S) uint8, per tile
    polygons: set = field(default_factory=set)  # feature ids of the polygons that gave tiles
    rasters: set = field(default_factory=set)
    where: list[tuple[str, int, int]] = field(default_factory=list)  # (raster, row, col); -1, -1 for a centred tile
    spectra: list[np.ndarray] = field(default_factory=list)  # (F,) per tile, where the sources read spectra


def example_tiles(
    rasters: Sequence[TileSource],
    areas,
    name_field: str,
    min_cover: float = 0.5,
    source: str = "example areas",
    scales: Sequence[float] = (1.0,),
) -> dict[str, ExampleTiles]:
    """Class name -> its example tiles, from ``areas`` (a GeoDataFrame) over ``rasters`` (each
    read as its :class:`~rsdsva.mapping.source.TileSource` says, as the map reads it), each tile
    with the windows ``scales`` times its size around it."""
    from shapely.geometry import box

    from rsdsva.mapping.grid import window_bounds

    if not 0 < min_cover <= 1:
        raise ClassSpaceError(f"`min_cover` {min_cover:g} must be above 0 and at most 1 (a share of a tile)")
    _check_field(areas, name_field, source)
    areas = areas[areas.geometry.notna() & ~areas.geometry.is_empty]
    names = areas[name_field]
    if names.isna().any() or (names.astype(str).str.strip() == "").any():
        fid = names.index[names.isna() | (names.astype(str).str.strip() == "")][0]
        raise ClassSpaceError(f"{source}: feature {fid} has no {name_field}; give every example area a class name")
    out: dict[str, ExampleTiles] = {str(n): ExampleTiles() for n in dict.fromkeys(names.astype(str))}
    placed: set = set()
    for raster in rasters:
        spec, size = raster.spec, raster.grid.size
        shapes = areas.to_crs(spec.crs)
        inside = shapes[shapes.intersects(box(*window_bounds(spec, Window(0, 0, spec.width, spec.height))))]
        chosen: list[tuple[str, Tile, list]] = []  # (class, tile, ids of the polygons on it)
        for name, group in inside.groupby(inside[name_field].astype(str), sort=False):
            union = group.geometry.union_all()
            covered: set = set()
            for tile in raster.tiles(union):
                cell = box(*window_bounds(spec, tile.window))
                if union.intersection(cell).area >= min_cover * cell.area:
                    fids = [fid for fid, g in group.geometry.items() if g.intersection(cell).area > 0]
                    chosen.append((str(name), tile, fids))
                    covered.update(fids)
            for fid, geom in group.geometry.items():  # too small for any tile: one centred on it
                if fid not in covered:
                    chosen.append((str(name), _centred_tile(spec, geom, size), [fid]))
            placed.update(group.index)
        margin, read = raster.margins(scales), raster.reader(scales)
        chosen.sort(key=lambda c: (c[1].window.row_off, c[1].window.col_off))  # a grid row's tiles in one strip
        for start in range(0, len(chosen), 64):
            part = chosen[start : start + 64]
            batch = read([tile for _, tile, _ in part])
            for i, (name, tile, fids) in enumerate(part):
                if batch.valid[i] < 1.0 - raster.read.max_nodata:
                    continue
                tiles = out[name]
                tiles.views.append({s: batch.views[m][i] for s, m in margin.items()})
                tiles.polygons.update(int(f) for f in fids)
                tiles.rasters.add(str(raster.raster))
                tiles.where.append((str(raster.raster), tile.row, tile.col))
                if batch.spectra is not None:
                    tiles.spectra.append(batch.spectra[i])
    outside = [fid for fid in areas.index if fid not in placed]
    if outside:
        where = ", ".join(str(r.raster) for r in rasters)
        raise RasterError(f"{source}: feature {outside[0]} ({areas.loc[outside[0], name_field]}) lies outside "
                          f"{where}; draw the example areas on the raster they describe")
    for name, tiles in out.items():
        if not tiles.views:
            raise ClassSpaceError(f"{source}: class {name!r} has no usable tile (every tile it covers is more than "
                                  f"{rasters[0].read.max_nodata:.0%} nodata); draw it over valid pixels")
    return out


def _centred_tile(spec, geom, size: int) -> Tile:
    point = geom.representative_point()
    col, row = ~spec.transform * (point.x, point.y)
    return Tile(-1, -1, Window(int(col) - size // 2, int(row) - size // 2, size, size))


def classes_from_areas(
    classifier,
    tiles: dict[str, ExampleTiles],
    recipe: str,
    head: str = "vam",
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    spectra: SpectralRecord | None = None,
    centre: np.ndarray | None = None,
) -> ClassSpace:
    """Unseen classes with an attribute vector and the features of every example tile each.

    ``classifier`` supplies the model and its preprocessing (:class:`rsdsva.predict.Classifier`);
    ``recipe`` (:func:`default_recipe`) says which layer and windows the features are taken on;
    ``spectra``, how the tiles' spectra (read with them) join those features; ``centre``, the
    mean feature of their scene (:func:`scene_centre`).
    ``progress(done, total)`` is called with example tiles after each batch.
    """
    from rsdsva.attributes.examples import vector_from_scores

    vocab = classifier.info.classes
    rows, examples = [], []
    total, done = sum(len(t.views) for t in tiles.values()), 0
    for name, found in tiles.items():
        scores, feats = [], []
        for start in range(0, len(found.views), batch_size):
            chunk = found.views[start : start + batch_size]
            views = {s: np.stack([v[s] for v in chunk]).astype(np.float32) / np.float32(255) for s in chunk[0]}
            f, out = classifier.example_features(views, recipe)
            scores.append(out.head(head))
            feats.append(f)
            done += len(chunk)
            if progress:
                progress(done, total)
        rows.append(vector_from_scores(name, np.concatenate(scores), vocab))
        feats = np.concatenate(feats)
        examples.append(feats if spectra is None else spectra.joined(feats, np.stack(found.spectra)))
    return ClassSpace(
        names=list(tiles), attributes=vocab.attributes, matrix=np.stack(rows), seen=np.zeros(len(tiles), bool),
        groups=vocab.groups, scale=vocab.scale,
        examples=ExampleBank(tuple(examples), classifier.engine.feature_space, recipe, spectra, centre),
    )


SCENE_TILES = 128  # per raster, spread over it (on the three shared scenes 32 chose within a point of 256)


def scene_centre(classifier, sources: Sequence[TileSource], recipe: str, spectra: SpectralRecord | None = None,
                 per_raster: int = SCENE_TILES, batch_size: int = 32) -> np.ndarray | None:
    """The mean feature, as examples keep theirs (``recipe``, joined with ``spectra``), of about
    ``per_raster`` tiles spread evenly over each of ``sources`` (those with enough valid pixels, as a
    map keeps them): the centre of the examples' scene (:class:`~rsdsva.examples.bank.ExampleBank`).
    None where no tile has enough."""
    from rsdsva.examples.recipe import parse_recipe

    scales = parse_recipe(recipe).scales
    total, count = None, 0
    for source in sources:
        margins, read, tiles = source.margins(scales), source.reader(scales), source.sample(per_raster)
        for start in range(0, len(tiles), batch_size):
            batch = read(tiles[start : start + batch_size])
            keep = batch.valid >= 1 - source.read.max_nodata
            if not keep.any():
                continue
            views = {s: batch.views[m][keep].astype(np.float32) / np.float32(255) for s, m in margins.items()}
            features = classifier.example_features(views, recipe)[0]
            if spectra is not None:
                features = spectra.joined(features, batch.spectra[keep])
            total = features.sum(axis=0) if total is None else total + features.sum(axis=0)
            count += len(features)
    return None if total is None else (total / count).astype(np.float32)


def spectral_sources(sources: Sequence[TileSource], weight: float | None, updating: bool = False,
                     old: SpectralRecord | None = None) -> tuple[list[TileSource], SpectralRecord | None]:
    """``sources`` reading each tile's spectra too, and the record the examples' features are
    joined by, where they have more than three bands and ``weight`` (the spectra's share of a
    cosine; None: :data:`~rsdsva.examples.spectra.DEFAULT_WEIGHT`) is above 0. ``updating``: the examples
    join classes whose record is ``old``, which is kept (so old and new examples compare alike)."""
    from dataclasses import replace

    from rsdsva.examples.spectra import DEFAULT_WEIGHT, standardisation

    if weight is not None and not 0 <= weight < 1:
        raise ConfigError(f"`spectra` {weight:g}: give the spectra's share of the similarity, from 0 (off) to below "
                          f"1, e.g. `spectra` {DEFAULT_WEIGHT}")
    if updating:
        if old is None:  # examples without spectra stay so
            return list(sources), None
        if weight is not None and abs(weight - old.weight) > 1e-9:
            raise ConfigError(f"`spectra` {weight:g} contradicts the `update` file's {old.weight:g}; leave `spectra` "
                              "out, or make the classes again without `update`")
        fix = "make the classes again with rsdsva classes from-map, without `update`"
        return [s.with_spectra(old, fix) for s in sources], old
    weight = DEFAULT_WEIGHT if weight is None else weight
    if weight == 0 or sources[0].spec.count <= 3:
        return list(sources), None
    first = sources[0].with_spectra()
    spec = first.spectral
    names = tuple(first.spec.band_names[b - 1] for b in spec.bands)
    n = len(spec.bands) + len(spec.indexes)
    record = SpectralRecord(spec.bands, names, tuple(i[0] for i in spec.indexes), (0.0,) * n, (1.0,) * n, weight)
    sources = [first] + [s.with_spectra(record, f"leave {s.raster} out, or give rasters with the same bands")
                         for s in sources[1:]]
    samples = []
    for source in sources:  # the standardisation: the spectra over a sample of every raster's tiles
        read = source.reader()
        tiles = source.sample(SPECTRAL_SAMPLE // len(sources))
        for start in range(0, len(tiles), 64):
            batch = read(tiles[start : start + 64])
            samples.append(batch.spectra[batch.valid >= 1.0 - source.read.max_nodata])
    mean, std = standardisation(np.concatenate(samples))
    return sources, replace(record, mean=mean, std=std)


# tiles whose spectra standardise the examples' (spread evenly over the rasters)
SPECTRAL_SAMPLE = 512


def default_recipe(engine, scales: Sequence[float] | None = None, orientations: int = 1) -> str:
    """The recipe classes from example areas are made with for ``engine``'s model (an
    :class:`~rsdsva.engines.base.Engine`): the two stages of its backbone before the last
    (:func:`rsdsva.models.backbones.example_layers`), on the tile and the window twice its size
    (or on ``scales``), as read (or averaged over ``orientations``)."""
    from rsdsva.examples.recipe import EXAMPLE_SCALES, check_orientations, example_recipe

    return example_recipe(engine.example_layers, tuple(scales or EXAMPLE_SCALES), check_orientations(orientations))


def updated_classes(old: ClassSpace, new: ClassSpace, counts_old: dict, counts_new: dict) -> ClassSpace:
    """``old`` (a classes file from example areas) with ``new``'s examples added: a class in both
    keeps every example of each and a vector averaged by their tile counts; ``new``'s other
    classes are appended."""
    was, now = old.examples, new.examples
    if (was.feature_space, was.recipe) != (now.feature_space, now.recipe):
        raise ClassSpaceError(f"its classes were made with another model or recipe ({was.feature_space} "
                              f"{was.recipe}, now {now.feature_space} {now.recipe}); make it again with "
                              "rsdsva classes from-map, without `update`")
    matrix = old.matrix.copy()
    for name in new.names:
        if name in old.names:
            i, j = old.index(name), new.index(name)
            a, b = counts_old.get(name, 1), counts_new.get(name, 1)
            matrix[i] = (a * old.matrix[i] + b * new.matrix[j]) / (a + b)
    merged = old._replace(matrix=matrix).add_examples(new)
    added = [n for n in new.names if n not in old.names]
    return merged.concat(new.subset(added)) if added else merged


def provenance(tiles: dict[str, ExampleTiles]) -> dict[str, dict]:
    """Where each class's example tiles came from, as the classes file records it."""
    out = {}
    for name, found in tiles.items():
        cells: dict[str, list] = {}
        for raster, row, col in found.where:
            if row >= 0:  # a grid tile (a centred one has no cell)
                cells.setdefault(Path(raster).name, []).append([row, col])
        out[name] = {"tiles": len(found.views), "polygons": sorted(found.polygons),
                     "rasters": sorted(Path(r).name for r in found.rasters), "cells": cells}
    return out


def merged_provenance(old: dict[str, dict], new: dict[str, dict]) -> dict[str, dict]:
    """Both files' records of where the examples came from, class by class."""
    out = {name: dict(entry) for name, entry in old.items()}
    for name, entry in new.items():
        if name not in out:
            out[name] = entry
            continue
        mine = out[name]
        cells = {k: list(v) for k, v in (mine.get("cells") or {}).items()}
        for raster, more in entry["cells"].items():
            cells[raster] = cells.get(raster, []) + [c for c in more if c not in cells.get(raster, [])]
        out[name] = {"tiles": int(mine.get("tiles", 0)) + entry["tiles"],
                     "polygons": sorted(set(mine.get("polygons", [])) | set(entry["polygons"])),
                     "rasters": sorted(set(mine.get("rasters", [])) | set(entry["rasters"])), "cells": cells}
    return out


def write_example_classes(path: str | Path, classes: ClassSpace, where: dict[str, dict], model: str,
                          record: ReadRecord | None = None) -> Path:
    """The classes file, with how its examples were read (``record``) and where each class's
    examples came from beside its definition."""
    import yaml

    from rsdsva._io import atomic_write_text

    data = classes_to_dict(classes)
    data = {"model": model, "feature_space": data.pop("feature_space"), "recipe": data.pop("recipe"),
            **({RECORD_KEY: record.to_dict()} if record is not None else {}), **data}
    for name, entry in data["classes"].items():
        if name in where:
            entry["examples"] = where[name]
        if "features" in entry:
            entry["features"] = entry.pop("features")  # the long lists last, after what a reader wants
    few = [f"{n} ({e['tiles']})" for n, e in where.items() if e.get("tiles", 0) < 3]
    if few:
        warnings.warn(f"classes from few tiles: {', '.join(few)}; draw more example areas for a steadier class",
                      RsdsvaWarning, stacklevel=2)
    if Path(path).suffix.lower() == ".json":
        import json

        return atomic_write_text(path, json.dumps(data, indent=1))
    text = "# rsdsva classes from example areas (rsdsva classes from-map)\n"
    text += yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    return atomic_write_text(path, text)


@dataclass
class FromMapResult:
    """What :func:`classes_from_map` wrote."""

    out: Path
    classes: ClassSpace
    tiles: dict[str, int]  # class -> example tiles added by this run
    corrected: list[str]  # seen classes of the model given examples (they outrank it where they match)
    updated: list[str]  # classes of the --update file that gained examples
    record: ReadRecord | None = None  # how the example tiles were read


def classes_from_map(
    rasters: Sequence[str | Path],
    areas,
    name_field: str,
    out: str | Path,
    model: str | Path | None = None,
    update: str | Path | None = None,
    min_cover: float = 0.5,
    grid: GridSettings | None = None,
    read: ReadSettings | None = None,
    device: str = "auto",
    source: str = "example areas",
    scales: Sequence[float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "auto",
    precision: str | None = None,
    orientations: int | None = None,
    made_by: ReadRecord | None = None,
    spectra: float | None = None,
) -> FromMapResult:
    """Classes from example areas (a GeoDataFrame, or the tiles layer of a map whose
    ``name_field`` a user filled in for the tiles to correct) over ``rasters``, written to
    ``out``; with ``update`` (a classes file made so before), its classes gain the new
    examples and new names are added. Nothing is written if anything is wrong.

    The tiles are read as ``rsdsva map`` reads them with ``grid`` and ``read`` settings (the
    footprint, bands, stretch and nodata; by default the model's footprint and the raster's
    red, green and blue), and the file records how, so that a map with it reads the same way.
    With ``update``, the settings its examples were read with are used where ``grid`` and
    ``read`` leave them out; ``made_by`` (how the map whose tiles are the examples read its
    raster) likewise. A setting that contradicts either is refused.

    A name that differs from a class of ``update`` or of the model only in case or spaces
    (``Lawn `` beside ``lawn``) joins that class, with a note.

    ``orientations`` (1, 2 or 8): each example, and each tile a map compares with it, as read
    or averaged over that many orientations; for examples from images of different headings
    (image chips, several flights). On one scene, as read does better. None: as the
    ``update`` file's examples were taken, else as read.

    ``spectra``: on rasters of more than three bands, the share of a tile's similarity to an
    example that their spectra over every band have (:mod:`rsdsva.examples.spectra`; 0: the network's
    features alone; None: :data:`~rsdsva.examples.spectra.DEFAULT_WEIGHT`, or the ``update`` file's)."""
    from rsdsva.examples.recipe import parse_recipe
    from rsdsva.inference import ClassifierSettings, assemble_classes
    from rsdsva.mapping.raster import open_raster
    from rsdsva.mapping.source import open_tile_source, travelled
    from rsdsva.models.model_file import default_model_path, read_model_info
    from rsdsva.predict import build_classifier

    model_path = Path(model) if model else default_model_path()
    info = read_model_info(model_path)
    old, old_record, before = _read_update(update, info) if update else (None, None, {})
    areas = _named_areas(areas, name_field, source)
    grid, read = grid or GridSettings(), read or ReadSettings()
    with open_raster(rasters[0], read.allow_no_crs) as src:
        grid, read = travelled(src, grid, read, old_record, f"`update` {update}",
                               fix="make the classes again with rsdsva classes from-map, without --update,")
        grid, read = travelled(src, grid, read, made_by, f"the map of {source}",
                               fix="correct a map made with these settings")
        sources = [open_tile_source(rasters[0], grid, read, info.tile_m, src)]
    sources += [open_tile_source(r, grid, read, info.tile_m, note=False) for r in rasters[1:]]
    areas = joined_names(areas, name_field, [*(old.names if old is not None else ()), *info.classes.names], source)
    classifier = build_classifier(ClassifierSettings(model=str(model_path), held_out=False, device=device,
                                                     engine=engine, precision=precision))
    info = classifier.info
    if orientations is None:
        orientations = _recipe_orientations(old) if old is not None else 1
    recipe = default_recipe(classifier.engine, scales, orientations)
    if recipe not in info.example_calibrations:
        known = ", ".join(info.example_calibrations) or "none"
        raise ClassSpaceError(f"{model_path.name} records no calibration for example classes made as {recipe} "
                              f"(it has: {known}); refit them with scripts/jobs/fit_example_features.py --model")
    sources, spectral = spectral_sources(sources, spectra, old is not None, old.examples.spectra if old is not None else None)
    tiles = example_tiles(sources, areas, name_field, min_cover, source, parse_recipe(recipe).scales)
    new = classes_from_areas(classifier, tiles, recipe, progress=progress, spectra=spectral,
                             centre=scene_centre(classifier, sources, recipe, spectral))
    where = provenance(tiles)
    updated: list[str] = []
    if old is not None:
        try:
            new_all = updated_classes(old, new, {n: e.get("tiles", 1) for n, e in before.items()},
                                      {n: e["tiles"] for n, e in where.items()})
        except ClassSpaceError as err:
            raise ClassSpaceError(f"`update` {update}: {err}") from None
        updated = [n for n in new.names if n in old.names]
        new, where = new_all, merged_provenance(before, where)
    assemble_classes(info, new, source=str(out))  # refuses what map would refuse, before writing
    record = sources[0].record()
    write_example_classes(out, new, where, model_path.name, record)
    corrected = [n for n in tiles if n in info.classes.names]
    return FromMapResult(Path(out), new, {n: len(t.views) for n, t in tiles.items()}, corrected, updated, record)


def joined_names(areas, name_field: str, known: Sequence[str], source: str):
    """``areas`` with each class name trimmed and, where it equals a ``known`` class or an earlier
    name of the layer but for case, spelled as that one (``Lawn `` joins ``lawn``); a note says so."""
    spelled: dict[str, str] = {}
    for name in known:
        spelled.setdefault(str(name).strip().casefold(), str(name))
    joined: dict[str, str] = {}
    names = []
    for value in areas[name_field]:
        raw = str(value)
        if value is None or value != value or not raw.strip():  # no name: example_tiles refuses it
            names.append(value)
            continue
        name = spelled.setdefault(raw.strip().casefold(), raw.strip())
        if name != raw:
            joined[raw] = name
        names.append(name)
    if joined:
        said = ", ".join(f"{a!r} joins {b!r}" for a, b in joined.items())
        warnings.warn(f"{source}: {said} (class names are compared trimmed and case-folded)", RsdsvaWarning,
                      stacklevel=3)
        areas = areas.copy()
        areas[name_field] = names
    return areas


def _check_field(areas, name_field: str, source: str) -> None:
    if name_field not in areas.columns:
        fields = ", ".join(c for c in areas.columns if c != "geometry") or "none"
        raise ClassSpaceError(f"{source}: no field {name_field!r}; its fields are {fields}")


def _named_areas(areas, name_field: str, source: str):
    """The areas with a class name: a map's tiles layer leaves most names empty, and only the
    tiles a user named are examples; refused when none is named."""
    _check_field(areas, name_field, source)
    if "label" in areas.columns and "class_id" in areas.columns:  # a map's tiles layer: keep the named tiles
        names = areas[name_field]
        named = names.notna() & (names.astype(str).str.strip() != "")
        if not named.any():
            raise ClassSpaceError(f"{source}: field {name_field!r} is empty on every tile; type the right class into "
                                  "it for the tiles the map got wrong, then run this again")
        areas = areas[named]
    elif len(areas) == 0:
        raise ClassSpaceError(f"{source}: the layer has no features; draw example areas in it")
    return areas


def _recipe_orientations(classes: ClassSpace) -> int:
    """The orientations ``classes``' examples were taken in (1 for a recipe this cannot read:
    the recipe check that follows then names the mismatch)."""
    from rsdsva.examples.recipe import parse_recipe

    try:
        return parse_recipe(classes.examples.recipe).orientations
    except ConfigError:
        return 1


def _read_update(path: str | Path, info) -> tuple[ClassSpace, ReadRecord | None, dict[str, dict]]:
    """The classes file ``--update`` names (it must be one made from example areas), how its
    examples were read, and where they came from; the file is parsed once."""
    from rsdsva.class_files import parse_classes_file
    from rsdsva.mapping.record import read_record

    path = Path(path)
    try:
        data = parse_classes_file(path)
        if not isinstance(data, dict):
            raise ClassSpaceError(f"{path}: expected a mapping with a 'classes' key")
        old = classes_from_dict(data, vocabulary=info.classes.attributes, source=str(path))
        record = read_record(data, str(path))
    except ClassSpaceError as err:
        raise ClassSpaceError(f"`update`: {err}") from None
    if old.examples is None:
        raise ClassSpaceError(f"`update` {path}: not a classes file from example areas (no example features); "
                              "give one that rsdsva classes from-map wrote, or leave `update` out to write a new file")
    where = {str(n): _checked_provenance(spec.get("examples"), path, n)
             for n, spec in (data.get("classes") or {}).items() if isinstance(spec, dict)}
    return old, record, where


def _checked_provenance(entry, path: Path, name) -> dict:
    """A class's record of where its examples came from, as :func:`provenance` writes it; a
    damaged one is one line naming the file, the class and the key (it is merged, not ignored)."""
    def scalar(v) -> bool:
        return isinstance(v, (int, str)) and not isinstance(v, bool)

    def cell(c) -> bool:
        return isinstance(c, list) and len(c) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in c)

    if entry is None:
        return {}
    checks = {"tiles": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "polygons": lambda v: isinstance(v, list) and all(scalar(x) for x in v),
              "rasters": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
              "cells": lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(cs, list)
                                                            and all(cell(c) for c in cs) for k, cs in v.items())}
    shape = {"tiles": "a whole number", "polygons": "a list of feature ids", "rasters": "a list of file names",
             "cells": "raster names, each with a list of [row, col]"}
    bad = ["a mapping"] if not isinstance(entry, dict) else [
        f"{k!r} must be {shape[k]}" for k, ok in checks.items() if k in entry and not ok(entry[k])]
    if bad:
        raise ClassSpaceError(f"`update` {path}: class {name!r}: its 'examples' record is damaged "
                              f"({'; '.join(bad) if bad != ['a mapping'] else 'it must be a mapping'}); make the "
                              "file again with rsdsva classes from-map, or delete that 'examples' entry")
    return dict(entry)
