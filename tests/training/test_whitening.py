"""The whitening of the features classes from example areas compare."""

import numpy as np
import torch

from rsdsva.data.images import scan_image_folder
from rsdsva.data.splits import ZeroShotSplit
from rsdsva.examples.recipe import EXAMPLE_SCALES, ORIENTATIONS, example_recipe
from rsdsva.models import load_checkpoint, save_checkpoint
from rsdsva.models.backbones import example_layers
from rsdsva.models.dsva import feature_space_id
from rsdsva.training.example_fit import fit_example_features
from rsdsva.training.whitening import within_class_whitening


def within_class_covariance(x, y):
    centred = x - np.stack([x[y == c].mean(0) for c in y])
    return centred.T @ centred / len(x)


def test_whitening_gives_unit_within_class_covariance():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 50)
    mixing = rng.normal(size=(6, 6))
    x = rng.normal(size=(4, 6))[y] * 5 + rng.normal(size=(200, 6)) @ mixing
    mean, matrix = within_class_whitening(x, y, shrink=0.0)
    np.testing.assert_allclose(within_class_covariance((x - mean) @ matrix, y), np.eye(6), atol=1e-8)
    np.testing.assert_allclose(((x - mean) @ matrix).mean(0), 0, atol=1e-8)
    # shrunk: a direction of within-class variance v comes out as v / (0.5 v + 0.5 mean), below 2,
    # and the smallest directions are not blown up to 1
    _, shrunk = within_class_whitening(x, y, shrink=0.5)
    values = np.linalg.eigvalsh(within_class_covariance(x @ shrunk, y))
    assert values.max() < 2 and values.min() < 0.5
    x[:, 2] = 3.0  # a constant feature stays finite
    assert np.isfinite(within_class_whitening(x, y)[1]).all()


def test_whitened_taps_are_saved_and_name_a_new_feature_space(tiny_model, tmp_path):
    model, info = tiny_model
    layers = example_layers(model.backbone)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        raw = model(images, None, tap=layers).tapped
    plain_space = feature_space_id(model)
    gen = torch.Generator().manual_seed(2)
    fitted = {layer: (torch.randn(t.shape[1], generator=gen), torch.randn(t.shape[1], t.shape[1], generator=gen))
              for layer, t in zip(layers, raw)}
    model.set_whitening(fitted)
    info = info.replace(dsva=model.config)
    assert info.dsva.whitened == tuple((layer, t.shape[1]) for layer, t in zip(layers, raw))
    with torch.inference_mode():
        white = model(images, None, tap=layers).tapped
    for layer, r, w in zip(layers, raw, white):
        mean, matrix = fitted[layer]
        torch.testing.assert_close(w, (r - mean) @ matrix, rtol=1e-4, atol=1e-4)
    assert feature_space_id(model) != plain_space  # classes made before the whitening do not fit it
    assert not any(p.requires_grad for p in model.whitening.parameters())  # not trained with the network

    loaded, info2 = load_checkpoint(save_checkpoint(model, info, tmp_path / "w.safetensors"))
    assert info2.dsva.whitened == info.dsva.whitened and feature_space_id(loaded) == feature_space_id(model)
    with torch.inference_mode():
        for a, b in zip(loaded(images, None, tap=layers).tapped, white):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    model.set_whitening({})
    assert feature_space_id(model) == plain_space and model.config.whitened == ()


def test_fit_example_features_whitens_then_calibrates(tiny_model, make_image_folder):
    model, info = tiny_model
    folder = make_image_folder(["forest", "city", "beach"], per_class=6)
    samples = scan_image_folder(folder)
    split = ZeroShotSplit(seen=["forest", "city", "beach"], unseen=[],
                          train=[s for i, s in enumerate(samples) if i % 6 < 4],
                          val_seen=[s for i, s in enumerate(samples) if i % 6 >= 4])
    fitted = fit_example_features(model, info, split, batch_size=8)
    layers = example_layers(model.backbone)
    assert [layer for layer, _ in fitted.dsva.whitened] == list(layers)
    assert set(fitted.example_calibrations) == {example_recipe(layers, s, n) for s in (EXAMPLE_SCALES, (1.0,))
                                                for n in ORIENTATIONS}
    assert all(np.isfinite(v).all() for v in fitted.example_calibrations.values())
    first = [p.clone() for p in model.whitening.parameters()]
    again = fit_example_features(model, fitted, split, batch_size=8)  # a refit replaces the whitening, not stacks
    assert again.dsva.whitened == fitted.dsva.whitened
    for a, b in zip(first, model.whitening.parameters()):
        torch.testing.assert_close(a, b)
    model.set_whitening({})
    kept = fit_example_features(model, info, split, batch_size=8, whiten=False)  # calibrations only
    assert kept.dsva.whitened == () and len(model.whitening) == 0
    assert set(kept.example_calibrations) == set(fitted.example_calibrations)


def test_shrinkage_keeps_few_images_finite():
    """Fewer images than features (a tiny training set): the shrunk covariance is still invertible."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 40)), np.array([0, 0, 1, 1, 2])
    mean, matrix = within_class_whitening(x, y)
    assert np.isfinite(matrix).all() and np.isfinite((x - mean) @ matrix).all()
