"""What every rsdsva algorithm shares: its group, help and a fresh instance of its class."""

from qgis.core import QgsProcessingAlgorithm


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
