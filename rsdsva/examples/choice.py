"""Which example class a tile is: a linear classifier fitted on the example tiles themselves.

Classes from example areas score a tile in two parts:

* how much it looks like the examples at all: its cosine similarity to the nearest example
  of any example class, put on the logits' scale by the model's calibration (so example
  classes compete with the seen and attribute classes on one scale);
* which example class it is: a multinomial logistic regression over the example classes,
  fitted on their example features when the classifier is built. A tile's example-class
  logits are the first part plus the regression's log-probability of each class relative to
  its most likely one (so the most likely class gets the first part exactly).

Examples drawn on a raster keep its centre (the mean feature of its tiles): a second regression
is fitted on the features centred on it, and the two regressions' log-probabilities are averaged
(:class:`ExampleChoice`). What every tile of the scene shares (a resolution, season or sensor the
model was not trained on) then weighs less than what tells its kinds apart (docs/classes.md says
by how much, on the shared scenes).

The regression sees every example of every class at once, so it learns which directions tell
these classes apart, where the nearest example weighs all directions alike. Over whitened
features, unseen UC Merced and AID classes from 3 / 5 examples each went from 77 / 78 % of
tiles with the nearest example to 81 / 86 % (scripts/bench/bench_from_map.py); 8-class draws of
the seen classes' validation images from 3 / 5 training images, from 91 / 94 % to 94 / 96 %,
where the temperature (5 to 20) and the number of steps (300 or 1,000) hardly mattered. Fitting
is plain gradient descent from zero for a fixed number of steps (deterministic, so every engine
and Dask worker fits the same weights): 15 ms for 18 examples of 6 classes, 1.7 s for 2,000
of 20 (2 CPU cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEMPERATURE = 10.0  # logits = TEMPERATURE * (features @ w) + b: features are unit-norm, cosines small
STEPS = 300
RATE = 0.5
DECAY = 1e-3


def fit_example_choice(rows: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weights (D, E), bias (E,)) of the regression over E example classes whose example
    features are ``rows`` (M, D), each class's rows together, class e's from ``starts[e]``.
    With one class there is nothing to choose: zero weights."""
    rows = np.asarray(rows, np.float64)
    counts = np.diff(np.append(starts, len(rows)))
    n_classes = len(counts)
    weights, bias = np.zeros((rows.shape[1], n_classes)), np.zeros(n_classes)
    if n_classes < 2:
        return weights.astype(np.float32), bias.astype(np.float32)
    target = np.repeat(np.eye(n_classes), counts, axis=0)
    per_row = (1.0 / counts / n_classes)[np.repeat(np.arange(n_classes), counts)][:, None]  # classes weigh alike
    for _ in range(STEPS):
        z = TEMPERATURE * rows @ weights + bias
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - target) * per_row
        weights -= RATE * (TEMPERATURE * rows.T @ grad + DECAY * weights)
        bias -= RATE * grad.sum(axis=0)
    return (TEMPERATURE * weights).astype(np.float32), bias.astype(np.float32)


@dataclass(frozen=True)
class ExampleChoice:
    """Which example class a tile is: the regression on the examples' features and, where their
    scene's ``centre`` is known, the one on the features centred on it, averaged."""

    plain: tuple[np.ndarray, np.ndarray]  # (weights, bias) of :func:`fit_example_choice`
    centre: np.ndarray | None = None
    on_centred: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def fit(cls, rows: np.ndarray, starts: np.ndarray, centre: np.ndarray | None = None) -> ExampleChoice:
        """Fitted on ``rows`` (each class's from ``starts[e]``, as :func:`fit_example_choice`)."""
        plain = fit_example_choice(rows, starts)
        if centre is None:
            return cls(plain)
        return cls(plain, centre, fit_example_choice(centred(rows, centre), starts))

    def offsets(self, features: np.ndarray) -> np.ndarray:
        """(N, E) log-probabilities of each example class relative to each tile's most likely one."""
        offsets = choice_offsets(features, *self.plain)
        if self.centre is None:
            return offsets
        offsets = (offsets + choice_offsets(centred(features, self.centre), *self.on_centred)) / np.float32(2)
        return offsets - offsets.max(axis=1, keepdims=True)


def centred(features: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Unit-norm ``features`` (N, D) less ``centre`` (D,), unit-norm again."""
    x = features - centre
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-12))


def choice_offsets(features: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(N, E) log-probabilities of each example class relative to each tile's most likely
    one (0 for that one, negative for the others; the normaliser cancels)."""
    z = features @ weights + bias
    return z - z.max(axis=1, keepdims=True)
