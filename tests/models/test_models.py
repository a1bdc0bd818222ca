import pytest
import torch

from rsdsva.classes import normalized_vectors
from rsdsva.errors import BackboneError, WeightsError
from rsdsva.models import (
    BackboneConfig,
    build_backbone,
    class_matrix_tensor,
    create_model,
    load_backbone_weights,
)
from rsdsva.models.backbones import build_tiny_clip
from rsdsva.training import LossWeights, dsva_loss
from rsdsva.training.losses import attention_concentration


@pytest.mark.parametrize("name, prefix", [("tiny-vit", 1), ("tiny-clip", 1)])
def test_backbone_tokens_and_grid(name, prefix):
    net = build_backbone(name)
    tokens = net(torch.rand(2, 3, 32, 32))
    assert net.grid == (4, 4)
    assert tokens.shape == (2, prefix + 16, net.width)


def test_cnn_feature_map_cells_are_the_tokens():
    net = build_backbone("tiny-cnn").eval()
    x = torch.rand(2, 3, 32, 32)
    tokens = net(x)
    assert (net.num_prefix_tokens, net.grid) == (0, (8, 8))
    assert tokens.shape == (2, 64, net.width)
    fmap = net.model.forward_features(x)  # (B, C, 8, 8): token r * 8 + c is cell (r, c)
    torch.testing.assert_close(tokens[:, 8 * 3 + 5], fmap[:, :, 3, 5])


def test_cnn_dsva_attention_maps_and_checkpoint_round_trip(small_classes, tmp_path):
    from rsdsva.models import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model, info = create_model(small_classes.subset(["forest", "city", "beach"]), backbone="tiny-cnn")
    x = torch.rand(2, 3, 32, 32)
    out = model.eval()(x, class_matrix_tensor(small_classes))
    assert out.attention.shape == (2, small_classes.num_attributes, 8, 8)
    torch.testing.assert_close(out.prototype_attributes, out.attention.flatten(2).amax(-1))
    save_checkpoint(model, info, tmp_path / "cnn.safetensors")
    loaded, loaded_info = load_checkpoint(tmp_path / "cnn.safetensors")
    assert loaded_info.backbone.name == "tiny-cnn" and loaded_info.preprocessing.mean == (0.5, 0.5, 0.5)
    again = loaded.eval()(x, class_matrix_tensor(small_classes))
    torch.testing.assert_close(again.logits, out.logits, rtol=0, atol=0)


def test_real_architectures_build_offline():
    clip = build_backbone("ViT-B-32")
    assert (clip.width, clip.grid, clip.image_size) == (768, (7, 7), 224)
    vit = build_backbone(BackboneConfig("vit_tiny_patch16_224", image_size=112))
    assert vit.grid == (7, 7) and vit(torch.rand(1, 3, 112, 112)).shape == (1, 50, 192)
    lite = build_backbone(BackboneConfig("tf_efficientnet_lite0", image_size=128))
    assert (lite.width, lite.grid, lite.num_prefix_tokens, lite.mean) == (1280, (4, 4), 0, (0.5, 0.5, 0.5))
    assert lite(torch.rand(1, 3, 128, 128)).shape == (1, 16, 1280)
    resnet = build_backbone(BackboneConfig("resnet18", image_size=100))
    assert (resnet.width, resnet.grid) == (512, (4, 4))


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(BackboneError, match="unknown backbone 'vit_nonsense'"):
        build_backbone("vit_nonsense")


def test_open_clip_state_dict_reproduces_the_vision_tower(tmp_path):
    torch.manual_seed(1)
    clip = build_tiny_clip().eval()
    path = tmp_path / "clip.pt"
    torch.save(clip.state_dict(), path)  # a full CLIP state dict, as OpenAI/RemoteCLIP files are
    net = load_backbone_weights(build_backbone("tiny-clip"), path).eval()
    x = torch.rand(2, 3, 32, 32)
    clip.visual.output_tokens = True
    with torch.no_grad():
        pooled, patch_tokens = clip.visual(x)
        ours = net(x)
    torch.testing.assert_close(ours[:, 1:], patch_tokens, rtol=0, atol=0)
    torch.testing.assert_close(ours[:, 0] @ clip.visual.proj, pooled, rtol=0, atol=0)


def test_timm_checkpoint_loads_and_ignores_the_head(tmp_path):
    import timm

    src = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=64)
    torch.save({"state_dict": src.state_dict()}, tmp_path / "timm.pth")
    net = load_backbone_weights(build_backbone(BackboneConfig("vit_tiny_patch16_224", image_size=64)), tmp_path / "timm.pth")
    torch.testing.assert_close(net.model.pos_embed, src.pos_embed)


def test_mismatched_weights_list_the_keys(tmp_path):
    state = build_backbone("tiny-vit").model.state_dict()
    state.pop("cls_token")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(WeightsError, match=r"missing keys \[cls_token\].*unexpected keys \[extra.weight\]"):
        load_backbone_weights(build_backbone("tiny-vit"), tmp_path / "w.pt")


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"model": build_backbone("tiny-vit")}, tmp_path / "module.pt")  # a whole nn.Module
    with pytest.raises(WeightsError, match="cannot read as a plain state dict"):
        load_backbone_weights(build_backbone("tiny-vit"), tmp_path / "module.pt")


def test_dsva_output_shapes(tiny_model, small_classes):
    model, info = tiny_model
    out = model(torch.rand(5, 3, 32, 32), class_matrix_tensor(small_classes))
    assert out.attributes.shape == (5, 6) and out.logits.shape == (5, 4)
    assert out.attention.shape == (5, 6, 4, 4)
    # prototype score = max of its attention map
    torch.testing.assert_close(out.prototype_attributes, out.attention.flatten(2).amax(-1))
    assert out.vam_logits.shape == (5, 4)


def test_vam_only_baseline(small_classes):
    model, _ = create_model(small_classes, backbone="tiny-vit", prototypes=False, score_head="vam")
    out = model(torch.rand(2, 3, 32, 32), class_matrix_tensor(small_classes))
    assert out.attention is None and out.prototype_logits is None and out.logits.shape == (2, 4)


@pytest.mark.parametrize("weights", [LossWeights(), LossWeights.official()])
def test_losses_fall_on_a_toy_batch(tiny_model, small_classes, weights):
    model, info = tiny_model
    model.train()
    seen = info.classes
    torch.manual_seed(0)
    x = torch.rand(12, 3, 32, 32)
    y = torch.arange(12) % 3
    targets = torch.from_numpy(normalized_vectors(seen))[y]
    cm = class_matrix_tensor(seen)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, parts = dsva_loss(model(x, cm), y, targets, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert set(parts) == {"xe", "attri", "layer_xe", "layer_attri", "cpt"}
    assert losses[-1] < 0.7 * losses[0]


def test_attention_concentration_prefers_a_peaked_map():
    peaked = torch.full((1, 1, 5, 5), -10.0)
    peaked[0, 0, 2, 2] = 10.0
    spread = torch.zeros(1, 1, 5, 5)
    spread[0, 0, 2, 2] = 0.1
    assert attention_concentration(peaked) < 0.01 * attention_concentration(spread)
    assert 0 <= attention_concentration(spread) <= 1


def test_a_backbone_family_is_one_registry_entry(monkeypatch):
    """A family is data: a test of the name and a builder; build_backbone asks each in turn."""
    import pytest

    from rsdsva.errors import BackboneError
    from rsdsva.models import backbones

    asked = []

    def build(config, init):
        asked.append(config.name)
        return backbones.build_backbone("tiny-cnn")

    monkeypatch.setitem(backbones.FAMILIES, "mine", (lambda name: name == "my-net", build))
    assert backbones.build_backbone("my-net").family == "timm" and asked == ["my-net"]
    with pytest.raises(BackboneError, match="unknown backbone 'no-such-net'"):
        backbones.build_backbone("no-such-net")
