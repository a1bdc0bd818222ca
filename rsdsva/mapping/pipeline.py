"""``map_scene``: the tool's main job, raster in, labelled GeoPackage out.

All-nodata rasters: every tile is skipped, the GeoPackage is written with empty
``tiles`` and ``regions`` layers, and a warning says so (an empty map is a valid
answer for an empty scene; a batch job over many scenes should not stop on one).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
import warnings
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rsdsva.errors import ClassSpaceError, ConfigError, OutputError, RasterError, RsdsvaWarning
from rsdsva.models.info import default_model_path  # noqa: F401 (re-exported: where the default model lives)

# Windows 2 and 3 tiles wide, their probabilities averaged: on the sample scene's reference
# tiles 39 of 90 agree, against 26 for the tile alone (scripts/probe_recipes.py).
DEFAULT_CONTEXT = (2.0, 3.0)


@dataclass(frozen=True)
class GridSettings:
    """How a raster is cut into tiles."""

    tile_size: int | None = None  # pixels; None: from tile_m
    stride: int | None = None  # pixels; None: = tile size
    tile_m: float | None = None  # metres; None: the model's training footprint
    allow_small_tiles: bool = False  # accept tiles under MIN_TILE_PX
    max_tiles: int = 1_000_000  # refuse larger grids before starting
    aoi: str | None = None  # vector file restricting the grid


@dataclass(frozen=True)
class ReadSettings:
    """How tiles are read: bands, values, nodata, threads."""

    bands: tuple[int, ...] | None = None
    scale: tuple[float, float] | None = None
    nodata: float | None = None
    max_nodata: float = 0.5
    allow_no_crs: bool = False
    read_threads: int = 2
    batch_size: int = 64


@dataclass(frozen=True)
class OutputSettings:
    """What is written, and what may be replaced."""

    overwrite: bool = False
    raster: str | None = None
    explain: bool = False
    attention_raster: str | None = None
    attention_attributes: tuple[str, ...] | None = None
    top_k: int = 3
    similarity: str | None = None


@dataclass(frozen=True)
class MapSettings:
    """Everything ``rsdsva map`` can be told; CLI flags map one to one.

    Its parts (``classifier``, ``grid``, ``read``, ``output``) are what each step takes.
    """

    model: str | None = None  # None: the embedded default model
    classes: str | None = None  # unseen classes file
    held_out: bool = True  # also rank the classes the model was evaluated on as unseen
    mode: str = "gzsl"
    calibration: float | None = None  # None: the model's own
    example_route: str = "examples"  # classes from example areas: by their examples or by attribute vector
    tile_size: int | None = None  # pixels; None: from tile_m
    stride: int | None = None  # pixels; None: = tile size
    tile_m: float | None = None  # metres; None: the model's training footprint
    bands: tuple[int, ...] | None = None
    scale: tuple[float, float] | None = None
    nodata: float | None = None
    max_nodata: float = 0.5
    aoi: str | None = None
    device: str = "auto"
    batch_size: int = 64
    read_threads: int = 2  # tile reader threads (--workers is kept for Dask workers)
    top_k: int = 3
    precision: str | None = None  # --amp: fp16 or bf16 autocast
    allow_no_crs: bool = False
    overwrite: bool = False
    raster: str | None = None  # optional label GeoTIFF (one pixel per grid cell)
    explain: bool = False  # attribute evidence columns in the tiles layer
    attention_raster: str | None = None  # float GeoTIFF of attention maps
    attention_attributes: tuple[str, ...] | None = None  # which attributes (default: the first 3)
    allow_small_tiles: bool = False  # accept tiles under MIN_TILE_PX
    context: tuple[float, ...] = DEFAULT_CONTEXT  # windows (tile sizes) centred on a tile whose scores are averaged
    max_tiles: int = 1_000_000  # refuse larger grids before starting
    similarity: str | None = None  # GeoTIFF of each tile's similarity to each example class

    @property
    def classifier(self):
        """The settings that shape the classifier (:class:`rsdsva.inference.ClassifierSettings`)."""
        from rsdsva.inference import ClassifierSettings

        return ClassifierSettings(model=self.model, classes=self.classes, held_out=self.held_out, mode=self.mode,
                                  calibration=self.calibration, device=self.device, precision=self.precision,
                                  example_route=self.example_route, context=self.context)

    @property
    def grid(self) -> GridSettings:
        return _part(GridSettings, self)

    @property
    def read(self) -> ReadSettings:
        return _part(ReadSettings, self)

    @property
    def output(self) -> OutputSettings:
        return _part(OutputSettings, self)


def _part(cls, settings: MapSettings):
    from dataclasses import fields

    return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


@dataclass
class MapResult:
    out: Path
    tiles: int
    classified: int
    skipped: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


MIN_TILE_PX = 32  # below this a scene classifier sees colour, not content


def tile_pixels(src, settings: GridSettings, model_tile_m: float | None) -> tuple[int, int]:
    """Tile size and stride in pixels from the settings and the model's footprint."""
    from rsdsva.mapping.raster import pixel_size_m

    for flag, value in (("--tile-size", settings.tile_size), ("--stride", settings.stride), ("--tile-m", settings.tile_m)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value:g} must be positive")
    size = settings.tile_size
    if size is None:
        tile_m = settings.tile_m or model_tile_m
        if tile_m is None:
            raise ConfigError("the model records no tile footprint; give --tile-size (pixels) or --tile-m (metres)")
        if src.crs is None or not src.crs.is_projected:  # say what was given: the user's --tile-m or the model's
            what = f"--tile-m {settings.tile_m:g}" if settings.tile_m else f"the model's {tile_m:g} m tile footprint"
            crs = "has no CRS" if src.crs is None else "has a CRS in degrees"
            raise RasterError(f"{src.name} {crs}, so {what} cannot be turned into pixels; give --tile-size in pixels")
        size = max(1, round(tile_m / pixel_size_m(src)))
    return size, settings.stride or size


def check_grid(raster: Path, src, settings: GridSettings, size: int, stride: int, model_tile_m: float | None,
               max_nodata: float = 0.5) -> None:
    """Refuse, before any tile is read, grids that cannot give a useful map."""
    from rsdsva.mapping.raster import pixel_size_m

    if size < MIN_TILE_PX and not settings.allow_small_tiles:
        if settings.tile_size is not None:
            why = f"--tile-size {size}"
        else:
            metres = settings.tile_m or model_tile_m
            given = "--tile-m" if settings.tile_m else "the model's footprint"
            why = f"{given} of {metres:g} m at {pixel_size_m(src):.3g} m per pixel"
            if model_tile_m and settings.tile_m:
                why += f" (the model was trained on {model_tile_m:g} m tiles)"
        raise RasterError(
            f"{raster}: tiles would be {size} px ({why}), under {MIN_TILE_PX} px, where the model sees colour, "
            f"not content; give a larger --tile-m, a --tile-size of {MIN_TILE_PX} or more, or --allow-small-tiles"
        )
    valid = min(src.width, size) * min(src.height, size) / size**2
    if valid < 1 - max_nodata:
        raise RasterError(
            f"{raster} is {src.width} x {src.height} px: even its largest tile of {size} px would be "
            f"{valid:.0%} data, less than --max-nodata {max_nodata:g} allows; give a smaller "
            "--tile-size or --tile-m"
        )
    rows = max(1, math.ceil((src.height - size) / stride) + 1)
    cols = max(1, math.ceil((src.width - size) / stride) + 1)
    if not settings.aoi:  # with an AOI, plan_map counts the tiles left inside it
        _check_tile_count(raster, rows * cols, size, stride, settings.max_tiles)


def _check_tile_count(raster: Path, n: int, size: int, stride: int, max_tiles: int) -> None:
    if n > max_tiles:
        raise RasterError(
            f"{raster}: {n:,} tiles of {size} px (stride {stride}), more than --max-tiles "
            f"{max_tiles:,}; give a larger --tile-m or --stride, an --aoi, or a higher --max-tiles"
        )


@dataclass
class MapPlan:
    """Everything decided before the first tile is read (checked inputs, grid, classifier).

    The classifier is built in a background thread while the raster is checked and
    the first tiles are read; ``classifier`` waits for it (and raises its errors).
    """

    raster: Path
    model_path: Path
    spec: object  # RasterSpec
    loading: Future  # of the Classifier
    tiles: list
    size: int
    stride: int
    calibration: float
    attention_names: list[str]
    attention_index: list[int]
    scales: tuple[float, ...] = (1.0,)  # the windows read around each tile (context and example recipes)

    @property
    def classifier(self):
        return self.loading.result()


def check_outputs(raster: Path, out: Path, settings: OutputSettings, inputs: dict | None = None) -> None:
    """Refuse bad output paths before any work is done: an output that is an input (``raster``
    or ``inputs``: role -> path, e.g. the AOI and classes files) or another output."""
    from rsdsva._io import check_distinct, check_output_path

    if out.suffix.lower() != ".gpkg":
        raise OutputError(f"output {out} must end in .gpkg (a GeoPackage)")
    check_distinct({"--out": out, "--raster": settings.raster, "--attention-raster": settings.attention_raster,
                    "--similarity": settings.similarity}, {"the input raster": raster, **(inputs or {})})
    for target in (out, settings.raster, settings.attention_raster, settings.similarity):
        if target:
            check_output_path(target, settings.overwrite)


def map_inputs(settings: MapSettings) -> dict[str, str | None]:
    """The files a map reads besides its raster, by the flag naming them."""
    return {"the --aoi file": settings.aoi, "the --classes file": settings.classes, "the --model file": settings.model}


def plan_map(raster: Path, settings: MapSettings, built=None) -> MapPlan:
    """Open and validate the raster, build the tile grid; ``built`` reuses a classifier already
    built for ``settings.classifier`` (:func:`rsdsva.predict.build_classifier`).

    Without ``built`` the model is loaded in a background thread (see :class:`MapPlan`);
    the grid needs only the model file's header.
    """
    from rsdsva.inference import load_extra_classes, window_scales
    from rsdsva.mapping.raster import iter_windows, make_spec, open_raster
    from rsdsva.models.info import read_model_info

    model_path = Path(settings.model) if settings.model else default_model_path()
    grid, read = settings.grid, settings.read
    with open_raster(raster, read.allow_no_crs) as src:  # a missing or unreadable raster fails first, at once
        info = built.info if built else read_model_info(model_path)  # then a missing or damaged model file
        extra = load_extra_classes(settings.classifier, info)  # and a bad classes file, all before any read
        scales = window_scales(settings.classifier, extra)
        if settings.similarity and (extra is None or not extra.has_examples.any()
                                    or settings.example_route != "examples"):
            raise ClassSpaceError(f"--similarity {settings.similarity}: there are no classes from example areas to "
                                  "compare tiles with; give --classes FILE made by rsdsva classes from-map")
        loading = _done(built) if built else _in_background(lambda: _build(settings))
        with _settled_on_error(loading):  # the model loads while the grid is laid out
            spec = make_spec(src, read.bands, read.scale, read.nodata)
            _note_choices(raster, src, spec, read)
            size, stride = tile_pixels(src, grid, info.tile_m)
            check_grid(raster, src, grid, size, stride, info.tile_m, read.max_nodata)
            names, index = _attention_attributes(info, settings.output)
            area = _aoi_area(grid.aoi, raster, spec) if grid.aoi else None
            if area is None:
                tiles = list(iter_windows(src.width, src.height, size, stride))
            else:
                tiles = _tiles_in(area, spec, src.width, src.height, size, stride)
                _check_tile_count(raster, len(tiles), size, stride, grid.max_tiles)
    return MapPlan(raster, model_path, spec, loading, tiles, size, stride, settings.classifier.calibration_for(info),
                   names, index, scales)


def _build(settings: MapSettings):
    from rsdsva.predict import build_classifier

    return build_classifier(settings.classifier)


def _note_choices(raster: Path, src, spec, settings: ReadSettings) -> None:
    """One line on stderr (a warning) for each reading choice made for the user that changes the pixels."""
    if settings.bands is None and (src.count != 3 or tuple(spec.bands) != (1, 2, 3)):
        warnings.warn(f"{raster}: using bands {','.join(map(str, spec.bands))} of {src.count} as red, green, blue; "
                      "--bands to choose others", RsdsvaWarning, stacklevel=3)
    if settings.scale is None and spec.low is not None:
        ranges = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in zip(spec.low, spec.high))
        warnings.warn(f"{raster}: {src.dtypes[0]} values stretched to 0-255 from each band's 2-98 % range "
                      f"({ranges}); --scale MIN,MAX to fix it", RsdsvaWarning, stacklevel=3)


def _in_background(fn: Callable[[], object]) -> Future:
    """Run ``fn`` in a daemon thread (an input error raised meanwhile does not wait for it)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as err:  # handed to whoever waits on the future
            future.set_exception(err)

    threading.Thread(target=run, name="rsdsva-model", daemon=True).start()
    return future


@contextmanager
def _settled_on_error(loading: Future):
    """On an error or an interrupt (Ctrl-C, SIGTERM), let a model still loading in its thread
    finish before the exception goes on: an interpreter exiting under a thread inside torch's
    C++ code aborts the process ("terminate called without an active exception")."""
    try:
        yield
    except BaseException:
        wait([loading])
        raise


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def map_scene(
    raster: str | Path,
    out: str | Path,
    settings: MapSettings = MapSettings(),
    progress: Callable[[dict], None] | None = None,
) -> MapResult:
    """Classify the tiles of ``raster`` and write ``out`` (GeoPackage) atomically.

    Args:
        progress: called with ``{"done", "total", "skipped", "tiles_per_s"}`` dicts.
    """
    from rsdsva._io import output_lock

    raster, out = Path(raster), Path(out)
    check_outputs(raster, out, settings.output, map_inputs(settings))
    out_settings = settings.output
    with contextlib.ExitStack() as held:  # one writer per output: a second run onto one fails at once
        for target in (out, out_settings.raster, out_settings.similarity, out_settings.attention_raster):
            if target:
                held.enter_context(output_lock(target))
        return _map_scene(raster, out, settings, progress)


def _map_scene(raster: Path, out: Path, settings: MapSettings, progress) -> MapResult:
    from rsdsva.mapping.attention import AttentionMosaic
    from rsdsva.mapping.classify import classify_tiles
    from rsdsva.mapping.writers import tile_record

    t0 = time.perf_counter()
    plan = plan_map(raster, settings)
    total, spec = len(plan.tiles), plan.spec

    def report(done: int, skipped: int) -> None:
        if progress is not None:
            rate = done / max(time.perf_counter() - t0, 1e-9)
            progress({"done": done, "total": total, "skipped": skipped, "tiles_per_s": round(rate, 1)})

    mosaic = AttentionMosaic(spec.width, spec.height, len(plan.attention_index)) if plan.attention_index else None
    rows, similarity = [], []
    with _settled_on_error(plan.loading):
        report(0, 0)  # the grid is laid out: say how many tiles, before the model has loaded
        # the classifier is resolved once the first reads are queued, so loading the model overlaps them
        for r in classify_tiles(lambda: plan.classifier, spec, plan.tiles, settings.batch_size, settings.top_k,
                                settings.max_nodata, settings.read_threads, on_batch=report,
                                explain=settings.explain, attention_attributes=plan.attention_index,
                                scales=plan.scales):
            if mosaic is not None:
                mosaic.add(r.tile.window, r.attention)
            rows.append(tile_record(plan.classifier.classes, spec, r, settings.explain))
            if settings.similarity:
                similarity.append(r.similarity)
    if not rows:
        warnings.warn(f"{raster}: no tile has enough valid data (all nodata?); the map is empty", RsdsvaWarning, stacklevel=2)
    frame = write_outputs(plan, out, rows, settings, mosaic, similarity=similarity)
    counts = frame["label"].value_counts().to_dict() if len(frame) else {}
    return MapResult(out, total, len(rows), total - len(rows), time.perf_counter() - t0, counts)


def write_outputs(plan: MapPlan, out: Path, rows: list[dict], settings: MapSettings, mosaic=None,
                  inputs: list[str] | None = None, similarity: Sequence | None = None):
    """The GeoPackage, and the optional label, attention and similarity rasters, each written
    atomically.

    ``inputs`` lists the scenes of a merged GeoPackage (default: the plan's raster);
    ``similarity`` holds each row's similarities to the example classes (``--similarity``).
    """
    from rasterio.transform import Affine

    from rsdsva import __version__
    from rsdsva._io import atomic_path
    from rsdsva.mapping.writers import (classes_frame, tiles_frame, write_geopackage, write_label_raster,
                                        write_similarity_raster)

    spec, cs = plan.spec, plan.classifier.classes
    routes = plan.classifier.routes
    frame = tiles_frame(rows, spec.crs)
    run = {
        "rsdsva_version": __version__,
        "input": inputs or str(plan.raster.resolve()),
        "model": str(plan.model_path.resolve()),
        "model_sha256": _sha256(plan.model_path),
        "classes_file": settings.classes,
        "classes_sha256": _sha256(Path(settings.classes)) if settings.classes else None,
        "settings": asdict(settings),
        "class_routes": dict(zip(cs.names, routes)),  # how each class was defined
        "tile_size_px": plan.size, "stride_px": plan.stride, "calibration": plan.calibration,
        "bands_used": list(spec.bands), "nodata_used": spec.nodata,
        "stretch": None if spec.low is None else {
            "low": list(spec.low), "high": list(spec.high), "from": "--scale" if settings.scale else "2-98 % per band"},
        "tiles": len(plan.tiles), "classified": len(rows), "skipped": len(plan.tiles) - len(rows),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with _write_errors(out), atomic_path(out) as tmp:
        write_geopackage(tmp, frame, classes_frame(cs.names, routes, cs.matrix, cs.attributes), run)
        tiles = plan.tiles
        grid = (max(t.row for t in tiles) + 1, max(t.col for t in tiles) + 1) if tiles else (1, 1)
        cell_transform = spec.transform * Affine.scale(plan.stride)
        if settings.raster:
            with _write_errors(Path(settings.raster)), atomic_path(settings.raster) as tmp_tif:
                write_label_raster(tmp_tif, frame, grid, cell_transform, spec.crs, cs.names)
        if settings.similarity:
            names = plan.classifier.example_names
            sims = np.stack(similarity) if similarity else np.zeros((0, len(names)), np.float32)
            with _write_errors(Path(settings.similarity)), atomic_path(settings.similarity) as tmp_sim:
                write_similarity_raster(tmp_sim, [(r["row"], r["col"]) for r in rows], sims, grid, cell_transform,
                                        spec.crs, names)
        if mosaic is not None:
            with _write_errors(Path(settings.attention_raster)), atomic_path(settings.attention_raster) as tmp_att:
                mosaic.write(tmp_att, spec.crs, spec.transform, plan.attention_names)
    return frame


@contextmanager
def _write_errors(path: Path):
    """A failure while writing ``path`` (disk full, folder gone, permission lost) as one
    :class:`OutputError` line naming it; :func:`atomic_path` has removed the partial file."""
    import sqlite3

    import pyogrio.errors
    import rasterio.errors

    try:
        yield
    except OutputError:
        raise
    except (OSError, sqlite3.Error, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            rasterio.errors.RasterioError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OutputError(f"could not write {path} ({reason}); check the free space and permissions "
                          "of its folder; nothing was left there") from None


def _attention_attributes(info, settings: OutputSettings) -> tuple[list[str], list[int]]:
    """Names and indexes of the attributes whose attention maps go to the attention raster."""
    from rsdsva.classes import did_you_mean

    if not settings.attention_raster:
        return [], []
    if not info.dsva.prototypes:
        raise ClassSpaceError("this model has no attribute prototypes, so no attention maps; drop --attention-raster")
    vocab = list(info.classes.attributes)
    names = list(settings.attention_attributes or vocab[:3])
    for n in names:
        if n not in vocab:
            raise ClassSpaceError(f"--attention-attributes: unknown attribute {n!r}{did_you_mean(n, vocab)}")
    return names, [vocab.index(n) for n in names]


def _aoi_area(aoi: str | Path, raster: Path, spec):
    """The AOI file's shapes, in the raster's CRS, as one geometry; one line when it has none
    or they miss the raster."""
    from rasterio.windows import Window
    from shapely.geometry import box

    from rsdsva.mapping.raster import window_bounds
    from rsdsva.mapping.vectors import read_vector

    shapes = read_vector(aoi, "AOI")
    shapes = shapes[shapes.geometry.notna() & ~shapes.geometry.is_empty]
    if shapes.empty:
        raise RasterError(f"--aoi {aoi} has no geometries; draw the area to map in it, or leave --aoi out")
    area = shapes.to_crs(spec.crs).union_all()
    full = box(*window_bounds(spec, Window(0, 0, spec.width, spec.height)))
    if not area.intersects(full):
        raise RasterError(f"--aoi {aoi} does not overlap {raster} (AOI {_bounds(area.bounds)}, raster "
                          f"{_bounds(full.bounds)} in {spec.crs}); give an AOI over the raster")
    return area


def _bounds(b) -> str:
    return "{:.0f},{:.0f} - {:.0f},{:.0f}".format(*b)


def _tiles_in(area, spec, width: int, height: int, size: int, stride: int) -> list:
    """The grid's tiles overlapping ``area``; only the part of the grid under its bounds is laid out."""
    from shapely.geometry import box

    from rsdsva.mapping.raster import iter_windows, window_bounds

    xmin, ymin, xmax, ymax = area.bounds
    (c0, r0), (c1, r1) = ~spec.transform * (xmin, ymax), ~spec.transform * (xmax, ymin)
    within = (min(c0, c1), min(r0, r1), max(c0, c1), max(r0, r1))
    tiles = [(t, box(*window_bounds(spec, t.window))) for t in iter_windows(width, height, size, stride, within)]
    return [t for t, b in tiles if b.intersects(area) and not b.touches(area)]  # a shared edge is not overlap


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
