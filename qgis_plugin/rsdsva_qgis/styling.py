"""Result layers styled however Processing loads them (dialog, batch, modeller, runAndLoadResults).

Processing loads a result layer without its default style, so the style rsdsva writes into
the GeoPackage would be lost: a post-processor applies it once the layer is loaded. The label
raster gets a paletted renderer from its colour table, with the class names rsdsva stored in
its band metadata; a similarity raster (float, a band per example class) a heat map of its
first band.
"""

from qgis.core import (
    QgsColorRampShader,
    QgsPalettedRasterRenderer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
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
            if layer.dataProvider().dataType(1) in (6, 7):  # Float32, Float64: a similarity raster
                apply_heat_map(layer)
            else:
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


def apply_heat_map(layer, band=1):
    """Band ``band`` (a similarity, 0-1) drawn as a heat map: dark where unlike, bright where alike."""
    ramp = QgsStyle().defaultStyle().colorRamp("Magma")
    shader_fn = QgsColorRampShader(0.0, 1.0, ramp)
    shader_fn.setColorRampItemList([QgsColorRampShader.ColorRampItem(v / 10, ramp.color(v / 10), f"{v / 10:.1f}")
                                    for v in range(11)])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader))


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
