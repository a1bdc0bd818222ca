"""Engines are registry entries that say what they can do (#40): choosing, opening and refusing
follow from an entry, so another engine is its module and one entry."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from rsdsva.engines import choose_engine, input_size_for, open_engine, registry
from rsdsva.engines.base import Engine, Forward
from rsdsva.engines.registry import Capabilities, EngineEntry
from rsdsva.errors import ConfigError, EngineError
from rsdsva.models.model_file import default_model_path, read_model_info


class _Constant(Engine):
    """An engine that answers every image alike: the registry is all it needs."""

    name = "constant"
    feature_space = "constant"
    example_layers = ()

    def __init__(self, info) -> None:
        self.info = info

    def run(self, images, tap=()) -> Forward:
        n, a = len(images), self.info.classes.num_attributes
        return Forward(np.ones((n, a), np.float32), None, (), np.ones((n, a), np.float32))


@pytest.fixture()
def constant_engine(monkeypatch):
    module = types.ModuleType("constant_engine")
    module.opened = lambda path, device, precision, threads: (_Constant(read_model_info(path)),
                                                              read_model_info(path))
    monkeypatch.setitem(sys.modules, "constant_engine", module)
    entry = EngineEntry("constant", Capabilities(devices=("cpu",), precisions=(None, "int4"), resizes_in_readers=True),
                        "numpy", "numpy", "pip install numpy", lambda model, precision: model,
                        lambda model, precision: f"{model}: none", "constant_engine")
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, entry))
    return entry


def test_an_engine_is_its_module_and_one_registry_entry(constant_engine):
    model = default_model_path()
    assert choose_engine("constant", model) == ("constant", model)
    assert choose_engine("auto", model, precision="int4") == ("constant", model)  # the one engine that runs it
    engine, info = open_engine(model, "constant")
    assert isinstance(engine, _Constant) and input_size_for("constant", info) == info.preprocessing.image_size
    with pytest.raises(ConfigError, match="`precision` int4 runs on numpy, not the onnx engine"):
        choose_engine("onnx", model, precision="int4")
    assert choose_engine("auto", model)[0] == "onnx"  # earlier entries keep their turn


def test_the_refusals_come_from_the_entries():
    model = default_model_path()
    with pytest.raises(ConfigError, match="`engine` 'tpu' is not one of auto, onnx, torch"):
        choose_engine("tpu", model)
    with pytest.raises(ConfigError, match="`device` cuda: the onnx engine runs on cpu; use `engine` torch"):
        choose_engine("onnx", model, device="cuda")
    with pytest.raises(ConfigError, match="`device` cuda with `precision` int8: no engine runs both"):
        choose_engine("auto", model, device="cuda", precision="int8")
    assert registry.ENGINES == ("auto", "onnx", "torch") and registry.PRECISIONS == (None, "int8", "bf16", "fp16")


def test_auto_lists_each_engines_reason_when_none_can_run(monkeypatch, tmp_path):
    model = tmp_path / "mine.safetensors"
    model.write_bytes(default_model_path().read_bytes())  # no ONNX form beside it
    torch_entry = registry.entry("torch")
    monkeypatch.setattr(registry, "REGISTRY", (registry.entry("onnx"),
                                               EngineEntry(**{**torch_entry.__dict__, "needs": "no_such_package"})))
    with pytest.raises(EngineError) as err:
        choose_engine("auto", model)
    line = str(err.value)
    assert "\n" not in line and "no engine can run it here" in line
    assert "onnx: no ONNX form of this model" in line and f"rsdsva export {model} --onnx" in line
    assert "torch: torch is not installed" in line


def test_resize_is_torchs_bilinear_resize():
    """The readers' numpy resize (in bands of outputs) gives what the model was trained on: torch's
    bilinear interpolate, antialiased when shrinking, for whole and fractional factors, both ways."""
    import torch
    import torch.nn.functional as F

    from rsdsva.engines.base import resize

    rng = np.random.default_rng(0)
    for (h, w), (oh, ow), antialias in [((512, 512), (128, 128), True), ((768, 768), (128, 128), True),
                                        ((300, 200), (128, 96), True), ((32, 48), (128, 128), False),
                                        ((130, 130), (128, 128), True), ((40, 40), (128, 128), True)]:
        x = rng.random((2, 3, h, w), dtype=np.float32)
        want = F.interpolate(torch.from_numpy(x), size=(oh, ow), mode="bilinear", align_corners=False,
                             antialias=antialias).numpy()
        got = resize(x, oh, ow, antialias=antialias)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-5)  # a wrong filter is off by 1e-2


def test_windows_resized_from_the_strip_are_the_windows_as_read_resized(make_geotiff):
    """The reader's model input (each window resized straight from its strip, then scaled to [0, 1])
    is the windows as read, resized as the classifier would: edge windows moved inside included."""
    import rasterio

    from rsdsva.engines.base import resize
    from rsdsva.mapping.grid import iter_windows
    from rsdsva.mapping.raster import make_spec
    from rsdsva.mapping.source import tile_reader

    scene = make_geotiff(shape=(160, 224))
    with rasterio.open(scene) as src:
        spec = make_spec(src)
    tiles = list(iter_windows(224, 160, 32, 32))
    as_read = tile_reader(spec, 32, [16, 32])(tiles)
    resized = tile_reader(spec, 32, [16, 32], input_size=24)(tiles)
    for m in (16, 32):
        assert resized.views[m].dtype == np.float32 and resized.views[m].shape == (len(tiles), 3, 24, 24)
        np.testing.assert_allclose(resized.views[m], resize(as_read.views[m] / np.float32(255), 24, 24, antialias=True),
                                   atol=1e-6)
    np.testing.assert_array_equal(resized.valid, as_read.valid)
