"""The curves from a tile's score to its confidence (:mod:`rsdsva.confidence`), fitted on a
trained model's validation images as ``rsdsva map`` ranks them by default."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from rsdsva.confidence import CURVE_OF_ROUTE, fit_curve
from rsdsva.data.folders import SceneDataset
from rsdsva.data.splits import ZeroShotSplit
from rsdsva.data.transforms import ModelInput
from rsdsva.models.info import ModelInfo

MIN_IMAGES = 20  # fewer validation images than this won by a route's classes fit it no curve


def fit_confidence_curves(model, info: ModelInfo, split: ZeroShotSplit, batch_size: int = 64,
                          dataset: Any = None, min_images: int = MIN_IMAGES) -> dict[str, tuple[float, float]]:
    """Per curve of :data:`rsdsva.confidence.CURVE_OF_ROUTE`, (slope, intercept) fitted on
    validation images that its routes' classes won, each ranked among the model's seen and
    held-out classes with the map's default settings (``info``'s map lambda, each image also
    mirrored): ``seen`` on the seen classes' images (what the model was trained to tell apart),
    ``zero-shot`` on the seen and held-out classes' images. A curve with too few images is left
    out (fewer than ``min_images``): its classes' tiles then keep their score. ``dataset``: the
    torchgeo dataset the samples index, if any.

    The seen curve is not fitted on held-out classes' images a seen class won (about three in
    four of them, all wrong): how often a map's tiles show kinds no class describes is the
    scene's, not the model's, and the split's share of them would make the curve wrong on the
    model's own classes."""
    from rsdsva.inference import ClassifierSettings, classes_for
    from rsdsva.predict import Classifier

    settings = ClassifierSettings()
    classes, held_names = classes_for(settings, info)  # as a map assembles them, with no classes file
    clf = Classifier(model, info, classes, mode=settings.mode, calibration=settings.calibration_for(info),
                     held_out=held_names, context=settings.context, orientations=settings.orientations)
    samples = [s for s in list(split.val_seen) + list(split.val_unseen) if s.label in classes.names]
    if not samples:
        return {}
    of_seen = np.asarray([s.label in info.classes.names for s in samples], dtype=bool)
    size = info.preprocessing.image_size
    data = SceneDataset(samples, classes.names, ModelInput(size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), dataset)
    scores, winners, truth = [], [], []
    for x, y in DataLoader(data, batch_size=batch_size, shuffle=False):
        prediction = clf.predict(x.numpy(), top_k=1, batch_size=batch_size)
        scores.append(prediction.scores)
        winners.append(prediction.top_k[:, 0])
        truth.append(y.numpy())
    scores, winners, truth = np.concatenate(scores), np.concatenate(winners), np.concatenate(truth)
    routes = np.asarray(clf.routes)[winners]
    curves = {}
    for name in dict.fromkeys(CURVE_OF_ROUTE.values()):
        take = np.isin(routes, [r for r, n in CURVE_OF_ROUTE.items() if n == name]) & (of_seen | (name != "seen"))
        if take.sum() >= min_images:
            curves[name] = fit_curve(scores[take], winners[take] == truth[take])
    return curves
