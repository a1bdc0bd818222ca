"""Processing algorithm "Check classes file": runs ``rsdsva classes check``."""

from qgis.core import (
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
)

from .base import RsdsvaAlgorithm
from .map_algorithm import CLASS_FILES
from .runner import run_rsdsva


class CheckClassesAlgorithm(RsdsvaAlgorithm):
    NAME = "checkclasses"
    DISPLAY_NAME = "Check classes file"
    HELP = (
        "Validates an unseen-classes file against a model's attribute vocabulary (every unknown attribute is "
        "named, with the closest valid name) and lists each class's nearest existing classes. A class all but "
        "identical to an existing one is warned about: the model cannot tell the two apart."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterFile("CLASSES", "Classes file", fileFilter=CLASS_FILES),
                 "The classes file to check.")
        self.add_model("The model whose attributes the classes must use.")
        self.addOutput(QgsProcessingOutputString("REPORT", "Report"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        args = ["classes", "check", self.parameterAsFile(parameters, "CLASSES", context),
                *self.model_args(parameters, context)]
        lines = run_rsdsva(args, feedback, progress_json=False)
        return {"REPORT": "\n".join(lines or [])}
