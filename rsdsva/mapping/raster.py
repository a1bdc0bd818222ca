"""Open, validate and tile a raster; read tiles as uint8 RGB. Knows nothing of torch.

Scaling: uint8 bands are used as they are. Other types go through a per-band
linear stretch from the 2nd to the 98th percentile of valid pixels, computed once
from a decimated read (GDAL uses overviews when the file has them) and applied to
every tile alike; ``scale=(min, max)`` sets it for all bands.

Nodata: ``nodata`` if given, else the file's nodata value, its mask band or an
alpha band (GDAL's dataset mask covers all three).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from rsdsva.errors import ConfigError, MissingFileError, RasterError

_RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)

# Tiles are read once, row by row: a modest block cache keeps memory flat on huge mosaics
# (GDAL's default is 5% of RAM). A user's own GDAL_CACHEMAX wins.
os.environ.setdefault("GDAL_CACHEMAX", "256")


@dataclass(frozen=True)
class RasterSpec:
    """What reading needs to know about a raster, decided once."""

    path: str
    width: int
    height: int
    crs: object
    transform: object
    bands: tuple[int, ...]  # 1-based, three of them: red, green, blue
    low: tuple[float, ...] | None  # per-band stretch; None for uint8
    high: tuple[float, ...] | None
    nodata: float | None  # explicit value, or None to use the dataset mask
    band_names: tuple[str | None, ...] = ()  # every band's (:func:`band_name`)
    chosen_by: str = ""  # how ``bands`` were chosen (:func:`choose_bands`)
    palette: bytes | None = None  # a paletted band's colour table, 256 RGB triples: its values are indexes

    @property
    def count(self) -> int:
        """The raster's bands, all of them."""
        return len(self.band_names)


def open_raster(path: str | Path, allow_no_crs: bool = False) -> rasterio.DatasetReader:
    """Open read-only, with one clear error per way a file can be unusable."""
    from rsdsva._io import check_input_file

    path = Path(path)
    if path.exists() and not path.is_dir():  # a folder may be a format's (an ESRI grid)
        check_input_file(path, "the input raster")
    if not path.exists():
        raise MissingFileError(f"input raster not found: {path}; check the path")
    try:
        src = rasterio.open(path)
    except RasterioIOError as err:
        raise RasterError(f"{path}: not a raster GDAL can read, or corrupt ({str(err)[:120]})") from None
    if src.width == 0 or src.height == 0:
        src.close()
        raise RasterError(f"{path}: raster has zero size ({src.width} x {src.height})")
    gcps, gcp_crs = src.gcps
    if gcps and src.transform.is_identity:  # georeferenced by control points only: its pixels are not on a grid yet
        src.close()
        raise RasterError(f"{path}: georeferenced by {len(gcps)} ground control points, not a grid; warp it onto one "
                          f"first: gdalwarp{' -t_srs ' + str(gcp_crs) if gcp_crs else ''} {path.name} warped.tif")
    if src.crs is None and not allow_no_crs:
        src.close()
        raise RasterError(f"{path}: raster has no CRS; assign one (gdal_edit.py -a_srs) or pass `allow_no_crs`",
                          setting="allow_no_crs")
    t = src.transform
    if t.b != 0 or t.d != 0:
        src.close()
        raise RasterError(f"{path}: rotated or sheared geotransform is not supported; warp it north-up with gdalwarp first")
    try:  # the last pixel: a file cut short or a VRT whose source is gone fails here, before the model loads
        _read(src, 1, window=Window(src.width - 1, src.height - 1, 1, 1))
    except RasterError:
        src.close()
        raise
    return src


def _read(src: rasterio.DatasetReader, *args: Any, **kwargs: Any) -> np.ndarray:
    """``src.read`` with GDAL's read failures as one :class:`RasterError` line."""
    try:
        return src.read(*args, **kwargs)
    except RasterioIOError as err:
        cause = str(err.__cause__ or err).strip().splitlines()[0][:160]
        raise RasterError(f"{src.name} cannot be read ({cause}); the file is cut short or damaged, or a file it "
                          "refers to is missing: copy it again") from None


# band descriptions that name a colour: words, Sentinel-2 and Landsat 8/9 band numbers
_NAMED = {
    "red": ("red", "r", "b04", "b4"),
    "green": ("green", "g", "b03", "b3"),
    "blue": ("blue", "b", "b02", "b2"),
    "nir": ("nir", "near infrared", "b08", "b8", "b8a"),
    "swir1": ("swir1", "swir 1", "swir_1", "b11"),
    "swir2": ("swir2", "swir 2", "swir_2", "b12"),
}


# Sentinel-2's bands in the order ESA's products, EuroSAT and most stacks keep them: all 13 (L1C),
# or the 12 without B10 (L2A); an undescribed stack of that many bands is taken to be one
SENTINEL2 = ("B01", "blue", "green", "red", "B05", "B06", "B07", "nir", "B8A", "B09", "B10", "swir1", "swir2")
SENTINEL2_ORDER = {13: SENTINEL2, 12: SENTINEL2[:10] + SENTINEL2[11:]}
BY_SENTINEL2_ORDER = "Sentinel-2's band order (none of its bands is described)"


def band_name(src: rasterio.DatasetReader, band: int) -> str | None:
    """What band ``band`` (1-based) holds: red, green, blue or nir by its colour interpretation or
    description (``red``, ``B04 red``, ``B08``; an undescribed fourth band after red, green and
    blue is nir; an undescribed stack of 13 or 12 bands holds Sentinel-2's, in their order),
    else its description as written, else None."""
    interp = src.colorinterp[band - 1]
    for name, colour in zip(("red", "green", "blue"), _RGB):
        if interp == colour:
            return name
    text = (src.descriptions[band - 1] or "").strip()
    if not text and _fourth_after_rgb(src, band):
        return "nir"
    if _sentinel2_stack(src):
        return SENTINEL2_ORDER[src.count][band - 1]
    words = {w for w in re.split(r"[\s_()\[\],;:/-]+", text.lower()) if w} | {text.lower()}
    for name, spellings in _NAMED.items():
        if words & set(spellings):
            return name
    return text or None


def _fourth_after_rgb(src: rasterio.DatasetReader, band: int) -> bool:
    """Band 4 of four, undescribed and uninterpreted, after red, green and blue by colour
    interpretation: near infrared, as NAIP, PlanetScope and most 4-band aerial stacks store it."""
    interp = src.colorinterp
    return (src.count == 4 and band == 4 and interp[3] in (ColorInterp.undefined, ColorInterp.gray)
            and set(interp[:3]) == set(_RGB))


def _sentinel2_stack(src: rasterio.DatasetReader) -> bool:
    """13 or 12 bands of more than 8 bits, none described or marked as a colour: Sentinel-2's."""
    return (src.count in SENTINEL2_ORDER and not any(d and d.strip() for d in src.descriptions)
            and not any(c in _RGB for c in src.colorinterp) and src.dtypes[0] != "uint8")


def choose_bands(src: rasterio.DatasetReader, bands: Sequence[int] | None = None) -> tuple[tuple[int, int, int], str]:
    """Three 1-based band indexes and how they were chosen: as asked (``--bands``), else red,
    green and blue by colour interpretation or band description (:func:`band_name`; an
    undescribed 13- or 12-band stack by Sentinel-2's band order), else the first three."""
    n = src.count
    if bands:
        bad = [b for b in bands if not 1 <= b <= n]
        twice = sorted({b for b in bands if list(bands).count(b) > 1})
        if bad or len(bands) not in (1, 3) or twice:
            why = (f"band {bad[0]} does not exist (the file has {n})" if bad else
                   f"band {twice[0]} is named twice" if twice else "give 1 or 3 bands")
            raise RasterError(f"{src.name}: `bands` {','.join(map(str, bands))}: {why}; e.g. `bands` 1,2,3")
        return (tuple(bands) * 3 if len(bands) == 1 else tuple(bands)), "`bands`"  # type: ignore[return-value]
    names = [band_name(src, b) for b in range(1, n + 1)]
    if all(c in names for c in ("red", "green", "blue")):
        chosen = tuple(names.index(c) + 1 for c in ("red", "green", "blue"))
        by_interp = all(src.colorinterp[b - 1] in _RGB for b in chosen)
        how = ("colour interpretation" if by_interp else BY_SENTINEL2_ORDER if _sentinel2_stack(src)
               else "band descriptions")
        return chosen, how  # type: ignore[return-value]
    if n >= 3:
        return (1, 2, 3), "the first three"
    if n == 1 and src.colorinterp[0] == ColorInterp.palette:
        return (1, 1, 1), "its colour table"
    return (1, 1, 1), "band 1 as grey"


def stretch_limits(
    src: rasterio.DatasetReader, bands: Sequence[int], nodata: float | None, max_side: int = 1024
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-band 2nd and 98th percentiles of valid pixels from a decimated read."""
    f = max(1, math.ceil(max(src.width, src.height) / max_side))
    shape = (len(bands), max(1, src.height // f), max(1, src.width // f))
    data = _read(src, list(bands), out_shape=shape, resampling=Resampling.nearest, masked=True)
    lows, highs = [], []
    for b in range(len(bands)):
        band = data[b]
        values = band.compressed() if np.ma.isMaskedArray(band) else band.ravel()
        if nodata is not None and not math.isnan(nodata):
            values = values[values != nodata]
        values = values[np.isfinite(values)]
        if values.size == 0:
            lows.append(0.0)
            highs.append(1.0)
            continue
        lo, hi = np.percentile(values, [2, 98])
        lows.append(float(lo))
        highs.append(float(hi if hi > lo else lo + 1))
    return tuple(lows), tuple(highs)


def make_spec(
    src: rasterio.DatasetReader,
    bands: Sequence[int] | None = None,
    scale: tuple[float, float] | None = None,
    nodata: float | None = None,
) -> RasterSpec:
    """Decide bands, scaling and nodata for ``src`` once, before tiling."""
    chosen, chosen_by = choose_bands(src, bands)
    nodata = nodata if nodata is not None else src.nodata
    low = high = None
    if scale is not None:
        if not (math.isfinite(scale[0]) and math.isfinite(scale[1]) and scale[0] < scale[1]):
            raise ConfigError(f"`scale` {scale[0]:g},{scale[1]:g}: give MIN,MAX with MIN below MAX, e.g. 0,3000")
        low, high = (float(scale[0]),) * 3, (float(scale[1]),) * 3
    elif any(src.dtypes[b - 1] != "uint8" for b in chosen):
        low, high = stretch_limits(src, chosen, nodata)
    names = tuple(band_name(src, b) for b in range(1, src.count + 1))
    palette = _palette(src) if chosen_by == "its colour table" else None
    return RasterSpec(str(src.name), src.width, src.height, src.crs, src.transform, chosen, low, high, nodata,
                      names, chosen_by, palette)


def _palette(src) -> bytes:
    """Band 1's colour table as 256 RGB triples (entries it lacks are black)."""
    table = np.zeros((256, 3), np.uint8)
    for index, rgba in src.colormap(1).items():
        if 0 <= index < 256:
            table[index] = rgba[:3]
    return table.tobytes()


@dataclass(frozen=True)
class SpectralSpec:
    """How a raster's spectra are read for classes from example areas (:mod:`rsdsva.examples.spectra`):
    which bands, each band's value stretch to [0, 1], and the normalised differences."""

    bands: tuple[int, ...]  # 1-based
    low: tuple[float, ...]
    high: tuple[float, ...]
    indexes: tuple[tuple[str, int, int], ...]  # (name, position of band a, of band b) in ``bands``


def spectral_spec(src: rasterio.DatasetReader, spec: RasterSpec, scale: tuple[float, float] | None = None,
                  record=None, fix: str = "make the classes again from this raster") -> SpectralSpec:
    """The spectra of ``src`` that ``record`` (a :class:`~rsdsva.examples.spectra.SpectralRecord`) names, its
    bands found by what they hold (else by index); every band without a record. Stretch: ``scale``
    where given, else 0-255 for uint8 bands, else each band's 2-98 % range, as the map's bands."""
    from rsdsva.examples.spectra import indexes_for

    names = list(spec.band_names)
    if record is None:
        bands = tuple(range(1, src.count + 1))
    else:
        wanted = list(record.band_names)
        if all(wanted) and all(n in names for n in wanted):
            bands = tuple(names.index(n) + 1 for n in wanted)
        elif src.count == len(record.bands) and not (all(wanted) and any(names)):
            bands = tuple(record.bands)
        else:
            held = ", ".join(n or f"band {b}" for b, n in zip(record.bands, wanted))
            raise RasterError(f"{src.name} has {src.count} bands and not the {held} that the example classes' "
                              f"spectra were taken on; map a raster with those bands, or {fix}")
    if scale is not None:
        low, high = (float(scale[0]),) * len(bands), (float(scale[1]),) * len(bands)
    elif all(src.dtypes[b - 1] == "uint8" for b in bands):
        low, high = (0.0,) * len(bands), (255.0,) * len(bands)
    else:
        low, high = stretch_limits(src, bands, spec.nodata)
    indexes = tuple(indexes_for([names[b - 1] for b in bands]))
    if record is not None:
        indexes = tuple(i for i in indexes if i[0] in record.indexes)
        if len(indexes) != len(record.indexes):
            raise RasterError(f"{src.name}: its bands do not give the {', '.join(record.indexes)} that the example "
                              f"classes' spectra hold; {fix}")
    return SpectralSpec(bands, low, high, indexes)


def read_bands(src: rasterio.DatasetReader, bands: Sequence[int], window: Window) -> np.ndarray:
    """``bands`` of any window as stored (B, h, w) float32, zero past the raster's edge."""
    out = np.zeros((len(bands), int(window.height), int(window.width)), np.float32)
    c0, r0 = max(int(window.col_off), 0), max(int(window.row_off), 0)
    c1 = min(int(window.col_off + window.width), src.width)
    r1 = min(int(window.row_off + window.height), src.height)
    if c1 > c0 and r1 > r0:
        y, x = r0 - int(window.row_off), c0 - int(window.col_off)
        out[:, y : y + r1 - r0, x : x + c1 - c0] = _read(src, list(bands), window=Window(c0, r0, c1 - c0, r1 - r0))
    return out


def read_tile(src: rasterio.DatasetReader, spec: RasterSpec, window: Window, out_size: int) -> tuple[np.ndarray, float]:
    """A tile as uint8 (3, out_size, out_size) and the fraction of it that is valid data.

    Only the part of the window inside the raster is read (rasterio's boundless
    reads were ~40x slower on the sample COG); the rest is padding: 0 and invalid. ``out_size``
    different from the window's size resamples bilinearly (GDAL).
    """
    data, valid = _read_padded(src, spec, window, (out_size, out_size))
    return data, float(valid.mean())


def read_strip(src: rasterio.DatasetReader, spec: RasterSpec, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Any window at full resolution as uint8 (3, h, w) and its valid-pixel mask (h, w), padded
    like :func:`read_tile`: a row of touching tiles read at once, then sliced, equals the tiles
    read one by one (one GDAL call instead of one per tile)."""
    return _read_padded(src, spec, window, (int(window.height), int(window.width)))


def _all_valid(src) -> bool:
    """Every band of ``src`` has every pixel valid: no nodata, no mask, no alpha."""
    return all(list(flags) == [MaskFlags.all_valid] for flags in src.mask_flag_enums)


def _read_padded(src, spec: RasterSpec, window: Window, out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    out_h, out_w = out_shape
    fy, fx = out_h / window.height, out_w / window.width
    data = np.zeros((3, out_h, out_w), dtype=np.uint8)
    valid = np.zeros((out_h, out_w), dtype=bool)
    c0, r0 = max(int(window.col_off), 0), max(int(window.row_off), 0)
    c1 = min(int(window.col_off + window.width), spec.width)
    r1 = min(int(window.row_off + window.height), spec.height)
    if c1 <= c0 or r1 <= r0:
        return data, valid
    inside = Window(c0, r0, c1 - c0, r1 - r0)
    y0, x0 = round((r0 - window.row_off) * fy), round((c0 - window.col_off) * fx)
    h, w = max(1, round(inside.height * fy)), max(1, round(inside.width * fx))
    h, w = min(h, out_h - y0), min(w, out_w - x0)
    part = _read(src, list(spec.bands), window=inside, out_shape=(3, h, w), resampling=Resampling.bilinear)
    if spec.nodata is not None and math.isnan(spec.nodata):  # NaN != NaN: compare by isnan
        ok = ~np.any(np.isnan(part), axis=0)
    elif spec.nodata is not None:
        ok = np.all(part != spec.nodata, axis=0)
    elif _all_valid(src):  # GDAL would make the mask of 255s anyway, at a third of the read's time
        ok = np.ones((h, w), dtype=bool)
    else:
        ok = src.dataset_mask(window=inside, out_shape=(h, w)) > 0
    if np.issubdtype(part.dtype, np.floating):  # NaN or infinite pixels are no data whatever the file says
        ok &= np.all(np.isfinite(part), axis=0)
    if spec.palette is not None:  # indexes into its colour table: the colours it shows
        part = np.frombuffer(spec.palette, np.uint8).reshape(256, 3)[part[0].astype(np.uint8)].transpose(2, 0, 1)
    elif spec.low is not None:
        low = np.array(spec.low, dtype=np.float32)[:, None, None]
        high = np.array(spec.high, dtype=np.float32)[:, None, None]
        part = np.clip((part.astype(np.float32) - low) / (high - low) * 255.0, 0, 255).round()
    if np.issubdtype(part.dtype, np.floating):  # NaN pixels (no data, zeroed below) cast quietly
        part = np.nan_to_num(part, nan=0.0, posinf=255.0, neginf=0.0)
    part = part.astype(np.uint8, copy=False)
    part[:, ~ok] = 0
    data[:, y0 : y0 + h, x0 : x0 + w] = part
    valid[y0 : y0 + h, x0 : x0 + w] = ok
    return data, valid
