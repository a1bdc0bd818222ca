"""``map_scene``: the tool's main job, raster in, labelled GeoPackage out.

All-nodata rasters: every tile is skipped, the GeoPackage is written with empty
``tiles`` and ``regions`` layers, and a warning says so (an empty map is a valid
answer for an empty scene; a batch job over many scenes should not stop on one).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rsdsva.errors import RsdsvaWarning
from rsdsva.mapping.background import settled_on_error
from rsdsva.mapping.outputs import held_outputs, write_outputs
from rsdsva.mapping.plan import map_inputs, plan_map
from rsdsva.mapping.settings import MapSettings


@dataclass
class MapResult:
    out: Path
    tiles: int
    classified: int
    skipped: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


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
    raster, out = Path(raster), Path(out)
    inputs = map_inputs(settings)
    with held_outputs(raster, out, settings.output, inputs):  # one writer per output
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

    mosaic = None
    if plan.attention_index:
        mosaic = AttentionMosaic.over(plan.tiles, spec.width, spec.height, len(plan.attention_index),
                                      settings.output.attention_raster)
    rows, similarity = [], []
    with settled_on_error(plan.loading):
        report(0, 0)  # the grid is laid out: say how many tiles, before the model has loaded
        # the classifier is resolved once the first reads are queued, so loading the model overlaps them
        read, output = settings.read, settings.output
        for r in classify_tiles(lambda: plan.classifier, spec, plan.tiles, plan.batch_size, output.top_k,
                                read.max_nodata, read.read_threads, on_batch=report,
                                explain=output.explain, attention_attributes=plan.attention_index,
                                scales=plan.scales, input_size=plan.input_size, spectral=plan.source.spectral):
            if mosaic is not None:
                mosaic.add(r.tile.window, r.attention)
            rows.append(tile_record(plan.classifier.classes, spec, r, output.explain))
            if output.similarity:
                similarity.append(r.similarity)
    if not rows:
        warnings.warn(f"{raster}: no tile has enough valid data (all nodata?); the map is empty", RsdsvaWarning, stacklevel=2)
    frame = write_outputs(plan, out, rows, settings, mosaic, similarity=similarity)
    counts = frame["label"].value_counts().to_dict() if len(frame) else {}
    return MapResult(out, total, len(rows), total - len(rows), time.perf_counter() - t0, counts)
