import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import torch
from click.testing import CliRunner
from rasterio.windows import Window, bounds

from rsdsva.class_files import classes_to_dict
from rsdsva.cli import cli
from rsdsva.data.folders import read_image
from rsdsva.errors import ClassSpaceError, ConfigError, RasterError, RsdsvaWarning
from rsdsva.mapping import MapSettings, default_model_path, map_scene
from rsdsva.mapping.grid import iter_windows
from rsdsva.models import load_checkpoint
from rsdsva.predict import classify
from tests.conftest import DATA, GEOTIFFS, ROOT


def run_map(*args):
    return CliRunner().invoke(cli, ["map", *map(str, args)])


def test_grid_covers_the_raster_with_padded_edges():
    tiles = list(iter_windows(100, 70, 32, 32))
    assert len(tiles) == 3 * 4 and tiles[-1].window == Window(96, 64, 32, 32)
    assert len(list(iter_windows(100, 70, 32, 16))) == 4 * 6  # overlap: rows at 0,16,32,48; cols 0..80
    assert [t.window for t in iter_windows(10, 10, 64, 64)] == [Window(0, 0, 64, 64)]


def test_tile_polygons_equal_window_bounds(make_geotiff, tiny_checkpoint, tmp_path):
    path = make_geotiff(shape=(70, 100))
    out = tmp_path / "out.gpkg"
    res = map_scene(path, out, MapSettings(model=str(tiny_checkpoint), tile_size=32, max_nodata=1.0))
    assert res.tiles == res.classified == 12
    tiles = gpd.read_file(out, layer="tiles")
    assert tiles.crs == "EPSG:32618"
    with rasterio.open(path) as src:
        for t in tiles.itertuples():
            expected = bounds(Window(t.col * 32, t.row * 32, 32, 32), src.transform)
            np.testing.assert_allclose(t.geometry.bounds, expected)
    edge = tiles[(tiles.row == 2) & (tiles.col == 3)].iloc[0]
    assert edge.valid_fraction == pytest.approx((4 * 6) / (32 * 32), abs=1e-4)
    assert set(pyogrio.list_layers(out)[:, 0]) >= {"tiles", "regions", "classes", "run"}
    regions = gpd.read_file(out, layer="regions")
    assert regions["tiles"].sum() == 12 and set(regions.label) == set(tiles.label)
    run = dict(zip(*gpd.read_file(out, layer="run")[["key", "value"]].values.T))
    assert json.loads(run["tile_size_px"]) == 32 and json.loads(run["classified"]) == 12


def test_ucm_mosaic_gives_the_same_labels_as_the_images(make_geotiff, tmp_path):
    """2x2 real UCM images as one georeferenced mosaic, mapped with tile = stride = 256."""
    files = [DATA / "ucm" / c / f"{c}00.jpg" for c in ("beach", "forest", "harbor", "freeway")]
    images = [read_image(str(f)) for f in files]
    mosaic = torch.cat([torch.cat(images[:2], dim=2), torch.cat(images[2:], dim=2)], dim=1).numpy()
    path = make_geotiff(mosaic)
    out = tmp_path / "ucm.gpkg"
    map_scene(path, out, MapSettings(tile_size=256, mode="seen", context=1, orientations=1))  # the image's pixels
    tiles = gpd.read_file(out, layer="tiles").sort_values(["row", "col"])
    model, info = load_checkpoint(default_model_path())
    direct = classify(model, info, torch.stack(images).float() / 255, mode="seen")
    assert list(tiles.label) == direct.labels
    np.testing.assert_allclose(tiles.score, direct.scores, rtol=1e-4)


def test_bf16_on_cpu_keeps_the_labels_and_fp16_falls_back(make_geotiff, tmp_path):
    files = [DATA / "ucm" / c / f"{c}00.jpg" for c in ("beach", "forest", "harbor", "freeway")]
    path = make_geotiff(torch.cat([read_image(str(f)) for f in files], dim=2).numpy())
    frames = {}
    for amp in (None, "bf16", "fp16"):
        out = tmp_path / f"{amp}.gpkg"
        if amp == "fp16":
            with pytest.warns(RsdsvaWarning, match="`precision` fp16 is not supported on cpu; running in float32"):
                map_scene(path, out, MapSettings(tile_size=256, mode="seen", precision=amp, device="cpu"))
        else:
            map_scene(path, out, MapSettings(tile_size=256, mode="seen", precision=amp, device="cpu", engine="torch"))
        frames[amp] = gpd.read_file(out, layer="tiles").sort_values("col")
    full, bf16, fp16 = frames[None], frames["bf16"], frames["fp16"]
    assert list(bf16.label) == list(full.label)
    np.testing.assert_allclose(bf16.score, full.score, atol=0.03)
    assert not np.array_equal(bf16.score, full.score)  # bf16 really ran
    np.testing.assert_array_equal(fp16.score, full.score)


@pytest.mark.parametrize("kind", ["nodata", "alpha", "uint16"])
def test_strip_reads_equal_tile_reads(kind, make_geotiff, monkeypatch):
    """Touching tiles of a grid row are read as one strip: same pixels and valid fractions as one by one."""
    from rasterio.enums import ColorInterp

    from rsdsva.mapping import source as predict
    from rsdsva.mapping.raster import make_spec, read_tile

    rng = np.random.default_rng(1)
    if kind == "uint16":
        path = make_geotiff(bands=4, dtype="uint16", shape=(70, 100))
    else:
        data = rng.integers(1, 255, size=(4 if kind == "alpha" else 3, 70, 100)).astype(np.uint8)
        data[:3, 10:30, 40:75] = 0  # nodata (a value, or alpha 0 below)
        if kind == "alpha":
            data[3] = np.where(data[0] == 0, 0, 255)
        path = make_geotiff(data, nodata=0 if kind == "nodata" else None,
                            colorinterp=[ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
                            if kind == "alpha" else None)
    with rasterio.open(path) as src:
        spec = make_spec(src, bands=(3, 2, 1) if kind == "uint16" else None)
        assert (spec.low is not None) == (kind == "uint16") and (spec.nodata is None) == (kind != "nodata")
        for size, stride, keep in ((32, 32, None), (32, 16, None), (24, 40, None), (32, 16, slice(None, None, 3))):
            tiles = list(iter_windows(100, 70, size, stride))[keep or slice(None)]
            for limit in (predict.STRIP_PIXELS, 3 * size * size):  # and strips cut at 3 tiles
                monkeypatch.setattr(predict, "STRIP_PIXELS", limit)
                batch = predict.tile_reader(spec, size)(tiles)
                seen = [read_tile(src, spec, predict.seen_window(t.window, 0, 100, 70), size)[0] for t in tiles]
                np.testing.assert_array_equal(batch.images, np.stack(seen))
                own = [read_tile(src, spec, t.window, size)[1] for t in tiles]
                np.testing.assert_array_equal(batch.valid, np.array(own, dtype=np.float32))
        # with context: each tile's window grown by a margin, the valid fraction the tile's own
        for margin in (8, 16):
            tiles = list(iter_windows(100, 70, 32, 32))
            batch = predict.tile_reader(spec, 32, margin)(tiles)
            grown = [read_tile(src, spec, predict.seen_window(t.window, margin, 100, 70), 32 + 2 * margin)[0]
                     for t in tiles]
            np.testing.assert_array_equal(batch.images, np.stack(grown))
            own = [read_tile(src, spec, t.window, 32)[1] for t in tiles]
            np.testing.assert_array_equal(batch.valid, np.array(own, dtype=np.float32))
        # several windows at once (--context 2,3 and example recipes): each as read alone, from one strip
        tiles = list(iter_windows(100, 70, 32, 32))
        together = predict.tile_reader(spec, 32, [0, 8, 16])(tiles)
        for margin in (0, 8, 16):
            alone = predict.tile_reader(spec, 32, margin)(tiles)
            np.testing.assert_array_equal(together.views[margin], alone.images)
            np.testing.assert_array_equal(together.offsets[margin], alone.offsets[margin])
        np.testing.assert_array_equal(together.valid, alone.valid)
    grid = list(iter_windows(100, 70, 32, 32))
    assert [len(run) for _, run in predict._runs(grid, 32)] == [3, 1] * 3  # cut at the 3-tile limit
    monkeypatch.undo()
    assert [len(run) for _, run in predict._runs(grid, 32)] == [4, 4, 4]  # one strip per grid row
    assert [len(run) for _, run in predict._runs(list(iter_windows(100, 70, 24, 40)), 24)] == [1] * 9  # gaps


def test_edge_tiles_are_seen_as_imagery_not_padding(make_geotiff, tiny_checkpoint, tmp_path):
    """A tile reaching past the raster is shown to the model as the whole-tile window moved back
    inside the raster (its neighbour's pixels, no black padding); its valid fraction, polygon and
    attention stay its own. A raster smaller than a tile is still padded."""
    from rsdsva.mapping import source as predict
    from rsdsva.mapping.raster import make_spec

    assert predict.seen_window(Window(96, 64, 32, 32), 0, 100, 70) == Window(68, 38, 32, 32)
    assert predict.seen_window(Window(0, 0, 32, 32), 8, 100, 70) == Window(0, 0, 48, 48)  # context, kept inside
    assert predict.seen_window(Window(32, 32, 32, 32), 8, 100, 70) == Window(24, 22, 48, 48)
    assert predict.seen_window(Window(0, 0, 32, 32), 0, 20, 20) == Window(0, 0, 32, 32)  # too small: padded
    data = np.random.default_rng(0).integers(1, 255, size=(3, 70, 100)).astype(np.uint8)
    path = make_geotiff(data)
    with rasterio.open(path) as src:
        spec = make_spec(src)
        tiles = list(iter_windows(100, 70, 32, 32))
        batch = predict.tile_reader(spec, 32)(tiles)
    corner = [i for i, t in enumerate(tiles) if t.window == Window(96, 64, 32, 32)][0]
    np.testing.assert_array_equal(batch.images[corner], data[:, 38:70, 68:100])  # no zeros
    assert batch.valid[corner] == pytest.approx(4 * 6 / 32**2) and list(batch.offsets[0][corner]) == [26, 28]
    res = map_scene(path, tmp_path / "e.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, max_nodata=0.99,
                                                          attention_raster=str(tmp_path / "att.tif")))
    assert res.classified == 12
    tiles_layer = gpd.read_file(tmp_path / "e.gpkg", layer="tiles")
    assert sorted(tiles_layer["valid_fraction"].round(4))[:1] == [round(4 * 6 / 32**2, 4)]
    with rasterio.open(tmp_path / "att.tif") as att:
        maps = att.read()
    assert maps.shape[1:] == (70, 100) and np.isfinite(maps).all() and (maps[:, 64:, 96:] != 0).any()


def test_uint16_and_four_bands(make_geotiff, tiny_checkpoint, tmp_path):
    path = make_geotiff(bands=4, dtype="uint16", shape=(64, 64))
    out = tmp_path / "u16.gpkg"
    result = run_map(path, "--out", out, "--model", tiny_checkpoint, "--tile-size", 32, "--bands", "3,2,1")
    assert result.exit_code == 0, result.output
    assert len(gpd.read_file(out, layer="tiles")) == 4
    result = run_map(path, "--out", tmp_path / "x.gpkg", "--model", tiny_checkpoint, "--tile-size", 32, "--bands", "5,2,1")
    assert result.exit_code == 1 and "band 5 does not exist (the file has 4)" in result.output
    # chosen for the user: a one-line note each on stderr, and what was used in the run layer
    result = run_map(path, "--out", tmp_path / "auto.gpkg", "--model", tiny_checkpoint, "--tile-size", 32)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("Warning: ")]
    assert len(notes) == 2 and "using bands 1,2,3 of 4" in notes[0] and "uint16 values stretched" in notes[1]
    run = gpd.read_file(tmp_path / "auto.gpkg", layer="run").set_index("key")["value"].map(json.loads)
    assert run["bands_used"] == [1, 2, 3] and run["stretch"]["from"] == "2-98 % per band"
    assert len(run["stretch"]["low"]) == 3 and all(lo < hi for lo, hi in zip(run["stretch"]["low"], run["stretch"]["high"]))
    result = run_map(path, "--out", tmp_path / "s.gpkg", "--model", tiny_checkpoint, "--tile-size", 32,
                     "--bands", "1,2,3", "--scale", "0,4000")
    assert "Warning" not in result.output
    run = gpd.read_file(tmp_path / "s.gpkg", layer="run").set_index("key")["value"].map(json.loads)
    assert run["stretch"] == {"low": [0.0] * 3, "high": [4000.0] * 3, "from": "--scale"}


def test_nodata_tiles_are_skipped_and_all_nodata_is_an_empty_map(make_geotiff, tiny_checkpoint, tmp_path):
    data = np.full((3, 64, 64), 100, dtype=np.uint8)
    data[:, :32, :32] = 0  # the top-left tile is nodata
    res = map_scene(make_geotiff(data, nodata=0), tmp_path / "a.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32))
    assert (res.tiles, res.classified, res.skipped) == (4, 3, 1)
    empty = np.zeros((3, 64, 64), dtype=np.uint8)
    with pytest.warns(UserWarning, match="the map is empty"):
        res = map_scene(make_geotiff(empty, nodata=0), tmp_path / "b.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32))
    assert res.classified == 0 and len(gpd.read_file(tmp_path / "b.gpkg", layer="tiles")) == 0


def test_aoi_restricts_the_grid(make_geotiff, tiny_checkpoint, tmp_path):
    from shapely.geometry import box

    path = make_geotiff(shape=(64, 64))
    # a small box in the top-left tile, given in lon/lat to exercise reprojection
    aoi = gpd.GeoDataFrame(geometry=[box(500001, 3999995, 500002, 3999996)], crs="EPSG:32618").to_crs("EPSG:4326")
    aoi.to_file(tmp_path / "aoi.geojson")
    res = map_scene(path, tmp_path / "aoi.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, aoi=str(tmp_path / "aoi.geojson")))
    assert res.tiles == 1
    tiles = gpd.read_file(tmp_path / "aoi.gpkg", layer="tiles")
    assert (tiles.row.iloc[0], tiles.col.iloc[0]) == (0, 0)
    # --max-tiles counts the tiles inside the AOI: 1 here, of a grid of 4
    res = map_scene(path, tmp_path / "aoi2.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, max_tiles=1,
                                                               aoi=str(tmp_path / "aoi.geojson")))
    assert res.tiles == 1


def test_overwrite_and_progress_json(make_geotiff, tiny_checkpoint, tmp_path):
    path = make_geotiff(shape=(64, 64))
    out = tmp_path / "o.gpkg"
    args = [path, "--out", out, "--model", tiny_checkpoint, "--tile-size", 32, "--progress", "json"]
    first = run_map(*args)
    assert first.exit_code == 0, first.output
    events = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "done" and events[-1]["classified"] == 4
    assert any(e["event"] == "progress" and e["total"] == 4 for e in events)
    again = run_map(*args)
    assert again.exit_code == 1 and "already exists; pass --overwrite" in again.output
    assert run_map(*args, "--overwrite").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("signum, loading", [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)])
def test_signals_leave_no_output_and_exit_128_plus_the_signal(signum, loading, make_geotiff, tiny_checkpoint, tmp_path):
    """``loading``: the signal comes just after the first progress event (the grid laid out) on the
    sample scene, while the default model is still loading in its thread; the process once
    aborted there ("terminate called without an active exception") instead of exiting."""
    out = tmp_path / "killed.gpkg"
    if loading:
        args = [str(ROOT / "sample_data" / "autzen_0p3m_2994.tif")]
    else:
        args = [str(make_geotiff(shape=(2048, 2048))), "--model", str(tiny_checkpoint), "--tile-size", "8",
                "--allow-small-tiles", "--batch-size", "16"]
    cmd = [sys.executable, "-m", "rsdsva.cli", "map", *args, "--out", str(out), "--progress", "json"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # the grid is laid out
        if '"progress"' in line:
            break
    time.sleep(0.2 if loading else 0.5)
    proc.send_signal(signum)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 128 + signum  # 143 after SIGTERM, 130 after Ctrl-C, as shells report them
    assert json.loads(rest.strip().splitlines()[-1]) == {"event": "cancelled", "signal": signal.Signals(signum).name}
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "killed" in p.name] == []


def test_errors_are_json_events_in_json_mode(make_geotiff, tiny_checkpoint, tmp_path):
    result = run_map(tmp_path / "nope.tif", "--out", tmp_path / "o.gpkg", "--model", tiny_checkpoint, "--progress", "json")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["event"] == "error"
    assert "input raster not found" in json.loads(lines[0])["message"]


@pytest.mark.parametrize("case", ["missing", "not_raster", "no_crs", "bands", "classes_bad", "vocabulary",
                                  "no_folder", "same_path", "not_gpkg", "small_tiles", "tiny_raster", "many_tiles",
                                  "class_twice"])
def test_bad_input_is_one_line_and_writes_nothing(case, make_geotiff, tiny_checkpoint, tmp_path):
    good = make_geotiff(shape=(64, 64))
    out = tmp_path / "out.gpkg"
    extra = []
    raster = good
    if case == "missing":
        raster, message = tmp_path / "nope.tif", "input raster not found"
    elif case == "not_raster":
        raster = tmp_path / "text.tif"
        raster.write_text("hello")
        message = "not a raster GDAL can read"
    elif case == "no_crs":
        raster, message = make_geotiff(shape=(64, 64), crs=None), "has no CRS; assign one"
    elif case == "bands":
        extra, message = ["--bands", "1,2,4"], "band 4 does not exist (the file has 3)"
    elif case == "classes_bad":
        (tmp_path / "c.yaml").write_text("classes:\n  lake: [watr]\n")
        extra, message = ["--classes", tmp_path / "c.yaml"], "did you mean 'water'"
    elif case == "vocabulary":
        (tmp_path / "c.yaml").write_text("attributes: [a, b]\nclasses:\n  lake: [a]\n")
        extra, message = ["--classes", tmp_path / "c.yaml"], "vocabularies differ"
    elif case == "no_folder":
        out, message = tmp_path / "missing" / "out.gpkg", "does not exist; create it first"
    elif case == "same_path":
        raster = tmp_path / "scene.gpkg"
        with rasterio.open(good) as src, rasterio.open(raster, "w", driver="GPKG", **{k: v for k, v in src.profile.items() if k not in ("driver", "tiled", "interleave", "blockxsize", "blockysize", "compress")}) as dst:
            dst.write(src.read())
        out, extra, message = raster, ["--overwrite"], "is the input raster"
    elif case == "not_gpkg":
        out, message = tmp_path / "out.shp", "must end in .gpkg"
    elif case == "small_tiles":
        extra, message = ["--tile-size", "16"], "tiles would be 16 px (--tile-size 16), under 32 px"
    elif case == "tiny_raster":
        raster, message = make_geotiff(shape=(1, 1)), "is 1 x 1 px: even its largest tile of 32 px would be 0% data"
    elif case == "many_tiles":
        extra, message = ["--max-tiles", "3"], "4 tiles of 32 px (stride 32), more than --max-tiles 3"
    elif case == "class_twice":
        (tmp_path / "c.yaml").write_text("classes:\n  lake: [water]\n  lake: [boats]\n")
        extra, message = ["--classes", tmp_path / "c.yaml"], "'lake' is defined twice (line 3)"
    before = {p: p.stat().st_mtime for p in tmp_path.rglob("*")}
    result = run_map(raster, "--out", out, "--model", tiny_checkpoint, "--tile-size", 32, *extra)
    assert result.exit_code == 1, result.output
    assert message in result.output and result.output.strip().count("\n") == 0, result.output
    assert {p: p.stat().st_mtime for p in tmp_path.rglob("*")} == before


@pytest.mark.parametrize("flag, value", [("--tile-m", "-10"), ("--tile-m", "0"), ("--tile-size", "0"), ("--stride", "-1")])
def test_sizes_must_be_positive(flag, value, make_geotiff, tiny_checkpoint, tmp_path):
    result = run_map(make_geotiff(shape=(64, 64)), "--out", tmp_path / "o.gpkg", "--model", tiny_checkpoint, flag, value)
    assert result.exit_code == 2 and f"Invalid value for '{flag}': {value}" in result.output, result.output
    assert not (tmp_path / "o.gpkg").exists()
    with pytest.raises(ConfigError, match="`tile_m` -10: give a finite number of metres above 0"):
        map_scene(make_geotiff(shape=(64, 64)), tmp_path / "o.gpkg", MapSettings(model=str(tiny_checkpoint), tile_m=-10))


def test_small_tiles_from_a_footprint_name_the_pixel_size(make_geotiff, tiny_checkpoint, tmp_path):
    """A 5 m raster with a 77 m footprint gives 15-px tiles: refused, with the numbers and the ways out."""
    path = make_geotiff(shape=(256, 256), res=5.0)
    with pytest.raises(RasterError, match=r"15 px \(`tile_m` of 77 m at 5 m per pixel.*give `tile_size` 32 \(160 m "
                                          r"tiles here\) or `tile_m` 160 or more.*`allow_small_tiles`"):
        map_scene(path, tmp_path / "o.gpkg", MapSettings(model=str(tiny_checkpoint), tile_m=77))
    res = map_scene(path, tmp_path / "o.gpkg", MapSettings(model=str(tiny_checkpoint), tile_m=77, allow_small_tiles=True))
    assert res.tiles == 18 * 18


def test_no_crs_message_names_what_was_given(make_geotiff, tiny_checkpoint, tmp_path):
    from rsdsva.models import load_checkpoint, save_checkpoint

    model, info = load_checkpoint(tiny_checkpoint)
    save_checkpoint(model, info.replace(tile_m=10.0), tmp_path / "m.safetensors")
    raster = make_geotiff(shape=(64, 64), crs=None)
    result = run_map(raster, "--out", tmp_path / "o.gpkg", "--model", tmp_path / "m.safetensors", "--allow-no-crs")
    assert result.exit_code == 1 and "has no CRS, so the model's 10 m tile footprint cannot be turned into pixels; " \
        "give --tile-size in pixels" in result.output, result.output
    result = run_map(raster, "--out", tmp_path / "o.gpkg", "--model", tmp_path / "m.safetensors", "--allow-no-crs",
                     "--tile-m", "20")
    assert "has no CRS, so --tile-m 20 cannot be turned into pixels" in result.output
    result = run_map(raster, "--out", tmp_path / "o.gpkg", "--model", tiny_checkpoint, "--allow-no-crs", "--tile-size", "32")
    assert result.exit_code == 0, result.output


def test_tile_larger_than_raster_is_one_padded_tile(make_geotiff, tiny_checkpoint, tmp_path):
    res = map_scene(make_geotiff(shape=(20, 20)), tmp_path / "big.gpkg",
                    MapSettings(model=str(tiny_checkpoint), tile_size=32, max_nodata=0.9))
    assert res.tiles == res.classified == 1


def test_real_geotiffs_map_with_the_default_model(tmp_path):
    out = tmp_path / "cogeo.gpkg"
    res = map_scene(GEOTIFFS / "rasterio_cogeo_0p6m_3857.tif", out)
    tiles = gpd.read_file(out, layer="tiles")
    assert res.tiles == 49 and len(tiles) == res.classified > 0
    assert tiles.crs == "EPSG:3857"
    # Web Mercator at 37.5 N: a tile's CRS area is 1/cos^2(lat) too large; area_m2 is the ground's
    side_crs = tiles.geometry.iloc[0].bounds[2] - tiles.geometry.iloc[0].bounds[0]
    lat = np.degrees(np.arctan(np.sinh(tiles.geometry.iloc[0].centroid.y / 6378137.0)))
    assert tiles["area_m2"].iloc[0] == pytest.approx((side_crs * np.cos(np.radians(lat))) ** 2, rel=2e-3)
    assert tiles["area_m2"].iloc[0] < 0.65 * tiles.geometry.iloc[0].area
    res = map_scene(GEOTIFFS / "rasterio_RGB.byte_landsat_300m.tif", tmp_path / "l.gpkg", MapSettings(tile_size=128))
    assert res.skipped > 0  # the nodata border


def test_sample_scene_in_feet_gets_the_default_models_78_m_tiles(tmp_path):
    """The README's first command: EPSG:2994 is in international feet, so 78.03 m is 256 px."""
    from rsdsva.mapping.grid import tile_pixels
    from rsdsva.models import read_model_info

    scene = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
    info = read_model_info(default_model_path())
    assert info.tile_m == 78.03 and info.backbone.name == "tf_efficientnet_lite0"
    with rasterio.open(scene) as src:
        assert tile_pixels(src, MapSettings().grid, info.tile_m) == (256, 256)
    res = map_scene(scene, tmp_path / "labels.gpkg")
    assert (res.tiles, res.classified, res.skipped) == (13 * 18, 13 * 17, 13)  # the bottom row is 13 % inside
    tiles = gpd.read_file(tmp_path / "labels.gpkg", layer="tiles")
    assert tiles.geometry.iloc[0].bounds[2] - tiles.geometry.iloc[0].bounds[0] == 256  # feet, in the scene's CRS
    np.testing.assert_allclose(tiles["area_m2"], 78.03**2, rtol=2e-3)  # square metres, not square feet
    regions = gpd.read_file(tmp_path / "labels.gpkg", layer="regions")
    assert regions["area_m2"].sum() == pytest.approx(tiles["area_m2"].sum(), rel=1e-6)


def test_context_changes_what_the_model_sees_not_the_tiles(make_geotiff, tiny_checkpoint, tmp_path):
    path = make_geotiff(shape=(128, 128))
    plain = map_scene(path, tmp_path / "a.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, context=1))
    wide = map_scene(path, tmp_path / "b.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, context=2,
                                                            attention_raster=str(tmp_path / "att.tif")))
    a, b = (gpd.read_file(tmp_path / n, layer="tiles") for n in ("a.gpkg", "b.gpkg"))
    assert plain.classified == wide.classified == 16
    assert list(a.geometry.bounds.itertuples(index=False)) == list(b.geometry.bounds.itertuples(index=False))
    assert list(a["valid_fraction"]) == list(b["valid_fraction"]) == [1.0] * 16  # the context's padding is not counted
    assert not np.allclose(a["score"], b["score"])  # the model saw other pixels
    with rasterio.open(tmp_path / "att.tif") as att:
        assert (att.width, att.height) == (128, 128)
    with pytest.raises(ConfigError, match="`context` 0.5: each window must be 1"):
        map_scene(path, tmp_path / "c.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, context=0.5))
    # several windows: their probabilities averaged, each tile still its own
    both = map_scene(path, tmp_path / "d.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, context=(1, 2)))
    d = gpd.read_file(tmp_path / "d.gpkg", layer="tiles")
    assert both.classified == 16 and list(d["valid_fraction"]) == [1.0] * 16
    assert not np.allclose(d["score"], a["score"]) and not np.allclose(d["score"], b["score"])


def test_label_raster(make_geotiff, tiny_checkpoint, tmp_path):
    data = np.full((3, 64, 96), 100, dtype=np.uint8)
    data[:, 32:, 64:] = 0
    path = make_geotiff(data, nodata=0)
    out, tif = tmp_path / "l.gpkg", tmp_path / "labels.tif"
    result = run_map(path, "--out", out, "--model", tiny_checkpoint, "--tile-size", 32, "--raster", tif)
    assert result.exit_code == 0, result.output
    tiles = gpd.read_file(out, layer="tiles")
    with rasterio.open(tif) as lab, rasterio.open(path) as src:
        assert lab.crs == src.crs and (lab.width, lab.height) == (3, 2)
        assert lab.transform.a == src.transform.a * 32 and lab.bounds.left == src.bounds.left
        ids, scores = lab.read(1), lab.read(2)
        assert lab.nodata == 65535 and ids[1, 2] == 65535  # the skipped nodata tile
        for t in tiles.itertuples():
            assert ids[t.row, t.col] == t.class_id
            assert scores[t.row, t.col] * lab.scales[1] == pytest.approx(t.score, abs=1e-4)
        assert lab.colormap(1)[0][:3] != (0, 0, 0)


def test_map_names_the_models_held_out_classes(make_geotiff, tiny_model, small_classes, tmp_path):
    from rsdsva.inference import ClassifierSettings, assemble_classes, load_extra_classes
    from rsdsva.models import save_checkpoint

    def load_classes(info, settings):
        return assemble_classes(info, load_extra_classes(settings, info), settings.held_out, settings.mode,
                                settings.classes or "the classes")

    model, info = tiny_model
    info = info.replace(provenance={"unseen_classes": classes_to_dict(small_classes.subset(["harbor"]))})
    ckpt = save_checkpoint(model, info, tmp_path / "held.safetensors")
    classes = load_classes(info, ClassifierSettings())
    assert classes.names == ("forest", "city", "beach", "harbor") and list(classes.seen) == [True] * 3 + [False]
    assert load_classes(info, ClassifierSettings(held_out=False)).names == ("forest", "city", "beach")
    user = tmp_path / "user.yaml"
    user.write_text("classes:\n  harbor: [boats]\n  marsh: [water, trees]\n")
    mine = load_classes(info, ClassifierSettings(classes=str(user)))
    assert mine.names == ("forest", "city", "beach", "harbor", "marsh")
    assert mine.vector("harbor")[info.classes.attributes.index("water")] == 0  # the user's harbor won
    clash = tmp_path / "clash.yaml"
    clash.write_text("classes:\n  forest: [trees, water]\n")
    with pytest.raises(ClassSpaceError, match=r"clash.yaml: 'forest' is already one of the model's seen classes"):
        load_classes(info, ClassifierSettings(classes=str(clash)))
    out = tmp_path / "held.gpkg"
    map_scene(make_geotiff(shape=(64, 64)), out, MapSettings(model=str(ckpt)))
    layer = gpd.read_file(out, layer="classes")
    assert list(layer.name) == ["forest", "city", "beach", "harbor"] and list(layer.seen) == [True] * 3 + [False]


def test_interrupt_outside_json_mode_is_one_plain_line(make_geotiff, tiny_checkpoint, tmp_path, monkeypatch):
    from rsdsva.cli import map as map_cli
    from rsdsva.cli.main import Interrupted

    def stopped(*args, **kwargs):
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(map_cli, "map_scene", stopped)
    result = run_map(make_geotiff(shape=(64, 64)), "--out", tmp_path / "o.gpkg", "--model", tiny_checkpoint)
    assert result.exit_code == 143
    assert result.output.strip() == "Interrupted (SIGTERM): stopped, no partial output left"


@pytest.mark.parametrize("target", ["gpkg", "raster"])
def test_a_failed_write_is_one_line_and_leaves_nothing(target, make_geotiff, tiny_checkpoint, tmp_path, monkeypatch):
    """A full disk shows up as a pyogrio or GDAL error deep in the writer: one line naming the file."""
    import pyogrio.errors

    from rsdsva.mapping import writers

    if target == "gpkg":
        def full(*args, **kwargs):
            raise pyogrio.errors.DataLayerError("Failed to commit transaction")
        monkeypatch.setattr(pyogrio, "write_dataframe", full)
        name = "o.gpkg"
    else:
        def full(*args, **kwargs):
            raise rasterio.errors.RasterioIOError("Free disk space available is 0 bytes")
        monkeypatch.setattr(writers, "write_label_raster", full)
        name = "labels.tif"
    raster = make_geotiff(shape=(64, 64))
    result = run_map(raster, "--out", tmp_path / "o.gpkg", "--model", tiny_checkpoint, "--tile-size", 32,
                     "--raster", tmp_path / "labels.tif", "--progress", "none")
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0, result.output
    assert f"could not write {tmp_path / name} (" in result.output and "free space" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([raster.name, Path(tiny_checkpoint).name])


@pytest.mark.gpu
def test_cuda_map_gives_the_cpu_labels(make_geotiff, tmp_path):
    files = [DATA / "ucm" / c / f"{c}00.jpg" for c in ("beach", "forest", "harbor", "freeway")]
    images = [read_image(str(f)) for f in files]
    path = make_geotiff(torch.cat([torch.cat(images[:2], dim=2), torch.cat(images[2:], dim=2)], dim=1).numpy())
    frames = {}
    for device in ("cpu", "cuda"):
        map_scene(path, tmp_path / f"{device}.gpkg", MapSettings(tile_size=256, device=device))
        frames[device] = gpd.read_file(tmp_path / f"{device}.gpkg", layer="tiles").sort_values(["row", "col"])
    assert list(frames["cpu"].label) == list(frames["cuda"].label)
    np.testing.assert_allclose(frames["cpu"].score, frames["cuda"].score, atol=1e-3)


def test_a_self_intersecting_aoi_is_repaired_with_a_note(make_geotiff, tiny_checkpoint, tmp_path):
    """A bow-tie polygon (its edges cross) as the AOI: made valid, named in one warning, and mapped."""
    import geopandas as gpd
    from shapely.geometry import Polygon

    scene = make_geotiff(shape=(128, 128))
    bow = Polygon([(500000, 4000000), (500030, 3999970), (500030, 4000000), (500000, 3999970)])
    gpd.GeoDataFrame({"id": [1]}, geometry=[bow], crs="EPSG:32618").to_file(tmp_path / "bow.gpkg")
    with pytest.warns(RsdsvaWarning, match=r"bow.gpkg: AOI feature 1 not valid \(self-intersecting\?\); repaired"):
        result = map_scene(scene, tmp_path / "o.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32,
                                                                   aoi=str(tmp_path / "bow.gpkg")))
    assert 0 < result.classified < 16  # the tiles under the bow tie, not the whole grid


def test_a_map_reads_its_classes_file_once(make_geotiff, tiny_checkpoint, tmp_path, monkeypatch):
    """The plan reads the classes file (how its examples were read, before any tile) and hands its
    classes to the classifier it builds, so a large file of example features is parsed once."""
    import rsdsva.class_files as class_files

    parsed = []
    real = class_files.parse_classes_file
    monkeypatch.setattr(class_files, "parse_classes_file", lambda path: parsed.append(path) or real(path))
    classes = tmp_path / "mine.yaml"
    classes.write_text("classes:\n  marsh: [water, trees]\n")
    out = tmp_path / "o.gpkg"
    map_scene(make_geotiff(shape=(64, 64)), out, MapSettings(model=str(tiny_checkpoint), classes=str(classes)))
    assert len(parsed) == 1 and "marsh" in gpd.read_file(out, layer="classes").name.tolist()
