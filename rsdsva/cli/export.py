"""``rsdsva export``: a model in another form (ONNX, for the light install's ONNX Runtime engine;
its int8 form, for speed on CPUs)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--onnx", "onnx_out", type=click.Path(dir_okay=False), default=None,
              help="ONNX file to write (default: MODEL with .onnx, beside it, where --engine auto finds it).")
@click.option("--int8", "int8", is_flag=True,
              help="Write the int8 form instead (MODEL.int8.onnx beside MODEL, where --precision int8 finds it), "
                   "its ranges calibrated on --calibration.")
@click.option("--calibration", multiple=True, type=click.Path(exists=True),
              help="With --int8: an image folder (e.g. the training images) or a raster (its tiles at the model's "
                   "footprint) to calibrate on; repeat to mix them, as the scenes the model will map.")
@click.option("--calibration-count", type=click.IntRange(64), default=256, show_default=True,
              help="Images and tiles drawn from --calibration, shared out evenly.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def command(model: str, onnx_out: str | None, int8: bool, calibration: tuple[str, ...], calibration_count: int,
            overwrite: bool) -> None:
    """Write MODEL (an rsdsva .safetensors file) as an ONNX model with the same metadata.

    The ONNX file runs on --engine onnx (ONNX Runtime) wherever rsdsva is installed, torch or
    not, and `rsdsva info` and the QGIS plugin read it like the .safetensors file. Written
    beside MODEL under the same name, it is what `rsdsva map --model MODEL` runs on a CPU.
    With --int8, its int8 form, which `rsdsva map --precision int8` runs. Needs torch and onnx
    (pip install 'rsdsva[torch]').
    """
    from rsdsva.engines.registry import entry
    from rsdsva.errors import TORCH_INSTALL, EngineError, OutputError

    source = Path(model)
    if source.suffix.lower() == ".onnx":
        raise OutputError(f"{source} is already an ONNX model; export the .safetensors model it came from")
    if not entry("torch").installed():  # the weights are read by torch
        raise EngineError(f"rsdsva export needs torch to read {source}'s weights; {TORCH_INSTALL}")
    if int8:
        return _int8(source, calibration, calibration_count, overwrite)
    if calibration:
        raise click.UsageError("--calibration is for --int8")
    from rsdsva.engines.export import export_onnx

    out = export_onnx(source, Path(onnx_out) if onnx_out else source.with_suffix(".onnx"), overwrite=overwrite)
    size = out.stat().st_size / 1e6
    click.echo(f"wrote {out} ({size:.1f} MB): runs with rsdsva map --engine onnx --model {out}")


def _int8(source: Path, calibration: tuple[str, ...], count: int, overwrite: bool) -> None:
    from rsdsva.engines.forms import int8_path
    from rsdsva.engines.quantize import export_int8
    from rsdsva.mapping.inputs import calibration_inputs
    from rsdsva.models.model_file import read_model_info

    if not calibration:
        raise click.UsageError("--int8 needs --calibration: an image folder or a raster like those you will map")
    info = read_model_info(source)
    inputs, said = calibration_inputs(calibration, info.preprocessing.image_size, count, info.tile_m)
    out = export_int8(source, int8_path(source), inputs, overwrite=overwrite, about=said)
    click.echo(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, calibrated on {said}): runs with rsdsva map "
               f"--model {source} --precision int8")
