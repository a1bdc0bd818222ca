"""Scoring tiles against classes from example areas, the same for every engine (numpy only).

A tile's features are taken as the classes' recipe says (:func:`take_features`), joined with
its spectra where the examples kept theirs (:mod:`rsdsva.examples.spectra`). Its similarity to
the nearest example of any example class, put on the attribute logits' scale by the model's
calibration for that recipe, says how much it looks like the examples; the regression fitted
on the examples (:mod:`rsdsva.examples.choice`) says which class it is. A seen class given
examples (a correction) takes the larger of its attribute logit and its example score.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

from rsdsva.errors import ClassSpaceError, RsdsvaWarning
from rsdsva.examples.choice import ExampleChoice
from rsdsva.examples.recipe import Recipe, oriented, parse_recipe


class ExampleScorer:
    """The example classes of a classifier's classes, ready to score tiles' features.

    Build one with :meth:`for_classes`, which says (as a warning) why classes with examples are
    ranked by their attribute vectors instead, when this model cannot compare them."""

    def __init__(self, classes, info) -> None:
        self.mask = classes.has_examples  # (C,) the classes scored by their examples
        self.index = np.flatnonzero(self.mask)
        self.names = [classes.names[i] for i in self.index]
        bank = classes.examples  # an ExampleBank
        self.recipe: Recipe = parse_recipe(bank.recipe)
        rows = [bank.rows[i] for i in self.index]
        self.rows = np.concatenate(rows)  # (examples, D), each class's rows together
        self.starts = np.cumsum([0] + [len(r) for r in rows[:-1]])
        self.corrects = classes.seen[self.index]  # seen classes given examples: corrections
        self.scale, self.bias = info.example_calibrations[bank.recipe]
        self.choice = ExampleChoice.fit(self.rows, self.starts, bank.centre)
        self.spectra = bank.spectra  # their SpectralRecord: their features end in the tiles' spectra

    @classmethod
    def for_classes(cls, classes, info, feature_space: str) -> ExampleScorer | None:
        """The scorer of ``classes``' example classes; None where there are none, or where their
        examples are not in this model's ``feature_space`` or recipe calibrations (then, with a
        warning, they are ranked by their attribute vectors)."""
        has = classes.has_examples
        if not has.any():
            return None
        names = ", ".join(n for n, h in zip(classes.names, has) if h)
        bank = classes.examples
        if bank.feature_space != feature_space:
            why = (f"their examples were taken with another model (feature space {bank.feature_space}, "
                   f"this one is {feature_space}); make them again with rsdsva classes from-map --model")
        elif bank.recipe not in info.example_calibrations:
            known = ", ".join(info.example_calibrations) or "none"
            why = (f"this model records no calibration for their recipe {bank.recipe} (it has: {known}); "
                   "make them again with rsdsva classes from-map")
        else:
            return cls(classes, info)
        warnings.warn(f"classes {names}: ranked by their attribute vectors: {why}", RsdsvaWarning, stacklevel=4)
        return None

    def features(self, taps: Sequence[np.ndarray], spectra: np.ndarray | None) -> np.ndarray:
        """Tiles' features as the examples keep theirs: the recipe's pooled layers on its windows
        (``taps``), joined with the tiles' ``spectra`` where the examples kept theirs (:meth:`check`
        has refused a batch without them)."""
        features = joined_features(taps)
        return features if self.spectra is None else self.spectra.joined(features, spectra)

    def check(self, spectra: np.ndarray | None) -> None:
        """Refuse tiles without spectra where the examples compare them."""
        if self.spectra is not None and spectra is None:
            raise ClassSpaceError(f"classes {', '.join(self.names)} compare the spectra of {len(self.spectra.bands)} "
                                  "bands (they were made on a raster of more than three bands), which these images "
                                  "do not have; map a raster with those bands, or make the classes again with "
                                  "rsdsva classes from-map --spectra 0")

    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, E) each tile's cosine similarity to each example class's nearest example, and its
        (N, E) example-class logits (uncalibrated, on the attribute logits' scale)."""
        similarity = np.maximum.reduceat(features @ self.rows.T, self.starts, axis=1)
        nearest = similarity.max(axis=1, keepdims=True)  # how much the tile looks like the examples
        logits = (np.float32(self.scale) * nearest + np.float32(self.bias)
                  + self.choice.offsets(features))  # and which example class it is
        return similarity, logits

    def merged(self, logits: np.ndarray, example_logits: np.ndarray) -> np.ndarray:
        """``logits`` (N, C) with the example classes' scores put in: a correction keeps the larger
        of its attribute logit and its example score."""
        own = logits[:, self.index]
        logits[:, self.index] = np.where(self.corrects, np.maximum(own, example_logits), example_logits)
        return logits


def take_features(engine, views: Mapping[float, object], recipe: Recipe) -> tuple[np.ndarray, object]:
    """Features of tiles as classes from example areas keep them (``views``: window size ->
    [0, 1] images): :func:`joined_features` of the recipe's layers on each of
    its windows, each window's pooled outputs averaged over the recipe's orientations; and the
    network's output on the first window, as read."""
    taps, first = [], None
    for s in recipe.scales:
        outs = [engine.run(oriented(views[s], v), recipe.layers) for v in range(recipe.orientations)]
        taps += mean_taps([o.tapped for o in outs])
        first = outs[0] if first is None else first
    return joined_features(taps), first


def mean_taps(turned: Sequence[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    """Each layer's pooled outputs averaged over the orientations of one window (``turned``:
    one tuple of layers per orientation)."""
    return [np.mean(layer, axis=0) if len(layer) > 1 else layer[0] for layer in zip(*turned)]


def joined_features(taps: Sequence[np.ndarray]) -> np.ndarray:
    """One unit-norm feature from layers' pooled outputs on several windows: each normalised,
    then concatenated (a cosine of two is the mean of the layers' and windows' cosines)."""
    parts = []
    for t in taps:
        t = np.asarray(t, np.float32)
        parts.append(t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12))
    return np.concatenate(parts, axis=1) / np.float32(np.sqrt(len(parts)))
