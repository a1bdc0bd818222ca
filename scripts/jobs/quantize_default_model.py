#!/usr/bin/env python
"""Make the default model's int8 form (rsdsva/resources/default_model.int8.onnx) again.

Calibrated as a user's would be, on images like those the model maps: 128 of its own training
images (the recorded split's, drawn at random: never a test image) and 128 tiles of the sample
scene, through ``rsdsva export --int8``. Measured by scripts/bench/bench_int8.py.

  python scripts/jobs/quantize_default_model.py        # about a minute on 2 CPU cores
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from rsdsva.models.model_file import default_model_path, read_model_info
from rsdsva.training.experiment import Experiment, prepare

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    model = default_model_path()
    info = read_model_info(model)
    split = info.provenance["split"]
    exp = Experiment(data=(SHARED / "ucm", SHARED / "aid150"), attributes="unified",
                     folder_map=("ucm-unified", "aid-unified"))
    _, zs = prepare(exp, unseen=split["unseen"])
    train = list(zs.train)
    chosen = [train[i] for i in np.random.default_rng(0).permutation(len(train))[:128]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "training_images"
        folder.mkdir()
        for i, sample in enumerate(chosen):  # a folder of links: export --int8 draws from folders
            (folder / f"{i:03d}{Path(sample.source).suffix}").symlink_to(Path(sample.source).resolve())
        subprocess.run([sys.executable, "-m", "rsdsva.cli", "export", str(model), "--int8", "--overwrite",
                        "--calibration", str(folder), "--calibration", str(SCENE), "--calibration-count", "256"],
                       check=True)


if __name__ == "__main__":
    main()
