"""Weights by name (hf:, openclip:, timm:), offline, against a cache laid out as huggingface_hub lays it out."""

from __future__ import annotations

import shutil

import pytest
import torch
from click.testing import CliRunner

from rsdsva.attributes.clip import TINY_CLIP, load_clip
from rsdsva.class_files import load_classes
from rsdsva.classes import ClassSpace
from rsdsva.cli.main import cli
from rsdsva.errors import MissingFileError, WeightsError
from rsdsva.models.hub import resolve

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """An offline Hugging Face cache; ``put(repo, filename, source)`` places a file as the hub would."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def put(repo: str, filename: str, source) -> None:
        folder = cache / f"models--{repo.replace('/', '--')}"
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / "main").write_text(REVISION)
        target = folder / "snapshots" / REVISION / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)

    put.cache = cache
    return put


@pytest.fixture()
def tiny_clip_file(tiny_clip_weights):
    return tiny_clip_weights


def test_hf_weights_load_through_the_hub_cache_as_a_local_file_does(hub, tiny_clip_file, tmp_path):
    hub("someone/tiny-remoteclip", "tiny-clip.bin", tiny_clip_file)
    spec = "hf:someone/tiny-remoteclip/tiny-clip.bin"
    assert resolve(spec).read_bytes() == tiny_clip_file.read_bytes()
    by_name, by_file = load_clip(TINY_CLIP, spec, device="cpu"), load_clip(TINY_CLIP, tiny_clip_file, device="cpu")
    for a, b in zip(by_name.model.state_dict().values(), by_file.model.state_dict().values()):
        assert torch.equal(a, b)
    out = tmp_path / "marsh.yaml"
    result = CliRunner().invoke(cli, ["attributes", "clip", "--clip-model", TINY_CLIP, "--weights", spec,
                                      "--text", "marsh: a wetland with reeds", "--vocabulary", "ucm", "--out", str(out),
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert load_classes(out).names == ("marsh",)


def test_timm_and_open_clip_names_resolve_to_their_hub_files(hub, tmp_path):
    import timm
    from safetensors.torch import save_file

    from rsdsva.models import create_model

    torch.manual_seed(0)
    net = timm.create_model("resnet18", num_classes=1000)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / "model.safetensors")
    hub("timm/resnet18.a1_in1k", "model.safetensors", tmp_path / "model.safetensors")
    classes = ClassSpace(names=["a", "b"], attributes=["x", "y"], matrix=[[100, 0], [0, 100]], seen=[True, True])
    model, _ = create_model(classes, backbone="resnet18", weights="timm:resnet18.a1_in1k")
    assert torch.equal(model.backbone.model.conv1.weight, net.conv1.weight)
    # open_clip's own name for OpenAI's ViT-B/32 lives in a hub repository: the resolver asks for the same file
    (tmp_path / "open_clip_model.safetensors").write_bytes(b"placeholder")
    hub("timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors", tmp_path / "open_clip_model.safetensors")
    assert resolve("openclip:ViT-B-32/openai").name == "open_clip_model.safetensors"


def test_missing_wrong_and_corrupt_hub_weights_are_one_clear_line(hub, tiny_clip_file, tmp_path):
    with pytest.raises(MissingFileError, match=r"hf:nobody/nothing/x.bin is not in the Hugging Face cache .*hub "
                                               r"and downloads are off \(HF_HUB_OFFLINE=1\).*huggingface-cli download"):
        resolve("hf:nobody/nothing/x.bin")
    hub("someone/tiny-remoteclip", "tiny-clip.bin", tiny_clip_file)
    with pytest.raises(MissingFileError, match="hf:someone/tiny-remoteclip/other.bin is not in the Hugging Face cache"):
        resolve("hf:someone/tiny-remoteclip/other.bin")
    with pytest.raises(WeightsError, match="write hub weights as hf:ORG/REPO/FILE"):
        resolve("hf:someone/tiny-remoteclip")
    with pytest.raises(WeightsError, match="open_clip has no pretrained tag 'nope' for 'ViT-B-32'; its tags are"):
        resolve("openclip:ViT-B-32/nope")
    with pytest.raises(WeightsError, match="timm has no hub weights named 'resnet18.nope'"):
        resolve("timm:resnet18.nope")
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 64)
    hub("someone/broken", "weights.safetensors", tmp_path / "broken.safetensors")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_clip(TINY_CLIP, "hf:someone/broken/weights.safetensors", device="cpu")
    result = CliRunner().invoke(cli, ["attributes", "clip", "--clip-model", TINY_CLIP, "--weights",
                                      "hf:nobody/nothing/x.bin", "--text", "marsh", "--vocabulary", "ucm",
                                      "--out", str(tmp_path / "m.yaml")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
