"""What a map writes: the GeoPackage and the optional rasters, with the run's record; they
replace the old files together, once all are written."""

from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from rsdsva.errors import OutputError
from rsdsva.mapping.settings import MapSettings, OutputSettings

if TYPE_CHECKING:
    from rsdsva.mapping.plan import MapPlan


def check_outputs(raster: Path, out: Path, settings: OutputSettings, inputs: dict | None = None) -> None:
    """Refuse bad output paths before any work is done: an output that is an input (``raster``
    or ``inputs``: role -> path, e.g. the AOI and classes files) or another output."""
    from rsdsva._io import check_distinct, check_output_path

    if out.suffix.lower() != ".gpkg":
        raise OutputError(f"output {out} must end in .gpkg (a GeoPackage)")
    check_distinct({"`out`": out, "`raster`": settings.raster, "`attention_raster`": settings.attention_raster,
                    "`similarity`": settings.similarity}, {"the input raster": raster, **(inputs or {})})
    for flag, path in (("`raster`", settings.raster), ("`attention_raster`", settings.attention_raster),
                       ("`similarity`", settings.similarity)):
        if path and not str(path).lower().endswith((".tif", ".tiff")):
            raise OutputError(f"{flag} {path}: GeoTIFF is written; give a name ending in .tif")
    for target in (out, settings.raster, settings.attention_raster, settings.similarity):
        if target:
            check_output_path(target, settings.overwrite)


@contextmanager
def held_outputs(raster: Path, out: Path, settings: OutputSettings, inputs: dict | None = None):
    """:func:`check_outputs`, then each output locked for the run: a second run onto one fails at once."""
    from rsdsva._io import output_lock

    check_outputs(raster, out, settings, inputs)
    with ExitStack() as held:
        for target in (out, settings.raster, settings.similarity, settings.attention_raster):
            if target:
                held.enter_context(output_lock(target))
        yield


def write_outputs(plan: MapPlan, out: Path, rows: list[dict], settings: MapSettings, mosaic=None,
                  inputs: list[str] | None = None, similarity: Sequence | None = None):
    """The GeoPackage, and the optional label, attention and similarity rasters, each written to
    a temporary beside it; they replace the old files together once all are complete (a signal
    or a full disk on the last leaves every old output as it was).

    ``inputs`` lists the scenes of a merged GeoPackage (default: the plan's raster);
    ``similarity`` holds each row's similarities to the example classes (``--similarity``).
    """
    from rasterio.transform import Affine

    from rsdsva import __version__
    from rsdsva._io import atomic_paths, file_sha256
    from rsdsva.mapping.writers import (classes_frame, tiles_frame, write_geopackage, write_label_raster,
                                        write_similarity_raster)

    from rsdsva.colors import class_colors

    spec, cs = plan.spec, plan.classifier.classes
    classes_file, output = settings.classifier.classes, settings.output
    routes = plan.classifier.routes
    colors = class_colors(cs.names, cs.colors)  # by meaning; a classes file's own where it chose
    frame = tiles_frame(rows, spec.crs)
    run = {
        "rsdsva_version": __version__,
        "input": inputs or str(plan.raster.resolve()),
        "model": str(plan.model_path.resolve()),
        "model_sha256": file_sha256(plan.model_path),
        "classes_file": classes_file,
        "classes_sha256": file_sha256(classes_file) if classes_file else None,
        "settings": settings.to_dict(),
        "engine": plan.classifier.engine.name,  # what ran the network (settings.engine may say auto)
        "class_routes": dict(zip(cs.names, routes)),  # how each class was defined
        "tile_size_px": plan.grid.size, "stride_px": plan.grid.stride, "calibration": plan.calibration,
        # score -> confidence per kind of class; a kind without a curve keeps its score (rsdsva.confidence)
        "confidence_curves": {k: list(v) for k, v in plan.classifier.info.confidence_curves.items()},
        "bands_used": list(spec.bands), "nodata_used": spec.nodata,
        "read": plan.source.record().to_dict(),  # as classes files keep it
        "stretch": None if spec.low is None else {
            "low": list(spec.low), "high": list(spec.high), "from": "--scale" if settings.read.scale else "2-98 % per band"},
        "tiles": len(plan.tiles), "classified": len(rows), "skipped": len(plan.tiles) - len(rows),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    targets = [Path(p) for p in (out, output.raster, output.similarity, output.attention_raster) if p]
    with atomic_paths(targets) as temps:  # every output complete before any replaces its old file
        tmp = dict(zip(targets, temps))
        with write_errors(out):
            write_geopackage(tmp[out], frame, classes_frame(cs, routes, colors), run, output.to_check)
        tiles = plan.tiles
        grid = (max(t.row for t in tiles) + 1, max(t.col for t in tiles) + 1) if tiles else (1, 1)
        cell_transform = spec.transform * Affine.scale(plan.grid.stride)
        if output.raster:
            with write_errors(Path(output.raster)):
                write_label_raster(tmp[Path(output.raster)], frame, grid, cell_transform, spec.crs, cs.names, colors)
        if output.similarity:
            names = plan.classifier.example_names
            sims = np.stack(similarity) if similarity else np.zeros((0, len(names)), np.float32)
            with write_errors(Path(output.similarity)):
                write_similarity_raster(tmp[Path(output.similarity)], [(r["row"], r["col"]) for r in rows], sims,
                                        grid, cell_transform, spec.crs, names)
        if mosaic is not None:
            with write_errors(Path(output.attention_raster)):
                mosaic.write(tmp[Path(output.attention_raster)], spec.crs, spec.transform, plan.attention_names)
    return frame


@contextmanager
def write_errors(path: Path):
    """A failure while writing ``path`` (disk full, folder gone, permission lost) as one
    :class:`OutputError` line naming it; :func:`atomic_paths` has removed the partial files."""
    import sqlite3

    import pyogrio.errors
    import rasterio.errors

    from rsdsva._io import write_failure

    try:
        yield
    except OutputError:
        raise
    except (OSError, sqlite3.Error, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            rasterio.errors.RasterioError) as err:
        raise write_failure(path, err) from None
