#!/usr/bin/env python
"""Throughput of ``rsdsva map`` on a local Dask cluster with 1 and 2 worker processes.

Four copies of the real sample scene (VRTs, so no data is copied), the default
model, 64-px tiles; each run's own LocalCluster start-up is excluded.

  python scripts/bench/bench_distributed.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

from dask.distributed import LocalCluster  # noqa: E402

from rsdsva.mapping import MapSettings  # noqa: E402
from rsdsva.mapping.distributed import map_scenes  # noqa: E402
from bench_map import mosaic_vrt  # noqa: E402 (its sibling: the same mosaic)


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scenes = [mosaic_vrt(tmp / f"scene{i}.vrt", 1) for i in range(4)]
        settings = MapSettings(tile_size=64, max_nodata=1.0, overwrite=True, context=1, orientations=1)
        rates = {}
        for n in (1, 2):
            out = tmp / f"out{n}"
            out.mkdir()
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                warm = tmp / f"warm{n}"
                warm.mkdir()
                map_scenes(scenes[:1], settings, out_dir=warm, scheduler=cluster.scheduler_address)  # load the model
                t0 = time.perf_counter()
                results = map_scenes(scenes, settings, out_dir=out, scheduler=cluster.scheduler_address, block_tiles=64)
                seconds = time.perf_counter() - t0
            tiles = sum(r.classified for r in results)
            rates[n] = tiles / seconds
            print(f"{n} worker(s): {tiles} tiles in {seconds:.1f} s, {rates[n]:.0f} tiles/s")
        print(f"speed-up 2 workers over 1: {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
