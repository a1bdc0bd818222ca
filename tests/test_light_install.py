"""The light install: mapping (every class route), classes, explain, info and Dask on ONNX
Runtime with torch unimportable; and the two engines giving the same answers.

Each light run is a separate ``rsdsva`` process in which the torch extra's packages cannot
be imported. CI also runs this file in a fresh venv of ``pip install ".[test]"``, where they
are not installed at all; the comparisons with the torch engine skip there.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from rsdsva.errors import TORCH_FAMILY
from tests.conftest import ROOT

SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
EXAMPLES = ROOT / "sample_data" / "autzen_examples.gpkg"
ONNX_MODEL = ROOT / "rsdsva" / "resources" / "default_model.onnx"
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="compares with the torch engine (the full install)")


def light(*args: str, block: tuple[str, ...] = TORCH_FAMILY) -> subprocess.CompletedProcess:
    """``rsdsva ARGS`` in a process where the packages of ``block`` cannot be imported."""
    code = (f"import sys\nfor m in {block!r}: sys.modules[m] = None\n"
            f"from rsdsva.cli import cli\ncli({list(args)!r}, prog_name='rsdsva')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def full(*args: str) -> subprocess.CompletedProcess:
    code = f"from rsdsva.cli import cli\ncli({list(args)!r}, prog_name='rsdsva')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def one_line_error(run: subprocess.CompletedProcess, *expected: str) -> None:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 1, run.stderr
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def tiles(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path, layer="tiles").sort_values(["row", "col"]).reset_index(drop=True)


def assert_same_map(a: Path, b: Path) -> None:
    """Same top-1 label on >= 99.5 % of tiles, top probabilities within 1e-4."""
    ta, tb = tiles(a), tiles(b)
    assert list(zip(ta.row, ta.col)) == list(zip(tb.row, tb.col))
    assert (ta.label == tb.label).mean() >= 0.995
    same = ta.label == tb.label
    np.testing.assert_allclose(ta.score[same], tb.score[same], atol=1e-4)


@pytest.fixture(scope="module")
def light_map(tmp_path_factory):
    """The sample scene mapped on the light install, with an attention raster and a label raster."""
    out = tmp_path_factory.mktemp("light")
    run = light("map", str(SCENE), "--out", str(out / "labels.gpkg"), "--attention-raster", str(out / "att.tif"),
                "--raster", str(out / "labels.tif"))
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="module")
def light_examples(tmp_path_factory):
    """Classes from the sample's example areas, made on the light install, and a map with them."""
    out = tmp_path_factory.mktemp("light_examples")
    run = light("classes", "from-map", str(SCENE), str(EXAMPLES), "--name-field", "kind", "--out",
                str(out / "mine.yaml"))
    assert run.returncode == 0, run.stderr
    run = light("map", str(SCENE), "--out", str(out / "labels.gpkg"), "--classes", str(out / "mine.yaml"),
                "--similarity", str(out / "sim.tif"))
    assert run.returncode == 0, run.stderr
    return out


def test_the_light_install_maps_the_sample_scene(light_map):
    frame = tiles(light_map / "labels.gpkg")
    assert len(frame) == 221 and frame.label.nunique() > 3
    run = gpd.read_file(light_map / "labels.gpkg", layer="run").set_index("key")["value"].map(json.loads)
    assert run["engine"] == "onnx" and run["settings"]["engine"] == "auto"
    with rasterio.open(light_map / "att.tif") as src:
        assert src.count == 3 and np.isfinite(src.read()).mean() > 0.8  # NaN where tiles were skipped


@needs_torch
def test_both_engines_give_the_same_map(light_map, tmp_path):
    run = full("map", str(SCENE), "--out", str(tmp_path / "torch.gpkg"), "--engine", "torch",
               "--attention-raster", str(tmp_path / "att.tif"))
    assert run.returncode == 0, run.stderr
    assert_same_map(light_map / "labels.gpkg", tmp_path / "torch.gpkg")
    routes = gpd.read_file(light_map / "labels.gpkg", layer="classes")
    assert "held-out" in set(routes["route"])  # the model's held-out classes are ranked on ONNX too
    with rasterio.open(light_map / "att.tif") as a, rasterio.open(tmp_path / "att.tif") as b:
        np.testing.assert_allclose(a.read(), b.read(), atol=1e-3)


def test_the_light_install_defines_classes_from_examples(light_examples):
    frame = tiles(light_examples / "labels.gpkg")
    routes = dict(gpd.read_file(light_examples / "labels.gpkg", layer="classes")[["name", "route"]].values)
    mine = [n for n, r in routes.items() if r in ("examples", "seen+examples")]
    assert mine and set(frame.label) & set(mine)
    with rasterio.open(light_examples / "sim.tif") as src:
        sims = src.read()[src.read_masks() > 0]  # -1 (nodata) where a tile was skipped
        assert list(src.descriptions) == mine and 0 <= sims.min() and sims.max() <= 1


@needs_torch
def test_examples_made_on_either_engine_agree(light_examples, tmp_path):
    run = full("classes", "from-map", str(SCENE), str(EXAMPLES), "--name-field", "kind", "--out",
               str(tmp_path / "mine.yaml"), "--engine", "torch")
    assert run.returncode == 0, run.stderr
    from rsdsva.class_files import load_classes

    a, b = load_classes(light_examples / "mine.yaml"), load_classes(tmp_path / "mine.yaml")
    assert a.names == b.names and a.examples.feature_space == b.examples.feature_space
    assert a.examples.recipe == b.examples.recipe
    for x, y in zip(a.examples.rows, b.examples.rows):
        np.testing.assert_allclose(x, y, atol=1e-4)
    run = full("map", str(SCENE), "--out", str(tmp_path / "torch.gpkg"), "--classes", str(tmp_path / "mine.yaml"),
               "--engine", "torch")
    assert run.returncode == 0, run.stderr
    assert_same_map(light_examples / "labels.gpkg", tmp_path / "torch.gpkg")


def test_the_light_install_explains_describes_and_checks(tmp_path):
    run = light("explain", str(SCENE), "--tile", "3,4", "--out", str(tmp_path / "why.png"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "why.png").stat().st_size > 10_000
    run = light("info", str(ONNX_MODEL))
    assert run.returncode == 0 and "tf_efficientnet_lite0 (128 px input)" in run.stdout, run.stderr
    run = light("classes", "check", "sample_data/unseen_classes.yaml")
    assert run.returncode == 0 and "fallow_field" in run.stdout, run.stderr


@needs_torch
def test_explain_agrees_across_engines():
    from rsdsva.explain import explain_image
    from rsdsva.inference import ClassifierSettings

    a = explain_image(SCENE, ClassifierSettings(engine="onnx"), tile=(3, 4))
    b = explain_image(SCENE, ClassifierSettings(engine="torch"), tile=(3, 4))
    assert [n for n, _ in a.classes] == [n for n, _ in b.classes]
    np.testing.assert_allclose([p for _, p in a.classes], [p for _, p in b.classes], atol=1e-4)
    np.testing.assert_allclose(a.attention, b.attention, atol=1e-3)


def test_the_light_install_makes_class_vectors_from_example_images(make_image_folder, tmp_path):
    images = make_image_folder(["dunes", "orchard"], per_class=2, size=96)
    run = light("attributes", "from-images", "--images", str(images), "--out", str(tmp_path / "mine.yaml"))
    assert run.returncode == 0, run.stderr
    from rsdsva.class_files import load_classes

    mine = load_classes(tmp_path / "mine.yaml")
    assert list(mine.names) == ["dunes", "orchard"] and mine.matrix.max() > 0
    if HAS_TORCH:  # the same vectors from the torch engine
        run = full("attributes", "from-images", "--images", str(images), "--out", str(tmp_path / "t.yaml"),
                   "--engine", "torch")
        assert run.returncode == 0, run.stderr
        np.testing.assert_allclose(load_classes(tmp_path / "t.yaml").matrix, mine.matrix, atol=0.05)


@pytest.mark.slow
def test_the_light_install_maps_on_dask(make_geotiff, tmp_path):
    rng = np.random.default_rng(0)
    scene = make_geotiff(rng.integers(0, 255, (3, 256, 256)).astype("uint8"))
    run = light("map", str(scene), "--out", str(tmp_path / "d.gpkg"), "--workers", "1", "--context", "1",
                "--tile-size", "128")
    assert run.returncode == 0, run.stderr
    assert len(tiles(tmp_path / "d.gpkg")) == 4


@pytest.mark.parametrize("args, expected", [
    (["map", str(SCENE), "--out", "{tmp}/x.gpkg", "--engine", "torch"], ["--engine torch needs torch", "rsdsva[torch]"]),
    (["train", "--data", "{tmp}", "--attributes", "ucm", "--out", "{tmp}/w"], ["rsdsva train needs torch", "rsdsva[torch]"]),
    (["export", "rsdsva/resources/default_model.safetensors", "--onnx", "{tmp}/x.onnx"], ["needs torch", "rsdsva[torch]"]),
    (["map", str(SCENE), "--out", "{tmp}/x.gpkg", "--precision", "bf16"], ["--precision bf16 needs torch", "rsdsva[torch]"]),
])
def test_light_install_refuses_what_needs_torch_in_one_line(args, expected, tmp_path):
    one_line_error(light(*[a.format(tmp=tmp_path) for a in args]), *expected)
    assert not list(tmp_path.iterdir())


def test_onnx_engine_without_onnxruntime_is_one_line(tmp_path):
    run = light("map", str(SCENE), "--out", str(tmp_path / "x.gpkg"), "--engine", "onnx",
                block=(*TORCH_FAMILY, "onnxruntime"))
    one_line_error(run, "--engine onnx needs ONNX Runtime", "pip install onnxruntime")
    assert not list(tmp_path.iterdir())


def test_a_model_without_an_onnx_form_names_the_export(tmp_path):
    model = tmp_path / "mine.safetensors"
    model.write_bytes(ONNX_MODEL.with_suffix(".safetensors").read_bytes())
    run = light("map", str(SCENE), "--out", str(tmp_path / "x.gpkg"), "--model", str(model))
    one_line_error(run, "no ONNX form", f"rsdsva export {model}")
    run = light("map", str(SCENE), "--out", str(tmp_path / "x.gpkg"), "--model", str(model), "--engine", "onnx")
    one_line_error(run, "no ONNX form", f"rsdsva export {model} --onnx")
    assert not (tmp_path / "x.gpkg").exists()


def test_a_stale_onnx_form_is_not_used(tmp_path):
    """An ONNX file beside a model that was re-saved since it was exported is not that model's form."""
    from rsdsva.engines.forms import onnx_form

    model = tmp_path / "mine.safetensors"
    model.write_bytes(ONNX_MODEL.with_suffix(".safetensors").read_bytes())
    (tmp_path / "mine.onnx").write_bytes(ONNX_MODEL.read_bytes())
    assert onnx_form(model) == tmp_path / "mine.onnx"
    model.write_bytes(model.read_bytes() + b" ")  # any change of the file
    assert onnx_form(model) is None


def test_onnx_files_rsdsva_cannot_run_are_one_line(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 64, 64])
    y = helper.make_tensor_value_info("attributes", TensorProto.FLOAT, ["batch", 3, 64, 64])
    plain = helper.make_model(helper.make_graph([helper.make_node("Identity", ["images"], ["attributes"])], "g", [x], [y]))
    onnx.save(plain, tmp_path / "plain.onnx")
    one_line_error(light("info", str(tmp_path / "plain.onnx")), "an ONNX model without rsdsva metadata")
    one_line_error(light("map", str(SCENE), "--out", str(tmp_path / "x.gpkg"), "--model", str(tmp_path / "plain.onnx")),
                   "without rsdsva metadata")
    meta = {p.key: p.value for p in onnx.load(ONNX_MODEL, load_external_data=False).metadata_props}
    for key, value in meta.items():
        plain.metadata_props.add(key=key, value=value)
    onnx.save(plain, tmp_path / "wrong.onnx")  # rsdsva's metadata on a graph of another shape
    one_line_error(light("map", str(SCENE), "--out", str(tmp_path / "x.gpkg"), "--model", str(tmp_path / "wrong.onnx")),
                   "the ONNX graph does not fit its rsdsva metadata", "export the model again")
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a protobuf at all")
    one_line_error(light("info", str(tmp_path / "junk.onnx")), "not an ONNX model")
    assert not (tmp_path / "x.gpkg").exists()


@needs_torch
def test_export_round_trip_with_a_free_batch_size(tiny_checkpoint, tmp_path):
    """A tiny model exported: the same outputs as torch for any batch size, and the same labels."""
    import torch

    from rsdsva.engines import open_engine
    from rsdsva.engines.export import export_onnx

    out = export_onnx(tiny_checkpoint, tmp_path / "tiny.onnx")
    onnx_engine, info = open_engine(out, "onnx")
    torch_engine, _ = open_engine(tiny_checkpoint, "torch")
    layers = torch_engine.example_layers
    assert onnx_engine.example_layers == layers and onnx_engine.feature_space == torch_engine.feature_space
    for n in (1, 5):
        images = torch.rand(n, 3, 40, 40, generator=torch.Generator().manual_seed(n)).numpy()
        a, b = onnx_engine.run(images, layers), torch_engine.run(images, layers)
        for x, y in zip([a.attributes, a.vam_attributes, a.attention, *a.tapped],
                        [b.attributes, b.vam_attributes, b.attention, *b.tapped]):
            assert x.shape[0] == n
            np.testing.assert_allclose(x, y, atol=1e-4)
    with pytest.raises(Exception, match="exists"):
        export_onnx(tiny_checkpoint, out)


@needs_torch
def test_export_folds_same_padding_into_the_convolutions(small_classes, tmp_path):
    """TensorFlow's "same" padding (the default model's) is exported as the convolutions' own pads:
    no Pad, nor the shape arithmetic that fed it, and the same outputs as torch at any batch size."""
    import onnx
    import torch

    from rsdsva.engines import open_engine
    from rsdsva.engines.export import export_onnx
    from rsdsva.models import create_model, save_checkpoint
    from rsdsva.models.onnx_meta import export_record

    torch.manual_seed(0)
    model, info = create_model(small_classes.subset(["forest", "city", "beach"]), backbone="tiny-cnn")
    path = save_checkpoint(model.eval(), info, tmp_path / "cnn.safetensors")
    out = export_onnx(path, tmp_path / "cnn.onnx")
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert "Pad" not in ops and "Ceil" not in ops  # Ceil: the arithmetic of "same" padding's amounts
    assert export_record(out)["static_pads"] == 2  # the stem and the second stage's stride-2 convolution
    onnx_engine, _ = open_engine(out, "onnx")
    torch_engine, _ = open_engine(path, "torch")
    for n in (1, 3):
        images = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(n)).numpy()
        np.testing.assert_allclose(onnx_engine.run(images).attention, torch_engine.run(images).attention, atol=1e-5)
