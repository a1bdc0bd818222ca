"""Processing algorithm "Define classes from example areas": runs ``rsdsva classes from-map``."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from .base import RsdsvaAlgorithm
from .runner import run_rsdsva


class ClassesFromAreasAlgorithm(RsdsvaAlgorithm):
    NAME = "classesfromareas"
    DISPLAY_NAME = "Define classes from example areas"
    HELP = (
        "Turns polygons (or points) drawn over a raster into new classes: each value of the class name field is "
        "one class. The map tiles its areas cover (by at least the minimum cover of a tile; a smaller area or a "
        "point gets the tile centred on it) are kept as its examples, each seen with its surroundings, and give the "
        "class an attribute vector.\n"
        "Give the classes file to 'Map scene classes' as your classes file: the model ranks each tile by how like "
        "a class's nearest example it is, beside its own classes. A name of one of the model's classes "
        "('List attributes and classes' shows them) corrects that class. Three to five areas per class work best: "
        "cover the looks a class has (a full and an empty parking lot, green and dry grass)."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterRasterLayer("INPUT", "Raster the areas are drawn on"),
                 "The raster you will map, or one like it (same sensor and ground resolution).")
        self.add(QgsProcessingParameterFeatureSource(
            "AREAS", "Example areas", [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]),
            "Polygons or points, in any CRS; an unsaved layer you just drew works too.")
        self.add(QgsProcessingParameterField("NAME_FIELD", "Class name field", parentLayerParameterName="AREAS"),
                 "Each area's class name; areas of one name make one class.")
        self.add(QgsProcessingParameterNumber(
            "MIN_COVER", "Minimum cover of a tile (0-1)", QgsProcessingParameterNumber.Double, 0.5,
            minValue=0.01, maxValue=1.0), "A map tile is an example when the class's areas cover this share of it.")
        self.add_reading()
        self.add_model("Use the model you will map with: the examples' features belong to it.")
        self.add(QgsProcessingParameterFileDestination("OUTPUT", "Classes file", "Classes files (*.yaml)"),
                 "A YAML file for 'Map scene classes'.")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        raster = self.raster_file(parameters, "INPUT", context)
        # a memory layer or a selection is written to a temporary GeoPackage first
        areas = self.parameterAsCompatibleSourceLayerPath(parameters, "AREAS", context, ["gpkg"], "gpkg", feedback)
        field = self.parameterAsFields(parameters, "NAME_FIELD", context)[0]
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        self.check_replaceable(out, "classes")
        args = ["classes", "from-map", raster, areas.split("|")[0], "--name-field", field, "--out", out,
                "--overwrite", "--min-cover", str(self.parameterAsDouble(parameters, "MIN_COVER", context)),
                *self.reading_args(parameters, context), *self.model_args(parameters, context)]
        if "|layername=" in areas:
            args += ["--layer", areas.split("|layername=")[1].split("|")[0]]
        if run_rsdsva(args, feedback, progress_json=False) is None:
            return {}
        return {"OUTPUT": out}
