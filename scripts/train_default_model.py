#!/usr/bin/env python
"""Train the embedded default model with the project's own training code.

Data: UC Merced (../shared/data/ucm, 0.3 m/px, 256 px = 77 m scenes) with the
ZS-ViDAT UCM attribute matrix. Split 16/5 with seed 0: the five held-out unseen
classes are recorded in the model (``rsdsva info``) and give its ZSL/GZSL numbers.
No pretrained weights exist here, so the ViT trains from scratch.

  python scripts/train_default_model.py --epochs 150 --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rsdsva.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from rsdsva.training.experiment import Experiment, run_experiment  # noqa: E402
from rsdsva.training.loop import TrainConfig  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED / "ucm"))
    p.add_argument("--attributes", default=str(SHARED / "attributes" / "UCM_class_attributes.csv"))
    p.add_argument("--backbone", default="vit_tiny_patch16_224")
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gsd", type=float, default=0.3, help="m/px of the images given (0.3 for UCM as shipped)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=str(ROOT / "runs" / "default" / "model.safetensors"))
    p.add_argument("--package", default=str(ROOT / "rsdsva" / "resources" / "default_model.safetensors"),
                   help="where the fp16 copy shipped with the package goes ('' to skip)")
    a = p.parse_args()

    exp = Experiment(data=a.data, attributes=a.attributes, split="16/5", seed=a.seed, backbone=a.backbone,
                     image_size=a.image_size, folder_map="ucm", gsd_m=a.gsd)
    config = TrainConfig(epochs=a.epochs, head_epochs=0, lr=a.lr, weight_decay=0.05, warmup_epochs=3,
                         sampler="shuffle", batch_size=a.batch_size, num_workers=a.workers, seed=a.seed)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    result, report = run_experiment(exp, a.out, config, device=a.device, progress=False)
    print(f"best epoch {result.best_epoch}: {json.dumps(report.summary())}")
    if a.package:
        model, info = load_checkpoint(a.out)
        command = "python scripts/train_default_model.py " + " ".join(sys.argv[1:])
        info = info.replace(provenance={**info.provenance, "command": command.strip()})
        save_checkpoint(model, info, a.package, dtype=torch.float16)
        print(f"wrote {a.package} ({Path(a.package).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
