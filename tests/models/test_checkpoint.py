import pickle

import pytest
import torch
from click.testing import CliRunner

from rsdsva.cli import cli
from rsdsva.errors import CheckpointError, MissingFileError
from rsdsva.models import class_matrix_tensor, load_checkpoint, read_model_info, save_checkpoint


@pytest.fixture()
def saved(tiny_model, tmp_path):
    model, info = tiny_model
    info = info.replace(calibration=0.4, provenance={"data": "toy", "seed": 0})
    path = save_checkpoint(model, info, tmp_path / "m.safetensors")
    return model, info, path


def test_save_load_gives_identical_outputs(saved, small_classes):
    model, info, path = saved
    loaded, info2 = load_checkpoint(path)
    x = torch.rand(3, 3, 32, 32)
    cm = class_matrix_tensor(small_classes)
    a, b = model(x, cm), loaded(x, cm)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)
    torch.testing.assert_close(a.attention, b.attention, rtol=0, atol=0)
    assert info2.classes == info.classes and info2.calibration == 0.4
    assert info2.preprocessing == info.preprocessing and info2.tile_m == 9.6
    assert info2.provenance == {"data": "toy", "seed": 0}
    assert not list(path.parent.glob(".*part*")), "temporary file left behind"


def test_timm_vit_loads_without_its_random_init(small_classes, tmp_path):
    """Loading skips timm's weight init (every weight comes from the file): outputs stay exact."""
    from rsdsva.models import BackboneConfig, create_model

    torch.manual_seed(0)
    model, info = create_model(small_classes, backbone=BackboneConfig("vit_tiny_patch16_224", image_size=32))
    path = save_checkpoint(model.eval(), info, tmp_path / "vit.safetensors")
    loaded, _ = load_checkpoint(path)
    x, cm = torch.rand(2, 3, 32, 32), class_matrix_tensor(small_classes)
    torch.testing.assert_close(model(x, cm).logits, loaded(x, cm).logits, rtol=0, atol=0)
    assert loaded.backbone.model.weight_init_mode == "reset"  # what timm records for weight_init="skip"


def test_fp16_checkpoint_is_smaller_and_close(saved, tmp_path, small_classes):
    model, info, path = saved
    half = save_checkpoint(model, info, tmp_path / "h.safetensors", dtype=torch.float16)
    assert half.stat().st_size < path.stat().st_size
    loaded, _ = load_checkpoint(half)
    x = torch.rand(2, 3, 32, 32)
    cm = class_matrix_tensor(small_classes)
    torch.testing.assert_close(loaded(x, cm).logits, model(x, cm).logits, rtol=0.05, atol=0.05)


def test_truncated_file_is_refused(saved, tmp_path):
    _, _, path = saved
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(cut)


def test_pickle_file_is_refused_without_unpickling(tmp_path):
    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(CheckpointError, match="never loads"):
        load_checkpoint(evil)
    torch.save({"w": torch.zeros(2)}, tmp_path / "zip.pt")
    with pytest.raises(CheckpointError, match="never loads"):
        read_model_info(tmp_path / "zip.pt")


def test_missing_and_plain_safetensors(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(MissingFileError, match="model file not found"):
        load_checkpoint(tmp_path / "none.safetensors")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="without rsdsva metadata"):
        load_checkpoint(tmp_path / "plain.safetensors")


def test_cli_info(saved):
    _, _, path = saved
    result = CliRunner().invoke(cli, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "tiny-vit (32 px input)" in result.output
    assert "seen classes  3: forest, city, beach" in result.output
    assert "calibration   0.4" in result.output


def test_cli_error_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["info", str(tmp_path / "nope.safetensors")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "model file not found" in result.output


def test_map_calibration_round_trips_and_is_what_predictions_use(saved, tmp_path, make_geotiff):
    import geopandas as gpd

    from rsdsva.mapping import MapSettings, map_scene

    model, info = load_checkpoint(saved[2])
    assert info.map_calibration is None and info.prediction_calibration() == 0.4  # older files: H's lambda
    save_checkpoint(model, info.replace(map_calibration=0.1), tmp_path / "m2.safetensors")
    _, again = load_checkpoint(tmp_path / "m2.safetensors")
    assert (again.calibration, again.map_calibration, again.prediction_calibration()) == (0.4, 0.1, 0.1)
    map_scene(make_geotiff(shape=(32, 32)), tmp_path / "o.gpkg", MapSettings(model=str(tmp_path / "m2.safetensors"), tile_size=32))
    run = gpd.read_file(tmp_path / "o.gpkg", layer="run").set_index("key")["value"]
    assert run["calibration"] == "0.1"
