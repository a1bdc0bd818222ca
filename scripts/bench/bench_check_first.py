#!/usr/bin/env python
"""Do the tiles ``check_rank`` puts first repay checking (#39 item 3)? On the sample scene's
reference (docs/autzen_reference.yaml), a person corrects 5 tiles and the scene is mapped again:

- ranked: the first 5 reference tiles by the map's check_rank, each given its true kind (a
  right one so confirmed becomes an example too);
- random: 5 reference tiles drawn at random among the wrong ones, --draws times.

Scored on the other reference tiles (those none of the runs corrected are the same for all: the
corrected tiles are left out of each run's own count, and the before count is over the same
tiles). Both the default map (model classes; a correction names the kind's model class) and the
example map (classes from sample_data/autzen_examples.gpkg).

  python scripts/bench/bench_check_first.py [--draws 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
AREAS = ROOT / "sample_data" / "autzen_examples.gpkg"
REF = yaml.safe_load((ROOT / "docs" / "autzen_reference.yaml").read_text())
KIND = {tuple(cell): kind for kind, spec in REF.items() for cell in spec["tiles"]}
# what a person types into 'fix' for a kind: the example map's class, or the model's class
EXAMPLE_NAME = {"water": "open_water", "forest": "woods", "meadow": "lawn", "parking_lot": "car_park",
                "stadium": "sports_stadium", "large_buildings": "big_roofs"}
MODEL_NAME = {"water": "river", "forest": "forest", "meadow": "meadow", "parking_lot": "parking_lot",
              "stadium": "stadium", "large_buildings": "buildings"}


def rsdsva(*args) -> None:
    subprocess.run([sys.executable, "-m", "rsdsva.cli", *map(str, args)], check=True, capture_output=True)


def right(gpkg: Path) -> dict[tuple[int, int], bool]:
    tiles = gpd.read_file(gpkg, layer="tiles")
    return {(r.row, r.col): r.label in REF[KIND[(r.row, r.col)]]["accept"] for r in tiles.itertuples()
            if (r.row, r.col) in KIND}


def corrected_map(work: Path, base: Path, classes: Path | None, fixes: dict, names: dict) -> dict:
    """Type the fixes into the map's tiles, feed them back, map again: the right tiles after."""
    tiles = gpd.read_file(base, layer="tiles")
    tiles["fix"] = [names[KIND[(r, c)]] if (r, c) in fixes else None for r, c in zip(tiles["row"], tiles["col"])]
    fixed = work / "fixed.gpkg"
    fixed.unlink(missing_ok=True)
    tiles.to_file(fixed, layer="tiles")
    out_classes = work / "fixed_classes.yaml"
    args = ["classes", "from-map", SCENE, fixed, "--layer", "tiles", "--name-field", "fix", "--like", base]
    if classes is not None:
        out_classes.write_bytes(classes.read_bytes())
        rsdsva(*args, "--update", out_classes)
    else:
        rsdsva(*args, "--out", out_classes, "--overwrite")
    rsdsva("map", SCENE, "--like", base, "--classes", out_classes, "--out", work / "again.gpkg", "--overwrite",
           "--progress", "none")
    return right(work / "again.gpkg")


def bench(name: str, work: Path, classes: Path | None, names: dict, draws: int) -> None:
    base = work / f"{name.replace(' ', '_')}.gpkg"
    rsdsva("map", SCENE, *(["--classes", classes] if classes else []), "--out", base, "--overwrite", "--progress",
           "none")
    before = right(base)
    ranks = gpd.read_file(base, layer="tiles").set_index(["row", "col"])["check_rank"]
    ranked = sorted((cell for cell in before), key=lambda cell: ranks[cell])[:5]
    wrong = [cell for cell, ok in before.items() if not ok]

    def gain(fixes) -> tuple[int, int]:
        """Right tiles gained among the other reference tiles, and among all of them (a corrected
        tile counts as right after: the person typed its class)."""
        after = corrected_map(work, base, classes, fixes, names)
        others = [c for c in before if c not in fixes]
        other_gain = sum(after[c] for c in others) - sum(before[c] for c in others)
        return other_gain, other_gain + sum(not before[c] for c in fixes)

    wrong_in = sum(not before[c] for c in ranked)
    print(f"{name}: {sum(before.values())}/{len(before)} reference tiles right before")
    other, whole = gain(set(ranked))
    print(f"  ranked: the first 5 by check_rank ({wrong_in} of them wrong): gain {other:+d} on the other tiles, "
          f"{whole:+d} on all")
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(draws):
        gains.append(gain({wrong[i] for i in rng.choice(len(wrong), size=min(5, len(wrong)), replace=False)}))
    others, wholes = np.array(gains).T
    print(f"  random: 5 random wrong tiles, {draws} draws: gain {others.mean():+.2f} on the other tiles "
          f"(min {others.min():+d}, max {others.max():+d}), {wholes.mean():+.2f} on all")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--draws", type=int, default=10)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        classes = work / "examples.yaml"
        rsdsva("classes", "from-map", SCENE, AREAS, "--name-field", "kind", "--out", classes)
        bench("example map", work, classes, EXAMPLE_NAME, a.draws)
        bench("default map", work, None, MODEL_NAME, a.draws)


if __name__ == "__main__":
    main()
