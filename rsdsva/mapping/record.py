"""How tiles were read, as a classes file from example areas or a map's run layer records it.

No torch and no rasterio: ``classes check`` and the map's planning read it before anything
else. :class:`ReadRecord` is the footprint (metres and pixels), the bands (by index and by
name), the value stretch and nodata that example tiles were read with; a map or a later
``--update`` reads its raster the same way (:func:`rsdsva.mapping.source.travelled`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rsdsva.errors import ClassSpaceError

RECORD_KEY = "read"  # the key of a classes file that holds the record


@dataclass(frozen=True)
class ReadRecord:
    """How one raster's tiles were read.

    Attributes:
        tile_px: the tile's side in pixels.
        tile_m: its side in metres (None where the raster's CRS is not projected).
        pixel_m: the raster's pixel size in metres (None likewise).
        bands: the three 1-based bands read as red, green, blue.
        band_names: what those bands hold (``red``, ``nir``, a description, or None).
        count: the bands the raster had.
        scale: the ``--scale MIN,MAX`` given, None for the default stretch.
        nodata: the ``--nodata`` given, None for the file's own.
    """

    tile_px: int
    tile_m: float | None
    pixel_m: float | None
    bands: tuple[int, ...]
    band_names: tuple[str | None, ...]
    count: int
    scale: tuple[float, float] | None = None
    nodata: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["bands"], out["band_names"] = list(self.bands), list(self.band_names)
        out["scale"] = None if self.scale is None else list(self.scale)
        if self.tile_m is not None:
            out["tile_m"], out["pixel_m"] = round(self.tile_m, 4), round(self.pixel_m, 6)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str) -> ReadRecord:
        if not isinstance(data, dict):
            raise ClassSpaceError(f"{source}: its '{RECORD_KEY}' record is not a mapping; make the file again with "
                                  "rsdsva classes from-map")
        try:
            record = cls(
                tile_px=int(data["tile_px"]),
                tile_m=None if data.get("tile_m") is None else float(data["tile_m"]),
                pixel_m=None if data.get("pixel_m") is None else float(data["pixel_m"]),
                bands=tuple(int(b) for b in data["bands"]),
                band_names=tuple(None if n is None else str(n) for n in data.get("band_names") or ()),
                count=int(data.get("count") or 0),
                scale=None if data.get("scale") is None else (float(data["scale"][0]), float(data["scale"][1])),
                nodata=None if data.get("nodata") is None else float(data["nodata"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ClassSpaceError(f"{source}: its '{RECORD_KEY}' record is damaged ({type(err).__name__}: {err}); "
                                  "make the file again with rsdsva classes from-map") from None
        if record.tile_px < 1 or len(record.bands) != 3 or (record.tile_m is not None and not record.tile_m > 0):
            raise ClassSpaceError(f"{source}: its '{RECORD_KEY}' record is damaged (tile {record.tile_px} px, "
                                  f"bands {list(record.bands)}); make the file again with rsdsva classes from-map")
        return record

    def describe(self) -> str:
        """``76.8 m tiles (256 px at 0.3 m), bands 1,2,3 (red, green, blue)``."""
        size = (f"{self.tile_m:g} m tiles ({self.tile_px} px at {self.pixel_m:.3g} m)" if self.tile_m
                else f"{self.tile_px} px tiles")
        names = ", ".join(n or "?" for n in self.band_names)
        text = f"{size}, bands {','.join(map(str, self.bands))}" + (f" ({names})" if names else "")
        if self.scale is not None:
            text += f", `scale` {self.scale[0]:g},{self.scale[1]:g}"
        if self.nodata is not None:
            text += f", `nodata` {self.nodata:g}"
        return text


def read_record(data: dict, source: str) -> ReadRecord | None:
    """The record of a parsed classes file, None for a file made before classes files kept one."""
    raw = data.get(RECORD_KEY)
    return None if raw is None else ReadRecord.from_dict(raw, source)


def classes_and_record(path: str | Path, vocabulary=None):
    """A classes file's :class:`~rsdsva.classes.ClassSpace` and its :class:`ReadRecord` (None for
    a CSV, a file of attribute classes or one made before classes files kept a record), parsed once."""
    from rsdsva.class_files import classes_from_dict, load_classes, parse_classes_file

    path = Path(path)
    if path.suffix.lower() == ".csv" or not path.is_file():
        return load_classes(path, vocabulary), None
    data = parse_classes_file(path)
    if not isinstance(data, dict):
        raise ClassSpaceError(f"{path}: expected a mapping with a 'classes' key")
    return classes_from_dict(data, vocabulary=vocabulary, source=str(path)), read_record(data, str(path))


def map_read_record(run: dict[str, Any], source: str) -> ReadRecord:
    """How a map read its raster, from its ``run`` layer (key -> decoded value)."""
    if run.get(RECORD_KEY):
        return ReadRecord.from_dict(run[RECORD_KEY], f"{source}'s run layer")
    settings, size, bands = run.get("settings") or {}, run.get("tile_size_px"), run.get("bands_used")
    if not size or not bands:
        raise ClassSpaceError(f"{source}: its run layer does not say how the map read its raster (no tile size or "
                              "bands); map the raster again, or give the tile size and bands")
    scale = settings.get("scale")  # a map made before run layers kept the record: its tile size and bands
    return ReadRecord(tile_px=int(size), tile_m=None, pixel_m=None, bands=tuple(int(b) for b in bands),
                      band_names=(), count=0, scale=None if scale is None else (float(scale[0]), float(scale[1])),
                      nodata=settings.get("nodata"))


def same_number(a: float | None, b: float | None, tolerance: float = 1e-6) -> bool:
    """Both None, or both numbers within ``tolerance`` of the larger (NaN equals NaN)."""
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance * max(abs(a), abs(b), 1.0)
