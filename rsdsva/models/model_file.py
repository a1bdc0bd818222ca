"""Reading a model file's header without torch: where the default model lives, and the
:class:`~rsdsva.models.info.ModelInfo` of an rsdsva ``.safetensors`` or ``.onnx`` file, parsed with
json and struct alone, so commands that only read it (``rsdsva info``, ``classes check``) start
without torch; one clear error per way a file can be unreadable."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from rsdsva.errors import CheckpointError, MissingFileError, RsdsvaError
from rsdsva.models.info import FORMAT, FORMAT_VERSION, ModelInfo

_MAX_HEADER = 100 * 1024 * 1024


def default_model_path() -> Path:
    """The model shipped inside the package."""
    from importlib import resources

    return Path(str(resources.files("rsdsva") / "resources" / "default_model.safetensors"))


def read_model_info(path: str | Path) -> ModelInfo:
    """Parse only the metadata header (fast; no tensors read)."""
    path = Path(path)
    data = _read_header(path)
    try:
        info = ModelInfo.from_dict(data)
    except (RsdsvaError, KeyError, TypeError, ValueError, AttributeError) as err:
        detail = str(err) if isinstance(err, RsdsvaError) else f"{type(err).__name__}: {err}"
        raise CheckpointError(f"{path}: its rsdsva metadata is damaged ({detail}); copy the file again or "
                              "re-save the model") from None
    if info.classes.num_attributes != info.dsva.num_attributes:
        raise CheckpointError(f"{path}: its classes have {info.classes.num_attributes} attributes, its weights "
                              f"{info.dsva.num_attributes}; the metadata was edited: copy the file again")
    return info


def _safetensors_metadata(path: Path) -> str:
    """The ``rsdsva`` JSON string of a safetensors file's header."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors model ({size} bytes); use a model written by rsdsva")
        (n,) = struct.unpack("<Q", head)
        header = None
        if n <= min(_MAX_HEADER, size - 8):
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError):
                header = None
    if not isinstance(header, dict):
        if (head[0] == 0x80 and head[1] <= 5) or head[:2] == b"PK":
            raise CheckpointError(
                f"{path}: is a pickle/PyTorch .pt file, which rsdsva never loads (unpickling can run code); "
                "use an rsdsva .safetensors model, or pass backbone weights with --weights"
            )
        raise CheckpointError(f"{path}: not a safetensors model, or its header is damaged; use a model written by rsdsva")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise CheckpointError(f"{path}: truncated ({size} bytes, {8 + n + end} expected); copy the file again")
    raw = (header.get("__metadata__") or {}).get("rsdsva")
    if raw is None:
        raise CheckpointError(
            f"{path}: a safetensors file without rsdsva metadata (plain weights?); "
            "pass it as backbone --weights, or use a model written by rsdsva"
        )
    return raw


def _onnx_metadata(path: Path) -> str:
    """The ``rsdsva`` JSON string of an ONNX file's metadata (``rsdsva export --onnx``)."""
    from rsdsva.models.onnx_meta import NotOnnx, read_onnx_metadata

    try:
        props = read_onnx_metadata(path)
    except NotOnnx:
        raise CheckpointError(f"{path}: not an ONNX model, or it is damaged; use a model written by rsdsva "
                              "export --onnx") from None
    if "rsdsva" not in props:
        raise CheckpointError(f"{path}: an ONNX model without rsdsva metadata; rsdsva runs the ONNX models it "
                              "exports: rsdsva export MODEL.safetensors --onnx OUT.onnx")
    return props["rsdsva"]


def _read_header(path: Path) -> dict[str, Any]:
    """The rsdsva metadata of a .safetensors or .onnx model file, with one clear error per failure."""
    from rsdsva._io import check_input_file

    check_input_file(path, "the model file")
    if not path.is_file():
        raise MissingFileError(f"model file not found: {path}; give the path of an rsdsva .safetensors or "
                               ".onnx model")
    raw = _onnx_metadata(path) if path.suffix.lower() == ".onnx" else _safetensors_metadata(path)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: its rsdsva metadata is damaged ({err.msg} at character {err.pos}); copy "
                              "the file again or re-save the model") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: its rsdsva metadata is damaged (not a JSON object); copy the file again")
    if data.get("format") != FORMAT or int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format {data.get('format')} v{data.get('format_version')} is not readable by this "
            f"rsdsva (reads {FORMAT} v{FORMAT_VERSION}); upgrade rsdsva"
        )
    return data
