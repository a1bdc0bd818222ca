"""Model inputs drawn from image folders and rasters: what the int8 form of a model is calibrated on
(``rsdsva export --int8 --calibration``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsdsva.data.images import IMAGE_SUFFIXES, read_pixels
from rsdsva.engines.base import resize
from rsdsva.errors import MissingFileError
from rsdsva.mapping.settings import GridSettings, ReadSettings
from rsdsva.mapping.source import open_tile_source


def calibration_inputs(sources, size: int, count: int, tile_m: float | None, seed: int = 0) -> tuple[np.ndarray, str]:
    """Up to ``count`` [0, 1] inputs at ``size`` px from ``sources``: image folders (their images,
    drawn at random) and rasters (the tiles of the map's grid at the model's footprint, drawn at
    random), shared out evenly; and a line saying what they were."""
    rng = np.random.default_rng(seed)
    share = max(1, count // max(len(sources), 1))
    parts, said = [], []
    for source in map(Path, sources):
        if source.is_dir():
            files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            files = [files[i] for i in rng.permutation(len(files))[:share]]
            parts += [resize(read_pixels(f)[None].astype(np.float32) / 255, size, size, antialias=True) for f in files]
            said.append(f"{len(files)} images of {source.name}")
        elif source.is_file():
            tiles = open_tile_source(source, GridSettings(), ReadSettings(), tile_m, note=False)
            cells = tiles.tiles()
            chosen = [cells[i] for i in rng.permutation(len(cells))[:share]]
            images = tiles.reader()(chosen).images
            parts.append(resize(images.astype(np.float32) / 255, size, size, antialias=True))
            said.append(f"{len(chosen)} tiles of {source.name}")
        else:
            raise MissingFileError(f"`calibration` {source}: no such folder or raster")
    if not parts:
        return np.zeros((0, 3, size, size), np.float32), "nothing"
    return np.concatenate(parts)[:count], " and ".join(said)
