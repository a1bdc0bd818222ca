"""A model's logits over a class space for batches of images: the one collector the training
loop, evaluation and the example fitting read images through (Lightning collects its own steps'
outputs)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from rsdsva.classes import ClassSpace
from rsdsva.data.folders import SceneDataset
from rsdsva.data.images import Sample
from rsdsva.data.resident import ResidentImages
from rsdsva.data.transforms import ModelInput, eval_transform
from rsdsva.models.dsva import DSVA, class_matrix_tensor
from rsdsva.models.info import ModelInfo


def logits_for(
    model: DSVA,
    info: ModelInfo,
    classes: ClassSpace,
    samples: Sequence[Sample],
    batch_size: int = 64,
    num_workers: int = 0,
    torchgeo_dataset: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Uncalibrated logits (N, C) over ``classes`` and the labels (N,) of ``samples``."""
    if not samples:
        return np.zeros((0, len(classes)), np.float32), np.zeros(0, np.int64)
    pre = info.preprocessing
    ds = SceneDataset(samples, classes.names, eval_transform(pre.image_size, pre.mean, pre.std), torchgeo_dataset)
    return logits_over(model, classes, DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False))


def logits_resident(
    model: DSVA, info: ModelInfo, classes: ClassSpace, images: ResidentImages, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`logits_for` on images already decoded (labels over ``classes``)."""
    pre = info.preprocessing
    batches = (
        (images.normalised(s, s + batch_size, pre.mean, pre.std), images.labels[s : s + batch_size])
        for s in range(0, len(images), batch_size)
    )
    return logits_over(model, classes, batches)


def classifier_logits(classifier, samples: Sequence[Sample], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a :class:`rsdsva.predict.Classifier` (its routes and calibration, so classes
    from example areas by their prototypes) over its classes, and the labels of ``samples``."""
    if not samples:
        return np.zeros((0, len(classifier.classes)), np.float32), np.zeros(0, np.int64)
    pre = classifier.info.preprocessing
    resize = ModelInput(pre.image_size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # to size only: forward normalises
    ds = SceneDataset(samples, classifier.classes.names, resize)
    out, labels = [], []
    for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False):
        out.append(classifier.forward(x).logits)
        labels.append(y.numpy())
    return np.concatenate(out), np.concatenate(labels)


def logits_over(
    model: DSVA, classes: ClassSpace, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[np.ndarray, np.ndarray]:
    """The model's logits over ``classes`` for each (images, labels) batch, in eval mode."""
    logits, _, labels = outputs_over(model, classes, batches)
    return logits, labels


def outputs_over(
    model: DSVA, classes: ClassSpace, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits over ``classes``, unit-norm features (the prototypes' space) and labels."""
    device = next(model.parameters()).device
    cm = class_matrix_tensor(classes, device)
    width = model.backbone.width
    out, feats, labels = [np.zeros((0, len(classes)), np.float32)], [np.zeros((0, width), np.float32)], [np.zeros(0, np.int64)]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for x, y in batches:
            result = model(x.to(device), cm)
            out.append(result.logits.float().cpu().numpy())
            feats.append(torch.nn.functional.normalize(result.features.float(), dim=-1).cpu().numpy())
            labels.append(y.cpu().numpy())
    model.train(was_training)
    return np.concatenate(out), np.concatenate(feats), np.concatenate(labels)
