"""A tile's confidence: how likely its label is right, from its score.

The score (the winning class's probability, averaged over a map's views) is no confidence: on
the default model's test images of its own classes it says 0.68 where 93 % are right. A model
records, per kind of winning class, a curve from score to confidence (Platt scaling: a logistic
function of the score's log-odds, two numbers), fitted on labelled images it was not trained on:

* ``seen``: the model's own classes, on its seen classes' validation images;
* ``zero-shot``: held-out and attribute classes, on the validation images such a class won
  (mostly the held-out classes' images).

Classes from example areas keep their score as their confidence: their similarity is fitted to
the logits' scale on validation images already, and on the sample scene's reference it is
calibrated as it stands (docs/bench_confidence.log). A model without curves gives its score.

A curve fitted on a model's images is not fitted on the imagery a map is made of: where a scene
differs from the training images, or holds kinds of ground no class describes, a map is wrong
more often than the curve says (docs/benchmarks.md, the confidence bullet).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# a class route (predict.Classifier.routes) -> the curve it takes; routes not here keep their score
CURVE_OF_ROUTE = {"seen": "seen", "held-out": "zero-shot", "attributes": "zero-shot"}
EDGE = 1e-6  # scores are kept this far inside (0, 1), where their log-odds are finite


def log_odds(scores) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=np.float64), EDGE, 1 - EDGE)
    return np.log(p / (1 - p))


def fit_curve(scores, right, steps: int = 50) -> tuple[float, float]:
    """(slope, intercept) of the logistic curve of the scores' log-odds that best predicts
    ``right``."""
    x = log_odds(scores)
    if x.size == 0:
        raise ValueError("a confidence curve needs at least one scored image")
    slope, intercept = fit_logistic(np.stack([x, np.ones_like(x)], axis=1), right, steps)
    return float(slope), float(intercept)


def fit_logistic(design, right, steps: int = 50) -> np.ndarray:
    """The coefficients of the logistic regression of ``right`` on the columns of ``design``
    (maximum likelihood, by Newton's method from the first column alone, with a light ridge so
    that separable data stay finite)."""
    design, y = np.asarray(design, dtype=np.float64), np.asarray(right, dtype=np.float64)
    coef = np.zeros(design.shape[1])
    coef[0] = 1.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ coef))
        gradient = design.T @ (p - y) + 1e-3 * coef
        hessian = (design * (p * (1 - p))[:, None]).T @ design + 1e-3 * np.eye(len(coef))
        step = np.linalg.solve(hessian, gradient)
        coef -= step
        if np.abs(step).max() < 1e-9:
            break
    return coef


def on_curve(scores, curve: tuple[float, float]) -> np.ndarray:
    """The confidences ``curve`` gives ``scores``."""
    slope, intercept = curve
    return 1 / (1 + np.exp(-(slope * log_odds(scores) + intercept)))


def confidences(scores, routes: Sequence[str], curves: Mapping[str, tuple[float, float]]) -> np.ndarray:
    """Each tile's confidence from its winning class's score and that class's route: on the
    route's curve where the model has one, else the score."""
    scores = np.asarray(scores, dtype=np.float64)
    out = scores.copy()
    for route, name in CURVE_OF_ROUTE.items():
        take = np.asarray([r == route for r in routes], dtype=bool)
        if take.any() and name in curves:
            out[take] = on_curve(scores[take], curves[name])
    return out
