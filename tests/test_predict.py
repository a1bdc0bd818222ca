import numpy as np
import pytest
import torch

from rsdsva.classes import ClassSpace
from rsdsva.errors import ClassSpaceError
from rsdsva.predict import Classifier, classify


def test_modes_pick_their_classes(tiny_model, small_classes):
    model, info = tiny_model
    unseen = small_classes.subset(["harbor"])
    x = torch.rand(4, 3, 48, 48)  # any size: resized to the model's input
    gzsl = classify(model, info, x, unseen=unseen, mode="gzsl", top_k=2)
    assert gzsl.classes.names == ("forest", "city", "beach", "harbor")
    assert gzsl.probabilities.shape == (4, 4) and gzsl.top_k.shape == (4, 2)
    np.testing.assert_allclose(gzsl.probabilities.sum(1), 1, rtol=1e-5)
    assert gzsl.attributes.shape == (4, 6)
    zsl = classify(model, info, x, unseen=unseen, mode="zsl")
    assert zsl.labels == ["harbor"] * 4
    seen = classify(model, info, x, unseen=unseen, mode="seen")
    assert set(seen.labels) <= {"forest", "city", "beach"}
    with pytest.raises(ClassSpaceError, match="needs unseen classes"):
        classify(model, info, x, mode="zsl")


def test_calibrated_stacking_moves_predictions_to_unseen(tiny_model, small_classes):
    model, info = tiny_model
    torch.manual_seed(3)
    x = torch.rand(64, 3, 32, 32)
    fractions = []
    for lam in [-100.0, 0.0, 0.5, 100.0]:
        pred = classify(model, info, x, unseen=small_classes.subset(["harbor"]), calibration=lam)
        fractions.append(np.mean([label == "harbor" for label in pred.labels]))
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0


def test_vocabulary_mismatch_is_refused(tiny_model):
    model, info = tiny_model
    other = ClassSpace(names=["x"], attributes=["a", "b"], matrix=[[1, 0]], seen=[False])
    with pytest.raises(ClassSpaceError, match="vocabulary differs"):
        Classifier(model, info, other)


def test_orientations_are_the_squares_eight_symmetries_in_numpy_and_torch():
    from rsdsva.examples.recipe import oriented

    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    views = [oriented(x, v) for v in range(8)]
    assert np.array_equal(views[0], x) and np.array_equal(views[1], x[..., ::-1])
    assert np.array_equal(views[2], np.rot90(x, 1, axes=(2, 3)))
    assert len({v.tobytes() for v in views}) == 8  # all different
    assert all(v.flags.c_contiguous for v in views)
    for v in range(8):
        assert np.array_equal(oriented(torch.from_numpy(x), v).numpy(), views[v])


def test_orientations_average_the_turned_images_probabilities(tiny_model, small_classes):
    from rsdsva.engines.base import softmax
    from rsdsva.examples.recipe import oriented
    from rsdsva.errors import ConfigError

    model, info = tiny_model
    classes = small_classes.subset(["forest", "city", "beach"])
    torch.manual_seed(5)
    x = torch.rand(6, 3, 32, 32)
    plain = Classifier(model, info, classes, mode="seen")
    mirrored = Classifier(model, info, classes, mode="seen", orientations=2)
    expected = np.mean([softmax(plain.forward(oriented(x, v)).logits) for v in (0, 1)], axis=0)
    np.testing.assert_allclose(softmax(mirrored.forward(x).logits), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mirrored.forward(x).logits, mirrored.forward(oriented(x, 1)).logits, rtol=1e-4, atol=1e-5)
    all8 = Classifier(model, info, classes, mode="seen", orientations=8)
    turned = [all8.forward(oriented(x, v)).logits for v in (0, 2, 5)]  # the same eight images, in another order
    for t in turned[1:]:
        np.testing.assert_allclose(t, turned[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(plain.forward(x).logits, turned[0])
    with pytest.raises(ConfigError, match="`orientations` 3 is not one of 1, 2, 8"):
        Classifier(model, info, classes, orientations=3)


def test_example_features_in_every_orientation_do_not_depend_on_the_heading(tiny_model, small_classes):
    from rsdsva.examples.recipe import oriented
    from rsdsva.errors import ConfigError
    from rsdsva.examples.recipe import example_recipe, parse_recipe

    model, info = tiny_model
    clf = Classifier(model, info, small_classes.subset(["forest", "city", "beach"]), mode="seen")
    layers = clf.engine.example_layers
    x = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    turned = example_recipe(layers, (1.0,), 8)
    assert turned.endswith("@1/8") and parse_recipe(turned) == (tuple(layers), (1.0,), 8)
    assert parse_recipe(example_recipe(layers, (1.0, 2.0))).orientations == 1  # as read: no suffix, as before
    any_heading = [clf.example_features({1.0: oriented(x, v)}, turned)[0] for v in (0, 3, 6)]
    for f in any_heading[1:]:
        np.testing.assert_allclose(f, any_heading[0], atol=1e-5)
    as_read = [clf.example_features({1.0: oriented(x, v)}, example_recipe(layers, (1.0,)))[0] for v in (0, 3)]
    assert not np.allclose(as_read[0], as_read[1], atol=1e-3)
    with pytest.raises(ConfigError, match="is not LAYER"):
        parse_recipe(example_recipe(layers, (1.0,), 3))


def test_a_batch_standing_for_every_window_runs_once_per_orientation(tiny_model, small_classes):
    """Images without surroundings are their own context: each orientation runs once, whatever the
    number of windows, and the scores are those of the windows handed apart."""
    model, info = tiny_model
    clf = Classifier(model, info, small_classes, context=(2.0, 3.0), orientations=2)
    calls = []
    run = clf.engine.run
    clf.engine.run = lambda images, tap=(): calls.append(len(images)) or run(images, tap)
    images = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    once = clf.forward(images)
    assert calls == [3, 3]  # as read and mirrored, not again for the second window
    calls.clear()
    apart = clf.forward({2.0: images, 3.0: images.copy()})
    assert calls == [3, 3, 3, 3]
    np.testing.assert_allclose(once.logits, apart.logits, atol=1e-6)
