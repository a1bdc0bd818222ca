"""The ONNX Runtime engine: a model exported by ``rsdsva export --onnx``, on the CPU, no torch.

The graph takes [0, 1] images at the model's input size (N, 3, S, S; it normalises them) and gives ``attributes``, ``attention``
(when the model has prototypes) and ``layer:NAME``, the pooled output of each exported layer;
the batch size is free. Images of another size are resized before, in numpy, with torch's
weights (:func:`rsdsva.engines.base.resize`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsdsva.engines.base import Engine, Forward, resize
from rsdsva.engines.registry import ONNX_INSTALL
from rsdsva.errors import CheckpointError, EngineError
from rsdsva.models.onnx_meta import export_record
from rsdsva.models.info import ModelInfo


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise EngineError(f"`engine` onnx needs ONNX Runtime, which is not installed; {ONNX_INSTALL}, "
                          "or use `engine` torch") from None
    return onnxruntime


class OnnxEngine(Engine):
    """Runs the ONNX model at ``path`` (its metadata already read as ``info``) in ONNX Runtime.

    Args:
        threads: intra-op threads (None: ONNX Runtime's default, one per physical core).
    """

    name = "onnx"

    def __init__(self, path: str | Path, info: ModelInfo, threads: int | None = None) -> None:
        ort = import_onnxruntime()
        path = Path(path)
        record = export_record(path)
        options = ort.SessionOptions()
        # idle threads sleep instead of spinning: the tile readers need the cores between batches
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: its coloured warnings (an unused initializer...) are not the user's
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types, all for a file it cannot run
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: ONNX Runtime cannot load it ({reason[:200]}); export the model "
                                  "again with rsdsva export --onnx") from None
        self.path, self.info = path, info
        self.feature_space = str(record.get("feature_space", ""))
        self.example_layers = tuple(record.get("example_layers", ()))
        self.layers = tuple(record["layers"])
        self._check_graph(path)

    def _check_graph(self, path: Path) -> None:
        """The graph's inputs and outputs fit the model's metadata, or one clear line."""
        size, a = self.info.preprocessing.image_size, self.info.dsva.num_attributes
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        want = ["attributes", "vam_attributes"] + (["attention"] if self.info.dsva.prototypes else []) + [f"layer:{n}" for n in self.layers]
        problem = None
        shape = inputs.get("images")
        if list(inputs) != ["images"] or shape is None or len(shape) != 4 or list(shape[1:]) != [3, size, size]:
            problem = f"its inputs are {inputs}, expected images (batch, 3, {size}, {size})"
        elif missing := [n for n in want if n not in outputs]:
            problem = f"it has no output {missing[0]!r} (outputs: {', '.join(outputs)})"
        elif (outputs["attributes"][-1] if outputs["attributes"] else None) != a:
            problem = f"its attributes output is {outputs['attributes']}, expected (batch, {a})"
        if problem:
            raise CheckpointError(f"{path}: the ONNX graph does not fit its rsdsva metadata: {problem}; export the "
                                  "model again with rsdsva export --onnx")
        self._has_attention = "attention" in want
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def run(self, images, tap: tuple[str, ...] = ()) -> Forward:
        missing = [t for t in tap if t not in self.layers]
        if missing:
            raise EngineError(f"{self.path}: layer {missing[0]} was not exported (it has {', '.join(self.layers)}); "
                              "export again, or use `engine` torch with the .safetensors model")
        size = self.info.preprocessing.image_size
        x = resize(np.asarray(images, np.float32), size, size, antialias=True)
        names = ["attributes", "vam_attributes"] + (["attention"] if self._has_attention else [])
        outs = self._session_run(names + [f"layer:{t}" for t in tap], np.ascontiguousarray(x))
        attention = outs[2] if self._has_attention else None
        return Forward(outs[0], attention, tuple(outs[len(names):]), outs[1])

    def _session_run(self, names: list[str], x: np.ndarray) -> list[np.ndarray]:
        """The session's outputs; a graph of a fixed batch size runs in such batches, the last padded."""
        batch = self.fixed_batch
        if not batch or len(x) == batch:
            return self.session.run(names, {"images": x})
        parts = []
        for start in range(0, len(x), batch):
            chunk = x[start : start + batch]
            padded = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            parts.append([o[: len(chunk)] for o in self.session.run(names, {"images": padded})])
        return [np.concatenate(p) for p in zip(*parts)]


def opened(path: Path, device: str = "auto", precision: str | None = None, threads: int | None = None):
    """(engine, info) for the ONNX file ``path`` (its int8 form too: the file says which it is)."""
    from rsdsva.models.model_file import read_model_info

    info = read_model_info(path)
    return OnnxEngine(path, info, threads), info
