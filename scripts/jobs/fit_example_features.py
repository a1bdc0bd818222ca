#!/usr/bin/env python
"""Refit what a model needs for classes from example areas, and write the model again.

Classes from example areas are scored by a tile's similarity to their nearest example, on
whitened middle-layer features. The model records the whitening (fitted on the seen classes'
training images) and, per recipe (layers and windows), the scale and bias that put that
similarity on its logits' scale (fitted on their validation images; the model's recorded
split; :func:`rsdsva.training.example_fit.fit_example_features`). Run it after changing either;
training runs it by itself. The network's weights are untouched, but a new whitening is a new
feature space: classes files made with the model before must be made again.

  python scripts/jobs/fit_example_features.py            # the default model, in place (about 8 minutes)
  python scripts/jobs/fit_example_features.py --model runs/default/model.safetensors --out fitted.safetensors
  python scripts/jobs/fit_example_features.py --keep-whitening   # new calibrations, the same feature space
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rsdsva.engines.export import export_onnx
from rsdsva.models.checkpoint import load_checkpoint, save_checkpoint
from rsdsva.models.model_file import default_model_path
from rsdsva.training.example_fit import fit_example_features
from rsdsva.training.experiment import recorded_split

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def refit_options(doc: str) -> argparse.ArgumentParser:
    """The options of a job that refits part of a model file: the model, where to write it, its
    weights' type, and the image folders of its recorded split."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(default_model_path()))
    p.add_argument("--out", default=None, help="model file to write (default: --model, replaced)")
    p.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True,
                   help="store the weights in float16, as the packaged default model is")
    p.add_argument("--ucm", default=str(SHARED / "ucm"))
    p.add_argument("--aid", default=str(SHARED / "aid150"))
    return p


def refit(a: argparse.Namespace, fit) -> None:
    """Load ``a.model`` and its recorded split, take the description ``fit(model, info, split)``
    returns, and write the model and its ONNX form (which carries the description too)."""
    model, info = load_checkpoint(a.model)
    info = fit(model, info, recorded_split(info, a.ucm, a.aid))
    out = a.out or a.model
    save_checkpoint(model, info, out, dtype=torch.float16 if a.fp16 else torch.float32)
    onnx = export_onnx(out, Path(out).with_suffix(".onnx"), overwrite=True)
    print(f"wrote {out} and {onnx.name}")


def main() -> None:
    p = refit_options(__doc__)
    p.add_argument("--keep-whitening", action="store_true",
                   help="refit the calibrations only: classes files made with the model stay valid")
    a = p.parse_args()

    def fit(model, info, split):
        info = fit_example_features(model, info, split, whiten=not a.keep_whitening)
        print("whitened: " + ", ".join(f"{layer} ({width})" for layer, width in info.dsva.whitened))
        for recipe, (scale, bias) in info.example_calibrations.items():
            print(f"{recipe}: similarity x {scale:.4g} {bias:+.4g}")
        return info

    refit(a, fit)


if __name__ == "__main__":
    main()
