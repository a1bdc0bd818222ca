#!/usr/bin/env python
"""How far the change score's signal can go on the shared Sentinel-2 cities (#38's goal: mean F1
0.60 at the default threshold). For several ways to sum up a tile's pixel residuals (the scene's
linear map of BEFORE's log values onto AFTER's, as ``rsdsva change`` fits it; 32-px tiles): F1 at
the default threshold (0.98 on the robust z-score's normal probability), and at the best
threshold chosen afterwards for each city, which no default can beat. Truth as in
bench_change.py: a tile is changed when 5 % of its labelled pixels changed.

  python scripts/bench/probe_change_signal.py      # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio

from rsdsva.mapping.change import _fit, _residuals, change_scores

OSCD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "change" / "oscd"
SIZE = 32
STATISTICS = {  # name -> a tile's move from its valid pixels' residuals (in robust spreads)
    "95th percentile (today's)": lambda r: np.percentile(r, 95),
    "90th percentile": lambda r: np.percentile(r, 90),
    "97th percentile": lambda r: np.percentile(r, 97),
    "99th percentile": lambda r: np.percentile(r, 99),
    "mean": np.mean,
    "share above 4 spreads": lambda r: (r > 4).mean(),
    "share above 6 spreads": lambda r: (r > 6).mean(),
}


def f1(flagged: np.ndarray, truth: np.ndarray) -> float:
    scored = truth >= 0
    flagged, changed = flagged[scored], truth[scored] == 1
    hits = (flagged & changed).sum()
    precision, recall = hits / max(flagged.sum(), 1), hits / max(changed.sum(), 1)
    return 2 * precision * recall / max(precision + recall, 1e-9)


def city_tiles(city: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Each tile's valid pixel residuals, and its truth (1, 0, or -1: not scored), row by row."""
    files = sorted((OSCD / city).glob("*.tif"))
    label = next(f for f in files if "change" in f.name)
    before, after = [f for f in files if f != label]
    residuals, truth = [], []
    with rasterio.open(before) as b, rasterio.open(after) as a, rasterio.open(label) as lab:
        weights, spread = _fit(b, a)
        changed = lab.read(1)
        cols = -(-b.width // SIZE)
        for row in range(-(-b.height // SIZE)):
            r, valid = _residuals(b, a, weights, spread, row * SIZE, 0, cols * SIZE, SIZE)
            for col in range(cols):
                cell = changed[row * SIZE : (row + 1) * SIZE, col * SIZE : (col + 1) * SIZE]
                known = cell != 255
                truth.append(-1 if known.mean() < 0.5 else int((cell[known] == 1).mean() >= 0.05))
                residuals.append(r[:, col * SIZE : (col + 1) * SIZE][valid[:, col * SIZE : (col + 1) * SIZE]])
    return residuals, np.array(truth)


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    cities = {c: city_tiles(c) for c in ("beirut", "cupertino", "mumbai")}
    print("F1 of the changed tiles; best: the best threshold chosen afterwards for each city")
    print(f"{'tile move':27s} {'beirut':>7s} {'cupertino':>9s} {'mumbai':>7s} {'mean':>6s}   "
          f"{'best:':>6s} {'beirut':>7s} {'cupertino':>9s} {'mumbai':>7s} {'mean':>6s}")
    for name, stat in STATISTICS.items():
        at_default, best = [], []
        for residuals, truth in cities.values():
            moves = np.array([stat(r) if r.size else np.nan for r in residuals], dtype=np.float64)
            scores = change_scores(moves)
            at_default.append(f1(scores >= 0.98, truth))
            best.append(max(f1(scores >= t, truth) for t in np.linspace(0.5, 0.9999, 200)))
        print(f"{name:27s} {_row(at_default)}   {'':6s} {_row(best)}")


def _row(f1s: list[float]) -> str:
    return f"{f1s[0]:7.2f} {f1s[1]:9.2f} {f1s[2]:7.2f} {np.mean(f1s):6.2f}"


if __name__ == "__main__":
    main()
