"""A tile's confidence: curves from score to confidence, fitted on validation images, by class route."""

import json

import geopandas as gpd
import numpy as np
import pytest

from rsdsva.confidence import confidences, fit_curve, on_curve


def test_a_fitted_curve_recovers_the_curve_that_made_the_labels():
    rng = np.random.default_rng(0)
    scores = rng.beta(2, 2, size=20000)
    truth = on_curve(scores, (2.0, 1.0))
    right = rng.random(scores.size) < truth
    slope, intercept = fit_curve(scores, right)
    assert slope == pytest.approx(2.0, abs=0.1) and intercept == pytest.approx(1.0, abs=0.1)
    assert np.all(np.diff(on_curve(np.sort(scores), (slope, intercept))) >= 0)  # a higher score, never less sure
    assert np.isfinite(fit_curve([0.9, 0.8, 0.7], [True, True, True])).all()  # all right: still finite
    with pytest.raises(ValueError, match="at least one"):
        fit_curve([], [])


def test_each_route_takes_its_curve_and_example_classes_keep_their_score():
    scores = np.array([0.3, 0.3, 0.3, 0.3, 0.3])
    routes = ["seen", "held-out", "attributes", "examples", "seen+examples"]
    curves = {"seen": (2.0, 2.0), "zero-shot": (1.0, -1.0)}
    got = confidences(scores, routes, curves)
    assert got[0] == pytest.approx(on_curve(0.3, (2.0, 2.0)))
    assert got[1] == got[2] == pytest.approx(on_curve(0.3, (1.0, -1.0)))
    assert got[3] == got[4] == 0.3
    np.testing.assert_array_equal(confidences(scores, routes, {}), scores)  # a model without curves: its scores
    assert confidences(scores, routes, {"seen": (2.0, 2.0)})[1] == 0.3  # a route without its curve keeps the score


def test_the_map_writes_the_confidence_on_the_models_curves(make_geotiff, tiny_model, tmp_path):
    from rsdsva.mapping import MapSettings, map_scene
    from rsdsva.models import load_checkpoint, save_checkpoint

    model, info = tiny_model
    path = save_checkpoint(model, info.replace(confidence_curves={"seen": (3.0, 1.5)}), tmp_path / "c.safetensors")
    assert load_checkpoint(path)[1].confidence_curves == {"seen": (3.0, 1.5)}
    out = map_scene(make_geotiff(shape=(64, 64)), tmp_path / "m.gpkg",
                    MapSettings(model=str(path), tile_size=32, max_nodata=1.0)).out
    tiles = gpd.read_file(out, layer="tiles")
    assert list(tiles.columns[:7]) == ["row", "col", "label", "class_id", "score", "confidence", "is_unseen"]
    np.testing.assert_allclose(tiles.confidence, on_curve(tiles.score, (3.0, 1.5)), atol=1e-4)
    run = dict(zip(*gpd.read_file(out, layer="run")[["key", "value"]].values.T))
    assert json.loads(run["confidence_curves"]) == {"seen": [3.0, 1.5]}


def test_curves_are_fitted_on_validation_images_as_the_map_ranks_them(tiny_model, make_image_folder):
    from rsdsva.data.images import scan_image_folder
    from rsdsva.data.splits import ZeroShotSplit
    from rsdsva.training.confidence_fit import fit_confidence_curves

    model, info = tiny_model
    samples = scan_image_folder(make_image_folder(["forest", "city", "beach"], per_class=6))
    split = ZeroShotSplit(seen=["forest", "city", "beach"], unseen=[], train=samples[:3], val_seen=samples)
    curves = fit_confidence_curves(model.eval(), info, split, batch_size=8, min_images=5)
    assert set(curves) == {"seen"} and np.isfinite(curves["seen"]).all()  # no held-out classes: no zero-shot curve
    assert fit_confidence_curves(model.eval(), info, split, batch_size=8) == {}  # 18 images: too few for a curve
