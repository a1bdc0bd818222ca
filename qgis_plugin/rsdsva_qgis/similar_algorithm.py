"""Processing algorithm "Find tiles like this": one example class from drawn features, its similarity map."""

import os
import uuid

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
)

from .base import RsdsvaAlgorithm
from .runner import run_rsdsva
from .styling import style_when_loaded

NAME = "like_this"  # the one example class


class FindSimilarAlgorithm(RsdsvaAlgorithm):
    NAME = "findsimilar"
    DISPLAY_NAME = "Find tiles like this"
    HELP = (
        "Draw one polygon or point (or a few) on what you are looking for, and get a heat map of every tile's "
        "similarity to it (0-1): where the matches are, and how strong. The features are one example class "
        "(tick 'Selected features only' to use a selection); each tile is compared with its nearest example, "
        "seen with its surroundings, as 'Define classes from example areas' makes classes."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterRasterLayer("INPUT", "Raster to search"), "A raster file with a projected CRS.")
        self.add(QgsProcessingParameterFeatureSource(
            "LIKE", "What to look for", [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]),
            "Polygons or points on the raster, in any CRS; all of them are examples of one kind.")
        self.add_reading()
        self.add_model()
        self.add(QgsProcessingParameterRasterDestination("OUTPUT", "Similarity"),
                 "One pixel per tile: its similarity to the nearest example (0-1), shown as a heat map.")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        import processing

        raster = self.raster_file(parameters, "INPUT", context)
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        self.check_replaceable(out, "tif")
        work = os.path.join(QgsProcessingUtils.tempFolder(), f"rsdsva_like_{uuid.uuid4().hex[:8]}")
        os.makedirs(work)
        named = processing.run("native:fieldcalculator", {
            "INPUT": parameters["LIKE"], "FIELD_NAME": "rsdsva_name", "FIELD_TYPE": 2, "FIELD_LENGTH": 20,
            "FORMULA": f"'{NAME}'", "OUTPUT": os.path.join(work, "like.gpkg")},
            context=context, feedback=feedback, is_child_algorithm=True)["OUTPUT"]
        with_model = self.model_args(parameters, context)
        classes = os.path.join(work, "like.yaml")
        if run_rsdsva(["classes", "from-map", raster, named.split("|")[0], "--name-field", "rsdsva_name",
                       "--out", classes, *with_model, *self.reading_args(parameters, context)], feedback,
                      progress_json=False) is None:
            return {}
        if run_rsdsva(["map", raster, "--classes", classes, "--mode", "zsl", "--no-held-out", "--context", "1",
                       "--out", os.path.join(work, "map.gpkg"), "--similarity", out, "--overwrite", *with_model],
                      feedback) is None:
            return {}
        scene = os.path.splitext(os.path.basename(raster))[0]
        style_when_loaded(context, out, f"{scene}: tiles like this")
        return {"OUTPUT": out}
