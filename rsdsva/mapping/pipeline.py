"""``map_scene``: the tool's main job, raster in, labelled GeoPackage out.

All-nodata rasters: every tile is skipped, the GeoPackage is written with empty
``tiles`` and ``regions`` layers, and a warning says so (an empty map is a valid
answer for an empty scene; a batch job over many scenes should not stop on one).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import warnings
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rsdsva.errors import ClassSpaceError, OutputError, RsdsvaWarning
from rsdsva.mapping.grid import aoi_area, check_grid, check_tile_count, tile_pixels, tiles_in
from rsdsva.mapping.settings import MapSettings, OutputSettings, ReadSettings
from rsdsva.models.info import default_model_path  # noqa: F401 (re-exported: where the default model lives)


@dataclass
class MapResult:
    out: Path
    tiles: int
    classified: int
    skipped: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


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
            area = aoi_area(grid.aoi, raster, spec) if grid.aoi else None
            if area is None:
                tiles = list(iter_windows(src.width, src.height, size, stride))
            else:
                tiles = tiles_in(area, spec, src.width, src.height, size, stride)
                check_tile_count(raster, len(tiles), size, stride, grid.max_tiles)
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
        "settings": settings.to_dict(),
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
