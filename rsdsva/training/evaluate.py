"""Evaluate a DSVA on a zero-shot split: ZSL, GZSL (U, S, H) with lambda chosen on validation, and
the report. The logits come from :mod:`rsdsva.training.logits`, the picture of a report from
:mod:`rsdsva.training.plots`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rsdsva.classes import ClassSpace
from rsdsva.data.images import Sample
from rsdsva.data.splits import ZeroShotSplit
from rsdsva.models.dsva import DSVA
from rsdsva.models.info import ModelInfo
from rsdsva.training import metrics as M
from rsdsva.training.logits import logits_for


@dataclass
class EvalReport:
    """Everything the evaluation measured; ``to_json`` writes it."""

    classes: list[str]
    seen_mask: list[bool]
    zsl_accuracy: float
    seen_accuracy: float
    calibration: float
    gzsl_test: dict[str, float]
    gzsl_validation: dict[str, float]
    gzsl_uncalibrated: dict[str, float]
    us_curve: list[dict[str, float]]
    per_class_accuracy: dict[str, float]
    confusion: list[list[int]]
    counts: dict[str, int] = field(default_factory=dict)
    map_calibration: float | None = None  # lambda maximising mean accuracy over all classes on validation

    def summary(self) -> dict[str, float]:
        t = self.gzsl_test
        return {
            "zsl": self.zsl_accuracy,
            "seen": self.seen_accuracy,
            "u": t["u"],
            "s": t["s"],
            "h": t["h"],
            "lambda": self.calibration,
        }

    def to_json(self, path: str | Path) -> Path:
        from rsdsva._io import atomic_write_text

        return atomic_write_text(path, json.dumps(asdict(self), indent=1))


def evaluate_split(
    model: DSVA,
    info: ModelInfo,
    classes: ClassSpace,
    split: ZeroShotSplit,
    batch_size: int = 64,
    num_workers: int = 0,
    torchgeo_dataset: Any = None,
    calibration: float | None = None,
    logits: Callable[[Sequence[Sample]], tuple[np.ndarray, np.ndarray]] | None = None,
) -> EvalReport:
    """ZSL and GZSL on ``split``'s test images; lambda chosen on its validation images.

    Args:
        classes: all classes (seen and unseen flags set), over the model's vocabulary.
        calibration: use this lambda instead of choosing one on validation data.
        logits: samples -> (uncalibrated logits over ``classes``, labels), instead of the
            model's attribute logits (:func:`logits_for`).
    """
    run = logits or (lambda samples: logits_for(model, info, classes, samples, batch_size, num_workers,
                                                torchgeo_dataset))
    seen = classes.seen
    lv_u, yv_u = run(split.val_unseen)
    lv_s, yv_s = run(split.val_seen)
    lt_u, yt_u = run(split.test_unseen)
    lt_s, yt_s = run(split.test_seen)
    found = M.validate(lv_u, yv_u, lv_s, yv_s, seen)
    calibration = found.calibration if calibration is None else calibration
    map_lam = found.map_lambda if found.map_lambda is not None else 0.0
    val = M.gzsl_score(lv_u, yv_u, lv_s, yv_s, seen, calibration)
    test = M.gzsl_score(lt_u, yt_u, lt_s, yt_s, seen, calibration)
    raw = M.gzsl_score(lt_u, yt_u, lt_s, yt_s, seen, 0.0)
    both = np.concatenate([lt_u, lt_s])
    gaps = both[:, seen].max(1) - both[:, ~seen].max(1)
    lo, hi = np.percentile(gaps, [1, 99]) if len(gaps) else (0.0, 1.0)
    curve = [
        asdict(M.gzsl_score(lt_u, yt_u, lt_s, yt_s, seen, float(lam)))
        for lam in np.linspace(min(lo, 0.0), max(hi, calibration), 41)
    ]
    labels = np.concatenate([yt_u, yt_s])
    preds = M.calibrated_predictions(both, seen, calibration)
    per_class = {
        classes.names[c]: float(np.mean(preds[labels == c] == c)) for c in np.unique(labels)
    }
    return EvalReport(
        classes=list(classes.names),
        seen_mask=[bool(x) for x in seen],
        zsl_accuracy=M.zsl_accuracy(lt_u, yt_u, ~seen),
        seen_accuracy=M.seen_accuracy(lt_s, yt_s, seen),
        calibration=float(calibration),
        gzsl_test=asdict(test),
        gzsl_validation=asdict(val),
        gzsl_uncalibrated=asdict(raw),
        us_curve=curve,
        per_class_accuracy=per_class,
        confusion=M.confusion_matrix(labels, preds, len(classes)).tolist(),
        counts={k: len(getattr(split, k)) for k in ("val_seen", "val_unseen", "test_seen", "test_unseen")},
        map_calibration=float(map_lam),
    )
