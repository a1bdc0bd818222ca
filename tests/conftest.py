"""Shared fixtures: real data paths, tiny class spaces and tiny random models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from rsdsva.classes import ClassSpace
from rsdsva.models import create_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RSDSVA_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
ATTRIBUTES = DATA / "attributes"
GEOTIFFS = DATA / "geotiff"


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
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
    torch.manual_seed(0)
    seen = small_classes.subset(["forest", "city", "beach"])
    model, info = create_model(seen, backbone="tiny-vit", gsd_m=0.3, tile_m=9.6)
    return model.eval(), info
