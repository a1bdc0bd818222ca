"""Processing algorithm "Map scene classes (DSVA zero-shot)": runs ``rsdsva map``."""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
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
MODE_LABELS = ["All classes (the model's and yours, balanced)", "Only your classes (and the held-out ones)",
               "Only the model's classes"]
DEVICES = ["auto", "cpu", "cuda"]
ENGINES = ["auto", "onnx", "torch"]
ENGINE_LABELS = ["auto (ONNX Runtime on a CPU, torch on a GPU)", "onnx (ONNX Runtime, CPU; no torch needed)",
                 "torch (needs rsdsva[torch])"]
PRECISIONS = [None, "bf16", "fp16", "int8"]
PRECISION_LABELS = ["float32 (exact)", "bf16 (faster on GPUs and on CPUs with AVX512-BF16 or AMX)", "fp16 (CUDA only)",
                    "int8 (about twice float32's speed on a CPU; the model's int8 form)"]
ROUTES = ["examples", "attributes"]
ROUTE_LABELS = ["By what their example tiles look like (the nearest one)", "By their attributes"]
CLASS_FILES = "Classes files (*.yaml *.yml *.json *.csv)"


class MapScenesAlgorithm(RsdsvaAlgorithm):
    NAME = "mapsceneclasses"
    DISPLAY_NAME = "Map scene classes (DSVA zero-shot)"
    HELP = (
        "Cuts the input raster into tiles and names the scene class of every tile: the model's own classes, the "
        "classes it was tested on (held out), and the classes of your classes file.\n"
        "Writes a GeoPackage with the layers tiles (label, score, confidence and the next best labels per tile, coloured by "
        "label), regions (touching tiles of one label merged), classes and run. The tiles load styled.\n"
        "Your classes: 'Define classes from example areas' makes them from polygons drawn on the raster; "
        "'List attributes and classes' shows the words a class can be described with and the known classes; "
        "'Write classes file' writes one from them; 'Check classes file' checks one.\n"
        "Tiles are 78 m on the ground for the default model (its training footprint), or the footprint a classes "
        "file from example areas was read with; the tile size, stride and footprint fields override it.\n"
        "Runs the rsdsva executable, set under Settings > Options > Processing > Providers > rsdsva. Cancelling "
        "stops it and leaves no output."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        add = self.add
        add(QgsProcessingParameterRasterLayer("INPUT", "Input raster"),
            "A raster file (GeoTIFF or any GDAL format) with a projected CRS; its red, green and blue bands are "
            "found by colour interpretation or band names (else the first three); classes from example areas also "
            "compare the tiles' spectra over every band.")
        self.add_model()
        add(QgsProcessingParameterFile("CLASSES", "Your classes file", fileFilter=CLASS_FILES, optional=True),
            "New classes to name, in YAML over the model's attributes, e.g. classes: {marsh: [has_water, has_grass]}, "
            "or made by 'Define classes from example areas'.")
        add(QgsProcessingParameterEnum("MODE", "Classes to choose from", MODE_LABELS, defaultValue=0),
            "All: every class, with the model's own slightly held back so that new classes get a fair chance.")
        add(QgsProcessingParameterFeatureSource("AOI", "Area of interest (empty: the whole raster)",
                                                [QgsProcessing.TypeVectorPolygon], optional=True),
            "Only tiles touching these polygons are mapped; tick 'Selected features only' to use a selection.")
        self.add_reading(recorded=True)
        add(_number("STRIDE", "Stride in pixels (empty: the tile size; smaller: overlapping tiles)"),
            "Distance between tile origins.")
        add(QgsProcessingParameterString("CONTEXT", "Context windows, in tile sizes (1: the tile alone, the fastest)",
                                         "2,3"),
            "The model sees windows this many times the tile, centred on it, and their scores are averaged; the "
            "label still covers the tile alone. 2,3 agrees with a person on more tiles of the sample scene.")
        add(QgsProcessingParameterNumber("TOP_K", "Labels kept per tile", QgsProcessingParameterNumber.Integer, 3,
                                         minValue=1), "The best and next best labels with their scores.")
        add(QgsProcessingParameterNumber("MAX_NODATA", "Skip tiles with more nodata than (0-1)",
                                         QgsProcessingParameterNumber.Double, 0.5, minValue=0.0, maxValue=1.0),
            "Share of a tile that may be nodata or outside the raster.")
        add(QgsProcessingParameterNumber("NODATA", "Nodata value (empty: the file's)",
                                         QgsProcessingParameterNumber.Double, optional=True),
            "Pixels of this value in all bands count as nodata.", advanced=True)
        add(QgsProcessingParameterString("SCALE", "Value range as min,max for non-8-bit data (empty: 2-98 % stretch)",
                                         optional=True),
            "Linear scaling of 16-bit or float values to 0-255, e.g. 0,3000 for reflectance x 10000.", advanced=True)
        add(QgsProcessingParameterBoolean("ALLOW_NO_CRS", "Accept a raster without a CRS", False),
            "Then give the tile size in pixels: a footprint in metres needs a CRS.", advanced=True)
        add(QgsProcessingParameterEnum("DEVICE", "Device", DEVICES, defaultValue=0),
            "auto uses a CUDA GPU when there is one.", advanced=True)
        add(QgsProcessingParameterEnum("ENGINE", "Engine", ENGINE_LABELS, defaultValue=0),
            "What runs the network; ONNX Runtime is about three times torch's speed on a CPU, and both give the same "
            "labels.", advanced=True)
        add(QgsProcessingParameterNumber("BATCH_SIZE", "Tiles per batch (empty: the engine's)",
                                         QgsProcessingParameterNumber.Integer, optional=True, minValue=1),
            "Empty: 8 on ONNX Runtime, 64 on torch. More is faster on a GPU and needs more memory.", advanced=True)
        add(QgsProcessingParameterNumber("CALIBRATION", "Hold-back of the model's own classes (empty: the model's)",
                                         QgsProcessingParameterNumber.Double, optional=True),
            "Subtracted from the model's own classes' scores (calibrated stacking, lambda): larger gives your and "
            "the held-out classes more tiles.", advanced=True)
        add(QgsProcessingParameterBoolean("HELD_OUT", "Also name the classes the model was tested on", True),
            "The default model holds out 8 classes (airplane, airport, church, ...) it can name without training "
            "on them.", advanced=True)
        add(QgsProcessingParameterEnum("EXAMPLE_ROUTE", "Classes from example areas are ranked", ROUTE_LABELS,
                                       defaultValue=0), "By their example tiles is the more accurate.", advanced=True)
        add(QgsProcessingParameterEnum("PRECISION", "Precision", PRECISION_LABELS, defaultValue=0),
            "bf16 and fp16 are faster and almost always give the same labels.", advanced=True)
        add(QgsProcessingParameterFileDestination("OUTPUT", "Output GeoPackage", "GeoPackage (*.gpkg)"),
            "An existing file is replaced only if rsdsva wrote it.")
        add(QgsProcessingParameterRasterDestination("LABEL_RASTER", "Label raster (class id, score)", optional=True,
                                                    createByDefault=False),
            "One pixel per tile: band 1 the class (paletted, with the class names), band 2 the score.")
        add(QgsProcessingParameterRasterDestination("SIMILARITY", "Similarity to each example class", optional=True,
                                                    createByDefault=False),
            "One pixel per tile, a band per class from example areas: how like its nearest example the tile is "
            "(0-1), shown as a heat map. Needs a classes file made from example areas.")
        add(QgsProcessingParameterNumber("TO_CHECK", "Tiles to check first", QgsProcessingParameterNumber.Integer, 10,
                                         minValue=0),
            "The first tiles by check_rank (the unsurest, one of each look), loaded as a layer with an empty 'fix' "
            "field: type the right class into it and run 'Correct tiles and map again' on it (0: none).")
        self.addOutput(QgsProcessingOutputVectorLayer("TILES", "Tiles", QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputVectorLayer("TO_CHECK_OUT", "Tiles to check first",
                                                      QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = self.raster_file(parameters, "INPUT", context)
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        self.check_replaceable(out, "gpkg")
        args = ["map", source, "--out", out, "--overwrite",
                "--mode", MODES[self.parameterAsEnum(parameters, "MODE", context)],
                "--device", DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
                "--engine", ENGINES[self.parameterAsEnum(parameters, "ENGINE", context)],
                "--example-route", ROUTES[self.parameterAsEnum(parameters, "EXAMPLE_ROUTE", context)],
                "--top-k", str(self.parameterAsInt(parameters, "TOP_K", context)),
                "--max-nodata", str(self.parameterAsDouble(parameters, "MAX_NODATA", context)),
                "--to-check", str(self.parameterAsInt(parameters, "TO_CHECK", context)),
                "--context", self.parameterAsString(parameters, "CONTEXT", context).replace(" ", "") or "1"]
        args += self.model_args(parameters, context) + self.classes_args(parameters, context)
        for key, flag, as_int in (("STRIDE", "--stride", True), ("BATCH_SIZE", "--batch-size", True),
                                  ("CALIBRATION", "--calibration", False), ("NODATA", "--nodata", False)):
            if parameters.get(key) not in (None, ""):
                value = (self.parameterAsInt if as_int else self.parameterAsDouble)(parameters, key, context)
                args += [flag, str(value)]
        scale = self.parameterAsString(parameters, "SCALE", context).replace(" ", "")
        args += self.reading_args(parameters, context) + (["--scale", scale] if scale else [])
        if parameters.get("AOI") not in (None, ""):
            # a selection or a layer that is not a file is written to a temporary GeoPackage first
            aoi = self.parameterAsCompatibleSourceLayerPath(parameters, "AOI", context, ["gpkg"], "gpkg", feedback)
            args += ["--aoi", aoi.split("|")[0]]
        if self.parameterAsBool(parameters, "ALLOW_NO_CRS", context):
            args.append("--allow-no-crs")
        if not self.parameterAsBool(parameters, "HELD_OUT", context):
            args.append("--no-held-out")
        precision = PRECISIONS[self.parameterAsEnum(parameters, "PRECISION", context)]
        if precision:
            args += ["--precision", precision]
        label_raster = self.raster_output(parameters, "LABEL_RASTER", context, "--raster", args)
        similarity = self.raster_output(parameters, "SIMILARITY", context, "--similarity", args)
        if run_rsdsva(args, feedback) is None:
            return {}
        tiles = f"{out}|layername=tiles"
        scene = os.path.splitext(os.path.basename(source))[0]
        # loaded into the project when run from the toolbox, styled by the file's own style
        load_styled(context, tiles, f"{scene} tiles", "TILES")
        result = {"OUTPUT": out, "TILES": tiles}
        if self.parameterAsInt(parameters, "TO_CHECK", context):
            result["TO_CHECK_OUT"] = f"{out}|layername=to_check"
            load_styled(context, result["TO_CHECK_OUT"], f"{scene} tiles to check first", "TO_CHECK_OUT")
        if label_raster:
            style_when_loaded(context, label_raster, f"{scene} labels")
            result["LABEL_RASTER"] = label_raster
        if similarity:
            style_when_loaded(context, similarity, f"{scene} similarity")
            result["SIMILARITY"] = similarity
        return result


def _number(name, description, double=False):
    kind = QgsProcessingParameterNumber.Double if double else QgsProcessingParameterNumber.Integer
    return QgsProcessingParameterNumber(name, description, kind, optional=True, minValue=0.01 if double else 1)
