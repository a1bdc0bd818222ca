"""What every rsdsva algorithm shares: its group, help, a fresh instance of its class, and
the raster file behind a raster layer parameter."""

import os
import sqlite3

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

MODEL_HELP = "An rsdsva model file (.safetensors, or .onnx from rsdsva export)."


class RsdsvaAlgorithm(QgsProcessingAlgorithm):
    NAME = ""
    DISPLAY_NAME = ""
    HELP = ""

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802
        return self.DISPLAY_NAME

    def group(self):
        return "Scene classification"

    def groupId(self):  # noqa: N802
        return "sceneclassification"

    def shortHelpString(self):  # noqa: N802
        return self.HELP

    def createInstance(self):  # noqa: N802
        return type(self)()

    def add(self, param, help_text, advanced=False):
        """Add ``param`` with its tooltip help, among the advanced parameters if ``advanced``."""
        param.setHelp(help_text)
        if advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(param)

    def add_model(self, help_text=MODEL_HELP, advanced=False):
        """The optional model file every algorithm that runs a model takes (:meth:`model_args`)."""
        self.add(QgsProcessingParameterFile("MODEL", "Model (empty: the embedded default model)", optional=True,
                                            fileFilter="rsdsva models (*.safetensors *.onnx)"), help_text, advanced)

    def model_args(self, parameters, context, flag="--model"):
        """``[flag, file]`` of :meth:`add_model`'s parameter where a model was given, else ``[]``."""
        model = self.parameterAsFile(parameters, "MODEL", context)
        return ([flag] if flag else []) + [model] if model else []

    def classes_args(self, parameters, context):
        """``["--classes", file]`` where the CLASSES file parameter was given, else ``[]``."""
        classes = self.parameterAsFile(parameters, "CLASSES", context)
        return ["--classes", classes] if classes else []

    def add_reading(self, recorded=False):
        """The footprint, tile size and bands a raster is read with, as the map reads it. ``recorded``:
        the algorithm takes a classes file, whose record of how its examples were read fills them."""
        if recorded:
            empty, record = "a classes file's, else the model's", (
                "A classes file from example areas records how its examples were read, and is read the same way "
                "where this is empty.")
        else:
            empty, record = "the model's", "Read as you will map: the classes file records it, and the map uses it."
        self.add(QgsProcessingParameterNumber("TILE_M", f"Tile footprint in metres (empty: {empty})",
                                              QgsProcessingParameterNumber.Double, optional=True, minValue=0.01),
                 f"Ground size of a tile side; 78 m for the default model, the footprint it saw in training. {record}")
        self.add(QgsProcessingParameterNumber("TILE_SIZE", "Tile size in pixels (empty: from the footprint)",
                                              QgsProcessingParameterNumber.Integer, optional=True, minValue=1),
                 "Overrides the footprint, e.g. 32 for 5-10 m imagery. Tiles under 32 px are refused: the model "
                 "would see colour, not content.")
        self.add(QgsProcessingParameterString("BANDS", "Bands as red,green,blue (e.g. 4,3,2; empty: found by colour "
                                                       "or band names)", optional=True),
                 f"1-based band numbers. {record}")

    def reading_args(self, parameters, context):
        """The command-line flags of :meth:`add_reading`'s parameters that were given."""
        args = []
        if parameters.get("TILE_SIZE") not in (None, ""):
            args += ["--tile-size", str(self.parameterAsInt(parameters, "TILE_SIZE", context))]
        if parameters.get("TILE_M") not in (None, ""):
            args += ["--tile-m", str(self.parameterAsDouble(parameters, "TILE_M", context))]
        bands = self.parameterAsString(parameters, "BANDS", context).replace(" ", "")
        return args + (["--bands", bands] if bands else [])

    @staticmethod
    def check_replaceable(path, what):
        """Refuse to replace an existing file that rsdsva did not write (``what``: gpkg, tif, classes);
        rsdsva's own earlier output is replaced, as the dialog's overwrite question already asked."""
        if os.path.exists(path) and not _written_by_rsdsva(path, what):
            raise QgsProcessingException(f"{path} exists and was not written by rsdsva; choose another output "
                                         "name, or delete the file first")

    def raster_output(self, parameters, name, context, flag, args):
        """The file of optional raster destination ``name``, checked replaceable and passed to rsdsva
        as ``flag`` (appended to ``args``); None where it was not asked for."""
        path = self.parameterAsOutputLayer(parameters, name, context)
        if not path:
            return None
        self.check_replaceable(path, "tif")
        args += [flag, path]
        return path

    def raster_file(self, parameters, name, context):
        """The file of raster layer parameter ``name``: rsdsva reads files, not QGIS layers."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException("no input raster")
        if layer.providerType() != "gdal" or not layer.source():
            raise QgsProcessingException(f"{layer.name()}: rsdsva reads raster files; save the layer to a GeoTIFF first")
        return layer.source()


def _written_by_rsdsva(path, what):
    try:
        if what == "gpkg":
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                return bool(db.execute("SELECT 1 FROM run WHERE key = 'rsdsva_version'").fetchone())
        if what == "tif":
            from osgeo import gdal

            dataset = gdal.Open(path)
            return dataset is not None and ("class_0" in dataset.GetRasterBand(1).GetMetadata()
                                            or "rsdsva" in dataset.GetMetadata())
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith("# rsdsva classes")
    except (sqlite3.Error, OSError, UnicodeDecodeError, AttributeError):
        return False
