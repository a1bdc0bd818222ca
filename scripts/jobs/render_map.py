#!/usr/bin/env python
"""Render a mapped GeoPackage over its raster to a PNG (the README's picture).

  python scripts/jobs/render_map.py sample_data/autzen_0p3m_2994.tif labels.gpkg /tmp/sample_map.png

Left the scene, right the tiles coloured by label (the GeoPackage style's colours), the
legend listing the labels present by tile count. Scores are printed on the tiles only when
there are few enough to read (--scores auto: up to 300).
"""

from __future__ import annotations

import argparse

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import rasterio  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from rasterio.enums import Resampling  # noqa: E402

from rsdsva.colors import class_colors, parse_color  # noqa: E402

MAX_SCORED = 300


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raster")
    p.add_argument("gpkg")
    p.add_argument("out")
    p.add_argument("--scores", choices=("auto", "yes", "no"), default="auto")
    p.add_argument("--title", default="rsdsva map: label per tile")
    a = p.parse_args()
    tiles = gpd.read_file(a.gpkg, layer="tiles")
    classes = gpd.read_file(a.gpkg, layer="classes")
    rgbs = ([parse_color(c) for c in classes["color"]] if "color" in classes  # the map's own colours
            else class_colors(list(classes["name"])))  # a map made before they were recorded
    colors = dict(zip(classes["name"], [tuple(c / 255 for c in rgb) for rgb in rgbs]))
    with rasterio.open(a.raster) as src:
        step = max(1, max(src.width, src.height) // 900)  # a decimated read: the picture needs no more
        image = src.read([1, 2, 3], out_shape=(3, src.height // step, src.width // step),
                         resampling=Resampling.average).transpose(1, 2, 0)
        b = src.bounds
    aspect = (b.top - b.bottom) / (b.right - b.left)
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, 1 + 6.4 * aspect))
    for ax in (left, right):
        ax.imshow(image, extent=(b.left, b.right, b.bottom, b.top))
        ax.set_axis_off()
    tiles.plot(ax=right, color=[colors[label] for label in tiles["label"]], alpha=0.6, edgecolor="black", linewidth=0.3)
    if a.scores == "yes" or (a.scores == "auto" and len(tiles) <= MAX_SCORED):
        for t in tiles.itertuples():
            c = t.geometry.centroid
            right.annotate(f"{t.score:.2f}", (c.x, c.y), ha="center", va="center", fontsize=5)
    right.set_xlim(b.left, b.right)
    right.set_ylim(b.bottom, b.top)
    counts = tiles["label"].value_counts()
    unseen = dict(zip(classes["name"], ~classes["seen"].astype(bool)))
    handles = [Patch(color=colors[n], label=f"{n}{' (unseen)' if unseen[n] else ''}: {k}") for n, k in counts.items()]
    right.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, title="label: tiles")
    left.set_title("input")
    right.set_title(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=90)


if __name__ == "__main__":
    main()
