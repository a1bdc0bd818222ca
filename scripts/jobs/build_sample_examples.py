#!/usr/bin/env python
"""Write sample_data/autzen_examples.gpkg: three example areas per kind on the sample scene.

Each is a square of 224 ft (68 m) inside one tile of the default model's grid (256 px of
1 ft). They were picked by eye on the scene, before any map was scored, to cover the looks
each kind has there, as a user drawing examples would: water in the river and in the pond,
dry and green grass, a full and two empty parking lots, the stadium's pitch and stands.

  python scripts/jobs/build_sample_examples.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import rasterio
from shapely.geometry import box

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
OUT = ROOT / "sample_data" / "autzen_examples.gpkg"
TILE, INSET = 256, 16  # pixels of the grid; the square stays this far inside its tile

# kind -> (row, col) of the grid tiles drawn on (all are among docs/autzen_reference.yaml's tiles)
EXAMPLES = {
    "open_water": [(15, 3), (16, 6), (14, 11)],  # the river, mid-stream and by the bank; the pond
    "woods": [(12, 5), (10, 7), (6, 12)],
    "lawn": [(4, 1), (11, 3), (16, 1)],  # a green sports lawn; dry meadow grass
    "car_park": [(2, 7), (5, 10), (8, 9)],  # a full lot; two empty striped ones
    "sports_stadium": [(5, 6), (4, 7), (6, 7)],  # the pitch; the stands
    "big_roofs": [(0, 4), (1, 7), (5, 3)],
}


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with rasterio.open(SCENE) as src:
        t, crs = src.transform, src.crs
    kinds, shapes = [], []
    for kind, cells in EXAMPLES.items():
        for row, col in cells:
            x0, y0 = t * (col * TILE + INSET, row * TILE + INSET)
            x1, y1 = t * ((col + 1) * TILE - INSET, (row + 1) * TILE - INSET)
            kinds.append(kind)
            shapes.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    gpd.GeoDataFrame({"kind": kinds}, geometry=shapes, crs=crs).to_file(OUT, layer="example_areas", driver="GPKG")
    print(f"wrote {OUT}: {len(kinds)} example areas")


if __name__ == "__main__":
    main()
