#!/usr/bin/env python
"""int8 on ONNX Runtime: is a quantized default model worth offering?

The default model's ONNX form (float32) against two int8 versions made with ONNX Runtime's
quantization tools:

* dynamic: weights int8, activations quantized on the fly (``quantize_dynamic``);
* static: weights and activations int8 (QDQ, per-channel weights), activation ranges
  calibrated on ``--calibration`` tiles of the sample scene (``quantize_static``), made from
  an export of a fixed batch of 64 (every shape static: the free-batch graph's "same"
  padding, computed from shapes at run time, does not survive the quantizer).

For each: forward images/s (batch 64, 128 px, tiles in memory, fastest of --repeat), the
share of tiles whose top-1 label equals float32's (the sample scene's tiles and a 2 x 2
Gangwon mosaic's, seen classes), and top-1 accuracy on the model's test split (its seen
classes' test images of UC Merced + AID, the split recorded in the model). A version is worth
offering only at >= 99 % agreement and <= 0.5 points of accuracy lost.

  python scripts/bench/bench_int8.py          # about five minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
GANGWON = SHARED / "geotiff" / "rasterio_cogeo_0p6m_3857.tif"


def scene_tiles(path: Path, size: int) -> np.ndarray:
    """The tiles of ``rsdsva map``'s grid of ``size`` px over ``path``, as [0, 1] floats."""
    import rasterio

    from rsdsva.mapping.grid import iter_windows
    from rsdsva.mapping.raster import make_spec, read_tile

    with rasterio.open(path) as src:
        spec = make_spec(src)
        tiles = [read_tile(src, spec, t.window, size)[0] for t in iter_windows(src.width, src.height, size, size)]
    return np.stack(tiles).astype(np.float32) / np.float32(255)


def with_metadata(source: Path, target: Path) -> None:
    """Copy rsdsva's metadata onto a quantized model (the tools drop it)."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
    model = onnx.load(str(target))
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(target))


def quantize(fp32: Path, folder: Path, calibration: np.ndarray) -> dict[str, Path]:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from rsdsva.engines.export import export_onnx
    from rsdsva.models.info import default_model_path

    pre, fixed = folder / "pre.onnx", folder / "fixed.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)  # its symbolic pass fails on the reshapes
    export_onnx(default_model_path(), folder / "batch64.onnx", batch=64)
    quant_pre_process(str(folder / "batch64.onnx"), str(fixed), skip_symbolic_shape=True)
    out = {"dynamic": folder / "dynamic.onnx", "static": folder / "static.onnx"}
    quantize_dynamic(str(pre), str(out["dynamic"]), weight_type=QuantType.QInt8)

    class Tiles(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"images": calibration[i : i + 64]} for i in range(0, len(calibration) - 63, 64)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(fixed), str(out["static"]), Tiles(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    for path in out.values():
        with_metadata(fp32, path)
    return out


def test_split(info, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The model's test images of its seen classes (as [0, 1] floats at ``size``) and their labels."""
    from rsdsva.data.images import read_pixels
    from rsdsva.engines.base import resize
    from rsdsva.training.experiment import Experiment, prepare

    exp = Experiment(data=(SHARED / "ucm", SHARED / "aid150"), attributes="unified", folder_map=("ucm-unified", "aid-unified"))
    _, split = prepare(exp, unseen=info.provenance["split"]["unseen"])
    names = list(info.classes.names)
    images = np.concatenate([resize(read_pixels(s.source)[None].astype(np.float32) / np.float32(255), size, size,
                                    antialias=True) for s in split.test_seen])
    return images, np.array([names.index(s.label) for s in split.test_seen]), names


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calibration", type=int, default=64, help="sample-scene tiles to calibrate static ranges on")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()

    from rsdsva.engines.onnx_engine import OnnxEngine
    from rsdsva.models.info import default_model_path, read_model_info
    from rsdsva.predict import Classifier

    fp32 = default_model_path().with_suffix(".onnx")
    info = read_model_info(fp32)
    size = info.preprocessing.image_size
    own = scene_tiles(SCENE, size)
    bench = np.concatenate([own, scene_tiles(GANGWON, size)])
    calibration = own[np.random.default_rng(0).permutation(len(own))[: a.calibration]]
    images, labels, _ = test_split(info, size)
    print(f"{len(bench)} benchmark tiles ({SCENE.name}, {GANGWON.name}); {len(images)} test images of the "
          f"model's {len(info.classes)} seen classes; {len(calibration)} calibration tiles")
    with tempfile.TemporaryDirectory() as tmp:
        models = {"float32": fp32, **quantize(fp32, Path(tmp), calibration)}
        results = {}
        for name, path in models.items():
            try:
                clf = Classifier(OnnxEngine(path, info), info, info.classes.with_seen(True), mode="seen")
                batch = bench[:64]
                clf.forward(batch)
                best = min(_timed(clf, batch) for _ in range(a.repeat))
                top_bench = clf.predict(bench, top_k=1).top_k[:, 0]
                top_test = clf.predict(images, top_k=1).top_k[:, 0]
            except Exception as err:  # a quantized graph ONNX Runtime cannot run is a result too
                print(f"{name}: cannot run ({str(err).splitlines()[0][-160:]})")
                continue
            results[name] = (64 / best, top_bench, float((top_test == labels).mean()), path.stat().st_size / 1e6)
        ref = results["float32"]
        for name, (rate, top, acc, mb) in results.items():
            agree = float((top == ref[1]).mean())
            ok = agree >= 0.99 and ref[2] - acc <= 0.005
            print(f"{name:8s} {mb:5.1f} MB  {rate:6.0f} images/s ({rate / ref[0]:.2f}x float32)  top-1 equal to "
                  f"float32 on {agree:.1%} of tiles  test accuracy {acc:.1%} ({100 * (acc - ref[2]):+.1f} points)"
                  + ("" if name == "float32" else f"  -> {'offer' if ok else 'do not offer'}"))


def _timed(clf, batch) -> float:
    t0 = time.perf_counter()
    clf.forward(batch)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
