"""The int8 form: written by rsdsva export --int8, run by --precision int8 on ONNX Runtime."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from click.testing import CliRunner

from rsdsva.cli.main import cli


def _one_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip() and not ln.startswith("Warning:")]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    return lines[0]


def test_export_int8_then_map_with_it(make_geotiff, make_image_folder, tiny_checkpoint, tmp_path):
    from rsdsva.engines import choose_engine
    from rsdsva.engines.forms import int8_form

    images = make_image_folder(["water", "field", "town"], per_class=30)
    scene = make_geotiff(shape=(256, 256))  # 64 tiles of the tiny model's 32 px
    made = CliRunner().invoke(cli, ["export", str(tiny_checkpoint), "--int8", "--calibration", str(images),
                                    "--calibration", str(scene), "--calibration-count", "64"])
    assert made.exit_code == 0, made.output
    int8 = tmp_path / "tiny.int8.onnx"
    assert int8.is_file() and f"wrote {int8}" in made.output and "Percentile" not in made.output
    assert int8_form(tiny_checkpoint) == int8 and choose_engine("auto", tiny_checkpoint, precision="int8") == ("onnx", int8)
    # its batch is fixed at ONNX Runtime's in the map, which a map takes where --batch-size is not given
    from rsdsva.engines.forms import fixed_batch
    from rsdsva.engines.registry import entry
    from rsdsva.mapping import MapSettings
    from rsdsva.mapping.plan import plan_map

    assert fixed_batch(int8) == entry("onnx").capabilities.batch_size and fixed_batch(tiny_checkpoint) is None
    for asked, batch in ((None, fixed_batch(int8)), (64, 64)):
        settings = MapSettings(model=str(tiny_checkpoint), tile_size=32, precision="int8", batch_size=asked)
        plan = plan_map(scene, settings)
        assert plan.batch_size == batch and plan.classifier.engine.fixed_batch == fixed_batch(int8)
    maps = {}
    for precision in ("float32", "int8"):
        out = tmp_path / f"{precision}.gpkg"
        result = CliRunner().invoke(cli, ["map", str(scene), "--model", str(tiny_checkpoint), "--tile-size", "32",
                                          "--context", "1", "--orientations", "1", "--progress", "none",
                                          "--precision", precision, "--out", str(out)])
        assert result.exit_code == 0, result.output
        maps[precision] = gpd.read_file(out, layer="tiles")
    assert len(maps["int8"]) == len(maps["float32"]) == 64
    # int8 moves scores a little: the same label where float32's is clear
    scores = np.array([[float(s) for s in t.split(";")] for t in maps["float32"]["top_scores"]])
    clear = scores[:, 0] - scores[:, 1] >= 0.2
    assert clear.sum() >= 8 and (maps["int8"]["label"].values == maps["float32"]["label"].values)[clear].all()
    run = gpd.read_file(tmp_path / "int8.gpkg", layer="run")
    assert '"int8"' in run.loc[run["key"] == "settings", "value"].item()


def test_int8_on_a_model_without_its_int8_form_or_on_torch_is_one_line(make_geotiff, tiny_checkpoint, tmp_path):
    scene = make_geotiff(shape=(64, 64))
    base = ["map", str(scene), "--model", str(tiny_checkpoint), "--tile-size", "32", "--progress", "none",
            "--precision", "int8", "--out", str(tmp_path / "m.gpkg")]
    line = _one_line(CliRunner().invoke(cli, base))
    assert "no int8 form of this model" in line and f"rsdsva export {tiny_checkpoint} --int8" in line
    line = _one_line(CliRunner().invoke(cli, [*base, "--engine", "torch"]))
    assert "--precision int8 runs on ONNX Runtime" in line
    assert not (tmp_path / "m.gpkg").exists()


def test_a_dask_worker_without_the_int8_form_fails_its_block_in_one_line(make_geotiff, tiny_checkpoint):
    """A worker whose copy of the model has no int8 form (the client's had one when it planned):
    the block's task raises the map's one-line error, which the Dask map reports for that scene."""
    import pytest
    import rasterio

    from rsdsva.errors import RsdsvaError
    from rsdsva.mapping import MapSettings
    from rsdsva.mapping.distributed import classify_block
    from rsdsva.mapping.grid import iter_windows
    from rsdsva.mapping.raster import make_spec

    scene = make_geotiff(shape=(64, 64))
    with rasterio.open(scene) as src:
        spec, tiles = make_spec(src), list(iter_windows(src.width, src.height, 32, 32))
    settings = MapSettings(model=str(tiny_checkpoint), tile_size=32, precision="int8", engine="onnx")
    with pytest.raises(RsdsvaError, match="no int8 form of this model") as err:
        classify_block(spec, tiles, settings)
    assert "\n" not in str(err.value) and f"rsdsva export {tiny_checkpoint} --int8" in str(err.value)


def test_an_int8_file_of_other_weights_is_not_the_models(tiny_checkpoint, tmp_path):
    """A tiny.int8.onnx made from another file (its recorded checksum differs) is not taken."""
    import json

    import onnx
    from onnx import TensorProto, helper

    from rsdsva.engines.forms import int8_form

    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["attributes"])], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("attributes", TensorProto.FLOAT, [1, 3, 8, 8])])
    model = helper.make_model(graph)
    model.metadata_props.add(key="rsdsva_onnx", value=json.dumps({"precision": "int8", "source_sha256": "0" * 64}))
    onnx.save(model, str(tmp_path / "tiny.int8.onnx"))
    assert int8_form(tiny_checkpoint) is None


def test_export_int8_without_calibration_is_a_usage_error(tiny_checkpoint):
    result = CliRunner().invoke(cli, ["export", str(tiny_checkpoint), "--int8"])
    assert result.exit_code == 2 and "--int8 needs --calibration" in result.output


def test_from_map_takes_example_features_from_the_int8_graph(make_geotiff, tmp_path):
    """Examples for an int8 map come from the same graph: --precision int8 on classes from-map."""
    import yaml
    from shapely.geometry import box

    import rasterio

    scene = make_geotiff(shape=(96, 96))
    with rasterio.open(scene) as src:
        (x0, y0), (x1, y1) = src.transform * (0, 32), src.transform * (32, 0)
        crs = src.crs
    gpd.GeoDataFrame({"kind": ["a", "b"]}, geometry=[box(x0, y0, x1, y1), box(x1, y0, 2 * x1 - x0, y1)],
                     crs=crs).to_file(tmp_path / "areas.gpkg")
    features = {}
    for precision in ("float32", "int8"):
        out = tmp_path / f"{precision}.yaml"
        result = CliRunner().invoke(cli, ["classes", "from-map", str(scene), str(tmp_path / "areas.gpkg"),
                                          "--name-field", "kind", "--tile-size", "32", "--precision", precision,
                                          "--out", str(out)])
        assert result.exit_code == 0, result.output
        features[precision] = np.array(yaml.safe_load(out.read_text())["classes"]["a"]["features"])
    assert features["int8"].shape == features["float32"].shape
    assert not np.array_equal(features["int8"], features["float32"])  # another graph's numbers
    cosine = (features["int8"] * features["float32"]).sum(1) / (np.linalg.norm(features["int8"], axis=1)
                                                               * np.linalg.norm(features["float32"], axis=1))
    assert (cosine > 0.9).all()  # of the same tiles
