"""Map many scenes, or a huge mosaic (or two dates of one: :mod:`rsdsva.mapping.change`), on a Dask cluster.

The client plans each scene (validation, grid, classes) and splits its tiles into
blocks; each block is one task. A task reads its windows with its own rasterio
handle, classifies them with a model that is loaded once per worker process (a
module-level cache, not once per task), and returns plain rows. Only the client
writes GeoPackages. Failed tasks are retried by Dask (a killed worker's tasks run
again elsewhere); a scene that fails with a user error is reported and the
others complete. Workers must see the model and rasters at the same paths (or
URLs GDAL reads) as the client.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from rsdsva.errors import ConfigError, OutputError, RsdsvaError
from rsdsva.inference import ClassifierSettings
from rsdsva.predict import build_classifier
from rsdsva.mapping.outputs import check_outputs, write_outputs
from rsdsva.mapping.plan import map_inputs, plan_map
from rsdsva.mapping.settings import MapSettings
from rsdsva.mapping.writers import tile_record

_CLASSIFIERS: dict = {}  # per worker process: the settings that shape a classifier -> Classifier


@dataclass
class SceneResult:
    raster: Path
    out: Path | None
    tiles: int = 0
    classified: int = 0
    error: str | None = None


def _classifier(settings: ClassifierSettings):
    """This worker's classifier for ``settings``, built on first use, and again when its model or
    classes file changed since (a long-lived cluster outlives an edit of either)."""
    key = (settings, _stamp(settings.model_path), _stamp(settings.classes))
    if key not in _CLASSIFIERS:
        _CLASSIFIERS.clear()  # an edited file's old classifier is never asked for again
        _CLASSIFIERS[key] = build_classifier(settings, threads=1)  # Dask provides the parallelism
    return _CLASSIFIERS[key]


def _stamp(path) -> tuple | None:
    """What changes when a file is written: its size and modification time."""
    if not path:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def classify_block(spec, tiles: Sequence, settings: MapSettings, spectral=None) -> tuple[list[dict], int]:
    """One task: rows of the classified tiles of a block, and how many tiles it saw (``spectral``:
    the plan's, for classes from example areas that compare the tiles' spectra)."""
    from rsdsva.engines import batch_size_for, input_size_for
    from rsdsva.mapping.classify import classify_tiles

    clf = _classifier(settings.classifier)
    read, output = settings.read, settings.output
    batch = batch_size_for(clf.engine.name, read.batch_size, clf.engine.fixed_batch)
    rows = [
        tile_record(clf.classes, spec, r, output.explain)
        for r in classify_tiles(clf, spec, tiles, batch, output.top_k, read.max_nodata,
                                read_threads=1, explain=output.explain, scales=clf.scales,
                                input_size=input_size_for(clf.engine.name, clf.info),
                                spectral=spectral)
    ]
    return rows, len(tiles)


CONNECT_TIMEOUT_S = 10


def _client(scheduler: str | None, cluster):
    """A Dask client of ``scheduler`` (an address) or of the local ``cluster``; an address that is
    malformed or answers nothing is one line naming it."""
    from dask.distributed import Client

    if scheduler is None:
        return Client(cluster)
    advice = "start one with `dask scheduler` (it prints its address), or leave out `scheduler` to run here"
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except ValueError as err:
        raise ConfigError(f"`scheduler` {scheduler}: not a scheduler address ({err}); give tcp://HOST:PORT") from None
    except (OSError, TimeoutError) as err:
        raise ConfigError(f"`scheduler` {scheduler}: no Dask scheduler answered ({err}); {advice}") from None


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A client of the scheduler at ``scheduler``, else of a LocalCluster of ``workers`` processes
    (default 2), closed on leaving."""
    import logging

    from dask.distributed import LocalCluster

    # silence_logs: the cluster's own notes (a worker killed as the job stops on Ctrl-C) are not the user's
    cluster = None if scheduler else LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                                  silence_logs=logging.ERROR)
    try:
        with _client(scheduler, cluster) as client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()


def classified_blocks(client, scenes: Mapping[Any, tuple], settings: MapSettings, block_tiles: int = 256,
                      progress: Callable[[dict], None] | None = None) -> Iterator[tuple[Any, list[dict] | RsdsvaError]]:
    """Classify each scene's tiles in blocks of ``block_tiles``, one task each (``scenes``: key ->
    (raster spec, tiles, spectral spec or None)); yields (key, the block's rows) as blocks finish,
    or (key, the user error) where one failed."""
    from dask.distributed import as_completed

    futures = {}
    for key, (spec, tiles, spectral) in scenes.items():
        for start in range(0, len(tiles), block_tiles):
            block = tiles[start : start + block_tiles]
            futures[client.submit(classify_block, spec, block, settings, spectral, retries=3, pure=False)] = key
    total = sum(len(tiles) for _, tiles, _ in scenes.values())
    done, t0 = 0, time.perf_counter()
    for f in as_completed(futures):
        try:
            rows, n = f.result()
        except RsdsvaError as err:
            yield futures[f], err
            continue
        done += n
        if progress is not None:
            progress({"done": done, "total": total, "tiles_per_s": round(done / max(time.perf_counter() - t0, 1e-9), 1)})
        yield futures[f], rows


def map_scenes(
    rasters: Sequence[str | Path],
    settings: MapSettings = MapSettings(),
    out_dir: str | Path | None = None,
    out: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    block_tiles: int = 256,
    progress: Callable[[dict], None] | None = None,
) -> list[SceneResult]:
    """Map ``rasters`` on a Dask cluster: one GeoPackage each in ``out_dir``, or all in ``out``.

    Args:
        scheduler: address of a running scheduler (``tcp://host:8786``); else a
            LocalCluster of ``workers`` processes (default 2) is started.
        out: one merged GeoPackage with a ``scene`` column (all rasters in one CRS).
    """
    if (out_dir is None) == (out is None):
        raise OutputError("give either --out-dir (one GeoPackage per scene) or --out (one merged GeoPackage)")
    if settings.output.raster or settings.output.attention_raster or settings.output.similarity:
        raise OutputError("`raster`, `attention_raster` and `similarity` are single-scene options; run those scenes "
                          "without Dask")
    rasters = [Path(r) for r in rasters]
    if out_dir and not Path(out_dir).is_dir():  # said once, not once per scene
        raise OutputError(f"--out-dir {out_dir} does not exist; create it first (mkdir -p {out_dir})")
    if out_dir:
        by_name: dict[str, Path] = {}
        for r in rasters:  # one GeoPackage per raster name: two scene.tif would write one file
            if r.stem in by_name and by_name[r.stem].resolve() != r.resolve():
                raise OutputError(f"{by_name[r.stem]} and {r} would both be written to "
                                  f"{Path(out_dir) / (r.stem + '.gpkg')}; rename one, or map them with --out "
                                  "(one merged GeoPackage, its 'scene' column holding each file's path)")
            by_name[r.stem] = r
    results = {r: SceneResult(r, None) for r in rasters}
    plans = {}
    built = None  # the model is loaded once on the client too, not once per scene
    for r in rasters:
        target = Path(out_dir) / f"{r.stem}.gpkg" if out_dir else Path(out)
        try:
            if out_dir:
                check_outputs(r, target, settings.output, map_inputs(settings))
            built = built or build_classifier(settings.classifier)
            plans[r] = plan_map(r, settings, built)
            results[r] = SceneResult(r, target, tiles=len(plans[r].tiles))
        except RsdsvaError as err:  # report this scene, map the others
            results[r].error = str(err)
    if out is not None:
        check_outputs(rasters[0], Path(out), settings.output,
                      {**map_inputs(settings), **{f"the input raster {r}": r for r in rasters[1:]}})
        crs = {str(p.spec.crs) for p in plans.values()}
        if len(crs) > 1:
            raise OutputError("the rasters are in different CRSs; use --out-dir for one GeoPackage per scene")

    rows: dict[Path, list] = {r: [] for r in plans}
    scenes = {r: (plan.spec, plan.tiles, plan.source.spectral) for r, plan in plans.items()}
    with dask_client(scheduler, workers) as client:
        for r, block_rows in classified_blocks(client, scenes, settings, block_tiles, progress):
            if isinstance(block_rows, RsdsvaError):
                results[r].error = str(block_rows)
            else:
                rows[r].extend(block_rows)
    for r, plan in plans.items():
        rows[r].sort(key=lambda row: (row["row"], row["col"]))
        results[r].classified = len(rows[r])
    if out_dir:
        for r, plan in plans.items():
            if results[r].error is None:
                write_outputs(plan, results[r].out, rows[r], settings)
    else:
        names = [r.name for r in plans]
        scene = {r: r.name if names.count(r.name) == 1 else str(r) for r in plans}  # a/scene.tif, b/scene.tif
        merged = [dict(row, scene=scene[r]) for r in plans if results[r].error is None for row in rows[r]]
        first = next(iter(plans.values()), None)
        if first is not None:
            ok = [r for r in plans if results[r].error is None]
            write_outputs(replace(first, tiles=[t for r in ok for t in plans[r].tiles]), Path(out), merged,
                          settings, inputs=[str(r.resolve()) for r in ok])
    return [results[r] for r in rasters]
