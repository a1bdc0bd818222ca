"""What every rsdsva algorithm shares: its group, help, a fresh instance of its class, and
the raster file behind a raster layer parameter."""

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException


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

    def raster_file(self, parameters, name, context):
        """The file of raster layer parameter ``name``: rsdsva reads files, not QGIS layers."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException("no input raster")
        if layer.providerType() != "gdal" or not layer.source():
            raise QgsProcessingException(f"{layer.name()}: rsdsva reads raster files; save the layer to a GeoTIFF first")
        return layer.source()
