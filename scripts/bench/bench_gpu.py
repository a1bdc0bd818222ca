#!/usr/bin/env python
"""The GPU benchmark, ready for when a GPU machine is lent (#41 item 4).

The lent machine has PyTorch, timm and ONNX Runtime but not rasterio, geopandas or torchgeo, and
nothing can be installed there from the network, so the tiles travel: here, once,

  python scripts/bench/bench_gpu.py --save-tiles gpu_tiles.npz     # the sample scene's tiles, 10 MB

and there (the working tree and gpu_tiles.npz carried; no install needed):

  PYTHONPATH=. python3 scripts/bench/bench_gpu.py --tiles gpu_tiles.npz --log docs/bench_gpu.log

It times the default model's classifier (its network and the zero-shot head, as the map runs them
on each batch, host copies included) with torch on CUDA in float32, bf16 and fp16 autocast, says
how many labels bf16 and fp16 change against float32, and times ONNX Runtime's CUDA provider
where the machine's onnxruntime has one. Where rasterio, geopandas and torchgeo are importable it
also runs ``bench_map.py --quick`` for each precision (the whole map, against the torchgeo loop).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"


def save_tiles(path: Path) -> None:
    """The sample scene's whole tiles at the default model's input size, as uint8."""
    import rasterio

    from rsdsva.engines.base import resize
    from rsdsva.models.model_file import default_model_path, read_model_info

    size = read_model_info(default_model_path()).preprocessing.image_size
    with rasterio.open(SCENE) as src:
        data = src.read([1, 2, 3]).astype(np.float32) / 255
    side = 256  # the default model's 78 m at the scene's 0.3 m
    cells = [data[:, r:r + side, c:c + side] for r in range(0, data.shape[1] - side + 1, side)
             for c in range(0, data.shape[2] - side + 1, side)]
    tiles = resize(np.stack(cells), size, size, antialias=True)
    np.savez_compressed(path, tiles=np.round(tiles * 255).astype(np.uint8))
    print(f"wrote {path}: {len(cells)} tiles of {size} px")


def timed(clf, x: np.ndarray, batch: int, repeat: int) -> tuple[float, np.ndarray]:
    """(tiles/s, labels): the fastest of ``repeat`` passes over ``x`` after one untimed pass."""
    import torch

    labels = clf.predict(x, top_k=1, batch_size=batch).top_k[:, 0]
    best = float("inf")
    for _ in range(repeat):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        clf.predict(x, top_k=1, batch_size=batch)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return len(x) / best, labels


def onnx_cuda(x: np.ndarray, batch: int, repeat: int) -> str:
    import onnxruntime as ort

    from rsdsva.engines.forms import onnx_form
    from rsdsva.models.model_file import default_model_path

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (f"onnx runtime {ort.__version__} here has no CUDA provider ({', '.join(ort.get_available_providers())});"
                " onnxruntime-gpu is not installed (over 200 MB: too large to carry)")
    session = ort.InferenceSession(str(onnx_form(default_model_path())), providers=["CUDAExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    batches = [np.ascontiguousarray(x[i:i + batch]) for i in range(0, len(x), batch)]
    for b in batches:
        session.run(names, {"images": b})
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in batches:
            session.run(names, {"images": b})
        best = min(best, time.perf_counter() - t0)
    return f"onnx runtime CUDA provider, network alone: {len(x) / best:.0f} tiles/s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--save-tiles", type=Path, help="write the tiles here and stop (on this machine)")
    p.add_argument("--tiles", type=Path, default=ROOT / "gpu_tiles.npz")
    p.add_argument("--log", type=Path, default=ROOT / "docs" / "bench_gpu.log")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--copies", type=int, default=20, help="passes over the scene's tiles per timed run")
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    if a.save_tiles:
        return save_tiles(a.save_tiles)

    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_gpu.py: no CUDA device here; run it on a GPU machine (see its docstring)")
    from rsdsva.inference import ClassifierSettings
    from rsdsva.predict import build_classifier

    x = np.tile(np.load(a.tiles)["tiles"].astype(np.float32) / 255, (a.copies, 1, 1, 1))
    lines = [f"$ python scripts/bench/bench_gpu.py   # {torch.cuda.get_device_name()}, torch {torch.__version__}",
             f"{len(x)} tiles ({a.copies} passes over the sample scene's), batches of {a.batch}, fastest of "
             f"{a.repeat}; the classifier as the map runs it (network and zero-shot head, host copies included)"]
    base = None
    for precision in (None, "bf16", "fp16"):
        clf = build_classifier(ClassifierSettings(engine="torch", device="cuda", precision=precision))
        rate, labels = timed(clf, x, a.batch, a.repeat)
        name = precision or "float32"
        if base is None:
            base = (rate, labels)
            lines.append(f"  torch cuda {name:8s} {rate:8.0f} tiles/s")
        else:
            same = float(np.mean(labels == base[1]))
            lines.append(f"  torch cuda {name:8s} {rate:8.0f} tiles/s   {rate / base[0]:.2f}x float32, the same "
                         f"label on {same:.1%} of tiles")
        del clf
        torch.cuda.empty_cache()
    lines.append("  " + onnx_cuda(x, a.batch, a.repeat))
    missing = [m for m in ("rasterio", "geopandas", "torchgeo") if importlib.util.find_spec(m) is None]
    if missing:
        lines.append(f"bench_map.py --quick skipped: {', '.join(missing)} not installed here")
    else:
        for amp in ((), ("--amp", "bf16"), ("--amp", "fp16")):
            cmd = [sys.executable, str(ROOT / "scripts" / "bench" / "bench_map.py"), "--quick", *amp]
            run = subprocess.run(cmd, capture_output=True, text=True)
            lines += [f"$ {' '.join(cmd[1:])}", *(run.stdout + run.stderr).strip().splitlines()[-20:]]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    a.log.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
