"""Stitch per-tile attention maps into one float GeoTIFF on the input raster's grid.

Each tile's maps, already upsampled to the tile's size, are added into the
pixels it covers; where tiles overlap the values are averaged; pixels no
classified tile covers are NaN. The mosaic covers only the planned tiles' bounding
window (an AOI on a huge raster costs its own size, not the raster's) and is held
in memory: about (bands + 1) x height x width x 4 bytes, plus the compressed file while
it is written (see :func:`rsdsva.mapping.writers.write_geotiff`). A mosaic that would
not fit in half the machine's memory is refused before any tile is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rasterio.windows import Window

from rsdsva.errors import OutputError


def memory_bytes() -> int:
    """This machine's physical memory (0 where the system does not say)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


class AttentionMosaic:
    def __init__(self, width: int, height: int, bands: int, origin: tuple[int, int] = (0, 0)) -> None:
        """A mosaic of ``width`` x ``height`` pixels whose top-left is the raster's pixel
        ``origin`` (col, row)."""
        self.width, self.height, self.origin = width, height, origin
        self.sum = np.zeros((bands, height, width), dtype=np.float32)
        self.count = np.zeros((height, width), dtype=np.uint16)

    @classmethod
    def over(cls, tiles, raster_width: int, raster_height: int, bands: int, path, budget: int | None = None):
        """The mosaic under ``tiles``' bounding window, clipped to the raster; refused in one
        line, naming the size, where it would take more than ``budget`` bytes (default: half
        of this machine's memory)."""
        windows = [t.window for t in tiles] or [Window(0, 0, 0, 0)]
        c0 = max(0, min(int(w.col_off) for w in windows))
        r0 = max(0, min(int(w.row_off) for w in windows))
        c1 = min(raster_width, max(int(w.col_off + w.width) for w in windows))
        r1 = min(raster_height, max(int(w.row_off + w.height) for w in windows))
        width, height = max(c1 - c0, 0), max(r1 - r0, 0)
        need = width * height * (4 * bands + 2)
        budget = memory_bytes() // 2 if budget is None else budget
        if budget and need > budget:
            raise OutputError(f"{path}: an attention raster of {width} x {height} pixels and {bands} attributes needs "
                              f"{need / 2**30:.1f} GiB of memory, more than the {budget / 2**30:.1f} GiB it may use; "
                              "map a smaller `aoi`, or ask for fewer `attention_attributes`")
        return cls(width, height, bands, (c0, r0))

    def add(self, window: Window, maps: np.ndarray) -> None:
        """Add ``maps`` (bands, h, w), which cover ``window`` (raster pixels), clipped to the mosaic."""
        c0, r0 = int(window.col_off) - self.origin[0], int(window.row_off) - self.origin[1]
        maps = maps[:, max(-r0, 0):, max(-c0, 0):]
        c0, r0 = max(c0, 0), max(r0, 0)
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
        """Write the mosaic; ``transform`` is the raster's, shifted here to the mosaic's origin."""
        from rsdsva.mapping.writers import write_geotiff

        transform = transform * transform.translation(*self.origin)
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
