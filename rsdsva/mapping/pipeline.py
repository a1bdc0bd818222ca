"""``map_scene``: the tool's main job, raster in, labelled GeoPackage out.

All-nodata rasters: every tile is skipped, the GeoPackage is written with empty
``tiles`` and ``regions`` layers, and a warning says so (an empty map is a valid
answer for an empty scene; a batch job over many scenes should not stop on one).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rsdsva.errors import ClassSpaceError, RsdsvaWarning
from rsdsva.mapping.background import done, in_background, settled_on_error
from rsdsva.mapping.grid import Grid, aoi_area, check_grid, check_tile_count, tile_pixels, tiles_in
from rsdsva.mapping.outputs import check_outputs, write_outputs
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
    grid: Grid  # the tile size and stride over the raster's pixels
    calibration: float
    attention_names: list[str]
    attention_index: list[int]
    scales: tuple[float, ...] = (1.0,)  # the windows read around each tile (context and example recipes)
    input_size: int | None = None  # the readers resize windows to the model's input (the ONNX engine's)

    @property
    def classifier(self):
        return self.loading.result()


def map_inputs(settings: MapSettings) -> dict[str, str | None]:
    """The files a map reads besides its raster, by the flag naming them."""
    return {"the --aoi file": settings.aoi, "the --classes file": settings.classes, "the --model file": settings.model}


def plan_map(raster: Path, settings: MapSettings, built=None) -> MapPlan:
    """Open and validate the raster, build the tile grid; ``built`` reuses a classifier already
    built for ``settings.classifier`` (:func:`rsdsva.predict.build_classifier`).

    Without ``built`` the model is loaded in a background thread (see :class:`MapPlan`);
    the grid needs only the model file's header.
    """
    from rsdsva.engines import choose_engine
    from rsdsva.inference import load_extra_classes, window_scales
    from rsdsva.mapping.raster import iter_windows, make_spec, open_raster
    from rsdsva.models.info import read_model_info

    model_path = Path(settings.model) if settings.model else default_model_path()
    grid, read = settings.grid, settings.read
    with open_raster(raster, read.allow_no_crs) as src:  # a missing or unreadable raster fails first, at once
        info = built.info if built else read_model_info(model_path)  # then a missing or damaged model file
        # an engine that cannot run here (torch or ONNX Runtime missing, no ONNX form) fails here
        engine = built.engine.name if built else choose_engine(settings.classifier.engine, model_path,
                                                               settings.classifier.device,
                                                               settings.classifier.precision)[0]
        extra = load_extra_classes(settings.classifier, info)  # and a bad classes file, all before any read
        scales = window_scales(settings.classifier, extra)
        if settings.similarity and (extra is None or not extra.has_examples.any()
                                    or settings.example_route != "examples"):
            raise ClassSpaceError(f"--similarity {settings.similarity}: there are no classes from example areas to "
                                  "compare tiles with; give --classes FILE made by rsdsva classes from-map")
        loading = done(built) if built else in_background(lambda: _build(settings))
        with settled_on_error(loading):  # the model loads while the grid is laid out
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
    return MapPlan(raster, model_path, spec, loading, tiles, Grid(src.width, src.height, size, stride),
                   settings.classifier.calibration_for(info), names, index, scales,
                   info.preprocessing.image_size if engine == "onnx" else None)


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
    with settled_on_error(plan.loading):
        report(0, 0)  # the grid is laid out: say how many tiles, before the model has loaded
        # the classifier is resolved once the first reads are queued, so loading the model overlaps them
        for r in classify_tiles(lambda: plan.classifier, spec, plan.tiles, settings.batch_size, settings.top_k,
                                settings.max_nodata, settings.read_threads, on_batch=report,
                                explain=settings.explain, attention_attributes=plan.attention_index,
                                scales=plan.scales, input_size=plan.input_size):
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
