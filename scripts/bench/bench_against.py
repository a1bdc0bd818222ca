#!/usr/bin/env python
"""The default map's speed against an earlier revision of rsdsva, in one run (#41's "twice the map
per CPU second": the revision the issue was measured at is 9ef61ff, 40.6 tiles/s then).

The revision is checked out beside this one (``git worktree``, removed afterwards); each side maps
the sample scene with its own defaults in a fresh process (``map_scene``, timed without the
imports), in turns, after one untimed run each; the fastest of ``--repeat`` counts. With
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
TIMED = """
import json, sys, time
import geopandas as gpd
from rsdsva.mapping import MapSettings, map_scene
out, precision = sys.argv[1], sys.argv[2] or None
settings = MapSettings(overwrite=True, **({"precision": precision} if precision else {}))
t0 = time.perf_counter()
map_scene(sys.argv[3], out, settings)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "tiles": len(gpd.read_file(out, layer="tiles"))}))
"""


def timed(checkout: Path, out: Path, precision: str | None) -> dict:
    """One map in a fresh process that imports rsdsva from ``checkout``."""
    done = subprocess.run([sys.executable, "-c", TIMED, str(out), precision or "", str(SCENE)], cwd=checkout,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


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
            sides = {f"{a.revision} (its defaults)": (then, None), "this checkout (its defaults)": (ROOT, None)}
            if a.precision:
                sides[f"this checkout, --precision {a.precision}"] = (ROOT, a.precision)
            best: dict[str, float] = {}
            tiles = 0
            for round_ in range(a.repeat + 1):  # in turns; the first round warms the caches and is not counted
                for i, (name, (checkout, precision)) in enumerate(sides.items()):
                    r = timed(checkout, tmp / f"side{i}.gpkg", precision)
                    tiles = r["tiles"]
                    if round_:
                        best[name] = min(best.get(name, float("inf")), r["seconds"])
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
