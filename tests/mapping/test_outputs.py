"""Nothing lost: an output never replaces an input or another output of the same run."""

from __future__ import annotations

import hashlib
import shutil

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from rsdsva.cli.main import cli
from tests.conftest import DATA


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    return lines[0]


def test_map_refuses_an_output_that_is_an_input_or_another_output(make_geotiff, tiny_checkpoint, tmp_path):
    import rasterio

    scene = make_geotiff(shape=(64, 64))
    with rasterio.open(scene) as src:
        aoi = gpd.GeoDataFrame(geometry=[box(*src.bounds)], crs=src.crs)
    aoi.to_file(tmp_path / "aoi.gpkg")
    before, files = _sha(tmp_path / "aoi.gpkg"), sorted(tmp_path.iterdir())
    base = ["map", str(scene), "--model", str(tiny_checkpoint), "--tile-size", "32", "--progress", "none"]
    out = str(tmp_path / "o.gpkg")
    line = _one_line(CliRunner().invoke(cli, base + ["--out", out, "--raster", out]))
    assert f"--raster {out} is also the --out output" in line
    line = _one_line(CliRunner().invoke(cli, base + ["--out", str(tmp_path / "aoi.gpkg"), "--aoi",
                                                     str(tmp_path / "aoi.gpkg"), "--overwrite"]))
    assert "is the --aoi file" in line
    line = _one_line(CliRunner().invoke(cli, base + ["--out", out, "--raster", str(scene), "--overwrite"]))
    assert "is the input raster" in line
    assert _sha(tmp_path / "aoi.gpkg") == before and sorted(tmp_path.iterdir()) == files  # nothing written


def test_map_refuses_two_rasters_that_would_share_one_output(make_geotiff, tiny_checkpoint, tmp_path):
    scene = make_geotiff(shape=(64, 64))
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(scene, tmp_path / folder / "scene.tif")
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(cli, ["map", str(tmp_path / "a" / "scene.tif"), str(tmp_path / "b" / "scene.tif"),
                                      "--out-dir", str(tmp_path / "out"), "--model", str(tiny_checkpoint),
                                      "--tile-size", "32", "--progress", "none"])
    line = _one_line(result)
    assert "would both be written to" in line and "scene.gpkg" in line
    assert not any((tmp_path / "out").iterdir())


def test_explain_never_replaces_its_image_or_an_existing_file(tmp_path):
    image = tmp_path / "in.png"
    from PIL import Image

    Image.open(DATA / "ucm" / "harbor" / "harbor05.jpg").save(image)
    before = _sha(image)
    assert "is the image" in _one_line(CliRunner().invoke(cli, ["explain", str(image), "--out", str(image)]))
    assert "must end in .png" in _one_line(CliRunner().invoke(cli, ["explain", str(image), "--out",
                                                                     str(tmp_path / "e.jpg")]))
    (tmp_path / "e.png").write_text("mine")
    assert "already exists" in _one_line(CliRunner().invoke(cli, ["explain", str(image), "--out",
                                                                   str(tmp_path / "e.png")]))
    assert _sha(image) == before and (tmp_path / "e.png").read_text() == "mine"
    result = CliRunner().invoke(cli, ["explain", str(image), "--out", str(tmp_path / "e.png"), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_nan_nodata_is_no_data_and_bad_numbers_are_refused(make_geotiff, tiny_checkpoint, tmp_path):
    import numpy as np

    data = np.full((3, 64, 64), np.nan, dtype=np.float32)
    data[:, :32, :32] = np.random.default_rng(0).random((3, 32, 32))
    scene = make_geotiff(data, nodata=float("nan"))
    base = ["map", str(scene), "--model", str(tiny_checkpoint), "--tile-size", "32", "--progress", "none",
            "--context", "1"]
    result = CliRunner().invoke(cli, base + ["--out", str(tmp_path / "m.gpkg")])
    assert result.exit_code == 0, result.output
    tiles = gpd.read_file(tmp_path / "m.gpkg", layer="tiles")
    assert len(tiles) == 1 and tiles["valid_fraction"].tolist() == [1.0]  # the three all-NaN tiles are skipped
    for flag, value, message in (("--calibration", "nan", "--calibration nan: give a number from -1000 to 1000"),
                                 ("--scale", "10,10", "--scale 10,10: give MIN,MAX with MIN below MAX"),
                                 ("--scale", "200,10", "--scale 200,10: give MIN,MAX")):
        result = CliRunner().invoke(cli, base + ["--out", str(tmp_path / "x.gpkg"), flag, value])
        assert message in _one_line(result)
    assert not (tmp_path / "x.gpkg").exists()


def test_one_writer_per_output_and_a_killed_runs_leftovers_are_removed(make_geotiff, tiny_checkpoint, tmp_path):
    import fcntl
    import os

    import pytest

    from rsdsva.errors import RsdsvaWarning
    from rsdsva.mapping import MapSettings, map_scene

    scene = make_geotiff(shape=(64, 64))
    out = tmp_path / "o.gpkg"
    settings = MapSettings(model=str(tiny_checkpoint), tile_size=32, context=1)
    fd = os.open(tmp_path / ".o.gpkg.lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another run holds the output
    from rsdsva.errors import OutputError

    with pytest.raises(OutputError, match="another rsdsva run is writing"):
        map_scene(scene, out, settings)
    assert (tmp_path / ".o.gpkg.lock").exists() and not out.exists()  # the other run's lock is left alone
    os.close(fd)  # that run ended (or was killed: the lock dies with it)
    (tmp_path / ".o.gpkg.abc123.part.gpkg").write_bytes(b"half")  # what a SIGKILL leaves
    with pytest.warns(RsdsvaWarning, match="removed 1 partial file"):
        map_scene(scene, out, settings)
    assert out.exists() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".o.gpkg")) == []


def test_from_map_with_an_empty_areas_layer_says_so(tmp_path):
    from tests.conftest import ROOT

    empty = gpd.GeoDataFrame({"kind": []}, geometry=[], crs="EPSG:2994")
    empty.to_file(tmp_path / "empty.gpkg")
    result = CliRunner().invoke(cli, ["classes", "from-map", str(ROOT / "sample_data" / "autzen_0p3m_2994.tif"),
                                      str(tmp_path / "empty.gpkg"), "--name-field", "kind",
                                      "--out", str(tmp_path / "c.yaml")])
    assert "the layer has no features; draw example areas in it" in _one_line(result)
    assert not (tmp_path / "c.yaml").exists()


def test_context_windows_are_bounded_before_any_tile_is_read(tmp_path):
    from tests.conftest import ROOT

    result = CliRunner().invoke(cli, ["map", str(ROOT / "sample_data" / "autzen_0p3m_2994.tif"), "--context", "50",
                                      "--out", str(tmp_path / "m.gpkg"), "--progress", "none"])
    assert "--context 50: each window must be 1 (the tile alone) to 8 times the tile" in _one_line(result)


def test_an_aoi_bounds_the_grid_of_a_huge_raster(make_geotiff, tiny_checkpoint, tmp_path):
    """A 10^6 x 10^6 px VRT (10^9 tiles) with a small AOI: only the tiles under the AOI are laid out."""
    from shapely.geometry import box

    small = make_geotiff(shape=(64, 64))
    side = 1_000_000
    bands = "".join(f'<VRTRasterBand dataType="Byte" band="{b}"><SimpleSource><SourceFilename relativeToVRT="0">'
                    f'{small}</SourceFilename><SourceBand>{b}</SourceBand><SrcRect xOff="0" yOff="0" xSize="64" '
                    f'ySize="64"/><DstRect xOff="0" yOff="0" xSize="64" ySize="64"/></SimpleSource></VRTRasterBand>'
                    for b in (1, 2, 3))
    vrt = tmp_path / "huge.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="{side}" rasterYSize="{side}"><SRS>EPSG:32618</SRS><GeoTransform>'
                   f'500000, 0.3, 0, 4000000, 0, -0.3</GeoTransform>{bands}</VRTDataset>')
    gpd.GeoDataFrame(geometry=[box(500000, 4000000 - 19.2, 500019.2, 4000000)], crs="EPSG:32618").to_file(
        tmp_path / "aoi.gpkg")
    result = CliRunner().invoke(cli, ["map", str(vrt), "--aoi", str(tmp_path / "aoi.gpkg"), "--model",
                                      str(tiny_checkpoint), "--tile-size", "32", "--context", "1", "--progress",
                                      "none", "--out", str(tmp_path / "m.gpkg")])
    assert result.exit_code == 0, result.output
    tiles = gpd.read_file(tmp_path / "m.gpkg", layer="tiles")
    assert sorted(zip(tiles["row"], tiles["col"])) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_a_full_disk_while_writing_a_raster_fails_with_nothing_left(make_geotiff, tiny_checkpoint, tmp_path,
                                                                     full_disk):
    scene = make_geotiff(shape=(64, 64))
    base = ["map", str(scene), "--model", str(tiny_checkpoint), "--tile-size", "32", "--context", "1",
            "--progress", "none", "--out", str(tmp_path / "m.gpkg")]
    for flag in ("--raster", "--attention-raster"):
        result = CliRunner().invoke(cli, base + [flag, str(full_disk / "r.tif")])
        assert "No space left on device" in _one_line(result) and f"could not write {full_disk / 'r.tif'}" in result.output
        assert sorted(p.name for p in full_disk.iterdir()) == ["filler"] and not (tmp_path / "m.gpkg").exists()


def test_every_output_is_locked_while_it_is_written(make_geotiff, tiny_checkpoint, tmp_path):
    """A run onto a label raster, or any file rsdsva writes, that another run is writing fails at once."""
    import fcntl
    import os

    from rsdsva._io import atomic_write_text
    from rsdsva.errors import OutputError

    scene = make_geotiff(shape=(64, 64))
    for name in ("l.tif", "c.yaml"):
        fd = os.open(tmp_path / f".{name}.lock", os.O_CREAT | os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)  # another run is writing it
    result = CliRunner().invoke(cli, ["map", str(scene), "--model", str(tiny_checkpoint), "--tile-size", "32",
                                      "--progress", "none", "--out", str(tmp_path / "m.gpkg"),
                                      "--raster", str(tmp_path / "l.tif")])
    assert f"another rsdsva run is writing {tmp_path / 'l.tif'}" in _one_line(result)
    with pytest.raises(OutputError, match="another rsdsva run is writing"):
        atomic_write_text(tmp_path / "c.yaml", "classes: {}")
    assert not (tmp_path / "m.gpkg").exists() and not (tmp_path / "c.yaml").exists()


def test_a_run_stopped_while_writing_its_last_output_leaves_every_old_output(make_geotiff, tiny_checkpoint, tmp_path,
                                                                            monkeypatch):
    """A map's outputs replace the old ones together once all are written: stopped while the last
    is written (a signal, a full disk), the earlier run's map and label raster stay as they were."""
    from rsdsva.mapping.attention import AttentionMosaic

    raster = make_geotiff(shape=(64, 64))
    args = ["map", str(raster), "--model", str(tiny_checkpoint), "--tile-size", "32", "--progress", "none",
            "--out", str(tmp_path / "m.gpkg"), "--raster", str(tmp_path / "l.tif"),
            "--attention-raster", str(tmp_path / "a.tif")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(AttentionMosaic, "write", stopped)
    result = CliRunner().invoke(cli, [*args, "--overwrite", "--stride", "16"])  # other outputs, were they written
    assert result.exit_code != 0 and isinstance(result.exception, (KeyboardInterrupt, SystemExit))
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()} == before


def test_regions_of_a_map_in_degrees_say_nothing_of_centroids():
    """An EPSG:4326 raster's map: no geopandas warning that centroids in degrees are inexact."""
    import warnings

    import geopandas as gpd
    from shapely.geometry import box

    from rsdsva.mapping.writers import regions_frame

    tiles = gpd.GeoDataFrame({"label": ["a", "a", "b"], "score": [0.5, 0.7, 0.9]},
                             geometry=[box(10, 50, 10.01, 50.01), box(10.01, 50, 10.02, 50.01),
                                       box(10.02, 50, 10.03, 50.01)], crs="EPSG:4326")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        regions = regions_frame(tiles)
    assert sorted(regions["tiles"]) == [1, 2]
