"""Stitch per-tile attention maps into one float GeoTIFF on the input raster's grid.

Each tile's maps, already upsampled to the tile's size, are added into the
pixels it covers; where tiles overlap the values are averaged; pixels no
classified tile covers are NaN. The mosaic is held in memory:
(bands + 1) x height x width x 4 bytes, plus the compressed file while it is written (see
:func:`rsdsva.mapping.writers.write_geotiff`), so ask for few attributes on huge rasters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rasterio.windows import Window


class AttentionMosaic:
    def __init__(self, width: int, height: int, bands: int) -> None:
        self.width, self.height = width, height
        self.sum = np.zeros((bands, height, width), dtype=np.float32)
        self.count = np.zeros((height, width), dtype=np.uint16)

    def add(self, window: Window, maps: np.ndarray) -> None:
        """Add ``maps`` (bands, h, w), which cover ``window``, clipped to the raster."""
        c0, r0 = int(window.col_off), int(window.row_off)
        c1, r1 = min(c0 + maps.shape[2], self.width), min(r0 + maps.shape[1], self.height)
        if c1 <= c0 or r1 <= r0:
            return
        self.sum[:, r0:r1, c0:c1] += maps[:, : r1 - r0, : c1 - c0]
        self.count[r0:r1, c0:c1] += 1

    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.sum / self.count
        out[:, self.count == 0] = np.nan
        return out

    def write(self, path: str | Path, crs: Any, transform: Any, names: Sequence[str]) -> None:
        from rsdsva.mapping.writers import write_geotiff

        data = self.mean()
        tiled = self.width >= 256 and self.height >= 256
        profile = dict(driver="GTiff", width=self.width, height=self.height, count=len(names), dtype="float32",
                       crs=crs, transform=transform, nodata=float("nan"), compress="deflate", predictor=3,
                       tiled=tiled, **({"blockxsize": 256, "blockysize": 256} if tiled else {}))

        def fill(dst) -> None:
            dst.write(data)
            for i, name in enumerate(names, start=1):
                dst.set_band_description(i, name)

        write_geotiff(path, profile, fill)
