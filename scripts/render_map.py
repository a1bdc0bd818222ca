#!/usr/bin/env python
"""Render a mapped GeoPackage over its raster to a PNG (the README's picture).

  python scripts/render_map.py sample_data/gangwon_0p6m_3857.tif labels.gpkg docs/sample_map.png
"""

from __future__ import annotations

import sys

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import rasterio  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from rsdsva.mapping.writers import class_colors  # noqa: E402


def main(raster: str, gpkg: str, out: str) -> None:
    tiles = gpd.read_file(gpkg, layer="tiles")
    classes = gpd.read_file(gpkg, layer="classes")
    colors = dict(zip(classes["name"], [tuple(c / 255 for c in rgb) for rgb in class_colors(len(classes))]))
    with rasterio.open(raster) as src:
        image = src.read([1, 2, 3]).transpose(1, 2, 0)
        b = src.bounds
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6.5))
    for ax in (left, right):
        ax.imshow(image, extent=(b.left, b.right, b.bottom, b.top))
        ax.set_axis_off()
    tiles.plot(ax=right, color=[colors[label] for label in tiles["label"]], alpha=0.55, edgecolor="black", linewidth=0.4)
    for t in tiles.itertuples():
        c = t.geometry.centroid
        right.annotate(f"{t.score:.2f}", (c.x, c.y), ha="center", va="center", fontsize=6)
    right.set_xlim(b.left, b.right)
    right.set_ylim(b.bottom, b.top)
    present = [n for n in classes["name"] if n in set(tiles["label"])]
    unseen = dict(zip(classes["name"], ~classes["seen"].astype(bool)))
    right.legend(handles=[Patch(color=colors[n], label=n + (" (unseen)" if unseen[n] else "")) for n in present],
                 loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    left.set_title("input")
    right.set_title("rsdsva map: label and score per tile")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main(*sys.argv[1:4])
