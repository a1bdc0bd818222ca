"""A GeoTIFF mosaic of labelled scene images: a scene whose every tile's class is known.

Benchmarks and tests map it and score the map cell by cell against the images' labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from rsdsva.data.images import Sample

ORIGIN = (500_000.0, 4_000_000.0)  # top left, in the CRS's metres: anywhere in a UTM zone


def write_image_mosaic(
    samples: Sequence[Sample],
    path: str | Path,
    columns: int,
    cell_px: int = 256,
    pixel_m: float = 0.3048,
    crs: str = "EPSG:32610",
    origin: tuple[float, float] = ORIGIN,
) -> list[tuple[int, int, str]]:
    """Write ``samples``, each resized to ``cell_px`` square, row by row into a GeoTIFF of
    ``pixel_m`` metre pixels; returns (row, col, label) of each cell. Unfilled cells of the
    last row are nodata (mask)."""
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin

    from rsdsva._io import atomic_path

    rows = -(-len(samples) // columns)
    data = np.zeros((3, rows * cell_px, columns * cell_px), dtype=np.uint8)
    mask = np.zeros((rows * cell_px, columns * cell_px), dtype=np.uint8)
    cells = []
    for i, s in enumerate(samples):
        r, c = divmod(i, columns)
        with Image.open(s.source) as im:
            img = np.asarray(im.convert("RGB").resize((cell_px, cell_px), Image.BILINEAR))
        data[:, r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px] = img.transpose(2, 0, 1)
        mask[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px] = 255
        cells.append((r, c, s.label))
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=3, dtype="uint8", crs=crs,
                   transform=from_origin(*origin, pixel_m, pixel_m), tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate")
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data)
        dst.write_mask(mask)
    return cells


def cell_polygon(row: int, col: int, cell_px: int = 256, pixel_m: float = 0.3048, inset: float = 0.1,
                 origin: tuple[float, float] = ORIGIN):
    """The ground footprint of a mosaic cell, shrunk by ``inset`` of its side on each edge."""
    from shapely.geometry import box

    side = cell_px * pixel_m
    x0, y1 = origin[0] + col * side, origin[1] - row * side
    d = inset * side
    return box(x0 + d, y1 - side + d, x0 + side - d, y1 - d)
