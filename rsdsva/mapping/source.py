"""One raster's tiles as every command reads them: ``map`` and its Dask workers,
``classes from-map`` and ``explain``.

:func:`open_tile_source` decides once, for a raster, the grid (footprint and stride, from the
settings and the model's footprint) and the reading (bands, value stretch, nodata): a
:class:`TileSource`. It lays out tiles (all, under an area, one by row and column) and reads
them in strips (:func:`tile_reader`: the touching tiles of a grid row in one GDAL call), each
with the windows around it that the model sees. :func:`travelled` fills in the settings that a
classes file or a map recorded (:class:`~rsdsva.mapping.record.ReadRecord`) and refuses the
flags that contradict them, so examples, maps and explanations read the same pixels.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from rsdsva.engines.base import resize, resize_columns, resize_rows
from rsdsva.errors import ConfigError, MissingFileError, RasterError, RsdsvaWarning
from rsdsva.mapping.grid import Grid, Tile, check_grid, iter_windows, pixel_size_m, tile_pixels, tiles_in
from rsdsva.mapping.raster import (
    RasterSpec,
    SpectralSpec,
    band_name,
    make_spec,
    open_raster,
    read_bands,
    read_strip,
    spectral_spec,
)
from rsdsva.mapping.record import ReadRecord, same_number
from rsdsva.mapping.settings import GridSettings, ReadSettings
from rsdsva.examples.spectra import tile_spectra


@dataclass(frozen=True)
class TileSource:
    """A raster's grid and how its tiles are read, decided once (:func:`open_tile_source`)."""

    raster: Path
    spec: RasterSpec
    grid: Grid
    pixel_m: float | None  # ground size of a pixel; None where the CRS is not projected
    read: ReadSettings
    spectral: SpectralSpec | None = None  # each tile's spectra are read too (:meth:`with_spectra`)

    @property
    def tile_m(self) -> float | None:
        """The tile's side in metres (None without a projected CRS)."""
        return self.grid.size * self.pixel_m if self.pixel_m else None

    def tiles(self, area=None) -> list[Tile]:
        """Every tile of the grid, or those overlapping ``area`` (a shapely geometry in the raster's CRS)."""
        g = self.grid
        if area is None:
            return list(iter_windows(g.width, g.height, g.size, g.stride))
        return tiles_in(area, self.spec, g.width, g.height, g.size, g.stride)

    def tile(self, row: int, col: int) -> Tile:
        """The tile of grid cell (``row``, ``col``), as the map's tiles layer numbers them."""
        g = self.grid
        if not (0 <= row < g.rows and 0 <= col < g.cols):
            raise ConfigError(f"tile {row},{col}: {self.raster}'s grid of {g.size} px tiles has rows 0-{g.rows - 1} "
                              f"and columns 0-{g.cols - 1} (the row and col of the map's tiles layer)")
        return Tile(row, col, Window(col * g.stride, row * g.stride, g.size, g.size))

    def reader(self, scales: Sequence[float] = (1.0,)) -> Callable[[Sequence[Tile]], Batch]:
        """Reads batches of tiles with the windows ``scales`` times their size around each
        (:attr:`Batch.views` by margin: :func:`context_pixels`)."""
        return tile_reader(self.spec, self.grid.size, list(self.margins(scales).values()), self.spectral)

    def with_spectra(self, record=None, fix: str = "make the classes again from this raster",
                     src=None) -> TileSource:
        """This source reading each tile's spectra too: the bands ``record`` (a
        :class:`~rsdsva.examples.spectra.SpectralRecord`) names, found in this raster, or every band.
        ``src`` reuses this raster open already."""
        if src is None:
            with open_raster(self.raster, self.read.allow_no_crs) as opened:
                return self.with_spectra(record, fix, opened)
        return replace(self, spectral=spectral_spec(src, self.spec, self.read.scale, record, fix))

    def sample(self, n: int) -> list[Tile]:
        """About ``n`` tiles spread evenly over the grid (every tile of a smaller grid)."""
        tiles = self.tiles()
        return tiles[:: max(1, len(tiles) // n)]

    def margins(self, scales: Sequence[float]) -> dict[float, int]:
        """Window size (times the tile) -> its margin in pixels, as :meth:`reader` keys its views."""
        return {float(s): context_pixels(self.grid.size, s) for s in scales}

    def record(self) -> ReadRecord:
        """How this source reads, as classes files keep it."""
        spec = self.spec
        return ReadRecord(
            tile_px=self.grid.size, tile_m=self.tile_m, pixel_m=self.pixel_m, bands=tuple(spec.bands),
            band_names=tuple(spec.band_names[b - 1] for b in spec.bands), count=spec.count,
            scale=None if self.read.scale is None else tuple(self.read.scale), nodata=self.read.nodata)


def open_tile_source(raster: str | Path, grid: GridSettings = GridSettings(), read: ReadSettings = ReadSettings(),
                     model_tile_m: float | None = None, src=None, note: bool = True) -> TileSource:
    """The :class:`TileSource` of ``raster``: its reading decided and its grid checked
    (:func:`~rsdsva.mapping.grid.check_grid`); ``src`` reuses an open dataset. ``note``: say,
    as warnings, the reading choices made for the user (bands, stretch)."""
    if src is None:
        with open_raster(raster, read.allow_no_crs) as opened:
            return open_tile_source(raster, grid, read, model_tile_m, opened, note)
    raster = Path(raster)
    spec = make_spec(src, read.bands, read.scale, read.nodata)
    if note:
        note_choices(raster, src, spec, read)
    size, stride = tile_pixels(src, grid, model_tile_m)
    check_grid(raster, src, grid, size, stride, model_tile_m, read.max_nodata)
    return TileSource(raster, spec, Grid(src.width, src.height, size, stride), _pixel_m(src), read)


def _pixel_m(src) -> float | None:
    """The ground size of ``src``'s pixels in metres; None where its CRS is not projected."""
    return pixel_size_m(src) if src.crs is not None and src.crs.is_projected else None


def note_choices(raster: Path, src, spec: RasterSpec, settings: ReadSettings) -> None:
    """One line on stderr (a warning) for each reading choice made for the user that changes the pixels:
    bands other than a three-band file's red, green and blue (but for red, green and blue by colour
    interpretation beside alpha or infrared), and a value stretch."""
    plain = src.count == 3 and tuple(spec.bands) == (1, 2, 3)
    others_known = all(src.colorinterp[b].name == "alpha" or spec.band_names[b] in ("nir", "swir1", "swir2")
                       for b in range(spec.count) if b + 1 not in spec.bands)
    if settings.bands is None and not plain and not (spec.chosen_by == "colour interpretation" and others_known):
        names = ", ".join(n or "?" for n in (spec.band_names[b - 1] for b in spec.bands))
        warnings.warn(f"{raster}: using bands {','.join(map(str, spec.bands))} of {src.count} ({names}) as red, green, "
                      f"blue, by {spec.chosen_by}; `bands` to choose others", RsdsvaWarning, stacklevel=3)
    if settings.scale is None and spec.low is not None:
        ranges = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in zip(spec.low, spec.high))
        warnings.warn(f"{raster}: {src.dtypes[0]} values stretched to 0-255 from each band's 2-98 % range "
                      f"({ranges}); `scale` MIN,MAX to fix it", RsdsvaWarning, stacklevel=3)


def travelled(src, grid: GridSettings, read: ReadSettings, record: ReadRecord | None, source: str,
              fix: str = "make the classes again from this raster with rsdsva classes from-map"
              ) -> tuple[GridSettings, ReadSettings]:
    """``grid`` and ``read`` with what ``record`` (from ``source``: a classes file or a map) says
    where the flags were not given; a flag that contradicts it, or a record this raster cannot
    honour, is one line naming both values and the fix. ``src``: the open raster to read."""
    if record is None:
        return grid, read
    said = f"{source}, read as {record.describe()}"
    pixel = _pixel_m(src)
    if grid.tile_size is None and grid.tile_m is None:
        grid = replace(grid, tile_m=record.tile_m) if record.tile_m and pixel else replace(grid, tile_size=record.tile_px)
    else:
        size = grid.tile_size or (round(grid.tile_m / pixel) if pixel else None)
        metres = size * pixel if size and pixel else None
        same = (abs(metres - record.tile_m) <= max(pixel, record.pixel_m or 0) if metres and record.tile_m
                else size == record.tile_px)
        if not same:
            given = f"`tile_size` {grid.tile_size}" if grid.tile_size else f"`tile_m` {grid.tile_m:g}"
            raise ConfigError(f"{given} contradicts {said}; leave {given.split()[0]} out to use theirs, or {fix} "
                              f"and {given}")
    bands = _recorded_bands(src, record)
    if read.bands is None:
        if bands is None:
            raise RasterError(f"{src.name} has {src.count} bands and no {', '.join(n or '?' for n in record.band_names)}"
                              f" bands to match {said}; give `bands` for this raster, or {fix}")
        read = replace(read, bands=bands)
    elif bands is not None and tuple(read.bands) * (3 // len(read.bands)) != bands:
        given = ",".join(map(str, read.bands))
        raise ConfigError(f"`bands` {given} contradicts {said} (bands {','.join(map(str, bands))} here); leave "
                          f"`bands` out to use theirs, or {fix} and `bands` {given}")
    for name, mine, theirs in (("scale", read.scale, record.scale), ("nodata", read.nodata, record.nodata)):
        if mine is None and theirs is not None:
            read = replace(read, **{name: theirs})
        elif mine is not None and not _same(mine, theirs):
            shown = ",".join(f"{v:g}" for v in np.atleast_1d(mine))
            was = "the raster's own" if theirs is None else ",".join(f"{v:g}" for v in np.atleast_1d(theirs))
            raise ConfigError(f"`{name}` {shown} contradicts {said} ({name}: {was}); leave `{name}` out to use "
                              f"theirs, or {fix} and `{name}` {shown}")
    return grid, read


def read_map(path: str | Path, rasters: Sequence[str | Path] = (), flag: str = "--map",
             required: bool = True) -> tuple[ReadRecord, dict] | None:
    """How the map ``path`` (a GeoPackage of ``rsdsva map``) read its raster, and its run record
    (key -> value). Not a map: one line naming ``flag``, or None unless ``required``. A map of
    another raster than ``rasters`` is refused (by file name: a raster moved since keeps it)."""
    from rsdsva.mapping.record import map_read_record
    from rsdsva.mapping.vectors import read_run_layer

    run = read_run_layer(path) if Path(path).is_file() else None
    if run is None:
        if not required:
            return None
        raise ConfigError(f"{flag} {path}: not a map of rsdsva (no run layer); give the GeoPackage rsdsva map wrote")
    mapped = run.get("input")
    if rasters and isinstance(mapped, str) and Path(mapped).name not in {Path(r).name for r in rasters}:
        raise ConfigError(f"{path} is a map of {mapped}, not of {', '.join(map(str, rasters))}; give the raster it "
                          "mapped, or a map of this raster")
    return map_read_record(run, str(path)), run


def settings_of_map(path: str | Path, raster: str | Path) -> tuple[GridSettings, ReadSettings]:
    """The grid and reading settings with which the map ``path`` read ``raster``: read again with
    them, its tiles are the map's tiles."""
    record, run = read_map(path, [raster])
    stride = run.get("stride_px")
    grid = GridSettings(tile_size=record.tile_px, stride=int(stride) if stride else None)
    allow = bool((run.get("settings") or {}).get("allow_no_crs"))  # a map of a raster without a CRS: so is its reading
    return grid, ReadSettings(bands=record.bands, scale=record.scale, nodata=record.nodata, allow_no_crs=allow)


# the classifier settings a map records that say how it ranked its tiles (not where it ran: device)
RANKING = ("model", "classes", "held_out", "mode", "calibration", "example_route", "context", "orientations", "engine",
           "precision")


def classifier_of_map(path: str | Path, classes: bool = True) -> dict:
    """The classifier settings (:class:`~rsdsva.inference.ClassifierSettings` field -> value) with
    which the map ``path`` ranked its tiles: with them a tile is ranked as the map ranked it. Its
    classes file (unless ``classes`` is False: the caller gives its own) is looked for as the map
    was given it, then beside the map; one that is gone is one line, one changed since the map a
    warning."""
    from rsdsva._io import file_sha256

    run = read_map(path)[1]
    recorded = run.get("settings") or {}
    out = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in RANKING and k != "classes"}
    given = recorded.get("classes") if classes else None
    if given:
        found = next((p for p in (Path(given), Path(path).parent / Path(given).name) if p.is_file()), None)
        if found is None:
            raise MissingFileError(f"{path} was mapped with the classes file {given}, which is not there (nor beside "
                                   "the map); give `classes` FILE", setting="classes")
        if run.get("classes_sha256") and file_sha256(found) != run["classes_sha256"]:
            warnings.warn(f"{found} changed since {path} was mapped with it: its ranking may differ from the map's "
                          "labels", RsdsvaWarning, stacklevel=2)
        out["classes"] = str(found)
    return out


# a map's settings that describe its outputs or its classes file, not how it mapped: never taken from it
NOT_LIKE = ("overwrite", "raster", "similarity", "attention_raster", "to_check", "classes")


def settings_like(path: str | Path) -> dict:
    """The settings a map was made with (``MapSettings`` field -> value), from its GeoPackage's
    run layer, less its outputs and classes file (:data:`NOT_LIKE`): to map again as it did."""
    from rsdsva.mapping.settings import MapSettings

    recorded = read_map(path, flag="--like")[1].get("settings") or {}
    known = MapSettings().to_dict()
    return {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in known and k not in NOT_LIKE}


def _same(a, b) -> bool:
    if b is None:
        return False
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    return len(a) == len(b) and all(same_number(float(x), float(y)) for x, y in zip(a, b))


def _recorded_bands(src, record: ReadRecord) -> tuple[int, ...] | None:
    """The bands of ``src`` that hold what the record's bands held: by name where the record
    and the raster name them, else by index where the raster has them; None where it cannot."""
    names = [band_name(src, b) for b in range(1, src.count + 1)]
    wanted = list(record.band_names)
    if wanted and all(wanted) and all(n in names for n in wanted):
        return tuple(names.index(n) + 1 for n in wanted)
    if all(b <= src.count for b in record.bands) and not (wanted and all(wanted) and any(names)):
        return tuple(record.bands)
    return None


@dataclass
class Batch:
    """Tiles as read: the windows the model sees around each, at each margin, and their valid share."""

    tiles: list[Tile]
    views: dict[int, np.ndarray]  # margin -> (n, 3, S, S) the windows the model sees: uint8 as read, or float32 resized
    valid: np.ndarray  # (n,)
    offsets: dict[int, np.ndarray]  # margin -> (n, 2) row, col of each tile's own top-left in its window
    spectra: np.ndarray | None = None  # (n, F) each tile's spectra (rsdsva.examples.spectra.tile_spectra), when asked

    @property
    def images(self) -> np.ndarray:
        """The windows of the first (smallest) margin."""
        return self.views[min(self.views)]


# a run's tiles cover at most this many pixels (12 MB of 3 uint8 bands); its strip is as tall as the widest
# window (3 tiles in the default map: 36 MB), and as floats for the model's input four times that
STRIP_PIXELS = 1 << 22


def seen_window(window: Window, margin: int, width: int, height: int) -> Window:
    """The window the model sees for a tile: grown by ``margin`` pixels on each side and, where
    that reaches past a raster of ``width`` x ``height``, moved back inside it (when the raster
    is large enough). An edge tile is then seen as imagery, its neighbours' included, instead of
    black padding; its label and valid fraction stay the tile's own, which it still contains."""
    span = int(window.width) + 2 * margin

    def place(offset, extent: int) -> int:
        offset = int(offset) - margin
        return min(max(offset, 0), extent - span) if extent >= span else offset

    return Window(place(window.col_off, width), place(window.row_off, height), span, span)


def context_pixels(size: int, context: float) -> int:
    """Pixels of surroundings on each side of a ``size`` tile for a window ``context`` times its size."""
    return int(round((context - 1.0) * size / 2))


def tile_reader(spec: RasterSpec, size: int, margins: int | Sequence[int] = 0,
                spectral: SpectralSpec | None = None, input_size: int | None = None) -> Callable[[Sequence[Tile]], Batch]:
    """Reads the windows the model sees for each tile (:func:`seen_window`: the tile grown by
    each of ``margins`` pixels of context, kept inside the raster), from one strip read at the
    largest; the valid fraction is the tile's own, without the context. ``spectral``: also each
    tile's spectra over those bands (its own pixels, read as stored, one read per strip).
    ``input_size``: each window resized to the model's [0, 1] input of that size (float32), straight
    from the strip (made floats once, not each window that overlaps it); else as read (uint8)."""
    local = threading.local()
    margins = sorted({int(m) for m in ([margins] if isinstance(margins, int) else margins)})
    widest = margins[-1]
    span = size + 2 * widest

    def read(tiles: Sequence[Tile]) -> Batch:
        src = getattr(local, "src", None)
        if src is None:
            src = local.src = rasterio.open(spec.path)
        views = {m: np.empty((len(tiles), 3, *(2 * (input_size or size + 2 * m,))),
                             dtype=np.float32 if input_size else np.uint8) for m in margins}
        offsets = {m: np.empty((len(tiles), 2), dtype=np.int64) for m in margins}
        valid = np.empty(len(tiles), dtype=np.float32)
        spectra = None if spectral is None else np.empty((len(tiles), _n_spectra(spectral)), np.float32)
        for first, run in _runs(tiles, size):
            outer = [seen_window(t.window, widest, spec.width, spec.height) for t in run]
            left, top = int(outer[0].col_off), int(outer[0].row_off)  # one grid row: one top; cols ascend
            data, ok = read_strip(src, spec, Window(left, top, int(outer[-1].col_off) + span - left, span))
            pixels = data.astype(np.float32) if input_size else data
            for i, t in enumerate(run, start=first):
                oy, ox = int(t.window.row_off) - top, int(t.window.col_off) - left  # the tile in the strip
                valid[i] = ok[oy : oy + size, ox : ox + size].sum() / (size * size)  # past the strip: outside
            for m in margins:
                n = size + 2 * m
                windows = outer if m == widest else [seen_window(t.window, m, spec.width, spec.height) for t in run]
                y = int(windows[0].row_off) - top  # a run's windows share their rows
                # shrunk down the columns once for the whole strip, then each window along its rows
                rows = (resize_rows(pixels[:, y : y + n], input_size, antialias=True)
                        if input_size and 0 <= y and y + n <= pixels.shape[1] else None)
                for i, (t, w) in enumerate(zip(run, windows), start=first):
                    x = int(w.col_off) - left
                    if rows is not None and 0 <= x and x + n <= rows.shape[2]:
                        views[m][i] = resize_columns(rows[:, :, x : x + n], input_size, antialias=True)
                    else:  # as read, or (a raster smaller than the window) padded first
                        window = _cut(pixels, y, x, n)
                        views[m][i] = resize(window, input_size, input_size, antialias=True) if input_size else window
                    offsets[m][i] = int(t.window.row_off) - top - y, int(t.window.col_off) - left - x
            if spectral is not None:
                _spectra_of(src, spectral, run, data_valid=ok, top=top, left=left, size=size,
                            out=spectra[first : first + len(run)])
        if input_size:
            for v in views.values():  # the resize is linear: scaled to [0, 1] on its small result
                v *= np.float32(1 / 255)
        return Batch(list(tiles), views, valid, offsets, spectra)

    return read


def _n_spectra(spectral: SpectralSpec) -> int:
    return len(spectral.bands) + len(spectral.indexes)


def _spectra_of(src, spectral: SpectralSpec, run: Sequence[Tile], data_valid: np.ndarray, top: int, left: int,
                size: int, out: np.ndarray) -> None:
    """The spectra of one run of tiles (a grid row's touching tiles) into ``out``: their own pixels,
    every band asked for, in one read; valid where the strip's pixels are."""
    first, last = run[0].window, run[-1].window
    raw = read_bands(src, spectral.bands, Window(first.col_off, first.row_off, last.col_off + size - first.col_off,
                                                 size))
    low, high = np.array(spectral.low, np.float32), np.array(spectral.high, np.float32)
    for j, t in enumerate(run):
        oy, ox = int(t.window.row_off) - top, int(t.window.col_off) - left
        x = int(t.window.col_off - first.col_off)
        mask = np.zeros((size, size), bool)  # past the strip: outside the raster
        part = data_valid[oy : oy + size, ox : ox + size]
        mask[: part.shape[0], : part.shape[1]] = part
        out[j] = tile_spectra(raw[:, :, x : x + size], mask, low, high, spectral.indexes)


def _cut(data: np.ndarray, y: int, x: int, n: int) -> np.ndarray:
    """data[:, y:y+n, x:x+n] (a view), zero where that reaches past the strip (a raster smaller than the window)."""
    if y >= 0 and x >= 0 and y + n <= data.shape[1] and x + n <= data.shape[2]:
        return data[:, y : y + n, x : x + n]
    out = np.zeros((data.shape[0], n, n), dtype=data.dtype)
    ys, xs = max(y, 0), max(x, 0)
    part = data[:, ys : y + n, xs : x + n]
    out[:, ys - y : ys - y + part.shape[1], xs - x : xs - x + part.shape[2]] = part
    return out


def _runs(tiles: Sequence[Tile], size: int) -> Iterator[tuple[int, list[Tile]]]:
    """(index of the first, tiles) for each run of tiles in one grid row that touch or overlap."""
    start = 0
    for i in range(1, len(tiles) + 1):
        if i < len(tiles):
            a, b = tiles[i - 1].window, tiles[i].window
            same_row = b.row_off == a.row_off and a.col_off < b.col_off <= a.col_off + size
            if same_row and (b.col_off + size - tiles[start].window.col_off) * size <= STRIP_PIXELS:
                continue
        yield start, list(tiles[start:i])
        start = i


