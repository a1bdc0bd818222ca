"""The QGIS plugin's own tests, run in QGIS's Python (/usr/bin/python3) against this venv's rsdsva.

QGIS comes from Debian's packages (.ci/run installs them). Without QGIS the test
is skipped, unless RSDSVA_REQUIRE_QGIS=1 (CI) makes that a failure.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED

QGIS_PYTHON = "/usr/bin/python3"


def _qgis_missing() -> list[str]:
    """The Debian packages the plugin's tests need and this machine lacks."""
    if not os.path.exists(QGIS_PYTHON):
        return ["python3", "python3-qgis", "python3-pytest", "qgis"]
    probe = (("python3-qgis", "qgis.core"), ("python3-pytest", "pytest"))
    missing = [pkg for pkg, module in probe
               if subprocess.run([QGIS_PYTHON, "-c", f"import {module}"], capture_output=True).returncode]
    return missing + ([] if shutil.which("qgis_process.bin") else ["qgis"])


@pytest.mark.qgis
def test_plugin_in_a_real_qgis():
    missing = _qgis_missing()
    if missing:
        message = f"{QGIS_PYTHON} lacks {', '.join(missing)} (apt-get install {' '.join(missing)})"
        if os.environ.get("RSDSVA_REQUIRE_QGIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    executable = Path(sys.executable).parent / "rsdsva"
    env = dict(os.environ, RSDSVA_EXECUTABLE=str(executable), RSDSVA_SHARED=str(SHARED), QT_QPA_PLATFORM="offscreen")
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(key, None)
    # QGIS's embedded Python finds its standard library from the python on PATH: with this
    # venv (or another Python) first, it loads the wrong one and qgis_process crashes
    env["PATH"] = "/usr/bin:/bin"
    run = subprocess.run([QGIS_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "qgis_plugin/tests"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]


def test_package_script_builds_an_installable_zip(tmp_path):
    run = subprocess.run(["bash", "scripts/jobs/package_qgis_plugin.sh", str(tmp_path / "out")], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    archive = Path(run.stdout.strip().splitlines()[-1])
    assert archive.parent == tmp_path / "out"  # nothing written into the source tree
    names = zipfile.ZipFile(archive).namelist()
    assert "rsdsva_qgis/metadata.txt" in names and "rsdsva_qgis/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    metadata = zipfile.ZipFile(archive).read("rsdsva_qgis/metadata.txt").decode()
    assert "hasProcessingProvider=yes" in metadata and "qgisMinimumVersion=3.22" in metadata
