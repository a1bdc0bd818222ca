"""A colour for every class from what it is, so a map reads without its legend: water blue,
forests dark green, grass and parks light green, crops yellow, bare ground tan, buildings red,
roads and paved ground grey.

The families follow the land-cover conventions of ESA WorldCover and the US NLCD (water
``#0064c8``, tree cover ``#006400``, built-up ``#fa0000``, bare ``#b4b4b4``/tan) with two
departures the issue asked for and most readers expect: grass light green (WorldCover paints it
yellow) and crops yellow (WorldCover pink). A class is put in a family by the words of its name
(``open_water``, ``Lawn``, ``dense_urban``), whole phrases first (``car_park`` is paved, not a
park; ``river_bed`` is bare); classes of one family get its shades in turn, so neighbours stay
apart. A name no family knows gets a distinct colour of the Glasbey palette, away from those
already taken. A ``color:`` of a class in a classes file overrides all of it.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

RGB = tuple[int, int, int]

# family -> (shades, darker to lighter, the first the convention's own)
SHADES: dict[str, tuple[RGB, ...]] = {
    "water": ((0, 100, 200), (30, 144, 255), (0, 60, 140), (100, 170, 230), (0, 120, 170)),
    "wetland": ((0, 150, 160), (60, 180, 170), (0, 110, 120)),
    "forest": ((0, 100, 0), (34, 139, 34), (0, 70, 30), (60, 120, 40), (20, 90, 60)),
    "shrub": ((140, 150, 60), (170, 160, 80), (120, 130, 50)),
    "grass": ((140, 210, 90), (180, 230, 120), (110, 190, 70), (160, 200, 60), (200, 240, 150)),
    "crops": ((240, 220, 60), (250, 240, 120), (220, 190, 40), (255, 210, 90)),
    "bare": ((210, 180, 140), (190, 150, 100), (230, 210, 170), (170, 130, 90), (200, 170, 120)),
    "built": ((220, 30, 30), (170, 20, 40), (240, 90, 70), (130, 30, 30), (200, 60, 90), (250, 130, 110)),
    "industry": ((110, 110, 130), (150, 110, 150), (90, 90, 100), (170, 150, 170)),
    "paved": ((128, 128, 128), (90, 90, 90), (170, 170, 170), (110, 100, 90), (60, 60, 60)),
    "sports": ((240, 150, 40), (250, 180, 90), (210, 120, 30)),
    "snow": ((240, 240, 240), (210, 230, 245)),
}

# whole names or phrases that a word would put in the wrong family
PHRASES = {
    "car_park": "paved", "parking_lot": "paved", "parking": "paved", "river_bed": "bare", "dry_river": "bare",
    "golf_course": "grass", "baseball_field": "sports", "baseball_diamond": "sports", "tennis_court": "sports",
    "basketball_court": "sports", "football_field": "sports", "soccer_field": "sports", "ground_track_field": "sports",
    "storage_tanks": "industry", "oil_tanks": "industry", "railway_station": "paved", "train_station": "paved",
    "bare_land": "bare", "mobile_home_park": "built", "big_roofs": "industry", "sea_ice": "snow",
}

WORDS = {
    "water": ("water", "lake", "river", "pond", "sea", "ocean", "reservoir", "canal", "harbor", "harbour", "port",
              "bay", "lagoon", "stream", "coast"),
    "wetland": ("wetland", "marsh", "swamp", "bog", "fen", "mangrove", "mangroves"),
    "forest": ("forest", "woods", "wood", "woodland", "tree", "trees", "jungle", "orchard", "plantation"),
    "shrub": ("shrub", "shrubs", "scrub", "chaparral", "bush", "heath", "savanna"),
    "grass": ("grass", "grassland", "lawn", "meadow", "pasture", "park", "garden", "green", "playground"),
    "crops": ("crop", "crops", "cropland", "farm", "farmland", "field", "fields", "agricultural", "agriculture",
              "paddy", "rice", "vineyard", "fallow", "circular_farmland"),
    "bare": ("bare", "sand", "soil", "desert", "beach", "dune", "dunes", "landfill", "quarry", "rock", "rocks",
             "mountain", "cliff", "mine", "gravel", "mud", "mudflat", "construction"),
    "built": ("building", "buildings", "urban", "residential", "housing", "house", "houses", "town", "city",
              "village", "settlement", "suburb", "suburban", "dense", "center", "centre", "school", "church", "resort",
              "hospital", "stadium", "roof", "roofs"),
    "industry": ("industrial", "industry", "commercial", "factory", "warehouse", "tank", "tanks", "storage",
                 "greenhouse", "greenhouses", "power", "plant"),
    "paved": ("road", "roads", "freeway", "highway", "street", "intersection", "overpass", "viaduct", "runway",
              "airport", "railway", "rail", "bridge", "square", "paved", "parking", "interchange"),
    "sports": ("sports", "court", "track", "diamond"),
    "snow": ("snow", "ice", "glacier", "snowfield"),
}
_FAMILY_OF = {w: family for family, words in WORDS.items() for w in words}


def family(name: str) -> str | None:
    """The colour family of a class name, from its words (whole phrases first); None if no word says."""
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if key in PHRASES:
        return PHRASES[key]
    for phrase, fam in PHRASES.items():
        if phrase in key:
            return fam
    words = [w for w in key.split("_") if w]
    for w in words:  # the first word that says wins: "forest_edge" is forest
        for form in (w, w[:-1] if w.endswith("s") else w):
            if form in _FAMILY_OF:
                return _FAMILY_OF[form]
    return None


def class_colors(names: Sequence[str], chosen: Mapping[str, str] | None = None) -> list[RGB]:
    """One colour per class of ``names``: a ``chosen`` one (name -> ``#rrggbb``) where given, else its
    family's next shade, else a Glasbey colour far from those taken. Stable for a list of names."""
    import colorcet

    chosen = chosen or {}
    out: list[RGB | None] = []
    used: dict[str, int] = {}
    for name in names:
        if name in chosen:
            out.append(parse_color(chosen[name], name))
            continue
        fam = family(name)
        if fam is None:
            out.append(None)
            continue
        k = used.get(fam, 0)
        while shade(fam, k) in out and k < used.get(fam, 0) + 50:  # a shade another family's already is
            k += 1
        out.append(shade(fam, k))
        used[fam] = k + 1
    taken = [c for c in out if c is not None]
    palette = iter(tuple(int(round(v * 255)) for v in rgb) for rgb in colorcet.glasbey_category10)
    for i, c in enumerate(out):
        if c is None:
            for candidate in palette:
                if all(sum((a - b) ** 2 for a, b in zip(candidate, t)) > 60**2 for t in taken):
                    break
            else:  # the palette spent: start it again
                palette = iter(tuple(int(round(v * 255)) for v in rgb) for rgb in colorcet.glasbey_category10)
                candidate = next(palette)
            out[i] = candidate
            taken.append(candidate)
    return out  # type: ignore[return-value]


def shade(fam: str, k: int) -> RGB:
    """The ``k``-th shade of a family: its own, then, past them, the same ones lighter and darker by
    turns (so a family of many classes, like the model's eleven kinds of built-up land, stays apart)."""
    shades = SHADES[fam]
    base = shades[k % len(shades)]
    turn = k // len(shades)
    if turn == 0:
        return base
    step = 0.3 * ((turn + 1) // 2)
    if turn % 2:  # lighter
        return tuple(int(round(c + (255 - c) * min(step, 0.8))) for c in base)  # type: ignore[return-value]
    return tuple(int(round(c * max(1 - step, 0.2))) for c in base)  # type: ignore[return-value]


def parse_color(text: str, name: str = "") -> RGB:
    """``#rrggbb`` (or ``rrggbb``) as an RGB triple; one line naming the class otherwise."""
    from rsdsva.errors import ClassSpaceError

    value = str(text).strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        raise ClassSpaceError(f"class {name!r}: color {text!r} is not #rrggbb (e.g. color: '#0064c8')")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def hex_color(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
