"""A headless QGIS with Processing and the rsdsva plugin, once per session.

Run with QGIS's Python: QT_QPA_PLATFORM=offscreen /usr/bin/python3 -m pytest qgis_plugin/tests
RSDSVA_EXECUTABLE must name the rsdsva command of the project's venv.
"""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["GDAL_PAM_ENABLED"] = "NO"  # QGIS's raster statistics would land as .aux.xml beside the shared inputs
PLUGIN_DIR = Path(__file__).resolve().parents[1]
ROOT = PLUGIN_DIR.parent
SHARED = Path(os.environ.get("RSDSVA_SHARED", ROOT.parent / "shared"))
SCENE = SHARED / "data" / "geotiff" / "rasterio_cogeo_0p6m_3857.tif"
ARTIFACTS = ROOT / "artifacts"
sys.path[:0] = [str(PLUGIN_DIR), "/usr/share/qgis/python/plugins"]


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(tmp_path_factory.mktemp("qgis_profile"))
    from qgis.core import QgsApplication

    app = QgsApplication([], True)
    app.initQgis()
    import qgis.utils

    qgis.utils.iface = _Iface()  # before processing is imported: it keeps the name
    from processing.core.Processing import Processing

    Processing.initialize()
    yield app


@pytest.fixture(scope="session")
def plugin(qgis_app):
    import rsdsva_qgis

    plugin = rsdsva_qgis.classFactory(None)
    plugin.initProcessing()
    yield plugin  # the reference keeps the provider's algorithms alive
    plugin.unload()


@pytest.fixture()
def executable():
    path = os.environ.get("RSDSVA_EXECUTABLE")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("set RSDSVA_EXECUTABLE to the project's rsdsva command (.venv/bin/rsdsva)")
    return path


class _Iface:
    """The little of QgisInterface that the algorithm dialog touches."""

    def __init__(self):
        from qgis.gui import QgsMapCanvas
        from qgis.PyQt.QtWidgets import QMainWindow

        self.window, self.canvas = QMainWindow(), QgsMapCanvas()

    def mainWindow(self):  # noqa: N802
        return self.window

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
