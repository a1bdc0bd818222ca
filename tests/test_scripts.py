"""Every script runs as the docs call it (``python scripts/bench/NAME.py``), with no sys.path
patch: ``--help`` parses its options and imports what it needs, and runs nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted((ROOT / "scripts").glob("*/*.py"))


def test_scripts_are_split_into_benchmarks_and_jobs():
    assert {p.parent.name for p in SCRIPTS} == {"bench", "jobs"} and not list((ROOT / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"{p.parent.name}/{p.name}" for p in SCRIPTS])
def test_a_script_shows_its_help(script, tmp_path):
    before = sorted(p.name for p in (ROOT / "sample_data").iterdir())
    run = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "usage:" in run.stdout, run.stderr[-2000:]
    assert "sys.path" not in script.read_text()
    assert sorted(p.name for p in (ROOT / "sample_data").iterdir()) == before
