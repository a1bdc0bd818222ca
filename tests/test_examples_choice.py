"""The classifier fitted on example tiles that says which example class a tile is."""

import numpy as np

from rsdsva.examples.choice import ExampleChoice, centred, choice_offsets, fit_example_choice


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_direction_that_tells_classes_apart_beats_the_nearest_example():
    """Examples of two classes spread along a direction that does not matter (x) and apart along
    one that does (y). A tile of the first class lies nearest an example of the second, far along
    x; the regression, which sees every example, puts it in the first."""
    xs = np.linspace(-1, 1, 5)
    first = np.stack([xs[:4], np.full(4, 0.3), np.ones(4)], 1)  # no example of it far along x
    second = np.stack([xs, np.full(5, -0.3), np.ones(5)], 1)
    rows = unit(np.concatenate([first, second])).astype(np.float32)
    starts = np.array([0, 4])
    tile = unit(np.array([[1.0, 0.1, 1.0]]))
    nearest = np.maximum.reduceat(tile @ rows.T, starts, axis=1)
    assert nearest.argmax() == 1  # the nearest example is the second class's
    offsets = choice_offsets(tile.astype(np.float32), *fit_example_choice(rows, starts))
    assert offsets.argmax() == 0 and offsets[0, 0] == 0 and offsets[0, 1] < 0


def test_every_example_is_its_own_class_and_the_fit_is_repeatable():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    counts = [6, 2, 4]  # unequal: each class weighs alike
    rows = unit(np.concatenate([c + 0.2 * rng.normal(size=(n, 8)) for c, n in zip(centres, counts)])).astype(np.float32)
    starts = np.array([0, 6, 8])
    weights, bias = fit_example_choice(rows, starts)
    assert weights.shape == (8, 3) and bias.shape == (3,) and weights.dtype == np.float32
    offsets = choice_offsets(rows, weights, bias)
    assert (offsets.argmax(1) == np.repeat(np.arange(3), counts)).all()
    assert (offsets <= 0).all() and (offsets.max(1) == 0).all()
    again = fit_example_choice(rows, starts)  # Dask workers and both engines fit the same weights
    assert np.array_equal(again[0], weights) and np.array_equal(again[1], bias)


def test_one_example_class_has_nothing_to_choose():
    rows = unit(np.random.default_rng(1).normal(size=(3, 5))).astype(np.float32)
    weights, bias = fit_example_choice(rows, np.array([0]))
    assert not weights.any() and not bias.any()
    assert not choice_offsets(rows, weights, bias).any()


def test_the_choice_also_made_on_features_centred_on_their_scene():
    """Without a centre the choice is the one regression; with one, the average of it and the
    regression on the centred features, the most likely class at 0."""
    rng = np.random.default_rng(1)
    shared = np.array([0, 0, 0, 0, 0, 0, 0, 3.0])  # what every tile of the scene has
    rows = unit(shared + np.concatenate([c + 0.3 * rng.normal(size=(2, 8)) for c in rng.normal(size=(3, 8))]))
    rows, starts = rows.astype(np.float32), np.array([0, 2, 4])
    tiles = unit(shared + rng.normal(size=(20, 8))).astype(np.float32)
    plain = choice_offsets(tiles, *fit_example_choice(rows, starts))
    assert np.array_equal(ExampleChoice.fit(rows, starts).offsets(tiles), plain)
    centre = unit(shared[None] + rng.normal(size=(50, 8))).mean(0).astype(np.float32)
    assert np.allclose(np.linalg.norm(centred(tiles, centre), axis=1), 1)
    on_centred = choice_offsets(centred(tiles, centre), *fit_example_choice(centred(rows, centre), starts))
    both = ExampleChoice.fit(rows, starts, centre).offsets(tiles)
    mean = (plain + on_centred) / 2
    assert np.allclose(both, mean - mean.max(1, keepdims=True)) and (both.max(1) == 0).all()
    assert (both.argmax(1) == mean.argmax(1)).all()
