"""What classes from example areas need of a trained model, fitted on its split: the whitening of
the features they compare and, per recipe, the calibration that puts a tile's similarity to its
nearest example on the scale of the model's logits."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from torch.utils.data import DataLoader

from rsdsva.data.folders import SceneDataset
from rsdsva.data.splits import ZeroShotSplit
from rsdsva.data.transforms import ModelInput
from rsdsva.models.dsva import DSVA
from rsdsva.models.info import ModelInfo
from rsdsva.training import metrics as M


def fit_example_calibrations(
    model: DSVA,
    info: ModelInfo,
    split: ZeroShotSplit,
    recipes: Sequence[str],
    shots: int = 3,
    draws: int = 3,
    seed: int = 0,
    batch_size: int = 64,
    torchgeo_dataset: Any = None,
    val_dataset: Any = None,
) -> dict[str, tuple[float, float]]:
    """Per recipe, the (scale, bias) that put a tile's similarity to an example class's nearest
    example (features taken as the recipe says) on the scale of the model's logits, fitted on
    the seen classes' validation images. ``recipes`` take the same windows (they may differ in
    layers and orientations): the images are read, and their logits computed, once for all.

    Each seen class in turn plays an example class: its examples are ``shots`` of its training
    images (``draws`` random draws), and its similarity score replaces its attribute logit;
    :func:`rsdsva.training.metrics.fit_example_calibration` fits scale and bias so that the
    validation images are classified right. A training image stands for the recipes' widest
    window; its narrower windows are centred crops of it (the tile is its middle). Empty
    without validation images. ``val_dataset``: the torchgeo dataset the validation samples
    index, when it is not ``torchgeo_dataset`` (a data module's own splits).
    """
    from rsdsva.examples.recipe import parse_recipe
    from rsdsva.predict import Classifier

    seen = info.classes.subset(split.seen)
    if not split.val_seen or not recipes:
        return {}
    scales = {parse_recipe(r).scales for r in recipes}
    if len(scales) > 1:
        raise ValueError(f"recipes {', '.join(recipes)} take different windows; fit each windows' recipes apart")
    scales = scales.pop()
    pre = info.preprocessing
    side = int(round(pre.image_size * max(scales)))  # the widest window, so the tile is seen at the model's size
    ds_transform = ModelInput(side, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # resized only: the classifier normalises
    clf = Classifier(model.eval(), info, seen, mode="seen")

    def run(samples, dataset):
        ds = SceneDataset(samples, seen.names, ds_transform, dataset)
        logits, feats, labels = [], {r: [] for r in recipes}, []
        for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False):
            views = {}
            for sc in scales:
                n = int(round(side * sc / max(scales)))
                o = (side - n) // 2
                views[sc] = x[:, :, o : o + n, o : o + n]
            for r in recipes:
                feats[r].append(clf.example_features(views, r)[0])
            logits.append(clf.forward(x).logits)
            labels.append(y.numpy())
        return np.concatenate(logits), {r: np.concatenate(f) for r, f in feats.items()}, np.concatenate(labels)

    rng = np.random.default_rng(seed)
    by_class: dict[str, list] = {}
    for s in split.train:
        by_class.setdefault(s.label, []).append(s)
    picks = [[c[i] for i in rng.permutation(len(c))[: shots * draws]] for c in (by_class[n] for n in seen.names)]
    _, train_feats, train_labels = run([s for p in picks for s in p], torchgeo_dataset)
    logits, val_feats, labels = run(split.val_seen, torchgeo_dataset if val_dataset is None else val_dataset)
    fitted = {}
    for r in recipes:
        sims = []
        for d in range(draws):
            draw = np.full((len(labels), len(seen)), -1.0, np.float32)
            for k in range(len(seen)):
                rows = train_feats[r][train_labels == k][d * shots : (d + 1) * shots]
                if not len(rows):  # fewer images than draws x shots: reuse the first ones
                    rows = train_feats[r][train_labels == k][:shots]
                draw[:, k] = (val_feats[r] @ rows.T).max(axis=1)
            sims.append(draw)
        fitted[r] = M.fit_example_calibration(np.tile(logits, (draws, 1)), np.tile(labels, draws), np.concatenate(sims))
    return fitted


def fit_example_features(model: DSVA, info: ModelInfo, split: ZeroShotSplit, batch_size: int = 64,
                         torchgeo_dataset: Any = None, val_dataset: Any = None, whiten: bool = True) -> ModelInfo:
    """Fit what classes from example areas need of a trained model: the whitening of the
    features they compare (:func:`rsdsva.training.whitening.fit_tap_whitening`, installed in
    ``model``; kept as it is with ``whiten=False``) and the calibrations of the recipes they are
    made with: the model's default windows (the tile and twice its window) and the tile alone
    (for images without surroundings), each as read, mirrored and in all eight orientations.
    Returns ``info`` recording both."""
    from rsdsva.examples.recipe import EXAMPLE_SCALES, ORIENTATIONS, example_recipe
    from rsdsva.models.backbones import example_layers
    from rsdsva.training.whitening import fit_tap_whitening

    layers = example_layers(model.backbone)
    if whiten:
        info = fit_tap_whitening(model, info, split, layers, batch_size=batch_size, torchgeo_dataset=torchgeo_dataset)
    out = {}
    for scales in (EXAMPLE_SCALES, (1.0,)):
        out |= fit_example_calibrations(model, info, split, [example_recipe(layers, scales, n) for n in ORIENTATIONS],
                                        batch_size=batch_size, torchgeo_dataset=torchgeo_dataset,
                                        val_dataset=val_dataset)
    return info.replace(example_calibrations=out)
