#!/usr/bin/env python
"""Fit a model's confidence curves (score -> confidence, per kind of class) on its recorded
split's validation images, and write the model again with its ONNX form; training fits them by
itself. The network and everything else the model records are untouched, but the model file is
new: make its int8 form again afterwards (scripts/jobs/quantize_default_model.py for the default).

  python scripts/jobs/fit_confidence.py          # the default model, in place (about a minute)
  python scripts/jobs/fit_confidence.py --model runs/default/model.safetensors --out fitted.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rsdsva.engines.export import export_onnx
from rsdsva.models.checkpoint import load_checkpoint, save_checkpoint
from rsdsva.models.model_file import default_model_path
from rsdsva.training.confidence_fit import fit_confidence_curves
from rsdsva.training.experiment import recorded_split

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
    split = recorded_split(info, a.ucm, a.aid)
    curves = fit_confidence_curves(model.eval(), info, split)
    for name, (slope, intercept) in curves.items():
        print(f"{name}: confidence = logistic({slope:.4g} x log-odds of the score {intercept:+.4g})")
    out = a.out or a.model
    save_checkpoint(model, info.replace(confidence_curves=curves), out,
                    dtype=torch.float16 if a.fp16 else torch.float32)
    onnx = export_onnx(out, Path(out).with_suffix(".onnx"), overwrite=True)  # its ONNX form carries the curves too
    print(f"wrote {out} and {onnx.name}")


if __name__ == "__main__":
    main()
