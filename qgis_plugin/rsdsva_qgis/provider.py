"""The Processing provider: eight algorithms and the executable setting."""

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .areas_algorithm import ClassesFromAreasAlgorithm
from .change_algorithm import MapChangeAlgorithm
from .check_algorithm import CheckClassesAlgorithm
from .correct_algorithm import CorrectAndMapAlgorithm
from .classes_algorithms import ListClassesAlgorithm, WriteClassesAlgorithm
from .map_algorithm import MapScenesAlgorithm
from .similar_algorithm import FindSimilarAlgorithm
from .runner import EXECUTABLE_SETTING

ICON = os.path.join(os.path.dirname(__file__), "icon.svg")


class RsdsvaProvider(QgsProcessingProvider):
    def id(self):
        return "rsdsva"

    def name(self):
        return "rsdsva (DSVA zero-shot)"

    def longName(self):  # noqa: N802
        return "rsdsva: zero-shot scene classification (DSVA)"

    def icon(self):
        return QIcon(ICON)

    def load(self):
        from processing.core.ProcessingConfig import ProcessingConfig, Setting

        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(Setting(
            self.name(), EXECUTABLE_SETTING, "rsdsva executable (empty: RSDSVA_EXECUTABLE, then PATH)", "",
            valuetype=Setting.FILE,
        ))
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self):
        from processing.core.ProcessingConfig import ProcessingConfig

        ProcessingConfig.removeSetting(EXECUTABLE_SETTING)

    def loadAlgorithms(self):  # noqa: N802
        self.addAlgorithm(MapScenesAlgorithm())
        self.addAlgorithm(MapChangeAlgorithm())
        self.addAlgorithm(CheckClassesAlgorithm())
        self.addAlgorithm(ClassesFromAreasAlgorithm())
        self.addAlgorithm(CorrectAndMapAlgorithm())
        self.addAlgorithm(FindSimilarAlgorithm())
        self.addAlgorithm(ListClassesAlgorithm())
        self.addAlgorithm(WriteClassesAlgorithm())
