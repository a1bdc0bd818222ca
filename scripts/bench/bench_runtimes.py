#!/usr/bin/env python
"""Which CPU runtime runs the default model's ONNX graph fastest (#41 item 2): ONNX Runtime, the
map's engine, against OpenVINO's runtime on the same ONNX file, in one process, timed in turns.

Inputs are real tiles of the sample scene at the model's input size, in batches as the map feeds
them; every output the map asks for is computed (attributes, the VAM's, attention, the example
layers). OpenVINO runs float32 (its CPU plug-in would otherwise pick bf16 on CPUs that have it,
which changes the numbers: that is reported on its own line, against torch's --amp bf16 on the
same tiles being the project's bf16 reference). Each figure is the fastest of --repeat rounds.

  pip install openvino   # not a dependency: only to measure it
  python scripts/bench/bench_runtimes.py [--batch 64] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"


def tiles(size: int, count: int) -> np.ndarray:
    """``count`` tiles of the model's footprint from the sample scene (0: each once), resized to ``size``,
    in [0, 1]."""
    import rasterio

    from rsdsva.engines.base import resize

    with rasterio.open(SCENE) as src:
        data = src.read([1, 2, 3]).astype(np.float32) / 255
    side = 256  # the default model's 78 m at the scene's 0.3 m
    cells = [(r, c) for r in range(0, data.shape[1] - side + 1, side) for c in range(0, data.shape[2] - side + 1, side)]
    if count:  # repeated to ``count``; 0: each tile once
        cells = (cells * (count // len(cells) + 1))[:count]
    return resize(np.stack([data[:, r:r + side, c:c + side] for r, c in cells]), size, size, antialias=True)


class _Session:
    """An ONNX Runtime session's ``run`` backed by another runtime, for the engine to call."""

    def __init__(self, run, names):
        self._run, self._names = run, names

    def run(self, names, feed):
        out = dict(zip(self._names, self._run(np.ascontiguousarray(feed["images"]))))
        return [out[n] for n in names]


def fastest(run, batches, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in batches:
            run(b)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()

    import onnxruntime as ort
    import openvino as ov

    from rsdsva.engines.forms import onnx_form
    from rsdsva.models.model_file import default_model_path, read_model_info

    model = onnx_form(default_model_path())
    size = read_model_info(default_model_path()).preprocessing.image_size
    x = tiles(size, a.batch * a.batches)
    batches = [np.ascontiguousarray(x[i:i + a.batch]) for i in range(0, len(x), a.batch)]

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    core = ov.Core()
    # one synchronous request per batch, as the map runs it: the LATENCY hint gives it every core
    # (THROUGHPUT splits the cores into streams that only parallel requests would fill: measured slower)
    compiled = {precision: core.compile_model(str(model), "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                                   "PERFORMANCE_HINT": "LATENCY"})
                for precision in ("f32", "bf16")}
    requests = {k: c.create_infer_request() for k, c in compiled.items()}

    def run_ort(b):
        return session.run(names, {"images": b})

    def run_ov(precision):
        request = requests[precision]

        def run(b):
            result = request.infer({"images": b})
            return [result[compiled[precision].output(n)] for n in names]
        return run

    # the same labels? the default map's classifier on every distinct tile, its network's outputs
    # from each runtime in turn
    from rsdsva.inference import ClassifierSettings
    from rsdsva.predict import build_classifier

    clf = build_classifier(ClassifierSettings(engine="onnx"))
    distinct = tiles(size, 0)
    labels = {}
    for tag, run in (("onnx runtime", run_ort), ("openvino f32", run_ov("f32")), ("openvino bf16", run_ov("bf16"))):
        clf.engine.session = _Session(run, names)
        labels[tag] = clf.predict(distinct, top_k=1).top_k[:, 0]
    clf.engine.session = session
    for tag in ("openvino f32", "openvino bf16"):
        same = float(np.mean(labels[tag] == labels["onnx runtime"]))
        print(f"{tag}: the same label as onnx runtime on {same:.1%} of the scene's {len(distinct)} tiles")

    times = {"onnx runtime": [], "openvino f32": [], "openvino bf16": []}
    runs = {"onnx runtime": run_ort, "openvino f32": run_ov("f32"), "openvino bf16": run_ov("bf16")}
    for name, run in runs.items():
        run(batches[0])  # warm-up, untimed
    for _ in range(a.repeat):  # in turns, so a slow spell of the machine hits every runtime
        for name, run in runs.items():
            times[name].append(fastest(run, batches, 1))
    n = len(x)
    base = min(times["onnx runtime"])
    print(f"{n} tiles of {size} px, batches of {a.batch}, fastest of {a.repeat} rounds in turns:")
    for name, t in times.items():
        print(f"  {name:14s} {n / min(t):7.1f} tiles/s   {base / min(t):.2f}x onnx runtime")
    print(f"openvino f32 speed-up over onnx runtime {base / min(times['openvino f32']):.2f}")


if __name__ == "__main__":
    main()
