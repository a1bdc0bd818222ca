#!/usr/bin/env python
"""Score a map of the sample scene against the tiles a person finds unambiguous.

  rsdsva map sample_data/autzen_0p3m_2994.tif --out /tmp/labels.gpkg
  python scripts/bench/score_sample_map.py /tmp/labels.gpkg

Prints, for each kind in docs/autzen_reference.yaml (water, forest, meadow, parking lots,
the stadium, large buildings), how many of its tiles got a label a person accepts, what the
others got, and the share over all of them. ``--examples CLASSES`` (a file of rsdsva classes
from-map) leaves out the tiles its classes were made from: a class is not scored on its own
examples.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import geopandas as gpd
import yaml

ROOT = Path(__file__).resolve().parents[2]


def score(gpkg, reference=ROOT / "docs" / "autzen_reference.yaml", examples=None) -> tuple[list[str], int, int]:
    """Per kind, a line of how many of its tiles a person accepts and what the others got; and the
    accepted and scored tiles in all (``examples``' own tiles left out)."""
    reference = yaml.safe_load(Path(reference).read_text())
    skip = set()
    if examples:
        for spec in yaml.safe_load(Path(examples).read_text())["classes"].values():
            for cells in (spec.get("examples") or {}).get("cells", {}).values():
                skip.update(tuple(c) for c in cells)
    tiles = gpd.read_file(gpkg, layer="tiles")
    label = {(int(r), int(c)): lab for r, c, lab in zip(tiles["row"], tiles["col"], tiles["label"])}
    lines, agreed, total = [], 0, 0
    for kind, spec in reference.items():
        got = [label.get(tuple(t), "(not classified)") for t in spec["tiles"] if tuple(t) not in skip]
        ok = sum(g in spec["accept"] for g in got)
        wrong = Counter(g for g in got if g not in spec["accept"])
        agreed, total = agreed + ok, total + len(got)
        others = ", ".join(f"{k} {v}" for k, v in wrong.most_common())
        lines.append(f"{kind:<16} {ok:>2}/{len(got):<2}  {others}")
    left_out = f" ({len(skip)} example tiles left out)" if skip else ""
    return lines + [f"agreement {agreed}/{total} = {agreed / total:.0%}{left_out}"], agreed, total


def agreed(gpkg, examples=None) -> str:
    """``"63/72"``: the accepted tiles of ``gpkg`` over those scored (for the benchmarks' tables)."""
    _, ok, total = score(gpkg, examples=examples)
    return f"{ok}/{total}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gpkg")
    p.add_argument("--reference", default=str(ROOT / "docs" / "autzen_reference.yaml"))
    p.add_argument("--examples", default=None, help="classes file whose example tiles are left out")
    a = p.parse_args()
    print("\n".join(score(a.gpkg, a.reference, a.examples)[0]))


if __name__ == "__main__":
    main()
