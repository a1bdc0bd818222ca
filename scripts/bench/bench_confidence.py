#!/usr/bin/env python
"""How well a map's ``confidence`` (and, for comparison, its ``score``) says how likely a label
is right (#39 item 2): expected calibration error (ECE, 10 bins) and a reliability table.

1. The default model on its own test images (the recorded split: seen classes' test images and
   the held-out classes' test images, each image alone, ranked among all 41 classes as map ranks
   them, gzsl with the map's lambda). The confidence curves were fitted on the split's
   validation images (scripts/jobs/fit_confidence.py), never on these.
2. The sample scene's reference tiles (docs/autzen_reference.yaml) in MAP.gpkg files made by
   ``rsdsva map`` (the default map, the example map...): a tile is right when a person accepts
   its label. With 90 tiles, ECE is noisy: each map's line also gives the ECE a perfectly
   calibrated confidence would show on average on that many tiles with those confidences
   (labels drawn at random from them, 2,000 draws), and a bound: the ECE of curves fitted on
   the reference's own labels, each tile left out of the fit that gives its confidence, from
   the score alone and from the score and how many of the tile's neighbours share its label.

  python scripts/bench/bench_confidence.py labels.gpkg autzen_labels.gpkg
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
BINS = 10


def calibration(confidence, right) -> tuple[float, list[tuple[float, float, int]]]:
    """ECE and the reliability table: per bin of confidence, (mean confidence, accuracy, count)."""
    confidence, right = np.asarray(confidence, float), np.asarray(right, float)
    table, ece = [], 0.0
    for lo in np.linspace(0, 1, BINS, endpoint=False):
        inside = (confidence > lo) & (confidence <= lo + 1 / BINS)
        if inside.any():
            table.append((confidence[inside].mean(), right[inside].mean(), int(inside.sum())))
            ece += inside.mean() * abs(confidence[inside].mean() - right[inside].mean())
    return ece, table


def report(name: str, confidence, right, what: str = "score", floor: bool = False) -> None:
    ece, table = calibration(confidence, right)
    extra = ""
    if floor:
        rng = np.random.default_rng(0)
        c = np.asarray(confidence, float)
        noise = np.mean([calibration(c, rng.random(c.size) < c)[0] for _ in range(2000)])
        extra = f" (a perfectly calibrated {what} here: ECE {noise:.3f} on average)"
    print(f"{name}: {len(right)} items, accuracy {np.mean(right):.3f}, mean {what} {np.mean(confidence):.3f}, "
          f"ECE {ece:.3f}{extra}")
    print("   " + "  ".join(f"{c:.2f}->{a:.2f} ({n})" for c, a, n in table))


def test_images() -> None:
    from rsdsva.data.folders import read_image
    from rsdsva.engines.base import resize
    from rsdsva.inference import ClassifierSettings
    from rsdsva.models.model_file import default_model_path, read_model_info
    from rsdsva.predict import build_classifier
    from rsdsva.training.experiment import recorded_split

    info = read_model_info(default_model_path())
    split = recorded_split(info, SHARED / "ucm", SHARED / "aid150")
    clf = build_classifier(ClassifierSettings())
    for name, samples in (("seen classes' test images", split.test_seen),
                          ("held-out classes' test images", split.test_unseen)):
        size = info.preprocessing.image_size  # UC Merced and AID differ in size: each at the model's input, as map feeds it
        images = np.stack([resize(read_image(s.source).numpy().astype(np.float32) / 255, size, size, antialias=True)
                           for s in samples])
        prediction = clf.predict(images, top_k=1)
        right = [label == s.label for label, s in zip(prediction.labels, samples)]
        report(name, prediction.scores, right)
        report(name, clf.confidence(prediction.scores, prediction.top_k[:, 0]), right, "confidence")


def reference(maps: list[str]) -> None:
    import geopandas as gpd

    ref = yaml.safe_load((ROOT / "docs" / "autzen_reference.yaml").read_text())
    for path in maps:
        tiles = gpd.read_file(path, layer="tiles")
        found = {(r.row, r.col): (r.label, r.score, r.confidence) for r in tiles.itertuples()}
        scores, sure, right = [], [], []
        for spec in ref.values():
            for cell in spec["tiles"]:
                if tuple(cell) in found:
                    label, score, confidence = found[tuple(cell)]
                    scores.append(score)
                    sure.append(confidence)
                    right.append(label in spec["accept"])
        report(f"{path} on the sample scene's reference", scores, right)
        report(f"{path} on the sample scene's reference", sure, right, "confidence", floor=True)
        cells = [tuple(c) for spec in ref.values() for c in spec["tiles"] if tuple(c) in found]
        alike = [_neighbours_alike(found, cell) for cell in cells]
        print("   bound: a curve fitted on these tiles' own labels, each tile left out of its fit (no map has "
              f"them): on the score ECE {_left_out(right, scores):.3f}; on the score and the share of the 8 "
              f"neighbours with its label ECE {_left_out(right, scores, alike):.3f}")


def _neighbours_alike(found: dict, cell: tuple[int, int]) -> float:
    """The share of a tile's classified neighbours (of 8) that carry its label."""
    r, c = cell
    around = [found[n][0] for n in ((r + i, c + j) for i in (-1, 0, 1) for j in (-1, 0, 1)) if n != cell and n in found]
    return float(np.mean([label == found[cell][0] for label in around])) if around else 0.0


def _left_out(right, scores, *extra) -> float:
    """ECE of a logistic curve of the scores' log-odds (and ``extra`` columns), each item's
    confidence from a curve fitted on the others: how far any such curve could go on these items."""
    from rsdsva.confidence import log_odds, fit_logistic

    x = log_odds(scores)
    design = np.stack([x, *[np.asarray(e, float) for e in extra], np.ones_like(x)], axis=1)
    right = np.asarray(right, float)
    out = [1 / (1 + np.exp(-design[i] @ fit_logistic(np.delete(design, i, 0), np.delete(right, i))))
           for i in range(len(right))]
    return calibration(out, right)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("maps", nargs="*", help="GeoPackages of rsdsva map on sample_data/autzen_0p3m_2994.tif")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    test_images()
    reference(a.maps)


if __name__ == "__main__":
    main()
