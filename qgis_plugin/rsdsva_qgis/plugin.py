"""Registers the provider; nothing else in QGIS's GUI."""

from qgis.core import QgsApplication

from .provider import RsdsvaProvider


class RsdsvaPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None  # keep a reference: QGIS drops the algorithms of a collected provider

    def initProcessing(self):  # noqa: N802
        if self.provider is None:
            self.provider = RsdsvaProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
