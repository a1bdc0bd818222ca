"""A picture of an evaluation: the GZSL confusion matrix and the U/S curve over lambda."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsdsva.training.evaluate import EvalReport


def plot_report(report: EvalReport, path: str | Path) -> Path:
    """A PNG with the GZSL confusion matrix and the U/S curve over lambda."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rsdsva._io import atomic_path

    cm = np.array(report.confusion, dtype=float)
    cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(report.classes)
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 6.5), gridspec_kw={"width_ratios": [1.3, 1]})
    a.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    names = [f"{c}{'' if s else ' *'}" for c, s in zip(report.classes, report.seen_mask)]
    a.set_xticks(range(n), names, rotation=90, fontsize=7)
    a.set_yticks(range(n), names, fontsize=7)
    a.set_xlabel("predicted")
    a.set_ylabel("true (* unseen)")
    a.set_title(f"GZSL confusion, lambda={report.calibration:.3g}")
    us = report.us_curve
    b.plot([p["s"] for p in us], [p["u"] for p in us], "o-", ms=3, label="test, lambda sweep")
    t = report.gzsl_test
    b.plot([t["s"]], [t["u"]], "r*", ms=14, label=f"chosen on validation: H={t['h']:.3f}")
    b.set_xlabel("S (seen accuracy)")
    b.set_ylabel("U (unseen accuracy)")
    b.set_xlim(0, 1)
    b.set_ylim(0, 1)
    b.legend(loc="upper right")
    b.set_title(f"ZSL {report.zsl_accuracy:.3f}   U {t['u']:.3f}  S {t['s']:.3f}  H {t['h']:.3f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
