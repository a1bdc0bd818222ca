"""Engines run the network's forward: torch (training, CUDA, conversion) or ONNX Runtime (the CPU
default, no torch needed). :func:`open_engine` picks one and opens the model file it runs.

``auto``: torch when a CUDA device is visible or autocast is asked for; else ONNX Runtime when
it is installed and the model has an ONNX form (a .onnx file, or one beside the .safetensors
exported from it, as for the default model); else torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from rsdsva.engines.base import Engine, Forward  # noqa: F401 (the engines' face)
from rsdsva.errors import TORCH_INSTALL, ConfigError, EngineError
from rsdsva.inference import ENGINES


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, so that callers ask it instead of testing its name."""

    devices: tuple[str, ...]  # where it runs
    precisions: tuple[str | None, ...]  # None: float32
    resizes_in_readers: bool  # the map's reader threads resize windows to the model's input for it (numpy)


CAPABILITIES = {
    "onnx": Capabilities(devices=("cpu",), precisions=(None, "int8"), resizes_in_readers=True),
    "torch": Capabilities(devices=("cpu", "cuda"), precisions=(None, "bf16", "fp16"), resizes_in_readers=False),
}


def input_size_for(engine: str, info) -> int | None:
    """The input size the map's readers resize windows to for ``engine`` (a name of
    :data:`CAPABILITIES`), or None where the engine resizes them itself."""
    return info.preprocessing.image_size if CAPABILITIES[engine].resizes_in_readers else None


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken install is not one to use
        return False


def has_torch() -> bool:
    return _installed("torch")


def has_onnxruntime() -> bool:
    return _installed("onnxruntime")


def onnx_form(model: Path) -> Path | None:
    """The ONNX file of ``model``: itself when it is one, else ``MODEL.onnx`` beside it when that was
    exported from this very file (its recorded checksum matches); None otherwise."""
    if model.suffix.lower() == ".onnx":
        return model
    sibling = model.with_suffix(".onnx")
    if not sibling.is_file():
        return None
    from rsdsva._io import file_sha256
    from rsdsva.engines.onnx_engine import export_record
    from rsdsva.errors import CheckpointError
    from rsdsva.models.onnx_meta import NotOnnx

    try:
        source = export_record(sibling).get("source_sha256")
    except (CheckpointError, NotOnnx, OSError):  # a damaged sibling is not the model's ONNX form
        return None
    return sibling if source == file_sha256(model) else None


def int8_form(model: Path) -> Path | None:
    """The int8 ONNX file of ``model`` (a .safetensors, or its ONNX form): ``MODEL.int8.onnx`` beside
    it, made from the same weights (its recorded checksum is the model's); None otherwise."""
    from rsdsva._io import file_sha256
    from rsdsva.engines.onnx_engine import export_record
    from rsdsva.engines.quantize import int8_path
    from rsdsva.errors import CheckpointError
    from rsdsva.models.onnx_meta import NotOnnx

    if model.name.endswith(".int8.onnx"):
        return model
    candidate = int8_path(model)
    if not candidate.is_file():
        return None
    try:
        record = export_record(candidate)
        source = export_record(model).get("source_sha256") if model.suffix.lower() == ".onnx" else file_sha256(model)
    except (CheckpointError, NotOnnx, OSError):  # a damaged file is not the model's int8 form
        return None
    return candidate if record.get("precision") == "int8" and record.get("source_sha256") == source else None


def choose_engine(engine: str, model: Path, device: str = "auto", precision: str | None = None) -> tuple[str, Path]:
    """``torch`` or ``onnx`` for ``engine`` (one of :data:`ENGINES`), checked to be able to run here,
    and the file it runs (``model``, or its ONNX form)."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
    is_onnx = model.suffix.lower() == ".onnx"
    if engine == "onnx" or (engine == "auto" and (is_onnx or precision == "int8")):
        return _check_onnx(model, device, precision)
    if precision == "int8":
        raise ConfigError("--precision int8 runs on ONNX Runtime (its int8 form of the model); drop --engine torch")
    # what asks for torch: the flag, autocast (torch's alone), a GPU; else no ONNX form to run
    wants = ("--engine torch" if engine == "torch" else f"--precision {precision}" if precision is not None
             else "--device cuda" if device == "cuda" else None)
    if wants is None and device == "auto" and has_torch() and _cuda_visible():
        return "torch", model
    if wants is None and has_onnxruntime() and (form := onnx_form(model)) is not None:
        return "onnx", form
    if is_onnx:
        raise EngineError(f"{model}: an ONNX model runs on --engine onnx; the torch engine needs the "
                          ".safetensors model it was exported from")
    if has_torch():
        return "torch", model
    if wants:
        raise EngineError(f"{wants} needs torch, which is not installed; {TORCH_INSTALL}, or drop {wants} "
                          "(ONNX Runtime runs the model in float32 on the CPU)")
    raise EngineError(f"{model}: this model has no ONNX form beside it and torch is not installed; export it "
                      f"where torch is installed (rsdsva export {model} --onnx {model.with_suffix('.onnx')}) for "
                      f"the light install, or {TORCH_INSTALL}")


def _check_onnx(model: Path, device: str, precision: str | None) -> tuple[str, Path]:
    can = CAPABILITIES["onnx"]
    if precision not in can.precisions:
        raise ConfigError(f"--precision {precision} is for the torch engine; drop it, or add --engine torch")
    if device != "auto" and device not in can.devices:
        raise ConfigError(f"--device {device}: the onnx engine runs on the CPU; use --engine torch for a GPU")
    if not has_onnxruntime():
        from rsdsva.engines.onnx_engine import ONNX_INSTALL

        raise EngineError(f"--engine onnx needs ONNX Runtime, which is not installed; {ONNX_INSTALL}")
    if precision == "int8":
        from rsdsva.engines.quantize import int8_path

        form = int8_form(model)
        if form is None:
            raise EngineError(f"{model}: no int8 form of this model (no {int8_path(model).name} made from it beside it); "
                              f"write one with rsdsva export {model} --int8 --calibration IMAGES_OR_RASTER, or drop "
                              "--precision int8")
        return "onnx", form
    form = onnx_form(model)
    if form is None:
        raise EngineError(f"{model}: no ONNX form of this model (no {model.with_suffix('.onnx').name} exported from "
                          f"it beside it); write one with rsdsva export {model} --onnx {model.with_suffix('.onnx')}, "
                          "or use --engine torch")
    return "onnx", form


def _cuda_visible() -> bool:
    """A CUDA device torch can use; checked without importing torch where there is no NVIDIA driver."""
    if not Path("/proc/driver/nvidia/version").exists() or not has_torch():
        return False
    import torch

    return torch.cuda.is_available()


def open_engine(model: Path, engine: str = "auto", device: str = "auto", precision: str | None = None,
                threads: int | None = None):
    """(engine, info) for the model file ``model``: its network ready to run where ``engine``,
    ``device`` and ``precision`` say (:func:`choose_engine`), on ``threads`` CPU threads (None:
    the engine's default)."""
    from rsdsva.models.model_file import read_model_info

    name, path = choose_engine(engine, model, device, precision)
    if name == "onnx":
        from rsdsva.engines.onnx_engine import OnnxEngine

        info = read_model_info(path)
        return OnnxEngine(path, info, threads), info
    from rsdsva.engines.torch_engine import TorchEngine
    from rsdsva.models.checkpoint import load_checkpoint
    from rsdsva.models.device import pick_device

    if threads:
        import torch

        torch.set_num_threads(threads)
    net, info = load_checkpoint(model, device=pick_device(device))
    return TorchEngine(net, info, precision), info
