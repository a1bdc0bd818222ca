"""Deterministic zero-shot splits: seen/unseen classes and per-class image partitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from rsdsva.data.images import Sample
from rsdsva.errors import DatasetError


def parse_split(text: str, num_classes: int) -> tuple[int, int]:
    """'16/5' -> (16, 5), checked against the number of classes."""
    try:
        seen, unseen = (int(x) for x in text.split("/"))
    except ValueError:
        raise DatasetError(f"split {text!r} is not SEEN/UNSEEN, e.g. 16/5") from None
    if seen + unseen != num_classes:
        raise DatasetError(f"split {text} does not fit {num_classes} classes; seen + unseen must equal {num_classes}")
    if seen < 1 or unseen < 1:
        raise DatasetError(f"split {text}: zero-shot needs at least one seen and one unseen class"
                           + ("" if num_classes > 1 else f", and the data has {num_classes} class; add class folders"))
    return seen, unseen


def choose_unseen(class_names: Sequence[str], num_unseen: int, seed: int) -> list[str]:
    """``num_unseen`` classes drawn at random with ``seed``, in the order of ``class_names``."""
    rng = np.random.default_rng(seed)
    picked = set(rng.choice(len(class_names), size=num_unseen, replace=False).tolist())
    return [n for i, n in enumerate(class_names) if i in picked]


@dataclass
class ZeroShotSplit:
    """Which images train, select the model, and test.

    Seen classes' images are partitioned per class into train / val / test; unseen
    classes' images into val (used only to choose the GZSL calibration) and test.
    No image is in two parts; no unseen image is ever trained on.
    """

    seen: list[str]
    unseen: list[str]
    train: list[Sample] = field(default_factory=list)
    val_seen: list[Sample] = field(default_factory=list)
    test_seen: list[Sample] = field(default_factory=list)
    val_unseen: list[Sample] = field(default_factory=list)
    test_unseen: list[Sample] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "seen": self.seen,
            "unseen": self.unseen,
            **{k: len(getattr(self, k)) for k in ("train", "val_seen", "test_seen", "val_unseen", "test_unseen")},
        }


def make_split(
    samples: Sequence[Sample],
    unseen: Sequence[str],
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    unseen_val_fraction: float = 0.2,
) -> ZeroShotSplit:
    """Partition ``samples`` given the unseen class names, reproducibly from ``seed``."""
    by_class: dict[str, list[Sample]] = {}
    for s in samples:
        by_class.setdefault(s.label, []).append(s)
    unknown = sorted(set(unseen) - set(by_class))
    if unknown:
        raise DatasetError(f"unseen classes {unknown} have no images")
    split = ZeroShotSplit(seen=[c for c in by_class if c not in unseen], unseen=[c for c in by_class if c in unseen])
    rng = np.random.default_rng(seed + 1)
    for name in sorted(by_class):
        items = by_class[name]
        order = [items[i] for i in rng.permutation(len(items))]
        if name in unseen:
            k = int(round(unseen_val_fraction * len(order)))
            split.val_unseen += order[:k]
            split.test_unseen += order[k:]
        else:
            n_val = max(1, int(round(val_fraction * len(order))))
            n_test = max(1, int(round(test_fraction * len(order))))
            if n_val + n_test >= len(order):
                raise DatasetError(f"class {name!r} has {len(order)} images, too few for train/val/test")
            split.val_seen += order[:n_val]
            split.test_seen += order[n_val : n_val + n_test]
            split.train += order[n_val + n_test :]
    return split
