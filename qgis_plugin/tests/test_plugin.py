"""The plugin in a real, headless QGIS: provider, processing.run, qgis_process, cancel, errors, dialog."""

import os
import subprocess
from pathlib import Path

import pytest
from conftest import ARTIFACTS, PLUGIN_DIR, SCENE, SHARED

MAP = "rsdsva:mapsceneclasses"
CHECK = "rsdsva:checkclasses"


def test_provider_lists_its_algorithms(plugin):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("rsdsva")
    assert provider is not None
    assert sorted(a.id() for a in provider.algorithms()) == [CHECK, "rsdsva:classesfromareas", "rsdsva:correctandmap",
                                                             "rsdsva:findsimilar", "rsdsva:listclasses",
                                                             "rsdsva:mapchange", MAP, "rsdsva:writeclasses"]
    alg = QgsApplication.processingRegistry().algorithmById(MAP)
    names = {p.name() for p in alg.parameterDefinitions()}
    assert {"INPUT", "MODEL", "CLASSES", "TILE_SIZE", "STRIDE", "TILE_M", "CONTEXT", "BANDS", "MODE", "DEVICE",
            "TOP_K", "MAX_NODATA", "PRECISION", "ENGINE", "OUTPUT", "LABEL_RASTER", "SIMILARITY"} <= names


def test_processing_run_writes_a_styled_geopackage(plugin, executable, tmp_path):
    import processing
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    feedback = _recording_feedback()
    seen = feedback.seen

    out = tmp_path / "labels.gpkg"
    labels = tmp_path / "labels.tif"
    result = processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(out), "LABEL_RASTER": str(labels),
                                  "TOP_K": 2, "ENGINE": 1}, feedback=feedback)
    assert result["OUTPUT"] == str(out) and result["TILES"] == f"{out}|layername=tiles"
    tiles = QgsVectorLayer(result["TILES"], "tiles", "ogr")
    assert tiles.isValid() and tiles.featureCount() > 0
    assert tiles.crs().authid() == "EPSG:3857"
    fields = {f.name() for f in tiles.fields()}
    assert {"row", "col", "label", "class_id", "score", "is_unseen", "top_labels", "valid_fraction"} <= fields
    assert tiles.renderer().type() == "categorizedSymbol"  # the file's default style, coloured by label
    assert QgsVectorLayer(f"{out}|layername=regions", "regions", "ogr").isValid()
    assert QgsRasterLayer(str(labels), "labels").isValid()
    assert seen and max(seen) == pytest.approx(100.0)
    run = QgsVectorLayer(f"{out}|layername=run", "run", "ogr")
    settings = next(f["value"] for f in run.getFeatures() if f["key"] == "settings")
    assert '"engine": "onnx"' in settings and '"top_k": 2' in settings  # ONNX Runtime: light install or not


def test_qgis_process_runs_the_algorithm_from_the_command_line(executable, tmp_path):
    env = dict(os.environ, QGIS_PLUGINPATH=str(PLUGIN_DIR), QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"),
               QT_QPA_PLATFORM="offscreen", RSDSVA_EXECUTABLE=executable)
    enable = subprocess.run(["qgis_process.bin", "plugins", "enable", "rsdsva_qgis"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    listing = subprocess.run(["qgis_process.bin", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert MAP in listing.stdout and CHECK in listing.stdout
    out = tmp_path / "cli.gpkg"
    run = subprocess.run(["qgis_process.bin", "run", MAP, "--", f"INPUT={SCENE}", f"OUTPUT={out}", "MODE=2"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert out.is_file() and "TILES:" in run.stdout


def test_cancel_stops_the_command_and_leaves_no_output(plugin, executable, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    class CancelAtFirstTile(QgsProcessingFeedback):
        def setProgress(self, value):  # noqa: N802
            super().setProgress(value)
            if value > 0:
                self.cancel()

    feedback = CancelAtFirstTile()
    out = tmp_path / "cancelled.gpkg"
    processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(out), "BATCH_SIZE": 1, "TILE_SIZE": 64},
                   feedback=feedback)
    assert feedback.isCanceled()
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


def test_a_refused_grid_reaches_qgis_as_one_clear_error(plugin, executable, tmp_path):
    """rsdsva's guard against tiles too small for the model, as a Processing error, said once."""
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    errors = []

    class Record(QgsProcessingFeedback):
        def reportError(self, error, fatalError=False):  # noqa: N802
            errors.append(error)
            super().reportError(error, fatalError)

    with pytest.raises(QgsProcessingException, match="under 32 px"):
        processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(tmp_path / "x.gpkg"), "TILE_SIZE": 8},
                       feedback=Record())
    # said once: by the exception, which QGIS shows; not also reported on the way (qgis_process printed it 5 times)
    assert not [e for e in errors if "under 32 px" in e]
    assert not (tmp_path / "x.gpkg").exists()


def test_context_reaches_rsdsva(plugin, executable, tmp_path):
    import json

    import processing
    from qgis.core import QgsVectorLayer

    out = tmp_path / "wide.gpkg"
    processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(out), "CONTEXT": "1, 2", "TILE_SIZE": 256,
                         "PRECISION": 3})  # int8, the default model's int8 form
    run = QgsVectorLayer(f"{out}|layername=run", "run", "ogr")
    values = {f["key"]: json.loads(f["value"]) for f in run.getFeatures()}
    assert values["settings"]["context"] == [1.0, 2.0] and values["settings"]["precision"] == "int8"


def test_missing_executable_gives_the_install_message(plugin, tmp_path, monkeypatch):
    import processing
    from qgis.core import QgsProcessingException

    monkeypatch.setenv("RSDSVA_EXECUTABLE", str(tmp_path / "no-such-rsdsva"))
    with pytest.raises(QgsProcessingException, match="does not exist"):
        processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(tmp_path / "x.gpkg")})
    monkeypatch.delenv("RSDSVA_EXECUTABLE")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(QgsProcessingException, match="pip install /path/to/rsdsva"):
        processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(tmp_path / "x.gpkg")})
    assert not (tmp_path / "x.gpkg").exists()


def test_the_commands_error_line_becomes_the_processing_error(plugin, executable, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    classes = tmp_path / "bad.yaml"
    classes.write_text("classes:\n  marsh: [has_watr]\n")
    with pytest.raises(QgsProcessingException, match="unknown attribute 'has_watr'.*did you mean 'has_water'"):
        processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(tmp_path / "x.gpkg"), "CLASSES": str(classes)})
    assert not (tmp_path / "x.gpkg").exists()


def test_check_classes_algorithm_reports_nearest_classes(plugin, executable, tmp_path):
    import processing

    classes = tmp_path / "new.yaml"
    classes.write_text("classes:\n  marsh: [has_water, has_grass, has_vegetation]\n")
    report = processing.run(CHECK, {"CLASSES": str(classes)})["REPORT"]
    assert "marsh" in report and "nearest:" in report


def test_algorithm_dialog_screenshot(plugin):
    import processing

    ARTIFACTS.mkdir(exist_ok=True)
    dialog = processing.createAlgorithmDialog(MAP, {})
    dialog.resize(1000, 860)
    dialog.show()
    path = ARTIFACTS / "qgis_map_dialog.png"
    assert dialog.grab().save(str(path))
    dialog.close()
    assert path.stat().st_size > 10_000


def _add_labelled_map(model, child):
    """Add the map step ``child`` to ``model``, its GeoPackage the model's output "map:labels"."""
    from qgis.core import QgsProcessingModelOutput, QgsProcessingModelParameter, QgsProcessingParameterFileDestination

    output = QgsProcessingModelOutput("labels", "labels")
    output.setChildOutputName("OUTPUT")
    child.setModelOutputs({"labels": output})
    model.addChildAlgorithm(child)
    model.addModelParameter(QgsProcessingParameterFileDestination("map:labels", "labels", "GeoPackage (*.gpkg)"),
                            QgsProcessingModelParameter("map:labels"))


def test_the_algorithm_runs_inside_a_graphical_model(plugin, executable, tmp_path):
    """A model of the modeller: a raster input feeds the map algorithm, whose tiles are the model's output."""
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterLayer,
        QgsVectorLayer,
    )

    model = QgsProcessingModelAlgorithm("map in a model", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("scene", "Scene"), QgsProcessingModelParameter("scene"))
    child = QgsProcessingModelChildAlgorithm(MAP)
    child.setChildId("map")
    child.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("scene")])
    child.addParameterSources("MODE", [QgsProcessingModelChildParameterSource.fromStaticValue(2)])
    _add_labelled_map(model, child)
    out = tmp_path / "modelled.gpkg"
    result = processing.run(model, {"scene": str(SCENE), "map:labels": str(out)})
    assert result["map:labels"] == str(out)
    assert QgsVectorLayer(f"{out}|layername=tiles", "tiles", "ogr").featureCount() > 0


AREAS = "rsdsva:classesfromareas"
AUTZEN = PLUGIN_DIR.parent / "sample_data" / "autzen_0p3m_2994.tif"


def _drawn_areas():
    """A memory layer, as a user draws one: two river and two forest tiles of the sample scene."""
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:2994&field=kind:string", "areas", "memory")
    x0, y0 = 635615.4278659122, 853362.6430851521  # the scene's top left, in feet; tiles are 256 ft
    features = []
    for kind, (row, col) in [("water_here", (15, 3)), ("water_here", (15, 4)), ("trees_here", (12, 3)),
                             ("trees_here", (13, 5))]:
        f = QgsFeature(layer.fields())
        left, top = x0 + col * 256 + 20, y0 - row * 256 - 20
        f.setGeometry(QgsGeometry.fromRect(QgsRectangle(left, top - 216, left + 216, top)))
        f["kind"] = kind
        features.append(f)
    layer.dataProvider().addFeatures(features)
    return layer


def test_classes_from_areas_drawn_in_qgis_feed_the_map(plugin, executable, tmp_path):
    """A model of the modeller: example areas -> classes file -> map, as the plugin's docs show."""
    import processing
    import yaml
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelParameter,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
        QgsProcessingParameterRasterLayer,
        QgsProject,
        QgsVectorLayer,
    )

    areas = _drawn_areas()
    QgsProject.instance().addMapLayer(areas)
    classes = tmp_path / "mine.yaml"
    result = processing.run(AREAS, {"INPUT": str(AUTZEN), "AREAS": areas, "NAME_FIELD": "kind",
                                    "OUTPUT": str(classes)})
    assert result["OUTPUT"] == str(classes)
    data = yaml.safe_load(classes.read_text())
    assert {n: c["examples"]["tiles"] for n, c in data["classes"].items()} == {"water_here": 2, "trees_here": 2}

    model = QgsProcessingModelAlgorithm("Classes from example areas, then map", "rsdsva")
    model.addModelParameter(QgsProcessingParameterRasterLayer("scene", "Scene"), QgsProcessingModelParameter("scene"))
    model.addModelParameter(QgsProcessingParameterFeatureSource("areas", "Example areas"),
                            QgsProcessingModelParameter("areas"))
    model.addModelParameter(QgsProcessingParameterField("field", "Class name field", parentLayerParameterName="areas"),
                            QgsProcessingModelParameter("field"))
    define = QgsProcessingModelChildAlgorithm(AREAS)
    define.setChildId("define")
    define.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("scene")])
    define.addParameterSources("AREAS", [QgsProcessingModelChildParameterSource.fromModelParameter("areas")])
    define.addParameterSources("NAME_FIELD", [QgsProcessingModelChildParameterSource.fromModelParameter("field")])
    model.addChildAlgorithm(define)
    mapping = QgsProcessingModelChildAlgorithm(MAP)
    mapping.setChildId("map")
    mapping.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("scene")])
    mapping.addParameterSources("CLASSES", [QgsProcessingModelChildParameterSource.fromChildOutput("define", "OUTPUT")])
    mapping.addParameterSources("MODE", [QgsProcessingModelChildParameterSource.fromStaticValue(1)])  # unseen only
    mapping.addParameterSources("HELD_OUT", [QgsProcessingModelChildParameterSource.fromStaticValue(False)])
    _add_labelled_map(model, mapping)
    out = tmp_path / "modelled.gpkg"
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    processing.run(model, {"scene": str(AUTZEN), "areas": areas.id(), "field": "kind", "map:labels": str(out)},
                   context=context)
    tiles = QgsVectorLayer(f"{out}|layername=tiles", "tiles", "ogr")
    labels = {f["label"] for f in tiles.getFeatures()}
    assert labels == {"water_here", "trees_here"}
    routes = {f["name"]: f["route"] for f in QgsVectorLayer(f"{out}|layername=classes", "c", "ogr").getFeatures()}
    assert routes == {"water_here": "examples", "trees_here": "examples"}
    ARTIFACTS.mkdir(exist_ok=True)
    assert model.toFile(str(ARTIFACTS / "classes_from_areas_then_map.model3"))


def test_correct_tiles_and_map_again_with_a_similarity_heat_map(plugin, executable, tmp_path):
    """The loop in QGIS: map with example classes, type the right class into a few tiles, correct and map again."""
    import processing
    from qgis.core import (
        QgsField,
        QgsProcessingContext,
        QgsProject,
        QgsRasterLayer,
        QgsSingleBandPseudoColorRenderer,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QVariant

    areas = _drawn_areas()
    classes = tmp_path / "mine.yaml"
    processing.run(AREAS, {"INPUT": str(AUTZEN), "AREAS": areas, "NAME_FIELD": "kind", "OUTPUT": str(classes)})
    first, similarity = tmp_path / "first.gpkg", tmp_path / "sim.tif"
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    result = processing.run(MAP, {"INPUT": str(AUTZEN), "CLASSES": str(classes), "OUTPUT": str(first),
                                  "SIMILARITY": str(similarity)}, context=context)
    assert result["SIMILARITY"] == str(similarity)
    heat = QgsRasterLayer(str(similarity), "similarity")
    assert heat.bandCount() == 2 and [heat.bandName(i) for i in (1, 2)][0].endswith("water_here")
    from rsdsva_qgis.styling import apply_heat_map

    apply_heat_map(heat)
    assert isinstance(heat.renderer(), QgsSingleBandPseudoColorRenderer)

    tiles = QgsVectorLayer(f"{first}|layername=tiles", "tiles", "ogr")
    wrong = [f for f in tiles.getFeatures() if (f["row"], f["col"]) in ((8, 9), (8, 10))]  # empty parking lot tiles
    assert len(wrong) == 2
    edited = QgsVectorLayer(f"Polygon?crs={tiles.crs().authid()}", "edited", "memory")
    edited.dataProvider().addAttributes(tiles.fields().toList() + [QgsField("fix", QVariant.String)])
    edited.updateFields()
    features = []
    for f in tiles.getFeatures():
        f.setFields(edited.fields(), False)
        f.setAttributes(f.attributes() + ["car_park" if f.id() in {w.id() for w in wrong} else None])
        features.append(f)
    edited.dataProvider().addFeatures(features)
    corrected, again = tmp_path / "corrected.yaml", tmp_path / "again.gpkg"
    result = processing.run("rsdsva:correctandmap", {"INPUT": str(AUTZEN), "TILES": edited, "NAME_FIELD": "fix",
                                                     "CLASSES": str(classes), "OUTPUT_CLASSES": str(corrected),
                                                     "OUTPUT": str(again)}, context=context)
    assert result["OUTPUT"] == str(again) and corrected.read_text().startswith("# rsdsva classes")
    labels = {(f["row"], f["col"]): f["label"] for f in QgsVectorLayer(f"{again}|layername=tiles", "t", "ogr").getFeatures()}
    assert labels[(8, 9)] == labels[(8, 10)] == "car_park"  # the corrected tiles come out right
    assert "car_park" not in classes.read_text()  # the classes file given is not changed
    # and the next round's tiles to check, with a field to type into, styled by label
    to_check = QgsVectorLayer(result["TO_CHECK_OUT"], "to check", "ogr")
    assert to_check.featureCount() == 10 and to_check.fields().indexOf("fix") >= 0
    assert sorted(f["check_rank"] for f in to_check.getFeatures()) == list(range(1, 11))
    assert to_check.loadDefaultStyle()[1]


def test_find_tiles_like_one_drawn_point(plugin, executable, tmp_path):
    import numpy as np
    import processing
    from osgeo import gdal
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsProject, QgsVectorLayer

    x0, dx, _, y0, _, dy = gdal.Open(str(AUTZEN)).GetGeoTransform()
    x, y = x0 + 9.5 * 256 * dx, y0 + 8.5 * 256 * dy  # the middle of tile (8, 9): an empty parking lot
    layer = QgsVectorLayer("Point?crs=EPSG:2994", "like", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
    layer.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(layer)
    out = tmp_path / "like.tif"
    result = processing.run("rsdsva:findsimilar", {"INPUT": str(AUTZEN), "LIKE": layer.id(), "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    dataset = gdal.Open(str(out))  # kept: a band outlives its dataset only as a dangling pointer
    band = dataset.GetRasterBand(1)
    sims = band.ReadAsArray()
    assert band.GetDescription() == "like_this" and sims[8, 9] == np.float32(sims.max())  # its own tile matches best
    lots, woods = sims[[5, 6, 7], [10, 10, 10]], sims[[12, 13, 13], [5, 5, 6]]  # other empty lots; forest
    assert lots.min() > woods.max()


def test_the_documented_model_chains_the_two_algorithms(plugin):
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(PLUGIN_DIR / "docs" / "classes_from_areas_then_map.model3"))
    children = {c.algorithmId() for c in model.childAlgorithms().values()}
    assert children == {AREAS, MAP}
    assert {p.name() for p in model.parameterDefinitions()} >= {"scene", "areas", "field"}


def test_results_load_styled_the_way_the_dialog_loads_them(plugin, executable, tmp_path):
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (
        QgsApplication,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
        QgsRasterLayer,
    )

    project = QgsProject.instance()
    project.removeAllMapLayers()
    alg = QgsApplication.processingRegistry().createAlgorithmById(MAP)
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()
    labels = QgsProcessingOutputLayerDefinition(str(tmp_path / "labels.tif"), project)  # "open output file" ticked
    parameters = {"INPUT": str(AUTZEN), "OUTPUT": str(tmp_path / "labels.gpkg"), "LABEL_RASTER": labels}
    results, ok = alg.run(parameters, context, feedback)
    assert ok, results
    assert handleAlgorithmResults(alg, context, feedback, showResults=False, parameters=parameters)
    loaded = {layer.name(): layer for layer in project.mapLayers().values()}
    scene = AUTZEN.stem  # the README's sample scene
    tiles = loaded[f"{scene} tiles"]
    assert tiles.renderer().type() == "categorizedSymbol" and tiles.renderer().classAttribute() == "label"
    raster = loaded[f"{scene} labels"]
    assert raster.renderer().type() == "paletted"
    names = {c.label for c in raster.renderer().classes()}
    assert {f["label"] for f in tiles.getFeatures()} <= names and "forest" in names
    _render([tiles, QgsRasterLayer(str(AUTZEN), "scene")], ARTIFACTS / "qgis_styled_result.png")
    project.removeAllMapLayers()


def _render(layers, path):
    """The layers (top first) drawn as QGIS draws them, to a PNG: what a user sees after a run."""
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize

    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[-1].crs())
    settings.setExtent(layers[-1].extent())
    settings.setOutputSize(QSize(900, 900))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    ARTIFACTS.mkdir(exist_ok=True)
    assert job.renderedImage().save(str(path))


def test_an_existing_file_rsdsva_did_not_write_is_never_replaced(plugin, executable, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    notes = tmp_path / "notes.gpkg"
    notes.write_text("my notes\n")
    with pytest.raises(QgsProcessingException, match="exists and was not written by rsdsva"):
        processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(notes)})
    assert notes.read_text() == "my notes\n"
    out = tmp_path / "labels.gpkg"
    for _ in range(2):  # rsdsva's own earlier map is replaced, as the dialog's overwrite question asked
        processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(out), "TOP_K": 1})
    assert out.stat().st_size > 10_000


def test_the_executable_path_may_start_with_a_tilde_or_a_variable(plugin, executable, tmp_path, monkeypatch):
    from rsdsva_qgis.runner import find_executable

    (tmp_path / "env" / "bin").mkdir(parents=True)
    (tmp_path / "env" / "bin" / "rsdsva").symlink_to(executable)
    monkeypatch.setenv("HOME", str(tmp_path))
    for value in ("~/env/bin/rsdsva", "$HOME/env/bin/rsdsva"):
        monkeypatch.setenv("RSDSVA_EXECUTABLE", value)
        assert find_executable() == str(tmp_path / "env" / "bin" / "rsdsva")


def test_classes_are_written_inside_qgis(plugin, executable, tmp_path):
    import processing
    import yaml
    from qgis.core import QgsProcessingException

    report = processing.run("rsdsva:listclasses", {"OUTPUT": str(tmp_path / "classes.html")})["OUTPUT"]
    text = Path(report).read_text(encoding="utf-8")
    assert "<code>has_water</code>" in text and "wetland" in text and "held out (named by default)" in text
    out = tmp_path / "mine.yaml"
    result = processing.run("rsdsva:writeclasses", {"LIBRARY": "wetland, forest", "OUTPUT": str(out),
                                                    "DEFINE": "marsh: has_water, has_grass\nsalt_pan: has_sand, has_ice"})
    assert set(yaml.safe_load(out.read_text())["classes"]) == {"wetland", "marsh", "salt_pan"}  # forest: the model's
    assert "marsh" in result["REPORT"] and "nearest:" in result["REPORT"]
    processing.run("rsdsva:writeclasses", {"DEFINE": "marsh: has_water", "OUTPUT": str(out)})  # its own file: replaced
    with pytest.raises(QgsProcessingException, match="unknown attribute 'has_watr'; did you mean 'has_water'"):
        processing.run("rsdsva:writeclasses", {"DEFINE": "marsh: has_watr", "OUTPUT": str(tmp_path / "bad.yaml")})
    alg_help = [p.help() for p in plugin.provider.algorithm("mapsceneclasses").parameterDefinitions()]
    assert all(alg_help), "every parameter has help"
    bogus = tmp_path / "not_a_model.safetensors"  # a model given reaches rsdsva, which refuses this one
    bogus.write_text("no")
    for alg, params in (("rsdsva:listclasses", {"OUTPUT": str(tmp_path / "other.html")}),
                        ("rsdsva:writeclasses", {"DEFINE": "marsh: has_water", "OUTPUT": str(tmp_path / "other.yaml")}),
                        (CHECK, {"CLASSES": str(out)})):
        with pytest.raises(QgsProcessingException, match="not_a_model.safetensors: not a safetensors model"):
            processing.run(alg, {**params, "MODEL": str(bogus)})


def test_aoi_selected_features_and_reading_options_reach_rsdsva(plugin, executable, tmp_path):
    import processing
    from qgis.core import (
        QgsFeature,
        QgsGeometry,
        QgsProcessingFeatureSourceDefinition,
        QgsProject,
        QgsRasterLayer,
        QgsRectangle,
        QgsVectorLayer,
    )

    extent = QgsRasterLayer(str(SCENE), "scene").extent()
    aoi = QgsVectorLayer("Polygon?crs=EPSG:3857", "aoi", "memory")
    corner, elsewhere = QgsFeature(), QgsFeature()
    corner.setGeometry(QgsGeometry.fromRect(QgsRectangle(extent.xMinimum(), extent.yMaximum() - 50,
                                                         extent.xMinimum() + 50, extent.yMaximum())))
    elsewhere.setGeometry(QgsGeometry.fromRect(extent))
    aoi.dataProvider().addFeatures([corner, elsewhere])
    QgsProject.instance().addMapLayer(aoi)
    aoi.selectByIds([f.id() for f in aoi.getFeatures()][:1])  # the corner only
    feedback = _recording_feedback()
    seen = feedback.seen

    out = tmp_path / "aoi.gpkg"
    processing.run(MAP, {"INPUT": str(SCENE), "OUTPUT": str(out), "NODATA": 0, "SCALE": "0, 255",
                         "BANDS": "3, 2, 1", "AOI": QgsProcessingFeatureSourceDefinition(aoi.id(), selectedFeaturesOnly=True)},
                   feedback=feedback)
    tiles = QgsVectorLayer(f"{out}|layername=tiles", "tiles", "ogr")
    assert tiles.featureCount() == 1  # the one tile under the selected corner
    run = {f["key"]: f["value"] for f in QgsVectorLayer(f"{out}|layername=run", "run", "ogr").getFeatures()}
    assert '"nodata": 0.0' in run["settings"] and '"scale": [0.0, 255.0]' in run["settings"]
    assert '"bands": [3, 2, 1]' in run["settings"]
    assert seen[0] == pytest.approx(1.0) and seen[-1] == pytest.approx(100.0)  # moving before the first batch
    QgsProject.instance().removeMapLayer(aoi.id())


def _recording_feedback():
    """A Processing feedback that keeps every progress value it is given (in ``.seen``)."""
    from qgis.core import QgsProcessingFeedback

    class Recording(QgsProcessingFeedback):
        def setProgress(self, value):  # noqa: N802
            self.seen.append(value)
            super().setProgress(value)

    feedback = Recording()
    feedback.seen = []
    return feedback


def test_the_example_workflow_keeps_the_first_maps_footprint(plugin, executable, tmp_path):
    """Examples drawn at a tile size of one's own: the classes file records it, the map uses it, and
    'Correct tiles and map again' on a copy of the map's tiles maps again as the first map did."""
    import json

    import processing
    from qgis.core import QgsField, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    classes = tmp_path / "mine.yaml"
    processing.run(AREAS, {"INPUT": str(AUTZEN), "AREAS": _drawn_areas(), "NAME_FIELD": "kind", "TILE_SIZE": 384,
                           "OUTPUT": str(classes)})
    assert "tile_px: 384" in classes.read_text()
    first = tmp_path / "first.gpkg"
    processing.run(MAP, {"INPUT": str(AUTZEN), "CLASSES": str(classes), "CONTEXT": "1", "OUTPUT": str(first)})
    tiles = QgsVectorLayer(f"{first}|layername=tiles", "tiles", "ogr")
    edited = QgsVectorLayer(f"Polygon?crs={tiles.crs().authid()}", "edited", "memory")  # a copy: no run layer
    edited.dataProvider().addAttributes(tiles.fields().toList() + [QgsField("fix", QVariant.String)])
    edited.updateFields()
    features = []
    for i, f in enumerate(tiles.getFeatures()):
        f.setFields(edited.fields(), False)
        f.setAttributes(f.attributes() + ["car_park" if i == 0 else None])
        features.append(f)
    edited.dataProvider().addFeatures(features)
    again = tmp_path / "again.gpkg"
    processing.run("rsdsva:correctandmap", {"INPUT": str(AUTZEN), "TILES": edited, "NAME_FIELD": "fix",
                                            "MAP": str(first), "CLASSES": str(classes),
                                            "OUTPUT_CLASSES": str(tmp_path / "fixed.yaml"), "OUTPUT": str(again)})
    run = {f["key"]: json.loads(f["value"]) for f in QgsVectorLayer(f"{again}|layername=run", "run", "ogr").getFeatures()}
    assert run["tile_size_px"] == 384 and run["settings"]["context"] == [1.0]


def test_change_between_two_dates_loads_styled(plugin, executable, tmp_path):
    """Map change between two dates on a corner of the shared Sentinel-2 Cupertino pair: the tiles layer has
    both dates' classes and the change, and opens with unchanged tiles faint and changed ones by to-class."""
    import processing
    from osgeo import gdal
    from qgis.core import QgsVectorLayer

    dates = []
    for name in ("cupertino_20150918", "cupertino_20180326"):
        path = tmp_path / f"{name}.tif"
        gdal.Translate(str(path), str(SHARED / "data" / "change" / "oscd" / "cupertino" / f"{name}.tif"),
                       srcWin=[300, 500, 256, 256])
        dates.append(str(path))
    out = tmp_path / "change.gpkg"
    result = processing.run("rsdsva:mapchange", {"BEFORE": dates[0], "AFTER": dates[1], "TILE_SIZE": 32,
                                                 "CONTEXT": "1", "OUTPUT": str(out),
                                                 "CHANGE_RASTER": str(tmp_path / "change.tif")})
    tiles = QgsVectorLayer(result["TILES"], "change", "ogr")
    assert tiles.isValid() and tiles.featureCount() == 64
    from qgis.core import QgsRasterLayer, QgsSingleBandPseudoColorRenderer
    from rsdsva_qgis.styling import StyleFromFile

    raster = QgsRasterLayer(result["CHANGE_RASTER"], "change score")
    assert raster.isValid() and (raster.width(), raster.height(), raster.bandCount()) == (8, 8, 2)
    StyleFromFile().postProcessLayer(raster, None, None)  # as Processing styles it when it loads it
    assert isinstance(raster.renderer(), QgsSingleBandPseudoColorRenderer)
    assert {"from_label", "to_label", "change_score", "changed"} <= {f.name() for f in tiles.fields()}
    assert tiles.renderer().type() == "RuleRenderer"
    assert QgsVectorLayer(f"{out}|layername=transitions", "transitions", "ogr").isValid()


def test_the_html_report_replaces_its_file_whole_or_not_at_all(plugin, tmp_path):
    from rsdsva_qgis.classes_algorithms import write_replacing

    out = tmp_path / "report.html"
    out.write_text("the earlier report")
    with pytest.raises(TypeError):
        write_replacing(str(out), None)  # the write fails half-way: the earlier file stays, no partial one
    assert out.read_text() == "the earlier report" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    write_replacing(str(out), "<html>new</html>")
    assert out.read_text() == "<html>new</html>" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
