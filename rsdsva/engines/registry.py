"""The engines the network can run on, each one entry saying what it can do: the settings, the CLI,
the map and the QGIS plugin ask these entries, never an engine's name. Torch-free: nothing here
imports an engine.

Adding an engine: its module (an :class:`~rsdsva.engines.base.Engine` and an ``opened(path,
device, precision, threads)`` that returns it and the model's info) and one entry in
:data:`REGISTRY` (with how it finds the file it runs: :mod:`rsdsva.engines.forms`);
:func:`rsdsva.engines.choose_engine` picks among the entries by their capabilities and the
model's forms (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rsdsva.engines import forms
from rsdsva.errors import TORCH_INSTALL, ConfigError

ONNX_INSTALL = "pip install onnxruntime (or install rsdsva, which brings it)"


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, so that callers ask it instead of testing its name."""

    devices: tuple[str, ...]  # where it runs
    precisions: tuple[str | None, ...]  # None: float32
    resizes_in_readers: bool  # the map's reader threads resize windows to the model's input for it (numpy)
    batch_size: int = 64  # tiles per forward pass where the user does not say (docs/benchmarks.md)


@dataclass(frozen=True)
class EngineEntry:
    """One engine: its name (``--engine``), what it can do, the package it needs, the file it runs
    for a model and the module that opens it (imported on first use)."""

    name: str
    capabilities: Capabilities
    needs: str  # the package it runs on, found without importing it
    label: str  # that package, as messages name it
    install: str  # how to install it
    form: Callable[[Path, str | None], Path | None]  # the file it runs for (model, precision); None: none here
    why_no_form: Callable[[Path, str | None], str]  # one line: what is missing, and the command that makes it
    module: str  # defines opened(path, device, precision, threads) -> (Engine, ModelInfo)

    def installed(self) -> bool:
        try:
            return importlib.util.find_spec(self.needs) is not None
        except (ImportError, ValueError):  # a broken install is not one to use
            return False

    def opened(self, path: Path, device: str, precision: str | None, threads: int | None):
        """(engine, info): the model file ``path`` ready to run."""
        return importlib.import_module(self.module).opened(path, device, precision, threads)


# in the order ``--engine auto`` prefers them (engines that run on a visible GPU go first)
REGISTRY: tuple[EngineEntry, ...] = (
    EngineEntry("onnx", Capabilities(devices=("cpu",), precisions=(None, "int8"), resizes_in_readers=True,
                                     batch_size=8),
                "onnxruntime", "ONNX Runtime", ONNX_INSTALL, forms.onnx_file, forms.why_not_onnx_file,
                "rsdsva.engines.onnx_engine"),
    EngineEntry("torch", Capabilities(devices=("cpu", "cuda"), precisions=(None, "bf16", "fp16"),
                                      resizes_in_readers=False),
                "torch", "torch", TORCH_INSTALL, forms.own_file, forms.why_not_own_file, "rsdsva.engines.torch_engine"),
)
ENGINES = ("auto", *(e.name for e in REGISTRY))  # --engine's choices
# --precision's: None is float32; each other is one engine's (torch's autocast, the int8 ONNX form)
PRECISIONS = (None, *dict.fromkeys(p for e in REGISTRY for p in e.capabilities.precisions if p is not None))


def entry(name: str) -> EngineEntry:
    """The registry's entry of engine ``name``."""
    for e in REGISTRY:
        if e.name == name:
            return e
    raise ConfigError(f"`engine` {name!r} is not one of auto, {', '.join(e.name for e in REGISTRY)}")


def engines_for(precision: str | None) -> list[str]:
    """The engines that run ``precision``."""
    return [e.name for e in REGISTRY if precision in e.capabilities.precisions]
