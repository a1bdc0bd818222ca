#!/usr/bin/env python
"""CPU speed of the default model: `rsdsva map` on the sample scene, new model against old.

(a) map tiles/s of the embedded default model against a baseline model file (default: the
    from-scratch vit_tiny model shipped before the pretrained one, taken from git history),
    the two mapped in turns, fastest of --repeat runs each; both on the same 256-px grid;
(b) forward images/s (batch 32, random weights, no reading) of the backbones considered for
    the default model, at the input sizes considered: the input-size trade-off table.

  python scripts/bench/bench_default_model.py [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

from rsdsva.mapping import MapSettings, default_model_path, map_scene  # noqa: E402
from rsdsva.models import BackboneConfig, build_backbone  # noqa: E402

SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
OLD_MODEL_COMMIT = "3c00a33"  # the last commit that shipped the from-scratch vit_tiny model
CANDIDATES = [("vit_tiny_patch16_224", 112), ("tf_efficientnet_lite0", 128), ("tf_efficientnet_lite0", 160),
              ("tf_efficientnet_lite0", 224), ("efficientnet_lite0", 128), ("tf_efficientnet_lite1", 128),
              ("tf_efficientnet_lite2", 128)]


def old_model(folder: Path) -> Path:
    path = folder / "old_default_model.safetensors"
    blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_MODEL_COMMIT}:rsdsva/resources/default_model.safetensors"],
                          check=True, capture_output=True).stdout
    path.write_bytes(blob)
    return path


def map_rate(model: Path, out: Path) -> tuple[float, int]:
    settings = MapSettings(model=str(model), tile_size=256, held_out=False, overwrite=True, context=1,
                           orientations=1)
    result = map_scene(SCENE, out, settings)
    return result.classified / result.seconds, result.classified


def forward_rate(name: str, size: int, batch: int = 32, reps: int = 3) -> float:
    net = build_backbone(BackboneConfig(name, image_size=size)).eval()
    x = torch.rand(batch, 3, size, size)
    best = float("inf")
    with torch.inference_mode():
        net(x)
        for _ in range(reps):
            t0 = time.perf_counter()
            net(x)
            best = min(best, time.perf_counter() - t0)
    return batch / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", default=None, help=f"old model file (default: from commit {OLD_MODEL_COMMIT})")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = {"new (default)": default_model_path(), "old": Path(a.baseline) if a.baseline else old_model(tmp)}
        best = {k: 0.0 for k in models}
        for name, model in models.items():  # one untimed run each: imports, first-call costs
            map_rate(model, tmp / "warm.gpkg")
        for _ in range(a.repeat):
            for name, model in models.items():
                rate, tiles = map_rate(model, tmp / "labels.gpkg")
                best[name] = max(best[name], rate)
        print(f"(a) rsdsva map {SCENE.name}, {tiles} tiles of 256 px, fastest of {a.repeat}, {torch.get_num_threads()} threads")
        for name, rate in best.items():
            print(f"    {name:<14} {rate:7.1f} tiles/s")
        print(f"    new / old tiles/s ratio {best['new (default)'] / best['old']:.2f}  (target >= 0.5)")
    print("(b) forward only, batch 32, images/s")
    for name, size in CANDIDATES:
        print(f"    {name:<24} {size:>4} px {forward_rate(name, size):7.1f}")


if __name__ == "__main__":
    main()
