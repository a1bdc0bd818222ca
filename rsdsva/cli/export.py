"""``rsdsva export``: a model in another form (ONNX, for the light install's ONNX Runtime engine)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--onnx", "onnx_out", type=click.Path(dir_okay=False), default=None,
              help="ONNX file to write (default: MODEL with .onnx, beside it, where --engine auto finds it).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def command(model: str, onnx_out: str | None, overwrite: bool) -> None:
    """Write MODEL (an rsdsva .safetensors file) as an ONNX model with the same metadata.

    The ONNX file runs on --engine onnx (ONNX Runtime) wherever rsdsva is installed, torch or
    not, and `rsdsva info` and the QGIS plugin read it like the .safetensors file. Written
    beside MODEL under the same name, it is what `rsdsva map --model MODEL` runs on a CPU.
    Needs torch and onnx (pip install 'rsdsva[torch]').
    """
    from rsdsva.engines import has_torch
    from rsdsva.errors import TORCH_INSTALL, EngineError, OutputError

    source = Path(model)
    if source.suffix.lower() == ".onnx":
        raise OutputError(f"{source} is already an ONNX model; export the .safetensors model it came from")
    if not has_torch():
        raise EngineError(f"rsdsva export needs torch to read {source}'s weights; {TORCH_INSTALL}")
    from rsdsva.engines.export import export_onnx

    out = export_onnx(source, Path(onnx_out) if onnx_out else source.with_suffix(".onnx"), overwrite=overwrite)
    size = out.stat().st_size / 1e6
    click.echo(f"wrote {out} ({size:.1f} MB): runs with rsdsva map --engine onnx --model {out}")
