#!/usr/bin/env python
"""Context that costs less (#41 item 3), a first measurement: the map's views cut down, against
today's default (windows 2 and 3 times the tile, each also mirrored), on the sample scene.

For each setting: the default map's and the example map's time (fastest of --repeat, in turns),
their labels against today's (the same label on how many tiles), and the sample reference's
score (of 90; of 72 for the example map, its example tiles left out). Int8 is measured by
bench_int8.py; here both precisions are run for the cheapest settings, since they add up.

  python scripts/bench/probe_context.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from rsdsva.mapping import MapSettings, map_scene
from rsdsva.mapping.areas import classes_from_map
from score_sample_map import agreed  # scripts/bench, beside this one

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
AREAS = ROOT / "sample_data" / "autzen_examples.gpkg"
SETTINGS = {  # name: (context, orientations, precision)
    "today: windows 2,3, mirrored": ((2, 3), 2, None),
    "windows 2,3, as read": ((2, 3), 1, None),
    "window 3, mirrored": ((3,), 2, None),
    "window 2, mirrored": ((2,), 2, None),
    "window 3, as read": ((3,), 1, None),
    "the tile alone, as read": ((1,), 1, None),
    "windows 2,3, as read, int8": ((2, 3), 1, "int8"),
    "windows 2,3, mirrored, int8": ((2, 3), 2, "int8"),
}


def labels(path: Path) -> np.ndarray:
    return gpd.read_file(path, layer="tiles").sort_values(["row", "col"])["label"].to_numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        examples = {None: tmp / "examples.yaml", "int8": tmp / "examples_int8.yaml"}
        for precision, path in examples.items():
            classes_from_map([SCENE], gpd.read_file(AREAS), "kind", path, precision=precision)
        seconds = {(name, kind): [] for name in SETTINGS for kind in ("default", "example")}
        for _ in range(a.repeat):  # in turns: a slow spell of the machine hits every setting
            for name, (context, orientations, precision) in SETTINGS.items():
                for kind in ("default", "example"):
                    classes = str(examples[precision]) if kind == "example" else None
                    t0 = time.perf_counter()
                    map_scene(SCENE, tmp / f"{len(name)}_{hash(name) & 0xffff}_{kind}.gpkg",
                              MapSettings(context=context, orientations=orientations, precision=precision,
                                          classes=classes, overwrite=True))
                    seconds[(name, kind)].append(time.perf_counter() - t0)
        today = list(SETTINGS)[0]

        def out(name, kind):
            return tmp / f"{len(name)}_{hash(name) & 0xffff}_{kind}.gpkg"

        print(f"{SCENE.name}, fastest of {a.repeat}; speed-up and labels against '{today}'")
        print(f"{'setting':32s} {'default map':>12s} {'same':>6s} {'ref':>6s}   {'example map':>12s} {'same':>6s} {'ref':>6s}")
        for name, (_, _, precision) in SETTINGS.items():
            row = [f"{name:32s}"]
            for kind in ("default", "example"):
                speed = min(seconds[(today, kind)]) / min(seconds[(name, kind)])
                same = np.mean(labels(out(name, kind)) == labels(out(today, kind)))
                ref = agreed(out(name, kind), examples[precision] if kind == "example" else None)
                row.append(f"{speed:11.2f}x {same:6.1%} {ref:>6s}")
            print(" ".join(row[:1]) + " " + "   ".join(row[1:]))


if __name__ == "__main__":
    main()
