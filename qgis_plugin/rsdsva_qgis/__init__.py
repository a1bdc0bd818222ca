"""rsdsva QGIS plugin: a Processing provider that runs the rsdsva command in a subprocess."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import RsdsvaPlugin

    return RsdsvaPlugin(iface)
