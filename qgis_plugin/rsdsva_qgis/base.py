"""What every rsdsva algorithm shares: its group, help, a fresh instance of its class, and
the raster file behind a raster layer parameter."""

import os
import sqlite3

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingParameterDefinition


class RsdsvaAlgorithm(QgsProcessingAlgorithm):
    NAME = ""
    DISPLAY_NAME = ""
    HELP = ""

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802
        return self.DISPLAY_NAME

    def group(self):
        return "Scene classification"

    def groupId(self):  # noqa: N802
        return "sceneclassification"

    def shortHelpString(self):  # noqa: N802
        return self.HELP

    def createInstance(self):  # noqa: N802
        return type(self)()

    def add(self, param, help_text, advanced=False):
        """Add ``param`` with its tooltip help, among the advanced parameters if ``advanced``."""
        param.setHelp(help_text)
        if advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(param)

    @staticmethod
    def check_replaceable(path, what):
        """Refuse to replace an existing file that rsdsva did not write (``what``: gpkg, tif, classes);
        rsdsva's own earlier output is replaced, as the dialog's overwrite question already asked."""
        if os.path.exists(path) and not _written_by_rsdsva(path, what):
            raise QgsProcessingException(f"{path} exists and was not written by rsdsva; choose another output "
                                         "name, or delete the file first")

    def raster_file(self, parameters, name, context):
        """The file of raster layer parameter ``name``: rsdsva reads files, not QGIS layers."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException("no input raster")
        if layer.providerType() != "gdal" or not layer.source():
            raise QgsProcessingException(f"{layer.name()}: rsdsva reads raster files; save the layer to a GeoTIFF first")
        return layer.source()


def _written_by_rsdsva(path, what):
    try:
        if what == "gpkg":
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                return bool(db.execute("SELECT 1 FROM run WHERE key = 'rsdsva_version'").fetchone())
        if what == "tif":
            from osgeo import gdal

            dataset = gdal.Open(path)
            return dataset is not None and ("class_0" in dataset.GetRasterBand(1).GetMetadata()
                                            or "rsdsva" in dataset.GetMetadata())
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith("# rsdsva classes")
    except (sqlite3.Error, OSError, UnicodeDecodeError, AttributeError):
        return False
