"""Processing algorithm "Correct tiles and map again": ``rsdsva classes from-map --update``, then ``rsdsva map``."""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from .base import RsdsvaAlgorithm
from .runner import run_rsdsva
from .styling import load_styled


class CorrectAndMapAlgorithm(RsdsvaAlgorithm):
    NAME = "correctandmap"
    DISPLAY_NAME = "Correct tiles and map again"
    HELP = (
        "The loop that makes a map you believe: open the tiles layer of a map, add a text field (e.g. 'fix'), type "
        "the right class into it for a few tiles the map got wrong, and run this.\n"
        "Each corrected tile becomes an example of the class you typed: a class of your classes file gains it, a "
        "new name becomes a new class, and a name of one of the model's own classes corrects that class (where a "
        "tile looks like your example, it wins). Then the raster is mapped again with the corrected classes, and "
        "the new tiles load styled. Tiles you left empty are not used.\n"
        "The raster is read, and mapped again, as the first map was (its footprint, bands, context and the rest, "
        "from the map's GeoPackage): give that map when the tiles layer is a copy of it.\n"
        "The new map's tiles to check next load too (its to_check layer, with an empty 'fix' field): the "
        "unsurest tiles, one of each look, first."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterRasterLayer("INPUT", "Raster that was mapped"), "The map's input raster.")
        self.add(QgsProcessingParameterFeatureSource("TILES", "Tiles layer with corrections",
                                                     [QgsProcessing.TypeVectorPolygon]),
                 "The tiles layer of the map (or any polygons on the raster), with the corrections typed in a field.")
        self.add(QgsProcessingParameterField("NAME_FIELD", "Field with the right class", parentLayerParameterName="TILES"),
                 "The field you typed the right class into; empty on the tiles that were right.")
        self.add(QgsProcessingParameterFile(
            "MAP", "The map the tiles are of (empty: the tiles layer's own GeoPackage)", fileFilter="GeoPackage (*.gpkg)",
            optional=True), "Its settings are used again; needed only when the tiles layer is not the map's own.")
        self.add(QgsProcessingParameterFile(
            "CLASSES", "Classes file to add to (empty: a new one)", fileFilter="Classes files (*.yaml *.json)",
            optional=True), "A classes file made from example areas (or by this algorithm before); it is not changed.")
        self.add_model("The model the map was made with.")
        self.add(QgsProcessingParameterFileDestination("OUTPUT_CLASSES", "Corrected classes file",
                                                       "Classes files (*.yaml)"),
                 "Your classes with the corrections added, for the next map.")
        self.add(QgsProcessingParameterFileDestination("OUTPUT", "New map (GeoPackage)", "GeoPackage (*.gpkg)"),
                 "The raster mapped again with the corrected classes.")
        self.add(QgsProcessingParameterNumber("TO_CHECK", "Tiles to check next", QgsProcessingParameterNumber.Integer,
                                              10, minValue=0),
                 "The new map's first tiles by check_rank, loaded as a layer with an empty 'fix' field (0: none).")
        self.addOutput(QgsProcessingOutputVectorLayer("TILES_OUT", "Tiles", QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputVectorLayer("TO_CHECK_OUT", "Tiles to check next",
                                                      QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        raster = self.raster_file(parameters, "INPUT", context)
        tiles = self.parameterAsCompatibleSourceLayerPath(parameters, "TILES", context, ["gpkg"], "gpkg", feedback)
        field = self.parameterAsFields(parameters, "NAME_FIELD", context)[0]
        classes_out = self.parameterAsFileOutput(parameters, "OUTPUT_CLASSES", context)
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        self.check_replaceable(classes_out, "classes")
        self.check_replaceable(out, "gpkg")
        with_model = self.model_args(parameters, context)
        args = ["classes", "from-map", raster, tiles.split("|")[0], "--name-field", field, "--out", classes_out,
                "--overwrite", *with_model]
        if "|layername=" in tiles:
            args += ["--layer", tiles.split("|layername=")[1].split("|")[0]]
        first = self.parameterAsFile(parameters, "MAP", context) or _map_file(tiles)
        like = ["--like", first] if first else []
        args += like
        update = self.parameterAsFile(parameters, "CLASSES", context)
        if update:
            args += ["--update", update]
        feedback.pushInfo("Adding the corrected tiles as examples")
        if run_rsdsva(args, feedback, progress_json=False) is None:
            return {}
        feedback.pushInfo("Mapping again")
        to_check = self.parameterAsInt(parameters, "TO_CHECK", context)
        if run_rsdsva(["map", raster, "--classes", classes_out, "--out", out, "--overwrite", *with_model, *like,
                       "--to-check", str(to_check)], feedback) is None:
            return {}
        layer = f"{out}|layername=tiles"
        scene = os.path.splitext(os.path.basename(raster))[0]
        load_styled(context, layer, f"{scene} tiles (corrected)", "TILES_OUT")
        result = {"OUTPUT_CLASSES": classes_out, "OUTPUT": out, "TILES_OUT": layer}
        if to_check:
            result["TO_CHECK_OUT"] = f"{out}|layername=to_check"
            load_styled(context, result["TO_CHECK_OUT"], f"{scene} tiles to check next", "TO_CHECK_OUT")
        return result


def _map_file(source):
    """The GeoPackage of a layer source (``path|layername=tiles``) when it is a map of rsdsva (it has a
    run layer), else None."""
    from qgis.core import QgsVectorLayer

    path = source.split("|")[0]
    if not path.lower().endswith(".gpkg") or not os.path.isfile(path):
        return None
    return path if QgsVectorLayer(f"{path}|layername=run", "run", "ogr").isValid() else None
