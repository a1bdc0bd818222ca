"""Whitening of the features classes from example areas compare.

Classes from example areas compare a tile with their examples on the pooled outputs of middle
backbone layers (cosine similarity, and a classifier fitted on the examples). Raw, those features are dominated by directions along which
images of one class vary (light, season, how full a parking lot is). Whitened by the seen
classes' within-class covariance, shrunk towards its mean variance, those directions count less
and the ones that tell classes apart count more. On the default model, with the nearest example
alone, unseen UC Merced and AID classes from 3 examples each went from 71 to 77 % of tiles
(scripts/bench/bench_from_map.py), the sample scene's kinds from 78 to 81 %
(scripts/bench/probe_recipes.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from rsdsva.data.folders import SceneDataset
from rsdsva.data.splits import ZeroShotSplit
from rsdsva.data.transforms import ModelInput
from rsdsva.models.dsva import DSVA
from rsdsva.models.info import ModelInfo

SHRINK = 0.2  # weight of the mean variance in the covariance: 0.2 measured best of 0.2, 0.5, 0.8


def within_class_whitening(features: np.ndarray, labels: np.ndarray, shrink: float = SHRINK) -> tuple[np.ndarray, np.ndarray]:
    """(mean, matrix) with ``(x - mean) @ matrix`` of unit within-class covariance (after
    shrinkage): the inverse square root of ``(1 - shrink) S_w + shrink * trace(S_w) / D * I``."""
    x = np.asarray(features, np.float64)
    classes, index = np.unique(labels, return_inverse=True)
    centred = x - np.stack([x[index == c].mean(axis=0) for c in range(len(classes))])[index]
    cov = centred.T @ centred / len(x)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov))
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, values.max() * 1e-9)  # a constant feature stays finite
    return x.mean(axis=0), (vectors / np.sqrt(values)) @ vectors.T


def fit_tap_whitening(model: DSVA, info: ModelInfo, split: ZeroShotSplit, layers: tuple[str, ...],
                      batch_size: int = 64, torchgeo_dataset: Any = None) -> ModelInfo:
    """Fit the whitening of ``layers``' pooled outputs on ``split``'s training images (the
    seen classes), install it in ``model`` and return ``info`` recording it. A previous
    whitening is replaced. Each training image is seen whole, at the model's input size."""
    from rsdsva.engines.torch_engine import TorchEngine

    model.set_whitening({})
    engine = TorchEngine(model, info)  # raw taps now; normalises the input itself
    ds = SceneDataset(split.train, split.seen, ModelInput(info.preprocessing.image_size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
                      torchgeo_dataset)
    taps: list[list[np.ndarray]] = [[] for _ in layers]
    labels = []
    for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False):
        for part, t in zip(taps, engine.run(x, layers).tapped):
            part.append(t)
        labels.append(y.numpy())
    y = np.concatenate(labels)
    fitted = {}
    for layer, part in zip(layers, taps):
        mean, matrix = within_class_whitening(np.concatenate(part), y)
        fitted[layer] = (torch.from_numpy(mean).float(), torch.from_numpy(matrix).float())
    model.set_whitening(fitted)
    return info.replace(dsva=model.config)
