#!/usr/bin/env python
"""Tiles per forward pass on ONNX Runtime: the default map at several --batch-size, in turns.

A small job (the sample scene's 221 tiles) and a larger one (the shared 1 ft Autzen scene at
64-px tiles, 3,518 tiles); the fastest of ``--repeat`` runs each, the ratio of each batch size's
speed over 64's (the default before), and whether the labels are the same (they should be: a
batch is only how many tiles go through the network at once).

  python scripts/bench/bench_batch.py              # about 6 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd

from rsdsva.mapping import MapSettings, map_scene

ROOT = Path(__file__).resolve().parents[2]
JOBS = {"sample scene": (ROOT / "sample_data" / "autzen_0p3m_2994.tif", None),
        "1 ft Autzen, 64-px tiles": (ROOT.parent / "shared" / "data" / "geotiff" / "pdal_autzen_1ft_2994.tif", 64)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="8,16,32,64")
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        for job, (raster, tile) in JOBS.items():
            seconds = {b: [] for b in sizes}
            for _ in range(a.repeat):  # in turns: a slow spell of the machine hits every size
                for b in sizes:
                    t0 = time.perf_counter()
                    map_scene(raster, Path(tmp) / f"{b}.gpkg",
                              MapSettings(batch_size=b, tile_size=tile, engine="onnx", overwrite=True))
                    seconds[b].append(time.perf_counter() - t0)
            labels = {b: gpd.read_file(Path(tmp) / f"{b}.gpkg", layer="tiles").sort_values(["row", "col"]).label.tolist()
                      for b in sizes}
            same = all(labels[b] == labels[sizes[-1]] for b in sizes)
            print(f"{job} ({len(labels[sizes[0]])} tiles), fastest of {a.repeat}: "
                  + ", ".join(f"batch {b} {min(seconds[b]):.2f} s" for b in sizes)
                  + f"; the same labels: {'yes' if same else 'NO'}")
            base = min(seconds[64]) if 64 in seconds else None
            for b in sizes:
                if base is not None and b != 64:
                    print(f"  {job}: batch {b} speed-up over batch 64 {base / min(seconds[b]):.2f}")


if __name__ == "__main__":
    main()
