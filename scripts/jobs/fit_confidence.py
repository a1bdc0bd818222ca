#!/usr/bin/env python
"""Fit a model's confidence curves (score -> confidence, per kind of class) on its recorded
split's validation images, and write the model again with its ONNX form; training fits them by
itself. The network and everything else the model records are untouched, but the model file is
new: make its int8 form again afterwards (scripts/jobs/quantize_default_model.py for the default).

  python scripts/jobs/fit_confidence.py          # the default model, in place (about a minute)
  python scripts/jobs/fit_confidence.py --model runs/default/model.safetensors --out fitted.safetensors
"""

from __future__ import annotations

from fit_example_features import refit, refit_options  # scripts/jobs, beside this one

from rsdsva.training.confidence_fit import fit_confidence_curves


def main() -> None:
    a = refit_options(__doc__).parse_args()

    def fit(model, info, split):
        curves = fit_confidence_curves(model.eval(), info, split)
        for name, (slope, intercept) in curves.items():
            print(f"{name}: confidence = logistic({slope:.4g} x log-odds of the score {intercept:+.4g})")
        return info.replace(confidence_curves=curves)

    refit(a, fit)


if __name__ == "__main__":
    main()
