"""Result layers styled however Processing loads them (dialog, batch, modeller, runAndLoadResults).

Processing loads a result layer without its default style, so the style rsdsva writes into
the GeoPackage would be lost: a post-processor applies it once the layer is loaded. The label
raster gets a paletted renderer from its colour table, with the class names rsdsva stored in
its band metadata.
"""

from qgis.core import (
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsVectorLayer,
)


class StyleFromFile(QgsProcessingLayerPostProcessorInterface):
    _alive = []  # QGIS does not own post-processors made in Python: keep each until the session ends

    @classmethod
    def create(cls):
        processor = cls()
        cls._alive.append(processor)
        return processor

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if isinstance(layer, QgsVectorLayer):
            _, ok = layer.loadDefaultStyle()
            if not ok:
                feedback.pushWarning(f"{layer.name()}: no style found in {layer.source()}")
        elif isinstance(layer, QgsRasterLayer):
            apply_label_palette(layer)
        layer.triggerRepaint()


def apply_label_palette(layer):
    """Band 1 (class id) drawn with the file's colour table, labelled with the class names."""
    from osgeo import gdal

    dataset = gdal.Open(layer.source())
    names = dataset.GetRasterBand(1).GetMetadata() if dataset is not None else {}
    dataset = None
    provider = layer.dataProvider()
    classes = []
    for item in QgsPalettedRasterRenderer.colorTableToClassData(provider.colorTable(1)):
        name = names.get(f"class_{int(item.value)}")
        if name is not None:  # the colour table runs on past the classes (65536 entries for uint16)
            item.label = name
            classes.append(item)
    if classes:
        layer.setRenderer(QgsPalettedRasterRenderer(provider, 1, classes))


def load_styled(context, path, name, output):
    """Load ``path`` on completion as ``name``, styled by :class:`StyleFromFile`."""
    from qgis.core import QgsProcessingContext

    details = QgsProcessingContext.LayerDetails(name, context.project(), output)
    details.setPostProcessor(StyleFromFile.create())
    context.addLayerToLoadOnCompletion(path, details)


def style_when_loaded(context, path, name):
    """If Processing will load ``path`` (a destination parameter's output), name and style it."""
    if context.willLoadLayerOnCompletion(path):
        details = context.layerToLoadOnCompletionDetails(path)
        details.name = name
        details.setPostProcessor(StyleFromFile.create())
