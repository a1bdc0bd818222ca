"""``rsdsva info MODEL``: what a model file holds, readably."""

from __future__ import annotations

import json

import click

from rsdsva.models.info import ModelInfo
from rsdsva.models.model_file import read_model_info


def describe(info: ModelInfo) -> str:
    """A human-readable summary of a model's metadata."""
    pre, cls = info.preprocessing, info.classes
    lines = [
        f"backbone      {info.backbone.name} ({pre.image_size} px input)",
        f"heads         score head: {info.dsva.score_head}; prototypes: {'yes' if info.dsva.prototypes else 'no'}",
        f"attributes    {cls.num_attributes}: {', '.join(cls.attributes)}",
        f"seen classes  {len(cls)}: {', '.join(cls.names)}",
        f"untaught      {_untaught(cls)}",
        f"input         bands {','.join(pre.bands)}; mean {list(pre.mean)}; std {list(pre.std)}",
        f"ground        {_fmt(info.gsd_m, 'm/px')}; tile footprint {_fmt(info.tile_m, 'm')}",
        f"calibration   {_fmt(info.calibration, '(GZSL lambda, maximising H on validation)')}",
        f"map lambda    {_fmt(info.map_calibration, '(rsdsva map: maximising accuracy over all classes)')}",
        "examples      " + ("none recorded (classes from example areas are ranked by their attribute vectors)"
                            if not info.example_calibrations else "; ".join(
                                f"{recipe}: nearest-example similarity x {a:.4g} {b:+.4g}"
                                for recipe, (a, b) in info.example_calibrations.items()) + " (fitted on validation images)"),
        "confidence    " + ("no curves: a tile's confidence is its score" if not info.confidence_curves else "; ".join(
            f"{kind} classes: logistic({a:.4g} x log-odds of the score {b:+.4g})"
            for kind, (a, b) in info.confidence_curves.items()) + " (fitted on validation images)"),
    ]
    if info.dsva.whitened:
        lines.append("whitened      " + ", ".join(f"{layer} ({width})" for layer, width in info.dsva.whitened)
                     + " (example features; fitted on the seen classes' training images)")
    for key, value in info.provenance.items():
        if key == "unseen_classes":  # a whole ClassSpace: its names are what a reader wants
            value = ", ".join(value.get("classes", {}))
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"{key:<13} {text if len(text) <= 160 else text[:157] + '...'}")
    return "\n".join(lines)


def _untaught(seen) -> str:
    from rsdsva.attributes.check import untaught_attributes

    names = [a for a, off in zip(seen.attributes, untaught_attributes(seen)) if off]
    if not names:
        return "none: some seen class has every attribute at half strength or more"
    noun = "attribute" if len(names) == 1 else "attributes"
    return f"{len(names)} {noun} no seen class has at half strength (never taught as present): {', '.join(names)}"


def _fmt(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"{value:g} {unit}"


@click.command("info")
@click.argument("model", type=click.Path(dir_okay=False), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the full metadata as JSON.")
def command(model: str | None, as_json: bool) -> None:
    """Print what MODEL (an rsdsva .safetensors or .onnx file; default: the embedded model) holds."""
    from rsdsva.models.model_file import default_model_path

    info = read_model_info(model or default_model_path())
    click.echo(json.dumps(info.to_dict(), indent=1) if as_json else describe(info))
