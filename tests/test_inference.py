"""One way to build a classifier: every entry point gives the same pixels the same label."""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pytest
import torch

from rsdsva.class_files import save_classes
from rsdsva.data.folders import read_image
from rsdsva.errors import ConfigError
from rsdsva.explain import explain_image
from rsdsva.inference import ClassifierSettings
from rsdsva.library import pick
from rsdsva.mapping import MapSettings, default_model_path, map_scene
from rsdsva.models.checkpoint import load_checkpoint
from rsdsva.predict import build_classifier, classify
from rsdsva.training.experiment import evaluate_classes_file
from tests.conftest import DATA

# UC Merced folder, image: the default model holds airplane out; the others are seen classes
IMAGES = [("airplane", "airplane00.jpg"), ("airplane", "airplane07.jpg"), ("harbor", "harbor05.jpg"),
          ("river", "river05.jpg"), ("golfcourse", "golfcourse00.jpg"), ("parkinglot", "parkinglot03.jpg")]


@pytest.mark.parametrize("held_out", [True, False])
def test_map_explain_classify_and_evaluate_agree(held_out, make_geotiff, tmp_path):
    from rasterio.transform import from_origin

    pixels = [read_image(str(DATA / "ucm" / folder / name)) for folder, name in IMAGES]
    classes_file = tmp_path / "mine.yaml"
    save_classes(pick(["airplane"]), classes_file)  # replaces the held-out airplane, or is the only airplane
    settings = ClassifierSettings(classes=str(classes_file), held_out=held_out)

    # map: the images side by side in one GeoTIFF, one 78 m tile each (256 px of 1 ft)
    scene = make_geotiff(torch.cat(pixels, dim=2).numpy(), crs="EPSG:32610",
                         transform=from_origin(500_000, 4_000_000, 0.3048, 0.3048))
    # the tile alone, as read: the same pixels as the images (their neighbours in the mosaic are unrelated)
    map_scene(scene, tmp_path / "m.gpkg", MapSettings(classes=str(classes_file), held_out=held_out, context=1,
                                                      orientations=1))
    tiles = gpd.read_file(tmp_path / "m.gpkg", layer="tiles").sort_values("col")
    by_map = list(tiles["label"])

    by_explain = [explain_image(DATA / "ucm" / f / n, settings).classes[0][0] for f, n in IMAGES]
    model, info = load_checkpoint(default_model_path())
    unseen = build_classifier(settings).classes
    by_classify = classify(model, info, torch.stack(pixels).float() / 255, unseen=unseen.subset(["airplane"]),
                           held_out=held_out).labels
    assert by_map == by_explain == by_classify
    assert len(set(by_map)) >= 3  # not one label for everything

    if not held_out:  # evaluate ranks the model's seen classes and the file's, as map --no-held-out does
        for folder, name in IMAGES:
            (tmp_path / "data" / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(DATA / "ucm" / folder / name, tmp_path / "data" / folder / name)
        report = evaluate_classes_file(default_model_path(), tmp_path / "data", classes_file, folder_map="ucm-unified")
        confusion = np.array(report.confusion)
        predicted = {report.classes[t]: [report.classes[p] for p in np.flatnonzero(confusion[t]) for _ in
                                         range(confusion[t, p])] for t in np.flatnonzero(confusion.sum(1))}
        expected: dict[str, list[str]] = {}
        truth = {"airplane": "airplane", "harbor": "harbor", "river": "river", "golfcourse": "golf_course",
                 "parkinglot": "parking_lot"}
        for (folder, _), label in zip(IMAGES, by_map):
            expected.setdefault(truth[folder], []).append(label)
        assert {k: sorted(v) for k, v in predicted.items()} == {k: sorted(v) for k, v in expected.items()}


def test_settings_refuse_bad_values_in_one_line():
    with pytest.raises(ConfigError, match="`precision` 'fp8' is not one of None \\(float32\\), int8, bf16, fp16"):
        ClassifierSettings(precision="fp8")
    with pytest.raises(ConfigError, match="mode 'all' is not one of gzsl, zsl, seen"):
        ClassifierSettings(mode="all")
    assert hash(ClassifierSettings()) == hash(ClassifierSettings())  # a Dask worker's cache key
    assert MapSettings(precision="bf16", held_out=False).classifier == ClassifierSettings(precision="bf16",
                                                                                         held_out=False, context=(2, 3),
                                                                                         orientations=2)
    with pytest.raises(ConfigError, match="`orientations` 4 is not one of 1, 2, 8"):
        MapSettings(orientations=4).classifier
    with pytest.raises(ConfigError, match="`context` 0.5,2: each window must be 1"):
        ClassifierSettings(context=(2, 0.5))
    with pytest.raises(ConfigError, match="`context` 50: each window must be 1 .* to 8 times"):
        MapSettings(context=50).classifier


def test_precision_reaches_every_entry_point():
    classifier = build_classifier(ClassifierSettings(precision="bf16", device="cpu"))
    assert classifier.engine.name == "torch" and classifier.engine.autocast_dtype == torch.bfloat16
    x = read_image(str(DATA / "ucm" / "harbor" / "harbor05.jpg"))[None].float() / 255
    logits = classifier.forward(x).logits
    exact = build_classifier(ClassifierSettings(device="cpu", engine="torch")).forward(x).logits
    assert logits.argmax() == exact.argmax() and not np.array_equal(logits, exact)


def test_map_settings_are_their_parts_and_each_field_is_declared_once():
    from dataclasses import fields

    import pytest

    from rsdsva.mapping.settings import DEFAULT_CONTEXT, DEFAULT_ORIENTATIONS, GridSettings, OutputSettings, ReadSettings

    parts = [ClassifierSettings, GridSettings, ReadSettings, OutputSettings]
    names = [f.name for part in parts for f in fields(part)]
    assert [f.name for f in fields(MapSettings)] == ["classifier", "grid", "read", "output"]
    assert len(names) == len(set(names))  # no field in two parts
    settings = MapSettings(tile_m=80.0, bands=(3, 2, 1), raster="x.tif", mode="zsl", max_nodata=None)
    assert settings.grid.tile_m == 80.0 and settings.read.bands == (3, 2, 1)
    assert settings.output.raster == "x.tif" and settings.classifier.mode == "zsl"
    assert settings.grid.tile_m == 80.0 and settings.read.max_nodata == ReadSettings.max_nodata  # None falls through
    assert MapSettings().classifier.context == DEFAULT_CONTEXT and ClassifierSettings().context == (1.0,)
    assert MapSettings().classifier.orientations == DEFAULT_ORIENTATIONS and ClassifierSettings().orientations == 1
    assert sorted(settings.to_dict()) == sorted(names)
    with pytest.raises(TypeError, match="no setting 'tile_px'"):
        MapSettings(tile_px=3)
