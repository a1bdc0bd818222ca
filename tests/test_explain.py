import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner

from rsdsva.cli import cli
from rsdsva.mapping import MapSettings, map_scene
from rsdsva.models import class_matrix_tensor, load_checkpoint

from tests.conftest import DATA


def test_evidence_columns_reproduce_the_class_score(make_geotiff, tiny_checkpoint, tmp_path):
    path = make_geotiff(shape=(64, 64))
    out = tmp_path / "e.gpkg"
    map_scene(path, out, MapSettings(model=str(tiny_checkpoint), tile_size=32, explain=True, calibration=0.3,
                                     context=1, orientations=1))  # the tile as read: its logit is recomputed
    tiles = gpd.read_file(out, layer="tiles")
    model, info = load_checkpoint(tiny_checkpoint)
    with rasterio.open(path) as src:
        for t in tiles.itertuples():
            terms = json.loads(t.evidence_json)
            assert sum(terms.values()) == pytest.approx(t.class_logit, abs=1e-3)
            top = t.evidence.split("; ")[0].split(" ")[0]
            assert terms[top] == max(terms.values())
            assert len(t.attributes.split("; ")) == 3
            # the tile's own logit for its label, recomputed from the model
            x = torch.from_numpy(src.read(window=((t.row * 32, t.row * 32 + 32), (t.col * 32, t.col * 32 + 32)))).float() / 255
            x = (x[None] - torch.tensor(info.preprocessing.mean).view(1, 3, 1, 1)) / torch.tensor(info.preprocessing.std).view(1, 3, 1, 1)
            logits = model(x, class_matrix_tensor(info.classes)).logits[0].detach()
            assert float(logits[t.class_id]) == pytest.approx(t.class_logit, abs=1e-3)


def _tile_maps(model, info, src, window, index):
    x = torch.from_numpy(src.read(window=window)).float()[None] / 255
    mean, std = torch.tensor(info.preprocessing.mean).view(1, 3, 1, 1), torch.tensor(info.preprocessing.std).view(1, 3, 1, 1)
    att = model((x - mean) / std).attention[:, index]
    return torch.nn.functional.interpolate(att, size=x.shape[-2:], mode="bilinear", align_corners=False)[0].detach().numpy()


def test_attention_raster_matches_the_model(make_geotiff, tiny_checkpoint, tmp_path):
    path = make_geotiff(shape=(64, 64))
    att = tmp_path / "att.tif"
    map_scene(path, tmp_path / "a.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, attention_raster=str(att),
                                                     attention_attributes=("water", "boats"), context=1))
    model, info = load_checkpoint(tiny_checkpoint)
    with rasterio.open(att) as a, rasterio.open(path) as src:
        assert a.crs == src.crs and a.transform == src.transform and a.count == 2
        assert a.descriptions == ("water", "boats")
        expected = _tile_maps(model, info, src, ((32, 64), (0, 32)), [0, 5])
        np.testing.assert_allclose(a.read(window=((32, 64), (0, 32))), expected, rtol=1e-4, atol=1e-4)


def test_attention_overlap_is_averaged(make_geotiff, tiny_checkpoint, tmp_path):
    path = make_geotiff(shape=(48, 48))  # tile 32, stride 16: a 2x2 grid overlapping in the middle
    att = tmp_path / "att.tif"
    map_scene(path, tmp_path / "o.gpkg", MapSettings(model=str(tiny_checkpoint), tile_size=32, stride=16,
                                                     attention_raster=str(att), attention_attributes=("water",),
                                                     context=1))
    model, info = load_checkpoint(tiny_checkpoint)
    with rasterio.open(att) as a, rasterio.open(path) as src:
        got = a.read(1)
        maps = {(r, c): _tile_maps(model, info, src, ((r * 16, r * 16 + 32), (c * 16, c * 16 + 32)), [0])[0]
                for r in (0, 1) for c in (0, 1)}
    # global pixels 16:32 are local pixels 16-16r : 32-16r of the tile starting at 16r
    centre = np.mean([m[16 - 16 * r:32 - 16 * r, 16 - 16 * c:32 - 16 * c] for (r, c), m in maps.items()], axis=0)
    np.testing.assert_allclose(got[16:32, 16:32], centre, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[:16, :16], maps[(0, 0)][:16, :16], rtol=1e-4, atol=1e-4)


def test_explain_command_writes_a_png(tmp_path):
    out = tmp_path / "x.png"
    result = CliRunner().invoke(cli, ["explain", str(DATA / "ucm" / "harbor" / "harbor05.jpg"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "top attributes" in result.output


def test_unknown_attention_attribute(make_geotiff, tiny_checkpoint, tmp_path):
    result = CliRunner().invoke(cli, ["map", str(make_geotiff()), "--out", str(tmp_path / "u.gpkg"), "--model",
                                      str(tiny_checkpoint), "--tile-size", "32", "--attention-raster",
                                      str(tmp_path / "a.tif"), "--attention-attributes", "watr"])
    assert result.exit_code == 1 and "did you mean 'water'" in result.output


def test_explain_one_map_tile_gives_that_tiles_label(tmp_path):
    """explain RASTER --tile ROW,COL ranks the tile the map's tiles layer holds at that row and col."""
    from rsdsva.errors import ConfigError, RsdsvaWarning
    from rsdsva.explain import explain_image
    from rsdsva.inference import ClassifierSettings
    from tests.conftest import ROOT

    scene = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
    map_scene(scene, tmp_path / "m.gpkg", MapSettings(context=1, orientations=1, device="cpu"))
    tiles = gpd.read_file(tmp_path / "m.gpkg", layer="tiles").set_index(["row", "col"])
    for cell in ((3, 5), (10, 2)):
        ex = explain_image(scene, ClassifierSettings(device="cpu"), tile=cell)
        assert ex.classes[0][0] == tiles.loc[cell, "label"]
        assert ex.classes[0][1] == pytest.approx(tiles.loc[cell, "score"], abs=1e-4)
    # the map's default windows (2 and 3 tiles wide, each also mirrored): explain reads them too
    map_scene(scene, tmp_path / "d.gpkg", MapSettings(device="cpu"))
    tiles = gpd.read_file(tmp_path / "d.gpkg", layer="tiles").set_index(["row", "col"])
    for cell in ((3, 5), (16, 0)):  # (16, 0): its windows are moved back inside the scene
        result = CliRunner().invoke(cli, ["explain", str(scene), "--tile", f"{cell[0]},{cell[1]}", "--device", "cpu",
                                          "--out", str(tmp_path / "d.png"), "--overwrite"])
        assert result.exit_code == 0, result.output
        label, score = tiles.loc[cell, "label"], tiles.loc[cell, "score"]
        assert f": {label} {score:.2f}," in result.output, (cell, label, score, result.output)
    with pytest.raises(ConfigError, match="grid of 256 px tiles has rows 0-17"):
        explain_image(scene, ClassifierSettings(device="cpu"), tile=(30, 5))
    with pytest.warns(RsdsvaWarning, match="shrunk into one input"):
        explain_image(scene, ClassifierSettings(device="cpu"))


def test_attention_raster_covers_the_aoi_only(make_geotiff, tiny_checkpoint, tmp_path):
    """On a raster much larger than its AOI the attention raster is the AOI's tiles, not the whole raster:
    same georeferencing, same values as a full map's over those pixels."""
    from shapely.geometry import box

    path = make_geotiff(shape=(96, 96))
    with rasterio.open(path) as src:
        (x0, y0), (x1, y1) = src.transform * (33, 60), src.transform * (60, 40)  # inside tile (1, 1)
        crs, transform = src.crs, src.transform
    gpd.GeoDataFrame(geometry=[box(x0, y0, x1, y1)], crs=crs).to_file(tmp_path / "aoi.gpkg")
    settings = dict(model=str(tiny_checkpoint), tile_size=32, attention_attributes=("water",), context=1)
    map_scene(path, tmp_path / "f.gpkg", MapSettings(attention_raster=str(tmp_path / "full.tif"), **settings))
    map_scene(path, tmp_path / "a.gpkg", MapSettings(attention_raster=str(tmp_path / "aoi.tif"),
                                                     aoi=str(tmp_path / "aoi.gpkg"), **settings))
    with rasterio.open(tmp_path / "aoi.tif") as a, rasterio.open(tmp_path / "full.tif") as f:
        assert (a.width, a.height) == (32, 32) and a.transform == transform * transform.translation(32, 32)
        np.testing.assert_allclose(a.read(1), f.read(1, window=((32, 64), (32, 64))), rtol=1e-5, atol=1e-5)


def test_an_attention_raster_too_large_for_memory_is_refused_before_reading(make_geotiff, tiny_checkpoint,
                                                                            tmp_path, monkeypatch):
    from rsdsva.mapping import attention

    monkeypatch.setattr(attention, "memory_bytes", lambda: 2 * 64 * 64 * 4)  # half of it holds one band's 64 x 64
    result = CliRunner().invoke(cli, ["map", str(make_geotiff(shape=(64, 64))), "--out", str(tmp_path / "m.gpkg"),
                                      "--model", str(tiny_checkpoint), "--tile-size", "32", "--progress", "none",
                                      "--attention-raster", str(tmp_path / "a.tif")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "an attention raster of 64 x 64 pixels and 3 attributes needs" in result.output
    assert "--aoi" in result.output
    assert not (tmp_path / "m.gpkg").exists() and not (tmp_path / "a.tif").exists()
