"""What changed between two dates, and into what: ``rsdsva change BEFORE AFTER``.

Both dates are cut into BEFORE's grid (AFTER read onto it through a warped VRT where their
CRS, resolution or extent differ) and classified as ``rsdsva map`` classifies them, so each
tile has a from- and a to-class from any class route.

Whether a tile changed is decided from its pixels over every band, relative to the scene: the
AFTER date's log values are predicted from BEFORE's by one linear map fitted over the whole
overlap (a change of season, sun or haze moves every pixel alike and is absorbed by it), and a
pixel's residual, in units of the residuals' robust spread, says how unusual its move is. A tile's
move is the 95th percentile of its pixels' (a new building fills part of a tile: the residual
that a twentieth of its pixels exceed, so a tile where a twentieth changed stands out), and its
``change_score`` is how unusual that is among the scene's tiles: the normal probability of its
robust z-score (median and MAD over the tiles), so 0.5 is a typical tile and 0.98 one moved
about two spreads more than typical. ``changed`` is ``change_score >= threshold``
(:data:`DEFAULT_THRESHOLD` unless told). Measured on the shared Sentinel-2 cities with
``scripts/bench/bench_change.py`` (docs/mapping.md); the network's features were measured
against this and moved with the seasons more than with the buildings, so they do not decide.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rsdsva.errors import ConfigError, RasterError

# changed: a tile moved about two robust spreads more than the scene's typical tile (z = 2.05)
DEFAULT_THRESHOLD = 0.98
QUANTILE = 95  # a tile's move: the residual a twentieth of its pixels exceed (a tile a twentieth built over)
FIT_SIDE = 1024  # the linear map between the dates is fitted on a read of at most this many pixels a side


@dataclass
class ChangeResult:
    out: Path
    tiles: int
    changed: int
    seconds: float
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)


def check_threshold(threshold: float | None) -> float:
    if threshold is None:
        return DEFAULT_THRESHOLD
    if not (math.isfinite(threshold) and 0 < threshold < 1):
        raise ConfigError(f"`threshold` {threshold:g}: give a change score between 0 and 1, e.g. `threshold` "
                          f"{DEFAULT_THRESHOLD} (the default)")
    return float(threshold)


def change_scenes(before: str | Path, after: str | Path, out: str | Path, settings=None,
                  threshold: float | None = None, progress: Callable[[dict], None] | None = None,
                  scheduler: str | None = None, workers: int | None = None) -> ChangeResult:
    """Classify both dates' tiles on BEFORE's grid, score each tile's change and write ``out``
    (a GeoPackage: ``tiles``, ``transitions``, ``classes``, ``run``) atomically.

    ``settings``: a :class:`~rsdsva.mapping.settings.MapSettings` (footprint, bands, classes, mode,
    context, engine, AOI...), as for ``rsdsva map``; ``threshold``: the change score from which a
    tile is ``changed``. ``scheduler`` (an address) or ``workers`` (a local cluster's processes)
    classify the tiles on Dask, as :func:`rsdsva.mapping.distributed.map_scenes` does; the change
    scores are computed here."""
    from rsdsva.mapping.outputs import held_outputs
    from rsdsva.mapping.plan import map_inputs
    from rsdsva.mapping.settings import MapSettings

    settings = settings or MapSettings()
    before, after, out = Path(before), Path(after), Path(out)
    threshold = check_threshold(threshold)
    if before.resolve() == after.resolve():
        raise ConfigError(f"BEFORE and AFTER are the same file ({before}); give the two dates' rasters")
    if settings.output.similarity or settings.output.attention_raster:
        raise ConfigError("`similarity` and `attention_raster` belong to rsdsva map; change writes its GeoPackage "
                          "and, with `raster`, the change score and transition of each tile")
    inputs = {"the AFTER raster": after, **map_inputs(settings)}
    with held_outputs(before, out, settings.output, inputs), \
            tempfile.TemporaryDirectory(prefix="rsdsva-change-") as scratch:
        dask = (scheduler, workers) if scheduler or workers else None
        return _change(before, after, out, settings, threshold, progress, Path(scratch), dask)


def _change(before: Path, after: Path, out: Path, settings, threshold: float, progress, scratch: Path,
            dask: tuple | None) -> ChangeResult:
    from rsdsva.mapping.plan import plan_map
    from rsdsva.mapping.settings import GridSettings
    from rsdsva.mapping.source import open_tile_source

    t0 = time.perf_counter()
    aligned = _onto_grid(before, after, scratch, settings.read.allow_no_crs)
    plan = plan_map(before, settings)
    grid = GridSettings(tile_size=plan.grid.size, stride=plan.grid.stride, allow_small_tiles=True)
    later = open_tile_source(aligned, grid, plan.source.read, note=False)
    if plan.source.spectral is not None:
        later = later.with_spectra(plan.classifier.spectra)
    sources = {"before": plan.source, "after": later}
    results = _on_dask(plan, sources, aligned != after, settings, progress, *dask) if dask else \
        _here(plan, sources, settings, progress)
    tiles = [t for t in plan.tiles if (t.row, t.col) in results["before"] and (t.row, t.col) in results["after"]]
    moves = tile_moves(before, aligned, tiles, plan.grid.size)
    scores = change_scores(moves)
    frame = _frame(plan, tiles, results, scores, threshold)
    _write(plan, out, frame, settings, before, after, threshold)
    changed = frame[frame["changed"]]
    transitions = changed.groupby(["from_label", "to_label"]).size().to_dict() if len(changed) else {}
    return ChangeResult(out, len(frame), int(frame["changed"].sum()), time.perf_counter() - t0, transitions)


def _here(plan, sources: dict, settings, progress) -> dict[str, dict[tuple[int, int], tuple[int, float]]]:
    """Per date, each classified tile's (row, col) -> (class id, score), classified in this process."""
    from rsdsva.mapping.background import settled_on_error
    from rsdsva.mapping.classify import classify_tiles

    results = {}
    total = 2 * len(plan.tiles)  # each tile classified on both dates
    with settled_on_error(plan.loading):
        for i, (date, source) in enumerate(sources.items()):
            # counted over both dates: the second goes on from the first's tiles and skipped tiles
            earlier = sum(len(plan.tiles) - len(r) for r in results.values())

            def report(done: int, skipped: int, first: int = i * len(plan.tiles), earlier: int = earlier) -> None:
                if progress is not None:
                    progress({"done": first + done, "total": total, "skipped": earlier + skipped})

            results[date] = {(r.tile.row, r.tile.col): (int(r.top_k[0]), float(r.top_scores[0]))
                             for r in classify_tiles(lambda: plan.classifier, source.spec, plan.tiles,
                                                     plan.batch_size, 1, settings.read.max_nodata,
                                                     settings.read.read_threads, on_batch=report, scales=plan.scales,
                                                     input_size=plan.input_size, spectral=source.spectral)}
    return results


def _on_dask(plan, sources: dict, warped: bool, settings, progress, scheduler, workers) -> dict:
    """:func:`_here`'s results, the tiles classified in blocks on a Dask cluster. A warped AFTER
    travels to the workers as its VRT's text, which GDAL opens as it would the file (the rasters it
    reads must be at the same paths there, as for ``rsdsva map`` on Dask)."""
    from dataclasses import replace

    from rsdsva.mapping.background import settled_on_error
    from rsdsva.mapping.distributed import classified_blocks, dask_client

    specs = {date: source.spec for date, source in sources.items()}
    if warped:
        specs["after"] = replace(specs["after"], path=Path(specs["after"].path).read_text(encoding="utf-8"))
    scenes = {date: (specs[date], plan.tiles, source.spectral) for date, source in sources.items()}
    results: dict = {date: {} for date in sources}
    with settled_on_error(plan.loading), dask_client(scheduler, workers) as client:
        for date, rows in classified_blocks(client, scenes, settings, progress=progress):
            if isinstance(rows, Exception):
                raise rows
            results[date].update({(r["row"], r["col"]): (r["class_id"], r["score"]) for r in rows})
    return results


def _onto_grid(before: Path, after: Path, scratch: Path, allow_no_crs: bool) -> Path:
    """AFTER itself where it lies on BEFORE's grid; else a warped VRT of it onto that grid (bilinear,
    as GDAL resamples). Rasters that do not overlap, or whose band counts differ, are one line."""
    import rasterio.shutil
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    from rsdsva.mapping.raster import open_raster

    with open_raster(before, allow_no_crs) as b, open_raster(after, allow_no_crs) as a:
        if a.count != b.count:
            raise RasterError(f"{after} has {a.count} bands and {before} {b.count}; give two dates of one sensor's "
                              "bands (gdal_translate -b to pick the same ones)")
        if (a.crs, a.transform, a.width, a.height) == (b.crs, b.transform, b.width, b.height):
            return after
        if a.crs is None or b.crs is None:
            raise RasterError(f"{after} and {before} lie on different grids and one has no CRS; give both a CRS")
        x0, y0, x1, y1 = transform_bounds(a.crs, b.crs, *a.bounds)
        if x0 >= b.bounds.right or x1 <= b.bounds.left or y0 >= b.bounds.top or y1 <= b.bounds.bottom:
            raise RasterError(f"{after} does not overlap {before}; give two dates of the same place")
        path = scratch / "after_on_before_grid.vrt"
        with WarpedVRT(a, crs=b.crs, transform=b.transform, width=b.width, height=b.height,
                       resampling=Resampling.bilinear, add_alpha=a.nodata is None) as vrt:  # outside: masked
            rasterio.shutil.copy(vrt, path, driver="VRT")
        return path


def tile_moves(before: Path, after: Path, tiles, size: int) -> np.ndarray:
    """Each tile's move between the dates: the :data:`QUANTILE` percentile of its valid pixels'
    residuals from the scene's linear map of BEFORE's log values onto AFTER's (in robust spreads)."""
    import rasterio

    with rasterio.open(before) as b, rasterio.open(after) as a:
        weights, spread = _fit(b, a)
        moves = np.full(len(tiles), np.nan, np.float32)
        by_row: dict[int, list[int]] = {}
        for i, t in enumerate(tiles):
            by_row.setdefault(int(t.window.row_off), []).append(i)
        for top, members in by_row.items():  # one read per grid row of tiles
            left = min(int(tiles[i].window.col_off) for i in members)
            right = max(int(tiles[i].window.col_off) + size for i in members)
            residual, valid = _residuals(b, a, weights, spread, top, left, right - left, size)
            for i in members:
                x = int(tiles[i].window.col_off) - left
                r = residual[:, x : x + size][valid[:, x : x + size]]
                if r.size:
                    moves[i] = np.percentile(r, QUANTILE)
    return moves


def change_scores(moves: np.ndarray) -> np.ndarray:
    """How unusual each tile's move is among the scene's tiles, 0-1: the normal probability of its
    robust z-score (median and 1.4826 MAD over the tiles with a move)."""
    from statistics import NormalDist

    known = moves[np.isfinite(moves)]
    if known.size == 0:
        return np.zeros_like(moves)
    median = np.median(known)
    spread = 1.4826 * np.median(np.abs(known - median))
    spread = spread if spread > 0 else max(float(known.std()), 1e-6)
    z = (moves - median) / spread
    cdf = np.vectorize(NormalDist().cdf, otypes=[np.float64])
    return np.where(np.isfinite(z), cdf(np.nan_to_num(z)), 0.0)


def _log(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(values.astype(np.float64), 0.0))


def _valid(src, window=None, out_shape=None) -> np.ndarray:
    return src.dataset_mask(window=window, out_shape=out_shape) > 0


def _fit(b, a) -> tuple[np.ndarray, np.ndarray]:
    """The linear map (B+1, B) of BEFORE's log values (and 1) onto AFTER's, least squares over a
    decimated read of the pixels valid on both dates, and the residuals' robust spread per band."""
    from rasterio.enums import Resampling

    f = max(1, math.ceil(max(b.width, b.height) / FIT_SIDE))
    shape = (max(1, b.height // f), max(1, b.width // f))
    bands = list(range(1, b.count + 1))  # AFTER's warped VRT may add an alpha band after them
    xb = b.read(bands, out_shape=(b.count, *shape), resampling=Resampling.nearest)
    xa = a.read(bands, out_shape=(b.count, *shape), resampling=Resampling.nearest)
    ok = _valid(b, out_shape=shape) & _valid(a, out_shape=shape)
    ok &= np.isfinite(xb).all(0) & np.isfinite(xa).all(0)
    if ok.sum() < 10 * (b.count + 1):
        raise RasterError(f"{b.name} and {a.name} share too few valid pixels to compare ({int(ok.sum())}); give two "
                          "dates of the same place")
    x = np.concatenate([_log(xb[:, ok]).T, np.ones((int(ok.sum()), 1))], axis=1)
    y = _log(xa[:, ok]).T
    weights = np.linalg.lstsq(x, y, rcond=None)[0]
    residual = y - x @ weights
    spread = 1.4826 * np.median(np.abs(residual - np.median(residual, axis=0)), axis=0)
    return weights, np.where(spread > 1e-9, spread, 1.0)


def _residuals(b, a, weights, spread, top: int, left: int, width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, width) each pixel's residual norm (robust spreads) and where both dates are valid."""
    from rasterio.windows import Window

    from rsdsva.mapping.raster import read_bands

    window = Window(left, top, width, size)
    bands = list(range(1, b.count + 1))
    xb, xa = read_bands(b, bands, window), read_bands(a, bands, window)
    inside = Window(left, top, min(width, b.width - left), min(size, b.height - top))
    valid = np.zeros((size, width), bool)
    valid[: int(inside.height), : int(inside.width)] = _valid(b, inside) & _valid(a, inside)
    valid &= np.isfinite(xb).all(0) & np.isfinite(xa).all(0)
    flat_b = _log(np.nan_to_num(xb)).reshape(b.count, -1).T
    flat_a = _log(np.nan_to_num(xa)).reshape(b.count, -1).T
    residual = (flat_a - np.concatenate([flat_b, np.ones((len(flat_b), 1))], axis=1) @ weights) / spread
    return np.sqrt((residual**2).sum(axis=1)).reshape(size, width), valid


def _frame(plan, tiles, results, scores: np.ndarray, threshold: float):
    import geopandas as gpd
    import shapely

    from rsdsva.mapping.grid import window_bounds
    from rsdsva.mapping.writers import ground_area_m2

    names = plan.classifier.classes.names
    rows = []
    for t, score in zip(tiles, scores):
        (b, b_score), (a, a_score) = results["before"][(t.row, t.col)], results["after"][(t.row, t.col)]
        rows.append({"row": t.row, "col": t.col, "from_label": names[b], "to_label": names[a],
                     "from_score": round(b_score, 4), "to_score": round(a_score, 4), "change_score": round(float(score), 4),
                     "changed": bool(score >= threshold)})
    bounds = np.asarray([window_bounds(plan.spec, t.window) for t in tiles], np.float64).reshape(-1, 4)
    frame = gpd.GeoDataFrame(rows or {k: [] for k in ("row", "col", "from_label", "to_label", "from_score",
                                                      "to_score", "change_score", "changed")},
                             geometry=shapely.box(*bounds.T) if len(bounds) else gpd.GeoSeries([]), crs=plan.spec.crs)
    frame["changed"] = frame["changed"].astype(bool)
    frame["area_m2"] = ground_area_m2(frame.geometry)
    return frame


def transitions_frame(frame):
    """From -> to, over the changed tiles: how many tiles and their ground area (m² and ha)."""
    import pandas as pd

    changed = frame[frame["changed"]]
    table = (changed.groupby(["from_label", "to_label"], as_index=False)
             .agg(tiles=("row", "size"), area_m2=("area_m2", "sum")))
    table["area_ha"] = table["area_m2"] / 1e4
    return pd.DataFrame(table).sort_values("area_m2", ascending=False, kind="stable").reset_index(drop=True)


def _write(plan, out: Path, frame, settings, before: Path, after: Path, threshold: float) -> None:
    import json

    import pandas as pd
    import pyogrio

    from rsdsva import __version__
    from rsdsva._io import atomic_paths, file_sha256
    from rsdsva.colors import class_colors
    from rsdsva.mapping.outputs import write_errors
    from rsdsva.mapping.writers import classes_frame, write_change_style

    cs = plan.classifier.classes
    colors = class_colors(cs.names, cs.colors)
    run = {
        "rsdsva_version": __version__, "command": "change", "before": str(before.resolve()),
        "after": str(after.resolve()), "model": str(plan.model_path.resolve()),
        "model_sha256": file_sha256(plan.model_path), "classes_file": settings.classifier.classes,
        "settings": settings.to_dict(), "threshold": threshold, "quantile": QUANTILE,
        "tile_size_px": plan.grid.size, "stride_px": plan.grid.stride,
        "read": plan.source.record().to_dict(), "tiles": len(frame), "changed": int(frame["changed"].sum()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    targets = [out] + ([Path(settings.output.raster)] if settings.output.raster else [])
    with atomic_paths(targets) as temps, write_errors(out):  # both complete before either replaces its old file
        path = str(temps[0])
        pyogrio.write_dataframe(frame, path, layer="tiles", driver="GPKG", dataset_options={"VERSION": "1.2"})
        pyogrio.write_dataframe(transitions_frame(frame), path, layer="transitions", driver="GPKG")
        pyogrio.write_dataframe(classes_frame(cs, plan.classifier.routes, colors), path, layer="classes",
                                driver="GPKG")
        table = pd.DataFrame({"key": list(run), "value": [json.dumps(v, default=str) for v in run.values()]})
        pyogrio.write_dataframe(table, path, layer="run", driver="GPKG")
        write_change_style(path, list(cs.names), colors)
        if settings.output.raster:
            from rasterio.transform import Affine

            from rsdsva.mapping.writers import write_change_raster

            tiles = plan.tiles
            grid = (max(t.row for t in tiles) + 1, max(t.col for t in tiles) + 1) if tiles else (1, 1)
            write_change_raster(temps[1], frame, cs.names, grid, plan.spec.transform * Affine.scale(plan.grid.stride),
                                plan.spec.crs)

