"""Engines run the network's forward: torch (training, CUDA, conversion) or ONNX Runtime (the CPU
default, no torch needed), each an entry of :data:`rsdsva.engines.registry.REGISTRY` that says what
it can do. :func:`open_engine` picks one and opens the model file it runs.

``auto``: of the engines that can run what is asked (the device, the precision), the first in the
registry's order that is installed and finds the model in a form it runs (:mod:`rsdsva.engines.forms`);
where a CUDA device is visible, the engines that run on it go first. So a CPU runs ONNX Runtime
when the model has an ONNX form beside it, else torch; a GPU, or autocast, runs torch.
"""

from __future__ import annotations

from pathlib import Path

from rsdsva.engines import registry
from rsdsva.engines.registry import EngineEntry, engines_for, entry
from rsdsva.errors import ConfigError, EngineError


def input_size_for(engine: str, info) -> int | None:
    """The input size the map's readers resize windows to for ``engine`` (a registry name), or None
    where the engine resizes them itself."""
    return info.preprocessing.image_size if entry(engine).capabilities.resizes_in_readers else None


def batch_size_for(engine: str, asked: int | None, fixed: int | None = None) -> int:
    """Tiles per forward pass: ``asked``, else the batch of a graph exported at a fixed one (``fixed``:
    an int8 form; a smaller batch would be padded up to it), else what ``engine`` (a registry name)
    runs best with."""
    return asked or fixed or entry(engine).capabilities.batch_size


def choose_engine(engine: str, model: Path, device: str = "auto", precision: str | None = None) -> tuple[str, Path]:
    """The engine for ``engine`` (one of :data:`~rsdsva.engines.registry.ENGINES`), checked to be able
    to run here, and the file it runs (``model``, or a form of it beside it)."""
    if engine != "auto":
        chosen = entry(engine)  # an unknown name is one line listing the engines
        _refuse_unable(chosen, device, precision)
        return chosen.name, _runs(chosen, model, precision)
    able = [e for e in registry.REGISTRY if _can(e, device, precision)]
    if not able:
        raise ConfigError(f"`device` {device} with `precision` {precision}: no engine runs both; drop one of them")
    if device == "auto" and _cuda_visible():
        able.sort(key=lambda e: "cuda" not in e.capabilities.devices)
    for e in able:
        if e.installed() and (path := e.form(model, precision)) is not None:
            return e.name, path
    if len(able) == 1:  # what was asked (a precision, a device) names the engine: its own reason
        return able[0].name, _runs(able[0], model, precision, wants=_wants(device, precision))
    why = "; ".join(f"{e.name}: {_missing(e, model, precision)}" for e in able)
    raise EngineError(f"{model}: no engine can run it here ({why})")


def _can(e: EngineEntry, device: str, precision: str | None) -> bool:
    return precision in e.capabilities.precisions and (device == "auto" or device in e.capabilities.devices)


def _refuse_unable(e: EngineEntry, device: str, precision: str | None) -> None:
    if precision not in e.capabilities.precisions:
        others = engines_for(precision)
        raise ConfigError(f"`precision` {precision} runs on {' or '.join(_label(o) for o in others)}, not the "
                          f"{e.name} engine; drop `precision` {precision}, or use `engine` {others[0]}")
    if device != "auto" and device not in e.capabilities.devices:
        others = [o.name for o in registry.REGISTRY if device in o.capabilities.devices]
        raise ConfigError(f"`device` {device}: the {e.name} engine runs on {' or '.join(e.capabilities.devices)}; "
                          f"use `engine` {others[0]} for it" if others else f"`device` {device}: no engine runs there")


def _runs(e: EngineEntry, model: Path, precision: str | None, wants: str | None = None) -> Path:
    """The file engine ``e`` runs for ``model``, or one line saying why it cannot here."""
    if not e.installed():
        if wants:
            raise EngineError(f"{wants} needs {e.label}, which is not installed; {e.install}, or drop {wants}")
        raise EngineError(f"`engine` {e.name} needs {e.label}, which is not installed; {e.install}")
    path = e.form(model, precision)
    if path is None:
        raise EngineError(e.why_no_form(model, precision))
    return path


def _missing(e: EngineEntry, model: Path, precision: str | None) -> str:
    """Why ``e`` cannot run ``model`` here, in a few words, for a list of the engines' reasons."""
    if not e.installed():
        return f"{e.label} is not installed ({e.install})"
    return e.why_no_form(model, precision).removeprefix(f"{model}: ")


def _wants(device: str, precision: str | None) -> str | None:
    return f"`precision` {precision}" if precision is not None else f"`device` {device}" if device != "auto" else None


def _label(name: str) -> str:
    return entry(name).label


def _cuda_visible() -> bool:
    """A CUDA device torch can use; checked without importing torch where there is no NVIDIA driver."""
    if not Path("/proc/driver/nvidia/version").exists() or not entry("torch").installed():
        return False
    import torch

    return torch.cuda.is_available()


def open_engine(model: Path, engine: str = "auto", device: str = "auto", precision: str | None = None,
                threads: int | None = None):
    """(engine, info) for the model file ``model``: its network ready to run where ``engine``,
    ``device`` and ``precision`` say (:func:`choose_engine`), on ``threads`` CPU threads (None:
    the engine's default)."""
    name, path = choose_engine(engine, model, device, precision)
    return entry(name).opened(path, device, precision, threads)
