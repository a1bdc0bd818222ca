"""``rsdsva export --int8``: the network as a static int8 ONNX graph for ONNX Runtime on CPUs.

Weights int8 per output channel, activations uint8 with ranges calibrated on real inputs
(percentile ranges: an outlier pixel does not widen them), in QDQ form, but for the first
convolutions (:data:`FLOAT_CONVS`), which stay float32; made from an export of a
fixed batch (every shape static, which ONNX Runtime's quantizer needs), so the int8 graph runs in
batches of that size (the engine pads the last). It is written as ``MODEL.int8.onnx`` beside
the model, with the model's metadata and checksum, where ``--precision int8`` finds it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from rsdsva.engines.registry import entry
from rsdsva.errors import EngineError, OutputError

# the int8 graph's fixed batch: ONNX Runtime's batch in the map, so that no batch is padded up to it
# (larger batches run in chunks of it)
BATCH = entry("onnx").capabilities.batch_size
# of each activation's values, the calibrated range's ends (docs/benchmarks.md: 99.9 to 99.999 measured)
PERCENTILE = 99.99
# the network's first convolutions stay float32: their outputs' ranges differ most between channels, which
# one uint8 range per tensor serves worst (on the sample map, 92 % of labels kept against 88 % with
# them in int8, at about the same speed: docs/benchmarks.md)
FLOAT_CONVS = 3


def export_int8(model_path: str | Path, out: str | Path, calibration: np.ndarray, overwrite: bool = False,
                about: str = "") -> Path:
    """Write ``model_path``'s network as a static int8 ONNX graph to ``out`` (atomically), its
    activation ranges calibrated on ``calibration`` ([0, 1] images at the model's size, at least
    :data:`BATCH`); ``about`` says in its record what they were."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from rsdsva._io import atomic_path, check_distinct, check_output_path
    from rsdsva.engines.export import export_onnx

    model_path, out = Path(model_path), Path(out)
    if not out.name.endswith(".onnx"):
        raise OutputError(f"{out}: an int8 model is an ONNX file; give a name ending in .onnx")
    check_distinct({"the int8 model": out}, {"the model": model_path})
    check_output_path(out, overwrite)
    if len(calibration) < BATCH:
        raise EngineError(f"int8 calibration needs at least {BATCH} images or tiles, got {len(calibration)}; give "
                          "more `calibration` images or a larger raster")
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        fixed, pre = Path(tmp) / "fixed.onnx", Path(tmp) / "pre.onnx"
        export_onnx(model_path, fixed, batch=BATCH)
        # its symbolic shape pass fails on the backbone's reshapes; the shapes are all static anyway
        quant_pre_process(str(fixed), str(pre), skip_symbolic_shape=True)
        batches = [{"images": np.ascontiguousarray(calibration[i:i + BATCH], np.float32)}
                   for i in range(0, len(calibration) - BATCH + 1, BATCH)]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = iter(batches)

            def get_next(self):
                return next(self.batches, None)

        first_convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"][:FLOAT_CONVS]
        meta = {p.key: p.value for p in onnx.load(str(fixed)).metadata_props}
        record = json.loads(meta["rsdsva_onnx"])
        record.update(precision="int8", batch=BATCH, calibration=about or f"{len(batches) * BATCH} inputs",
                      quantization=f"static QDQ, int8 weights per channel, uint8 activations, "
                                   f"{PERCENTILE} percentile ranges, the first {len(first_convs)} convolutions "
                                   "float32")
        meta["rsdsva_onnx"] = json.dumps(record)
        with atomic_path(out) as tmp_out, _quiet():
            quantize_static(str(pre), str(tmp_out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.Percentile,
                            extra_options={"CalibPercentile": PERCENTILE}, nodes_to_exclude=first_convs)
            graph = onnx.load(str(tmp_out))
            del graph.metadata_props[:]
            for key, value in meta.items():
                graph.metadata_props.add(key=key, value=value)
            onnx.save(graph, str(tmp_out))
    return out


@contextlib.contextmanager
def _quiet():
    """The quantizer prints its ranges and logs notes to the root logger: not the user's."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
