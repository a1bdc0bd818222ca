#!/usr/bin/env python
"""``rsdsva change`` on the shared Sentinel-2 cities (../shared/data/change/oscd/: Beirut, Cupertino,
Mumbai; 6 bands at 10 m, hand-drawn change labels), 32-px tiles, the default threshold.

A tile is truly changed when at least 5 % of its labelled pixels changed (the label's 255,
outside, left out; tiles less than half labelled are not scored). Prints precision, recall and
F1 of the ``changed`` tiles per city and their mean; and, on the first city, the seconds of a
change map against one map of BEFORE with the same settings (the target: at most 2.2 times).

  python scripts/bench/bench_change.py      # about 2 minutes on 2 CPU cores
  python scripts/bench/bench_change.py --picture docs/change_cupertino.jpg   # and draw Cupertino's
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio

from rsdsva.mapping import MapSettings, map_scene
from rsdsva.mapping.change import change_scenes

ROOT = Path(__file__).resolve().parents[2]
OSCD = ROOT.parent / "shared" / "data" / "change" / "oscd"
CITIES = ("beirut", "cupertino", "mumbai")


def truth(label: Path, tiles: gpd.GeoDataFrame, size: int) -> np.ndarray:
    """1 changed, 0 not, -1 not scored, for each tile (row, col) of the change map."""
    with rasterio.open(label) as src:
        lab = src.read(1)
    out = []
    for row, col in zip(tiles["row"], tiles["col"]):
        cell = lab[row * size : (row + 1) * size, col * size : (col + 1) * size]
        known = cell != 255
        out.append(-1 if known.mean() < 0.5 else int((cell[known] == 1).mean() >= 0.05))
    return np.array(out)


def draw(before: Path, after: Path, tiles: gpd.GeoDataFrame, y: np.ndarray, path: Path) -> None:
    """Both dates in true colour and the change map: changed tiles outlined and named by their to-class
    (label truly changed in the dataset: solid, else dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def rgb(raster: Path) -> tuple[np.ndarray, list]:
        with rasterio.open(raster) as src:
            data = src.read([3, 2, 1]).astype(np.float32)
            bounds = src.bounds
        lo, hi = np.percentile(data[data > 0], [2, 98])
        return np.clip((data - lo) / (hi - lo), 0, 1).transpose(1, 2, 0), [bounds.left, bounds.right,
                                                                             bounds.bottom, bounds.top]

    fig, axes = plt.subplots(1, 3, figsize=(15, 8))
    for ax, raster, title in zip(axes, (before, after, after), ("before", "after", "change (to-class)")):
        image, extent = rgb(raster)
        ax.imshow(image, extent=extent)
        ax.set_title(f"{raster.stem}: {title}" if title != "change (to-class)" else title)
        ax.set_axis_off()
    ax = axes[2]
    for (_, tile), real in zip(tiles[tiles["changed"]].iterrows(), y[tiles["changed"].to_numpy(bool)]):
        x0, y0, x1, y1 = tile.geometry.bounds
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="yellow" if real == 1 else "orange",
                linestyle="-" if real == 1 else "--", linewidth=1)
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, tile.to_label, fontsize=5, color="white", ha="center", va="center")
    fig.suptitle("rsdsva change, 320 m tiles: changed tiles outlined (solid: changed in the hand label, dashed: not)")
    fig.tight_layout()
    fig.savefig(path, dpi=100, pil_kwargs={"quality": 80})
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tile-size", type=int, default=32)
    p.add_argument("--threshold", type=float, default=None, help="default: rsdsva change's")
    p.add_argument("--picture", default=None, help="draw Cupertino's two dates and change map to this PNG")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    settings = MapSettings(tile_size=a.tile_size)
    scores = []
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'city':10} {'tiles':>6} {'truly':>6} {'flagged':>8} {'precision':>10} {'recall':>7} {'F1':>6}")
        for i, city in enumerate(CITIES):
            before, after = sorted((OSCD / city).glob(f"{city}_20*.tif"))
            out = Path(tmp) / f"{city}.gpkg"
            t0 = time.perf_counter()
            change_scenes(before, after, out, settings, a.threshold)
            seconds = time.perf_counter() - t0
            tiles = gpd.read_file(out, layer="tiles")
            y = truth(OSCD / city / f"{city}_change.tif", tiles, a.tile_size)
            scored = y >= 0
            flagged, real = tiles["changed"].to_numpy(bool)[scored], y[scored] == 1
            tp = int((flagged & real).sum())
            precision, recall = tp / max(flagged.sum(), 1), tp / max(real.sum(), 1)
            f1 = 2 * precision * recall / max(precision + recall, 1e-9)
            scores.append(f1)
            print(f"{city:10} {scored.sum():6d} {real.sum():6d} {flagged.sum():8d} {precision:10.2f} {recall:7.2f} "
                  f"{f1:6.2f}", flush=True)
            if a.picture and city == "cupertino":
                draw(before, after, tiles, y, Path(a.picture))
            if i == 0:
                t0 = time.perf_counter()
                map_scene(before, Path(tmp) / "map.gpkg", settings)
                one_map = time.perf_counter() - t0
                timing = f"{city}: change {seconds:.1f} s, one map of BEFORE {one_map:.1f} s: {seconds / one_map:.2f}x"
        print(f"{'mean F1':>57} {np.mean(scores):6.2f}")
        print(timing)


if __name__ == "__main__":
    main()
