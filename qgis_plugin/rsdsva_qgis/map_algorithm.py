"""Processing algorithm "Map scene classes (DSVA zero-shot)": runs ``rsdsva map``."""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import RsdsvaAlgorithm
from .runner import run_rsdsva
from .styling import load_styled, style_when_loaded

MODES = ["gzsl", "zsl", "seen"]
MODE_LABELS = ["All classes (seen and unseen, calibrated)", "Unseen classes only", "Seen classes only"]
DEVICES = ["auto", "cpu", "cuda"]
PRECISIONS = [None, "bf16", "fp16"]
PRECISION_LABELS = ["float32 (exact)", "bf16 (faster on GPUs and on CPUs with AVX512-BF16 or AMX)", "fp16 (CUDA only)"]
CLASS_FILES = "Classes files (*.yaml *.yml *.json *.csv)"


class MapScenesAlgorithm(RsdsvaAlgorithm):
    NAME = "mapsceneclasses"
    DISPLAY_NAME = "Map scene classes (DSVA zero-shot)"
    HELP = (
        "Tiles the input raster and classifies every tile with a DSVA model into the model's classes (seen in "
        "training), the classes it was evaluated on (held out) and the unseen classes of your classes file. "
        "Writes a GeoPackage with the layers <b>tiles</b> (label, score and top-k per tile, coloured by label), "
        "<b>regions</b> (adjacent tiles of one label merged), <b>classes</b> and <b>run</b>."
        "<p><b>Unseen classes file</b>: YAML such as <code>classes: {marsh: [has_water, has_grass]}</code> over the "
        "model's attribute vocabulary (<code>rsdsva info</code> lists it; <i>Check classes file</i> validates one).</p>"
        "<p><b>Tile size</b> and <b>stride</b> are in pixels, the <b>footprint</b> in metres; empty fields use the "
        "model's defaults. <b>Context</b> 2 classifies each tile from a window twice its size around it (its label "
        "still covers the tile alone).</p>"
        "<p>Runs the <code>rsdsva</code> executable, set under Processing options, Providers, rsdsva. Cancelling "
        "stops it and leaves no output.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Input raster"))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", "Model (empty: the embedded default model)", extension="safetensors", optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "CLASSES", "Unseen classes file", fileFilter=CLASS_FILES, optional=True))
        self.addParameter(QgsProcessingParameterEnum("MODE", "Classes to choose from", MODE_LABELS, defaultValue=0))
        self.addParameter(_number("TILE_SIZE", "Tile size (pixels)"))
        self.addParameter(_number("STRIDE", "Stride (pixels; below tile size: overlap)"))
        self.addParameter(_number("TILE_M", "Tile footprint (metres)", double=True))
        self.addParameter(QgsProcessingParameterNumber(
            "CONTEXT", "Context (the model sees a window this many times the tile; 1: the tile alone)",
            QgsProcessingParameterNumber.Double, 1.0, minValue=1.0))
        self.addParameter(QgsProcessingParameterString(
            "BANDS", "Bands as R,G,B (e.g. 1,2,3; empty: RGB)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "TOP_K", "Labels kept per tile (top-k)", QgsProcessingParameterNumber.Integer, 3, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            "MAX_NODATA", "Skip tiles with more nodata than (0-1)", QgsProcessingParameterNumber.Double,
            0.5, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", "Device", DEVICES, defaultValue=0))
        for param in (
            QgsProcessingParameterNumber("BATCH_SIZE", "Batch size", QgsProcessingParameterNumber.Integer, 64, minValue=1),
            QgsProcessingParameterNumber("CALIBRATION", "Calibration (lambda; empty: the model's)",
                                         QgsProcessingParameterNumber.Double, optional=True),
            QgsProcessingParameterBoolean("HELD_OUT", "Also name the model's held-out classes", True),
            QgsProcessingParameterEnum("PRECISION", "Precision", PRECISION_LABELS, defaultValue=0),
        ):
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(param)
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Output GeoPackage", "GeoPackage (*.gpkg)"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "LABEL_RASTER", "Label raster (class id, score)", optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputVectorLayer("TILES", "Tiles", QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = self.raster_file(parameters, "INPUT", context)
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        self.check_replaceable(out, "gpkg")
        args = ["map", source, "--out", out, "--overwrite",
                "--mode", MODES[self.parameterAsEnum(parameters, "MODE", context)],
                "--device", DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
                "--top-k", str(self.parameterAsInt(parameters, "TOP_K", context)),
                "--max-nodata", str(self.parameterAsDouble(parameters, "MAX_NODATA", context)),
                "--batch-size", str(self.parameterAsInt(parameters, "BATCH_SIZE", context)),
                "--context", str(self.parameterAsDouble(parameters, "CONTEXT", context))]
        for key, flag in (("MODEL", "--model"), ("CLASSES", "--classes")):
            value = self.parameterAsFile(parameters, key, context)
            if value:
                args += [flag, value]
        for key, flag, as_int in (("TILE_SIZE", "--tile-size", True), ("STRIDE", "--stride", True),
                                  ("TILE_M", "--tile-m", False), ("CALIBRATION", "--calibration", False)):
            if parameters.get(key) not in (None, ""):
                value = (self.parameterAsInt if as_int else self.parameterAsDouble)(parameters, key, context)
                args += [flag, str(value)]
        bands = self.parameterAsString(parameters, "BANDS", context).strip()
        if bands:
            args += ["--bands", bands]
        if not self.parameterAsBool(parameters, "HELD_OUT", context):
            args.append("--no-held-out")
        precision = PRECISIONS[self.parameterAsEnum(parameters, "PRECISION", context)]
        if precision:
            args += ["--amp", precision]
        label_raster = self.parameterAsOutputLayer(parameters, "LABEL_RASTER", context)
        if label_raster:
            self.check_replaceable(label_raster, "tif")
            args += ["--raster", label_raster]
        if run_rsdsva(args, feedback) is None:
            return {}
        tiles = f"{out}|layername=tiles"
        scene = os.path.splitext(os.path.basename(source))[0]
        # loaded into the project when run from the toolbox, styled by the file's own style
        load_styled(context, tiles, f"{scene} tiles", "TILES")
        result = {"OUTPUT": out, "TILES": tiles}
        if label_raster:
            style_when_loaded(context, label_raster, f"{scene} labels")
            result["LABEL_RASTER"] = label_raster
        return result


def _number(name, description, double=False):
    kind = QgsProcessingParameterNumber.Double if double else QgsProcessingParameterNumber.Integer
    return QgsProcessingParameterNumber(name, description, kind, optional=True, minValue=0.01 if double else 1)
