"""The file each engine runs for a model, found beside it without importing any engine: the
.safetensors model itself (torch), its ONNX form or its int8 form (ONNX Runtime). A form counts
only when it was made from this very file (its recorded checksum matches)."""

from __future__ import annotations

from pathlib import Path


def own_file(model: Path, precision: str | None = None) -> Path | None:
    """The model file itself, where it is not an ONNX graph (torch runs .safetensors files)."""
    return None if model.suffix.lower() == ".onnx" else model


def onnx_file(model: Path, precision: str | None = None) -> Path | None:
    """What ONNX Runtime runs for ``model`` at ``precision``: its int8 form for int8, else its ONNX form."""
    return int8_form(model) if precision == "int8" else onnx_form(model)


def why_not_own_file(model: Path, precision: str | None = None) -> str:
    return (f"{model}: an ONNX model runs on `engine` onnx; the torch engine needs the .safetensors model it was "
            "exported from")


def why_not_onnx_file(model: Path, precision: str | None = None) -> str:
    if precision == "int8":
        return (f"{model}: no int8 form of this model (no {int8_path(model).name} made from it beside it); write one "
                f"with rsdsva export {model} --int8 --calibration IMAGES_OR_RASTER, or drop `precision` int8")
    return (f"{model}: no ONNX form of this model (no {model.with_suffix('.onnx').name} exported from it beside it); "
            f"write one with rsdsva export {model} --onnx {model.with_suffix('.onnx')}")


def int8_path(model: Path) -> Path:
    """Where the int8 form of ``model`` (a .safetensors or its .onnx) lives: MODEL.int8.onnx beside it."""
    stem = model.name[: -len(model.suffix)] if model.suffix else model.name
    return model.with_name(f"{stem}.int8.onnx")


def onnx_form(model: Path) -> Path | None:
    """The ONNX file of ``model``: itself when it is one, else ``MODEL.onnx`` beside it when that was
    exported from this very file (its recorded checksum matches); None otherwise."""
    if model.suffix.lower() == ".onnx":
        return model
    sibling = model.with_suffix(".onnx")
    if not sibling.is_file() or (record := _record(sibling)) is None:
        return None
    from rsdsva._io import file_sha256

    return sibling if record.get("source_sha256") == file_sha256(model) else None


def int8_form(model: Path) -> Path | None:
    """The int8 ONNX file of ``model`` (a .safetensors, or its ONNX form): ``MODEL.int8.onnx`` beside
    it, made from the same weights (its recorded checksum is the model's); None otherwise."""
    if model.name.endswith(".int8.onnx"):
        return model
    candidate = int8_path(model)
    if not candidate.is_file() or (record := _record(candidate)) is None:
        return None
    if model.suffix.lower() == ".onnx":
        source = (_record(model) or {}).get("source_sha256")
    else:
        from rsdsva._io import file_sha256

        source = file_sha256(model)
    return candidate if record.get("precision") == "int8" and source and record.get("source_sha256") == source else None


def fixed_batch(path: Path) -> int | None:
    """The batch size the ONNX file ``path`` was exported at, where it is fixed (int8 forms); None where
    the batch is free or ``path`` is not an ONNX file."""
    batch = (_record(path) or {}).get("batch") if path.suffix.lower() == ".onnx" else None
    return batch if isinstance(batch, int) and batch > 0 else None


def _record(path: Path) -> dict | None:
    """The export record of the ONNX file ``path``; None where it is damaged or unreadable (then it is
    no form of the model)."""
    from rsdsva.errors import CheckpointError
    from rsdsva.models.onnx_meta import NotOnnx, export_record

    try:
        return export_record(path)
    except (CheckpointError, NotOnnx, OSError):
        return None
