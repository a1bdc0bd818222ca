"""How example features are taken: the recipe, recorded in classes files and model calibrations
as a string (``model.blocks.4+model.blocks.5@1,2``) and parsed here, once, into a :class:`Recipe`;
and the orientations a window is seen in (:func:`oriented`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rsdsva.errors import ConfigError

EXAMPLE_SCALES = (1.0, 2.0)  # the tile and the window twice its size around it
# a window as read; also mirrored; in all eight quarter turns and mirrors (:func:`oriented`)
ORIENTATIONS = (1, 2, 8)


def check_orientations(orientations) -> int:
    """``orientations`` if it is one of :data:`ORIENTATIONS`; else one line that names them."""
    if orientations not in ORIENTATIONS:
        raise ConfigError(f"`orientations` {orientations!r} is not one of {', '.join(map(str, ORIENTATIONS))} "
                          "(1: as read, 2: also mirrored, 8: every quarter turn, mirrored or not)")
    return int(orientations)


class Recipe(NamedTuple):
    """How example features are taken (:func:`example_recipe` writes it, :func:`parse_recipe` reads it)."""

    layers: tuple[str, ...]  # backbone layers, pooled
    scales: tuple[float, ...]  # windows, times the tile
    orientations: int = 1  # of each window, their pooled outputs averaged


def example_recipe(layers: tuple[str, ...], scales: tuple[float, ...] = EXAMPLE_SCALES, orientations: int = 1) -> str:
    """How example features are taken, as recorded in classes files and model calibrations:
    the backbone layers pooled, on windows ``scales`` times the tile
    (``model.blocks.4+model.blocks.5@1,2``), each window as read or, after a ``/``, in that
    many orientations, averaged (``...@1/8``)."""
    turned = f"/{orientations}" if orientations != 1 else ""
    return f"{'+'.join(layers)}@{','.join(f'{float(s):g}' for s in scales)}{turned}"


def parse_recipe(recipe: str) -> Recipe:
    """The :class:`Recipe` of an :func:`example_recipe` string."""
    layers, _, rest = str(recipe).partition("@")
    scales, _, turned = rest.partition("/")
    try:
        values = tuple(float(s) for s in scales.split(","))
        orientations = int(turned) if turned else 1
    except ValueError:
        values, orientations = (), 0
    names = tuple(n for n in layers.split("+") if n)
    if not names or not values or any(not v >= 1 for v in values) or orientations not in ORIENTATIONS:
        raise ConfigError(f"example recipe {recipe!r} is not LAYER+LAYER@SCALE,SCALE[/ORIENTATIONS] "
                          "(e.g. model.blocks.4@1,2 or model.blocks.4@1/8)")
    return Recipe(names, values, orientations)


def oriented(images, view: int):
    """``images`` (..., H, W), numpy or torch, turned ``view // 2`` quarter turns and mirrored
    left to right when ``view`` is odd (views 0-7: the square's eight symmetries; 0 as read)."""
    turns, mirror = divmod(view, 2)
    if hasattr(images, "rot90"):  # a torch tensor
        out = images.rot90(turns, (-2, -1)) if turns else images
        return out.flip(-1) if mirror else out
    out = np.rot90(images, turns, axes=(-2, -1))
    return np.ascontiguousarray(out[..., ::-1] if mirror else out)
