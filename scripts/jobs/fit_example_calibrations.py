#!/usr/bin/env python
"""Refit a model's calibrations for classes from example areas, and write the model again.

Classes from example areas are scored by a tile's similarity to their nearest example; the
model records, per recipe (layer and windows), the scale and bias that put that similarity on
its logits' scale (:func:`rsdsva.training.evaluate.fit_example_calibrations`, on the seen
classes' validation images of the model's recorded split). Run it after changing the recipe;
training runs it by itself. The weights are untouched, so the model's feature space stays.

  python scripts/jobs/fit_example_calibrations.py            # the default model, in place (about 3 minutes)
  python scripts/jobs/fit_example_calibrations.py --model runs/default/model.safetensors --out fitted.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rsdsva.engines.export import export_onnx
from rsdsva.models.checkpoint import load_checkpoint, save_checkpoint
from rsdsva.models.info import default_model_path
from rsdsva.training.evaluate import fit_example_calibrations
from rsdsva.training.experiment import Experiment, prepare

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(default_model_path()))
    p.add_argument("--out", default=None, help="model file to write (default: --model, replaced)")
    p.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True,
                   help="store the weights in float16, as the packaged default model is")
    p.add_argument("--ucm", default=str(SHARED / "ucm"))
    p.add_argument("--aid", default=str(SHARED / "aid150"))
    a = p.parse_args()
    model, info = load_checkpoint(a.model)
    prov = info.provenance
    split_record = prov.get("split") or {}
    exp = Experiment(data=(a.ucm, a.aid), folder_map=("ucm-unified", "aid-unified"), attributes=prov.get("attributes", "unified"),
                     split=f"{len(split_record.get('seen', []))}/{len(split_record.get('unseen', []))}",
                     seed=int(prov.get("seed", 0)), backbone=info.backbone.name,
                     image_size=info.preprocessing.image_size)
    _, split = prepare(exp, unseen=split_record.get("unseen"))
    fitted = fit_example_calibrations(model, info, split)
    for recipe, (scale, bias) in fitted.items():
        print(f"{recipe}: similarity x {scale:.4g} {bias:+.4g}")
    out = a.out or a.model
    save_checkpoint(model, info.replace(example_calibrations=fitted), out, dtype=torch.float16 if a.fp16 else torch.float32)
    onnx = export_onnx(out, Path(out).with_suffix(".onnx"), overwrite=True)  # its ONNX form carries the calibrations too
    print(f"wrote {out} and {onnx.name}")


if __name__ == "__main__":
    main()
