"""Shared fixtures: real data paths, tiny class spaces and tiny random models.

Nothing here imports torch before a fixture needs it: the light install's tests
(tests/test_light_install.py) run with this file where torch is not installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from rsdsva.classes import ClassSpace

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RSDSVA_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
ATTRIBUTES = DATA / "attributes"
GEOTIFFS = DATA / "geotiff"


def _cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if any("gpu" in item.keywords for item in items) and not _cuda():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def ucm_csv() -> Path:
    path = ATTRIBUTES / "UCM_class_attributes.csv"
    if not path.is_file():
        pytest.fail(f"shared data missing: {path}; ../shared must sit beside the project")
    return path


@pytest.fixture()
def small_classes() -> ClassSpace:
    """Four classes over six attributes, the last one unseen."""
    attrs = ["water", "trees", "buildings", "roads", "sand", "boats"]
    matrix = np.array(
        [
            [0, 100, 0, 0, 0, 0],
            [0, 10, 100, 80, 0, 0],
            [100, 0, 0, 0, 60, 0],
            [90, 0, 20, 0, 0, 100],
        ],
        dtype=np.float32,
    )
    return ClassSpace(
        names=["forest", "city", "beach", "harbor"],
        attributes=attrs,
        matrix=matrix,
        seen=[True, True, True, False],
    )


@pytest.fixture()
def tiny_model(small_classes):
    """A random tiny-vit DSVA over the three seen classes of ``small_classes``."""
    import torch

    from rsdsva.models import create_model

    torch.manual_seed(0)
    seen = small_classes.subset(["forest", "city", "beach"])
    model, info = create_model(seen, backbone="tiny-vit", gsd_m=0.3, tile_m=9.6)
    return model.eval(), info


@pytest.fixture()
def make_geotiff(tmp_path):
    """Factory: write a GeoTIFF and return its path.

    Args: data (bands, H, W) array, or shape/bands/dtype for random data; crs; nodata;
    transform (default: 0.3 m pixels at an UTM origin); colorinterp.
    """
    import rasterio
    from rasterio.transform import from_origin

    counter = iter(range(1000))

    def make(data=None, *, shape=(64, 64), bands=3, dtype="uint8", crs="EPSG:32618", nodata=None,
             transform=None, res=0.3, name=None, colorinterp=None):
        if data is None:
            rng = np.random.default_rng(0)
            high = 255 if dtype == "uint8" else 4000
            data = rng.integers(0, high, size=(bands, *shape)).astype(dtype)
        path = tmp_path / (name or f"r{next(counter)}.tif")
        profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=str(data.dtype), crs=crs, nodata=nodata,
                       transform=transform or from_origin(500000, 4000000, res, res))
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            if colorinterp:
                dst.colorinterp = colorinterp
        return path

    return make


@pytest.fixture()
def make_image_folder(tmp_path):
    """Factory: a seeded image folder (one sub-folder per class name, ``per_class`` images of
    ``size`` px each, ``suffix`` .png or .jpg); each class has its own colour and texture, so a
    model can tell them apart. Returns the folder. For unit tests; ../shared is for the tests
    that need real imagery."""
    from PIL import Image

    def make(names, per_class=3, size=32, suffix=".png", seed=0, name="images"):
        root = tmp_path / name
        rng = np.random.default_rng(seed)
        for k, cls in enumerate(names):
            (root / cls).mkdir(parents=True, exist_ok=True)
            colour = rng.integers(40, 216, size=3)
            for i in range(per_class):
                noise = rng.normal(0, 12 + 4 * (k % 5), size=(size, size, 3))
                stripes = 30 * np.sin(np.arange(size) * (k + 1) * 0.4)[None, :, None]
                pixels = np.clip(colour + noise + stripes, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / cls / f"{cls}{i:02d}{suffix}")
        return root

    return make


@pytest.fixture()
def tiny_checkpoint(tiny_model, tmp_path):
    """The tiny model saved to a file, with a 9.6 m (32 px at 0.3 m) tile footprint."""
    from rsdsva.models import save_checkpoint

    model, info = tiny_model
    return save_checkpoint(model, info, tmp_path / "tiny.safetensors")


@pytest.fixture()
def tiny_clip_weights(tmp_path):
    """A tiny random open_clip CLIP's state dict, saved as a .pt file."""
    import torch

    from rsdsva.models.backbones import build_tiny_clip

    torch.manual_seed(0)
    path = tmp_path / "tiny_clip.pt"
    torch.save(build_tiny_clip().state_dict(), path)
    return path


@pytest.fixture()
def full_disk(tmp_path):
    """A folder on a tmpfs with no space left (needs root, as CI has); skipped where mounting is refused."""
    import contextlib
    import subprocess

    folder = tmp_path / "full"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        with open(folder / "filler", "wb", buffering=0) as f:
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 4096)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
