"""Processing algorithm "Map change between two dates": runs ``rsdsva change``."""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import RsdsvaAlgorithm
from .map_algorithm import CLASS_FILES, ENGINE_LABELS, ENGINES, MODE_LABELS, MODES
from .runner import run_rsdsva
from .styling import load_styled, style_when_loaded


class MapChangeAlgorithm(RsdsvaAlgorithm):
    NAME = "mapchange"
    DISPLAY_NAME = "Map change between two dates"
    HELP = (
        "What changed between two rasters of one place, and into what.\n"
        "Both are cut into the tiles of the first (the second is read onto its grid where they differ) and "
        "classified as 'Map scene classes' does. Each tile gets its class on both dates (from_label, to_label), a "
        "change score (0-1: how unusual its move between the dates is among the scene's tiles, once one linear "
        "map between the dates has absorbed season, sun and haze) and 'changed'.\n"
        "Writes a GeoPackage: tiles (loaded styled: unchanged tiles faint, changed ones coloured by their "
        "to-class), transitions (from -> to, tiles and area), classes and run.\n"
        "Runs the rsdsva executable, set under Settings > Options > Processing > Providers > rsdsva."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        add = self.add
        add(QgsProcessingParameterRasterLayer("BEFORE", "Before (the first date)"),
            "A raster file with a projected CRS; its grid is the change map's.")
        add(QgsProcessingParameterRasterLayer("AFTER", "After (the second date)"),
            "The same place later, with the same bands; read onto the first date's grid where it differs.")
        add(QgsProcessingParameterNumber("THRESHOLD", "Change score from which a tile is changed (0-1)",
                                         QgsProcessingParameterNumber.Double, 0.98, minValue=0.01, maxValue=0.9999),
            "0.98: about two robust spreads above the scene's typical tile. Lower finds more, and more falsely.")
        self.add_reading(recorded=True)
        add(QgsProcessingParameterFile("CLASSES", "Your classes file", fileFilter=CLASS_FILES, optional=True),
            "The classes the from- and to-labels are chosen among, besides the model's (e.g. made by 'Define "
            "classes from example areas' on either date).")
        add(QgsProcessingParameterEnum("MODE", "Classes to choose from", MODE_LABELS, defaultValue=0),
            "All: every class, with the model's own slightly held back.")
        add(QgsProcessingParameterString("CONTEXT", "Context windows, in tile sizes (1: the tile alone, the fastest)",
                                         "2,3"), "As 'Map scene classes'.", advanced=True)
        self.add_model(advanced=True)
        add(QgsProcessingParameterEnum("ENGINE", "Engine", ENGINE_LABELS, defaultValue=0),
            "What runs the network.", advanced=True)
        add(QgsProcessingParameterFileDestination("OUTPUT", "Output GeoPackage", "GeoPackage (*.gpkg)"),
            "An existing file is replaced only if rsdsva wrote it.")
        add(QgsProcessingParameterRasterDestination("CHANGE_RASTER", "Change raster (score, transition)", optional=True,
                                                    createByDefault=False),
            "One pixel per tile: band 1 the change score (shown as a heat map), band 2 the transition "
            "(from_id * 1000 + to_id).")
        self.addOutput(QgsProcessingOutputVectorLayer("TILES", "Change tiles", QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        before = self.raster_file(parameters, "BEFORE", context)
        after = self.raster_file(parameters, "AFTER", context)
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        self.check_replaceable(out, "gpkg")
        args = ["change", before, after, "--out", out, "--overwrite",
                "--threshold", str(self.parameterAsDouble(parameters, "THRESHOLD", context)),
                "--mode", MODES[self.parameterAsEnum(parameters, "MODE", context)],
                "--engine", ENGINES[self.parameterAsEnum(parameters, "ENGINE", context)],
                "--context", self.parameterAsString(parameters, "CONTEXT", context).replace(" ", "") or "1",
                *self.reading_args(parameters, context)]
        args += self.model_args(parameters, context) + self.classes_args(parameters, context)
        change_raster = self.raster_output(parameters, "CHANGE_RASTER", context, "--raster", args)
        if run_rsdsva(args, feedback) is None:
            return {}
        tiles = f"{out}|layername=tiles"
        scene = os.path.splitext(os.path.basename(before))[0]
        load_styled(context, tiles, f"{scene} change", "TILES")
        result = {"OUTPUT": out, "TILES": tiles}
        if change_raster:
            style_when_loaded(context, change_raster, f"{scene} change score")
            result["CHANGE_RASTER"] = change_raster
        return result
