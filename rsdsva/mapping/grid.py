"""A raster's tile grid, with no torch: where the tiles are, how large, and which are kept.

:class:`Grid` is the grid's shape as one small value (the raster's size in pixels, the tile
size and stride; its rows and columns); :func:`tile_pixels` turns the settings and the model's footprint into pixels,
:func:`check_grid` refuses grids that cannot give a useful map, and an AOI bounds the grid
before it is laid out (:func:`aoi_area`, :func:`tiles_in`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from rasterio.windows import Window

from rsdsva.errors import ConfigError, RasterError
from rsdsva.mapping.settings import GridSettings, ReadSettings

MIN_TILE_PX = 32  # below this a scene classifier sees colour, not content


@dataclass(frozen=True)
class Tile:
    """One window of the grid; ``row``/``col`` are grid positions."""

    row: int
    col: int
    window: Window


def pixel_size_m(src) -> float:
    """Ground size of a pixel in metres (Web Mercator corrected by latitude)."""
    crs = src.crs
    if crs is None or not crs.is_projected:
        raise RasterError(
            f"{src.name}: CRS is not projected, so `tile_m` cannot be turned into pixels; give `tile_size` in pixels",
            setting="tile_size")
    size = abs(src.transform.a) * (crs.linear_units_factor[1] if crs.linear_units_factor else 1.0)
    if crs.to_epsg() in (3857, 900913):
        from rasterio.warp import transform as reproject_points

        cx, cy = src.xy(src.height // 2, src.width // 2)
        _, lat = reproject_points(crs, "EPSG:4326", [cx], [cy])
        size *= math.cos(math.radians(lat[0]))
    return size


def window_bounds(spec, window: Window) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a window in the raster's CRS (``spec``: a RasterSpec)."""
    from rasterio.windows import bounds

    return bounds(window, spec.transform)


@dataclass(frozen=True)
class Grid:
    """``size`` px tiles every ``stride`` px over a ``width`` x ``height`` px raster."""

    width: int
    height: int
    size: int
    stride: int

    @property
    def rows(self) -> int:
        return max(1, math.ceil((self.height - self.size) / self.stride) + 1)

    @property
    def cols(self) -> int:
        return max(1, math.ceil((self.width - self.size) / self.stride) + 1)


def iter_windows(width: int, height: int, size: int, stride: int,
                 within: tuple[float, float, float, float] | None = None) -> Iterator[Tile]:
    """A grid of ``size`` windows every ``stride`` pixels covering the raster.

    Edge windows reach past the raster (they are padded when read), so every
    pixel is covered; a window larger than the raster gives one padded tile.
    ``within`` (col_min, row_min, col_max, row_max in pixels) keeps the windows that may
    touch that box, without laying out the rest of the grid.
    """
    if size < 1 or stride < 1:
        raise RasterError(f"tile size ({size}) and stride ({stride}) must be positive")
    grid = Grid(width, height, size, stride)
    r0, c0, r1, c1 = 0, 0, grid.rows, grid.cols
    if within is not None:
        x0, y0, x1, y1 = within
        c0, r0 = max(0, math.floor((x0 - size) / stride)), max(0, math.floor((y0 - size) / stride))
        c1, r1 = min(grid.cols, math.ceil(x1 / stride) + 1), min(grid.rows, math.ceil(y1 / stride) + 1)
    for r in range(r0, r1):
        for c in range(c0, c1):
            yield Tile(r, c, Window(c * stride, r * stride, size, size))


def tile_pixels(src, settings: GridSettings, model_tile_m: float | None) -> tuple[int, int]:
    """Tile size and stride in pixels from the settings and the model's footprint."""
    for flag, value in (("`tile_size`", settings.tile_size), ("`stride`", settings.stride), ("`tile_m`", settings.tile_m)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value:g} must be positive")
    size = settings.tile_size
    if size is None:
        tile_m = settings.tile_m or model_tile_m
        if tile_m is None:
            raise ConfigError("the model records no tile footprint; give `tile_size` (pixels) or `tile_m` (metres)")
        if src.crs is None or not src.crs.is_projected:  # say what was given: the user's --tile-m or the model's
            what = f"`tile_m` {settings.tile_m:g}" if settings.tile_m else f"the model's {tile_m:g} m tile footprint"
            crs = "has no CRS" if src.crs is None else "has a CRS in degrees"
            raise RasterError(f"{src.name} {crs}, so {what} cannot be turned into pixels; give `tile_size` in pixels",
                              setting="tile_size")
        size = max(1, round(tile_m / pixel_size_m(src)))
    return size, settings.stride or size


def check_grid(raster: Path, src, settings: GridSettings, size: int, stride: int, model_tile_m: float | None,
               max_nodata: float = ReadSettings.max_nodata) -> None:
    """Refuse, before any tile is read, grids that cannot give a useful map."""
    if size < MIN_TILE_PX and not settings.allow_small_tiles:
        if settings.tile_size is not None:
            why = f"`tile_size` {size}"
        else:
            metres = settings.tile_m or model_tile_m
            given = "`tile_m`" if settings.tile_m else "the model's footprint"
            why = f"{given} of {metres:g} m at {pixel_size_m(src):.3g} m per pixel"
            if model_tile_m and settings.tile_m:
                why += f" (the model was trained on {model_tile_m:g} m tiles)"
        projected = src.crs is not None and src.crs.is_projected
        nearest = (f"`tile_size` {MIN_TILE_PX} ({MIN_TILE_PX * pixel_size_m(src):g} m tiles here) or `tile_m` "
                   f"{MIN_TILE_PX * pixel_size_m(src):g} or more" if projected else f"`tile_size` {MIN_TILE_PX} or more")
        raise RasterError(
            f"{raster}: tiles would be {size} px ({why}), under {MIN_TILE_PX} px, where the model sees colour, "
            f"not content; give {nearest} (footprints for 1-10 m imagery: docs/mapping.md), or `allow_small_tiles`"
        )
    valid = min(src.width, size) * min(src.height, size) / size**2
    if valid < 1 - max_nodata:
        raise RasterError(
            f"{raster} is {src.width} x {src.height} px: even its largest tile of {size} px would be "
            f"{valid:.0%} data, less than `max_nodata` {max_nodata:g} allows; give a smaller "
            "`tile_size` or `tile_m`"
        )
    grid = Grid(src.width, src.height, size, stride)
    if not settings.aoi:  # with an AOI, plan_map counts the tiles left inside it
        check_tile_count(raster, grid.rows * grid.cols, size, stride, settings.max_tiles)


def check_tile_count(raster: Path, n: int, size: int, stride: int, max_tiles: int) -> None:
    if n > max_tiles:
        raise RasterError(
            f"{raster}: {n:,} tiles of {size} px (stride {stride}), more than `max_tiles` "
            f"{max_tiles:,}; give a larger `tile_m` or `stride`, an `aoi`, or a higher `max_tiles`"
        )


def aoi_area(aoi: str | Path, raster: Path, spec):
    """The AOI file's shapes, in the raster's CRS, as one geometry; one line when it has none
    or they miss the raster."""
    from shapely.geometry import box

    from rsdsva.mapping.vectors import read_vector

    shapes = read_vector(aoi, "AOI")
    shapes = shapes[shapes.geometry.notna() & ~shapes.geometry.is_empty]
    if shapes.empty:
        raise RasterError(f"`aoi` {aoi} has no geometries; draw the area to map in it, or leave `aoi` out")
    area = shapes.to_crs(spec.crs).union_all()
    full = box(*window_bounds(spec, Window(0, 0, spec.width, spec.height)))
    if not area.intersects(full):
        raise RasterError(f"`aoi` {aoi} does not overlap {raster} (AOI {_bounds(area.bounds)}, raster "
                          f"{_bounds(full.bounds)} in {spec.crs}); give an AOI over the raster")
    return area


def _bounds(b) -> str:
    return "{:.0f},{:.0f} - {:.0f},{:.0f}".format(*b)


def tiles_in(area, spec, width: int, height: int, size: int, stride: int) -> list:
    """The grid's tiles overlapping ``area``; only the part of the grid under its bounds is laid out."""
    from shapely.geometry import box

    xmin, ymin, xmax, ymax = area.bounds
    (c0, r0), (c1, r1) = ~spec.transform * (xmin, ymax), ~spec.transform * (xmax, ymin)
    within = (min(c0, c1), min(r0, r1), max(c0, c1), max(r0, r1))
    tiles = [(t, box(*window_bounds(spec, t.window))) for t in iter_windows(width, height, size, stride, within)]
    return [t for t, b in tiles if b.intersects(area) and not b.touches(area)]  # a shared edge is not overlap
