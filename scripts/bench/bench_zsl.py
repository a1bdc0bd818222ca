#!/usr/bin/env python
"""Accuracy benchmark: four DSVA variants on UC Merced 16/5, three seeds, one table.

Variants, all with the same backbone, input size and budget:
  vam            VAM head only (no prototypes, no attention concentration)
  dsva           full DSVA (both heads, prototype head scores)
  word2vec       DSVA with word2vec class vectors instead of attributes
  official-loss  DSVA with the official code's softmax-then-cross-entropy

By default the backbone trains from scratch (a ViT-Tiny); --weights starts it from
ImageNet instead, e.g. the default model's EfficientNet-Lite0 from the [pretrained]
extra. Absolute numbers stay below the paper's (CLIP-pretrained) ones; the table
compares variants under one budget.

  python scripts/bench/bench_zsl.py --quick          # from scratch: about 20 minutes on 2 CPU cores
  python scripts/bench/bench_zsl.py --quick --backbone tf_efficientnet_lite0 --image-size 128 \
      --weights efficientnet-lite0             # pretrained
  python scripts/bench/bench_zsl.py --device cuda    # the full budget, for a GPU
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from rsdsva.training.experiment import Experiment, run_experiment  # noqa: E402
from rsdsva.training.loop import TrainConfig  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
VARIANTS = ("vam", "dsva", "word2vec", "official-loss")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small input and few epochs (CPU)")
    p.add_argument("--data", default=str(SHARED / "ucm"))
    p.add_argument("--attributes", default=str(SHARED / "attributes" / "UCM_class_attributes.csv"))
    p.add_argument("--word2vec", default=str(SHARED / "attributes" / "UCM_attribute_word2vec.npy"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--backbone", default="vit_tiny_patch16_224")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--weights", default=None,
                   help="start the backbone from these weights (a file, or packaged weights by name, e.g. "
                        "efficientnet-lite0); default: from scratch")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="default: 1e-3 from scratch, 5e-4 from weights")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--out-dir", default=str(ROOT / "runs" / "bench_zsl"))
    p.add_argument("--json", default=None, help="also write the raw results here")
    a = p.parse_args()

    size = a.image_size or (64 if a.quick else 112)
    epochs = a.epochs or (6 if a.quick else 40)
    # from weights: the default model's recipe (one epoch of the heads alone first, a lower rate)
    config = TrainConfig(
        epochs=epochs, head_epochs=1 if a.weights else 0, lr=a.lr or (5e-4 if a.weights else 1e-3),
        weight_decay=0.05, warmup_epochs=1,
        sampler="episodic", ways=8, shots=3, batch_size=64, num_workers=a.workers,
    )
    out_dir = Path(a.out_dir)
    results: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for variant in a.variants.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            exp = Experiment(
                data=a.data, attributes=a.attributes, split="16/5", seed=seed, backbone=a.backbone,
                image_size=size, weights=a.weights, folder_map="ucm", variant=variant, word2vec=a.word2vec,
                gsd_m=0.3,
            )
            cfg = TrainConfig(**{**config.__dict__, "seed": seed})
            out = out_dir / f"{variant}-seed{seed}.safetensors"
            _, report = run_experiment(exp, out, cfg, device=a.device, progress=False)
            results.setdefault(variant, []).append(report.summary())
            if a.json:
                Path(a.json).write_text(json.dumps(results, indent=1))
            print(f"{variant:14s} seed {seed}: {json.dumps({k: round(v, 3) for k, v in report.summary().items()})}",
                  flush=True)
    minutes = (time.perf_counter() - t0) / 60
    start = f"from {a.weights}" if a.weights else "from scratch"
    print(f"\nUCM 16/5, {a.backbone} {start} at {size} px, {epochs} epochs, lr {config.lr:g}, episodic 8x3, "
          f"seeds {a.seeds}; {minutes:.1f} min")
    print(f"{'variant':14s} {'ZSL':>13s} {'U':>13s} {'S':>13s} {'H':>13s}")
    for variant, runs in results.items():
        cells = []
        for key in ("zsl", "u", "s", "h"):
            v = np.array([r[key] for r in runs]) * 100
            cells.append(f"{v.mean():5.1f} ± {v.std():4.1f}")
        print(f"{variant:14s} " + " ".join(f"{c:>13s}" for c in cells))


if __name__ == "__main__":
    main()
