"""The wheel carries every resource: a non-editable install finds the class library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_wheel_holds_every_resource_and_its_install_lists_the_library(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves nothing (build/, *.egg-info) in the source tree
    shutil.copytree(ROOT / "rsdsva", src / "rsdsva", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("rsdsva-*.whl"))
    resources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rsdsva" / "resources").rglob("*") if p.is_file()}
    assert resources <= set(zipfile.ZipFile(wheel).namelist())

    site = tmp_path / "site"  # installed beside the test environment's packages, ahead of the editable one
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import rsdsva, sys; from rsdsva.cli import cli; print(rsdsva.__file__); cli(['classes', 'list'])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(site))
    assert "meadow" in run.stdout and "storage_tanks" in run.stdout
