"""What ``rsdsva map`` can be told, declared once and without torch.

Four parts, each the only declaration of its fields and their defaults: the classifier
(:class:`rsdsva.inference.ClassifierSettings`), the grid, the reading and the outputs.
:class:`MapSettings` holds the four. It also takes their fields by name and puts each in its
part, so ``MapSettings(tile_size=32, context=1)`` sets ``settings.grid.tile_size`` and
``settings.classifier.context``; a field given as None takes its part's default, which is how the
CLI's flags left out fall through. Code reads a setting from its part, so each step can be given
only the part it uses.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from rsdsva.errors import ConfigError
from rsdsva.inference import ClassifierSettings


def _check(flag: str, value, ok: bool, want: str) -> None:
    """One line for a setting out of range, the same from the CLI and from Python."""
    if not ok:
        raise ConfigError(f"{flag} {value}: give {want}")


def _whole(value, low: int = 1) -> bool:
    return value is None or (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low)

# Windows 2 and 3 tiles wide, each as read and mirrored, their probabilities averaged: on the
# sample scene's reference they agree with a person on more tiles than the tile alone or one
# orientation, at half the speed of one (docs/model_card.md, scripts/bench/probe_recipes.py).
DEFAULT_CONTEXT = (2.0, 3.0)
DEFAULT_ORIENTATIONS = 2


@dataclass(frozen=True)
class GridSettings:
    """How a raster is cut into tiles."""

    tile_size: int | None = None  # pixels; None: from tile_m
    stride: int | None = None  # pixels; None: = tile size
    tile_m: float | None = None  # metres; None: the model's training footprint
    allow_small_tiles: bool = False  # accept tiles under grid.MIN_TILE_PX
    max_tiles: int = 1_000_000  # refuse larger grids before starting
    aoi: str | None = None  # vector file restricting the grid

    def __post_init__(self) -> None:
        _check("`tile_size`", self.tile_size, _whole(self.tile_size), "a whole number of pixels, 1 or more")
        _check("`stride`", self.stride, _whole(self.stride), "a whole number of pixels, 1 or more")
        _check("`tile_m`", self.tile_m, self.tile_m is None or (math.isfinite(self.tile_m) and self.tile_m > 0),
               "a finite number of metres above 0, e.g. `tile_m` 100")
        _check("`max_tiles`", self.max_tiles, _whole(self.max_tiles), "a whole number, 1 or more")


@dataclass(frozen=True)
class ReadSettings:
    """How tiles are read: bands, values, nodata, threads, batches."""

    bands: tuple[int, ...] | None = None
    scale: tuple[float, float] | None = None
    nodata: float | None = None
    max_nodata: float = 0.5  # tiles with a larger nodata share are skipped
    allow_no_crs: bool = False
    read_threads: int = 2
    batch_size: int | None = None  # tiles per forward pass; None: the engine's (rsdsva.engines.batch_size_for)

    def __post_init__(self) -> None:
        _check("`max_nodata`", self.max_nodata, math.isfinite(self.max_nodata) and 0 <= self.max_nodata <= 1,
               "a share of a tile from 0 to 1, e.g. `max_nodata` 0.5")
        _check("`read_threads`", self.read_threads, _whole(self.read_threads), "a whole number, 1 or more")
        _check("`batch_size`", self.batch_size, self.batch_size is None or _whole(self.batch_size),
               "a whole number of tiles, 1 or more")


@dataclass(frozen=True)
class OutputSettings:
    """What is written, and what may be replaced."""

    overwrite: bool = False
    raster: str | None = None  # label GeoTIFF, one pixel per grid cell
    explain: bool = False  # attribute evidence columns in the tiles layer
    attention_raster: str | None = None  # float GeoTIFF of attention maps
    attention_attributes: tuple[str, ...] | None = None  # which attributes (default: the first 3)
    top_k: int = 3
    similarity: str | None = None  # GeoTIFF of each tile's similarity to each example class
    to_check: int = 0  # a to_check layer of the first N tiles by check_rank

    def __post_init__(self) -> None:
        _check("`top_k`", self.top_k, _whole(self.top_k), "a whole number of classes, 1 or more")
        _check("`to_check`", self.to_check, _whole(self.to_check, 0), "a whole number of tiles, 0 or more")


MAP_CLASSIFIER = ClassifierSettings(context=DEFAULT_CONTEXT, orientations=DEFAULT_ORIENTATIONS)  # surroundings, turned
PARTS = {"classifier": MAP_CLASSIFIER, "grid": GridSettings(), "read": ReadSettings(), "output": OutputSettings()}
_OWNER = {f.name: part for part, default in PARTS.items() for f in fields(default)}


@dataclass(frozen=True, init=False)
class MapSettings:
    """Everything ``rsdsva map`` can be told, as its four parts; CLI flags map one to one to
    the parts' fields."""

    classifier: ClassifierSettings
    grid: GridSettings
    read: ReadSettings
    output: OutputSettings

    def __init__(self, classifier: ClassifierSettings | None = None, grid: GridSettings | None = None,
                 read: ReadSettings | None = None, output: OutputSettings | None = None, **settings: Any) -> None:
        given = {"classifier": classifier, "grid": grid, "read": read, "output": output}
        changes: dict[str, dict[str, Any]] = {part: {} for part in PARTS}
        for name, value in settings.items():
            if name not in _OWNER:
                raise TypeError(f"MapSettings has no setting {name!r}")
            if value is not None:
                changes[_OWNER[name]][name] = value
        for part, default in PARTS.items():
            base = given[part] or default
            object.__setattr__(self, part, replace(base, **changes[part]) if changes[part] else base)

    def to_dict(self) -> dict[str, Any]:
        """Every setting by name (the ``run`` layer's record)."""
        return {name: value for part in PARTS for name, value in asdict(getattr(self, part)).items()}
