#!/usr/bin/env python
"""The default map's speed against an earlier revision of rsdsva, in one run (#41's "twice the map
per CPU second": the revision the issue was measured at is 9ef61ff, 40.6 tiles/s then).

The revision is checked out beside this one (``git worktree``, removed afterwards); each side maps
the sample scene with its own defaults in a process of its own (``map_scene``, timed without the
imports, as bench_example_map times it), in turns, after one untimed run each; the fastest of
``--repeat`` counts. With
``--precision int8`` this side also maps at int8 (the revision's defaults stay as they were).

  python scripts/bench/bench_against.py 9ef61ff --repeat 3 [--precision int8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
WORKER = """
import json, sys, time
import geopandas as gpd
from rsdsva.mapping import MapSettings, map_scene
for line in sys.stdin:
    scene, out, precision = json.loads(line)
    settings = MapSettings(overwrite=True, **({"precision": precision} if precision else {}))
    t0 = time.perf_counter()
    map_scene(scene, out, settings)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "tiles": len(gpd.read_file(out, layer="tiles"))}), flush=True)
"""


class Side:
    """A process that imports rsdsva from ``checkout`` and maps on request, as bench_example_map maps:
    the model loaded once, each map timed without the imports."""

    def __init__(self, checkout: Path, precision: str | None) -> None:
        self.precision = precision
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], cwd=checkout, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def timed(self, out: Path) -> dict:
        self.process.stdin.write(json.dumps([str(SCENE), str(out), self.precision]) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the map of {self.process.args} failed")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("revision", help="the earlier revision to measure against (e.g. 9ef61ff)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--precision", default=None, help="also map this side at this precision (int8)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        then = tmp / "then"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(then), a.revision], check=True)
        try:
            sides = {f"{a.revision} (its defaults)": Side(then, None), "this checkout (its defaults)": Side(ROOT, None)}
            if a.precision:
                sides[f"this checkout, --precision {a.precision}"] = Side(ROOT, a.precision)
            best: dict[str, float] = {}
            tiles = 0
            for round_ in range(a.repeat + 1):  # in turns; the first round warms the caches and is not counted
                for i, (name, side) in enumerate(sides.items()):
                    r = side.timed(tmp / f"side{i}.gpkg")
                    tiles = r["tiles"]
                    if round_:
                        best[name] = min(best.get(name, float("inf")), r["seconds"])
            for side in sides.values():
                side.close()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(then)], check=False)
    first = next(iter(best))
    print(f"default map of {SCENE.name} ({tiles} tiles), fastest of {a.repeat}, in turns:")
    for name, seconds in best.items():
        print(f"  {name:<40} {tiles / seconds:6.1f} tiles/s  {best[first] / seconds:5.2f}x")
    for name in list(best)[1:]:
        print(f"{name}: speed-up over {a.revision} {best[first] / best[name]:.2f}")


if __name__ == "__main__":
    main()
