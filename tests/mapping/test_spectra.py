"""Examples that see every band (#36): each tile's spectra beside the network's features."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from click.testing import CliRunner
from rasterio.enums import ColorInterp

from rsdsva.cli.main import cli
from rsdsva.data.images import scan_image_folder
from rsdsva.data.mosaic import cell_polygon, write_image_mosaic
from rsdsva.errors import ClassSpaceError
from rsdsva.examples.spectra import SpectralRecord, tile_spectra
from tests.conftest import DATA


def test_tile_spectra_are_band_means_after_the_stretch_and_indexes_of_the_stored_values():
    raw = np.zeros((4, 4, 4), np.float32)
    raw[0], raw[1], raw[2], raw[3] = 100, 50, 25, 300  # red, green, blue, nir
    raw[:, 0, 0] = 9999  # an invalid pixel counts for nothing
    valid = np.ones((4, 4), bool)
    valid[0, 0] = False
    low, high = np.zeros(4, np.float32), np.full(4, 200, np.float32)
    out = tile_spectra(raw, valid, low, high, [("ndvi", 3, 0), ("ndwi", 1, 3)])
    assert out == pytest.approx([0.5, 0.25, 0.125, 1.0, 0.5, -250 / 350])  # nir clipped at the stretch's top
    assert not tile_spectra(raw, np.zeros((4, 4), bool), low, high, []).any()


def test_spectral_record_joins_features_and_refuses_a_damaged_one():
    record = SpectralRecord((1, 2, 3, 4), ("red", "green", "blue", "nir"), ("ndvi",), (0.5,) * 5, (0.1,) * 5, 0.05)
    assert record.features == ["red", "green", "blue", "nir", "ndvi"]
    assert SpectralRecord.from_dict(record.to_dict(), "f.yaml") == record
    network = np.eye(2, 8, dtype=np.float32)
    spectra = np.array([[0.5] * 5, [0.6] * 5], np.float32)  # an average tile, and one a spread off everywhere
    joined = record.joined(network, spectra)
    assert np.linalg.norm(joined, axis=1) == pytest.approx([1, 1])
    assert joined[0, 8:] == pytest.approx(0) and (joined[1, 8:] ** 2).sum() == pytest.approx(0.05 / (0.95 + 0.05))
    for damage, said in (({"weight": 1.5}, "weight 1.5"), ({"mean": [0.5]}, "1 means for 5 features"),
                         ({"std": None}, "TypeError")):
        with pytest.raises(ClassSpaceError, match=said):
            SpectralRecord.from_dict({**record.to_dict(), **damage}, "f.yaml")


def _run(args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, [ln for ln in result.output.splitlines() if ln.strip()], result


@pytest.fixture(scope="module")
def same_look(tmp_path_factory):
    """Four real UC Merced fields written twice into a 4-band (R, G, B, NIR) raster: the top row
    with a bright NIR band (growing crops), the bottom row, identical in red, green and blue,
    with a dark one (bare fields). Only the NIR band tells the rows apart."""
    fields = [s for s in scan_image_folder(DATA / "ucm") if s.label == "agricultural"][:4]
    tmp = tmp_path_factory.mktemp("nir")
    cells = write_image_mosaic(fields + fields, tmp / "rgb.tif", columns=4)
    with rasterio.open(tmp / "rgb.tif") as src:
        rgb, profile = src.read(), src.profile
    nir = np.zeros_like(rgb[0])
    nir[:256], nir[256:] = 200, 40
    profile.update(count=4, photometric="RGB", alpha="NO")
    with rasterio.open(tmp / "rgbn.tif", "w", **profile) as dst:
        dst.write(np.concatenate([rgb, nir[None]]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
    with rasterio.open(tmp / "rgbn.tif") as src:
        assert src.colorinterp[3] == ColorInterp.undefined  # read as NIR (an undescribed fourth band after RGB)
    areas = gpd.GeoDataFrame({"class": ["crop", "bare"]}, geometry=[cell_polygon(0, 0), cell_polygon(1, 0)],
                             crs="EPSG:32610")
    areas.to_file(tmp / "areas.gpkg")
    return tmp / "rgbn.tif", tmp / "rgb.tif", tmp / "areas.gpkg", cells


def _labels(path):
    tiles = gpd.read_file(path, layer="tiles")
    return {(r.row, r.col): r.label for r in tiles.itertuples()}


def test_examples_tell_apart_tiles_that_differ_only_past_red_green_and_blue(same_look, tmp_path):
    raster, rgb, areas, _ = same_look
    maps = {}
    for weight in (None, 0):
        classes, out = tmp_path / f"c{weight}.yaml", tmp_path / f"m{weight}.gpkg"
        flags = [] if weight is None else ["--spectra", weight]
        code, lines, result = _run(["classes", "from-map", raster, areas, "--name-field", "class", "--out", classes,
                                    *flags])
        assert code == 0, lines
        code, lines, _ = _run(["map", raster, "--classes", classes, "--out", out, "--mode", "zsl", "--no-held-out",
                               "--context", 1, "--progress", "none"])
        assert code == 0, lines
        maps[weight] = _labels(out)
    data = yaml.safe_load((tmp_path / "cNone.yaml").read_text())
    assert data["spectra"]["band_names"] == ["red", "green", "blue", "nir"] and data["spectra"]["weight"] == 0.05
    assert data["spectra"]["indexes"] == ["ndvi", "ndwi"] and "spectra" not in yaml.safe_load((tmp_path / "c0.yaml").read_text())
    truth = {(r, c): "crop" if r == 0 else "bare" for r in range(2) for c in range(1, 4)}
    assert all(maps[None][cell] == kind for cell, kind in truth.items()), maps[None]
    # without the spectra a field and its bare twin look alike to the network: they get one label
    assert all(maps[0][(0, c)] == maps[0][(1, c)] for c in range(1, 4)), maps[0]
    code, lines, _ = _run(["classes", "check", tmp_path / "cNone.yaml"])
    assert code == 0 and "examples keep their spectra (red, green, blue, nir, ndvi, ndwi; weight 0.05)" in lines[-3]
    # explain computes the tile's spectra too, and says what the map said
    code, lines, _ = _run(["explain", raster, "--map", tmp_path / "mNone.gpkg", "--tile", "1,2", "--classes",
                           tmp_path / "cNone.yaml", "--mode", "zsl", "--no-held-out", "--out", tmp_path / "e.png"])
    assert code == 0 and lines[-1].startswith(f"wrote {tmp_path / 'e.png'}: bare "), lines


def test_spectral_examples_on_a_raster_without_their_bands_or_bad_weights_are_one_line(same_look, tmp_path):
    raster, rgb, areas, _ = same_look
    classes = tmp_path / "c.yaml"
    assert _run(["classes", "from-map", raster, areas, "--name-field", "class", "--out", classes])[0] == 0
    code, lines, _ = _run(["map", rgb, "--classes", classes, "--out", tmp_path / "no.gpkg", "--bands", "1,2,3"])
    assert code == 1 and len(lines) == 1, lines
    assert "rgb.tif has 3 bands and not the red, green, blue, nir that the example classes' spectra" in lines[0]
    assert not (tmp_path / "no.gpkg").exists()
    for weight in (1.0, -0.1):
        code, lines, _ = _run(["classes", "from-map", raster, areas, "--name-field", "class", "--out",
                               tmp_path / "x.yaml", "--spectra", weight])
        assert code == 2 and f"Invalid value for '--spectra': {weight} is not in the range 0<=x<1" in lines[-1], lines
    code, lines, _ = _run(["classes", "from-map", raster, areas, "--name-field", "class", "--update", classes,
                           "--spectra", 0.2])
    assert code == 1 and len(lines) == 1 and "--spectra 0.2 contradicts the --update file's 0.05" in lines[0], lines
    assert not (tmp_path / "x.yaml").exists()
    before = yaml.safe_load(classes.read_text())["spectra"]
    assert _run(["classes", "from-map", raster, areas, "--name-field", "class", "--update", classes])[0] == 0
    after = yaml.safe_load(classes.read_text())
    assert after["spectra"] == before and after["classes"]["crop"]["examples"]["tiles"] == 2  # kept, for old and new
