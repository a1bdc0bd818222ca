import json
import os
import shutil
import signal
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

from rsdsva.mapping import MapSettings, map_scene
from rsdsva.mapping.distributed import map_scenes


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _same_map(a, b):
    ta = gpd.read_file(a, layer="tiles").sort_values(["row", "col"]).reset_index(drop=True)
    tb = gpd.read_file(b, layer="tiles").sort_values(["row", "col"]).reset_index(drop=True)
    assert list(ta.label) == list(tb.label)
    np.testing.assert_allclose(ta.score, tb.score, rtol=1e-4, atol=1e-5)
    assert ta.geometry.geom_equals(tb.geometry).all()


def test_equal_to_the_single_process_run_and_a_bad_scene_is_reported(cluster, make_geotiff, tiny_checkpoint, tmp_path):
    a, b = make_geotiff(shape=(96, 96)), make_geotiff(shape=(64, 128))
    settings = MapSettings(model=str(tiny_checkpoint), tile_size=32)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    results = map_scenes([a, tmp_path / "missing.tif", b], settings, out_dir=out_dir,
                         scheduler=cluster.scheduler_address, block_tiles=4)
    assert [r.error is None for r in results] == [True, False, True]
    assert "input raster not found" in results[1].error
    for raster in (a, b):
        single = tmp_path / f"single_{raster.stem}.gpkg"
        map_scene(raster, single, settings)
        _same_map(out_dir / f"{raster.stem}.gpkg", single)
    merged = tmp_path / "merged.gpkg"
    map_scenes([a, b], settings, out=merged, scheduler=cluster.scheduler_address)
    tiles = gpd.read_file(merged, layer="tiles")
    assert sorted(tiles.scene.unique()) == sorted([a.name, b.name]) and len(tiles) == 9 + 8
    run = dict(zip(*gpd.read_file(merged, layer="run")[["key", "value"]].values.T))
    assert json.loads(run["input"]) == [str(a.resolve()), str(b.resolve())]
    twins = []
    for folder in ("x", "y"):  # two files of one name: the scene column tells them apart by path
        (tmp_path / folder).mkdir()
        twins.append(Path(shutil.copy(b, tmp_path / folder / "scene.tif")))
    map_scenes(twins, settings, out=tmp_path / "twins.gpkg", scheduler=cluster.scheduler_address)
    assert sorted(gpd.read_file(tmp_path / "twins.gpkg", layer="tiles").scene.unique()) == sorted(map(str, twins))
    wide = MapSettings(model=str(tiny_checkpoint), tile_size=32, context=2)  # context reaches the workers
    (tmp_path / "wide").mkdir()
    results = map_scenes([a], wide, out_dir=tmp_path / "wide", scheduler=cluster.scheduler_address, block_tiles=4)
    assert results[0].error is None
    map_scene(a, tmp_path / "single_wide.gpkg", wide)
    _same_map(tmp_path / "wide" / f"{a.stem}.gpkg", tmp_path / "single_wide.gpkg")


def test_a_killed_worker_does_not_stop_the_job(cluster, make_geotiff, tiny_checkpoint, tmp_path):
    raster = make_geotiff(shape=(512, 512))
    settings = MapSettings(model=str(tiny_checkpoint), tile_size=16, batch_size=16, allow_small_tiles=True)
    with Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
    killed = []

    def kill_once(progress):
        if not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(progress["done"])

    out_dir = tmp_path / "k"
    out_dir.mkdir()
    [result] = map_scenes([raster], settings, out_dir=out_dir, scheduler=cluster.scheduler_address,
                          block_tiles=32, progress=kill_once)
    assert killed and killed[0] < 1024, "the worker was killed before the job finished"
    assert result.error is None and result.classified == 1024
    single = tmp_path / "single.gpkg"
    map_scene(raster, single, settings)
    _same_map(out_dir / f"{raster.stem}.gpkg", single)


def test_a_worker_rebuilds_its_classifier_when_the_classes_file_is_edited(tiny_checkpoint, tmp_path):
    import time

    from rsdsva.mapping.distributed import _classifier

    classes = tmp_path / "mine.yaml"
    classes.write_text("classes:\n  marsh: [water, trees]\n")
    settings = MapSettings(model=str(tiny_checkpoint), classes=str(classes), held_out=False).classifier
    first = _classifier(settings)
    assert _classifier(settings) is first  # cached while nothing changed
    time.sleep(0.01)
    classes.write_text("classes:\n  marsh: [water, trees]\n  dunes: [sand, roads]\n")  # edited in place, same path
    again = _classifier(settings)
    assert again is not first and "dunes" in again.classes.names
