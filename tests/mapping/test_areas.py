"""Classes from example areas (rsdsva classes from-map), on a mosaic of real UC Merced images."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from rsdsva.attributes.examples import attributes_from_images
from rsdsva.class_files import classes_from_dict, load_classes, save_classes
from rsdsva.classes import ClassSpace
from rsdsva.cli.main import cli
from rsdsva.data.images import scan_image_folder
from rsdsva.data.mosaic import cell_polygon, write_image_mosaic
from rsdsva.errors import ClassSpaceError, RsdsvaWarning
from rsdsva.examples.bank import ExampleBank
from rsdsva.mapping import MapSettings, default_model_path, map_scene
from rsdsva.mapping.areas import example_tiles
from rsdsva.mapping.source import open_tile_source
from rsdsva.models.checkpoint import load_checkpoint
from rsdsva.models.dsva import feature_space_id
from rsdsva.training.metrics import fit_example_calibration
from tests.conftest import DATA, ROOT

# held-out classes of the default model (never trained on), from UC Merced
CLASSES = {"airplane": "airplane", "mobilehomepark": "mobile_home_park", "baseballdiamond": "baseball_field"}
PER_CLASS = 4  # mosaic cells per class; the first two are the examples


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    """A 3 x 4 mosaic of real UC Merced images, one default-model tile each, and its truth."""
    samples = []
    for folder, name in CLASSES.items():
        found = [s for s in scan_image_folder(DATA / "ucm") if s.label == folder][:PER_CLASS]
        samples += [type(s)(s.source, name) for s in found]
    order = [samples[i] for i in np.random.default_rng(0).permutation(len(samples))]
    path = tmp_path_factory.mktemp("mosaic") / "mosaic.tif"
    cells = write_image_mosaic(order, path, columns=4)
    return path, cells


def _areas(cells, per_class=2, crs="EPSG:32610", rename=None):
    chosen = {}
    for row, col, label in cells:
        chosen.setdefault(label, [])
        if len(chosen[label]) < per_class:
            chosen[label].append((row, col))
    names = [(rename or {}).get(n, n) for n, rc in chosen.items() for _ in rc]
    frame = gpd.GeoDataFrame({"class": names}, geometry=[cell_polygon(r, c) for rc in chosen.values() for r, c in rc],
                             crs="EPSG:32610")
    return frame.to_crs(crs), {rc for v in chosen.values() for rc in v}


def test_from_map_command_keeps_every_example_and_where_it_came_from(mosaic, tmp_path):
    raster, cells = mosaic
    areas, _ = _areas(cells, crs="EPSG:4326")  # reprojected to the raster's CRS
    areas.to_file(tmp_path / "areas.gpkg", layer="examples")
    out = tmp_path / "mine.yaml"
    result = CliRunner().invoke(cli, ["classes", "from-map", str(raster), str(tmp_path / "areas.gpkg"),
                                      "--name-field", "class", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 classes; example tiles added" in result.output
    for name in CLASSES.values():
        assert f"{name} 2" in result.output
    import yaml

    data = yaml.safe_load(out.read_text())
    model, info = load_checkpoint(default_model_path())
    assert data["feature_space"] == feature_space_id(model) and data["model"] == "default_model.safetensors"
    assert data["recipe"] == "model.blocks.4+model.blocks.5@1,2" and data["recipe"] in info.example_calibrations
    entry = data["classes"]["airplane"]
    assert entry["examples"]["tiles"] == 2 and entry["examples"]["rasters"] == ["mosaic.tif"]
    assert len(entry["examples"]["polygons"]) == 2
    classes = load_classes(out, vocabulary=info.classes.attributes)
    assert classes.has_examples.all() and not classes.seen.any()
    assert [len(e) for e in classes.examples.rows] == [2, 2, 2]  # every example tile, not their mean
    assert all(np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4) for e in classes.examples.rows)
    check = CliRunner().invoke(cli, ["classes", "check", str(out)])
    assert check.exit_code == 0 and check.output.count("ranked by its examples, nearest example class") == 3
    as_json = tmp_path / "mine.json"
    assert CliRunner().invoke(cli, ["classes", "from-map", str(raster), str(tmp_path / "areas.gpkg"), "--name-field",
                                    "class", "--out", str(as_json)]).exit_code == 0
    assert load_classes(as_json, vocabulary=info.classes.attributes) == classes


def test_attribute_vectors_equal_from_images_on_the_same_tiles(mosaic, tmp_path):
    from rsdsva.mapping.areas import classes_from_areas
    from rsdsva.predict import Classifier

    raster, cells = mosaic
    areas, _ = _areas(cells)
    model, info = load_checkpoint(default_model_path())
    tiles = example_tiles([open_tile_source(raster, model_tile_m=info.tile_m)], areas, "class", scales=(1.0, 2.0))
    from_map = classes_from_areas(Classifier(model, info, info.classes), tiles, "model.blocks.4+model.blocks.5@1,2")
    images = {}
    for name, found in tiles.items():
        images[name] = []
        for i, tile in enumerate(v[1.0] for v in found.views):  # the very pixels from-map read, as lossless files
            path = tmp_path / f"{name}{i}.png"
            Image.fromarray(tile.transpose(1, 2, 0)).save(path)
            images[name].append(str(path))
    from_files = attributes_from_images(model, info, images)
    assert np.allclose(from_map.matrix, from_files.matrix, atol=1e-3)


def test_map_ranks_seen_held_out_attribute_and_example_classes_together(mosaic, tmp_path):
    raster, cells = mosaic
    areas, examples = _areas(cells, rename={"airplane": "plane_here", "mobile_home_park": "trailers"})
    areas = areas[areas["class"] != "baseball_field"]  # that one stays the model's held-out class
    areas.to_file(tmp_path / "areas.gpkg")
    runner = CliRunner()
    result = runner.invoke(cli, ["classes", "from-map", str(raster), str(tmp_path / "areas.gpkg"), "--name-field",
                                 "class", "--out", str(tmp_path / "ex.yaml")])
    assert result.exit_code == 0, result.output
    _, info = load_checkpoint(default_model_path())
    mixed = load_classes(tmp_path / "ex.yaml", vocabulary=info.classes.attributes).concat(
        classes_from_dict({"seen": False, "classes": {"fallow": ["has_farmland", "has_soil"]}},
                             vocabulary=info.classes.attributes))
    save_classes(mixed, tmp_path / "mixed.yaml")
    out = tmp_path / "map.gpkg"
    map_scene(raster, out, MapSettings(classes=str(tmp_path / "mixed.yaml")))
    routes = dict(gpd.read_file(out, layer="classes")[["name", "route"]].itertuples(index=False))
    assert routes["plane_here"] == routes["trailers"] == "examples"
    assert routes["fallow"] == "attributes" and routes["baseball_field"] == "held-out" and routes["forest"] == "seen"
    run = dict(gpd.read_file(out, layer="run")[["key", "value"]].itertuples(index=False))
    assert json.loads(run["class_routes"])["plane_here"] == "examples"  # the run layer says it too
    tiles = gpd.read_file(out, layer="tiles")
    truth = {(r, c): {"airplane": "plane_here", "mobile_home_park": "trailers"}.get(lab, lab) for r, c, lab in cells}
    got = {(r, c): lab for r, c, lab in zip(tiles["row"], tiles["col"], tiles["label"])}
    # the example classes' other tiles, which were not examples, go to them (seen classes compete)
    others = [rc for rc, lab in truth.items() if lab in ("plane_here", "trailers") and rc not in examples]
    assert sum(got[rc] == truth[rc] for rc in others) >= len(others) - 1
    # the attribute route is still there, on request
    map_scene(raster, out, MapSettings(classes=str(tmp_path / "mixed.yaml"), example_route="attributes", overwrite=True))
    routes = dict(gpd.read_file(out, layer="classes")[["name", "route"]].itertuples(index=False))
    assert routes["plane_here"] == "attributes"


def test_small_areas_and_points_get_a_tile_centred_on_them(mosaic):
    from shapely.geometry import Point

    raster, cells = mosaic
    _, info = load_checkpoint(default_model_path())
    row, col, label = cells[5]
    big = cell_polygon(row, col, inset=0.0)
    areas = gpd.GeoDataFrame({"class": ["a", "b", "c"]}, crs="EPSG:32610", geometry=[
        big.centroid.buffer(5), Point(big.centroid.x, big.centroid.y), cell_polygon(row, col, inset=0.3)])
    tiles = example_tiles([open_tile_source(raster, model_tile_m=info.tile_m)], areas, "class")
    assert {n: len(t.views) for n, t in tiles.items()} == {"a": 1, "b": 1, "c": 1}
    assert tiles["c"].where == [(str(raster), -1, -1)]  # 16 % of a tile: under --min-cover, so centred
    assert np.array_equal(tiles["a"].views[0][1.0], tiles["b"].views[0][1.0])
    covered = example_tiles([open_tile_source(raster, model_tile_m=info.tile_m)], areas.iloc[[2]], "class",
                            min_cover=0.15)
    assert covered["c"].where == [(str(raster), row, col)]


def _run(args):
    result = CliRunner().invoke(cli, args)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    return result.exit_code, lines


def test_bad_example_areas_get_one_clear_line_each(mosaic, tmp_path, make_geotiff):
    raster, cells = mosaic
    areas, _ = _areas(cells)
    base = ["classes", "from-map", str(raster)]

    def case(frame, *extra, name="a.gpkg"):
        path = tmp_path / name
        frame.to_file(path)
        return _run(base + [str(path), "--name-field", "class", "--out", str(tmp_path / "out.yaml"), *extra])

    code, lines = case(areas.rename(columns={"class": "kind"}))
    assert code == 1 and len(lines) == 1 and "no field 'class'; its fields are kind" in lines[0]
    far = areas.copy()
    far.loc[far.index[0], "geometry"] = cell_polygon(40, 40)
    code, lines = case(far, name="far.gpkg")
    assert code == 1 and len(lines) == 1 and "lies outside" in lines[0] and "mosaic.tif" in lines[0]
    unnamed = areas.copy()
    unnamed.loc[unnamed.index[1], "class"] = " "
    code, lines = case(unnamed, name="unnamed.gpkg")
    assert code == 1 and len(lines) == 1 and "has no class" in lines[0]
    code, lines = case(areas, "--min-cover", "0", name="cover.gpkg")
    assert code == 1 and "--min-cover 0 must be above 0" in lines[0]
    code, lines = _run(base + [str(tmp_path / "a.gpkg"), "--name-field", "kind", "--out", str(tmp_path / "x.csv")])
    assert code == 2 and "must end in .yaml or .json" in lines[-1]
    # an area over nodata only: the mosaic's unfilled cells
    from rasterio.transform import from_origin

    empty = make_geotiff(np.zeros((3, 512, 512), np.uint8), nodata=0, crs="EPSG:32610",
                         transform=from_origin(500_000, 4_000_000, 0.3048, 0.3048), name="empty.tif")
    areas.iloc[:1].to_file(tmp_path / "one.gpkg")
    code, lines = _run(["classes", "from-map", str(empty), str(tmp_path / "one.gpkg"), "--name-field", "class",
                        "--out", str(tmp_path / "out.yaml")])
    assert code == 1 and len(lines) == 1 and "has no usable tile" in lines[0]
    assert not (tmp_path / "out.yaml").exists()


def test_example_features_round_trip_and_refuse_bad_values(tmp_path, small_classes):
    rows = [None, None, None, np.array([[0.6, 0.8, 0.0], [1.0, 0.0, 0.0]], np.float32)]
    space = ClassSpace(names=small_classes.names, attributes=small_classes.attributes, matrix=small_classes.matrix,
                       seen=small_classes.seen, examples=ExampleBank(rows, "abc", "model.blocks.1@1,2"))
    for suffix in (".yaml", ".json"):
        save_classes(space, tmp_path / f"c{suffix}")
        back = load_classes(tmp_path / f"c{suffix}")
        assert back == space and back.has_examples.tolist() == [False, False, False, True]
        assert back.examples.recipe == "model.blocks.1@1,2" and back.examples.rows[3].shape == (2, 3)
    assert space.subset(["forest", "city"]).examples is None
    joined = space.subset(["forest"]).concat(space.subset(["harbor"]))
    assert joined.has_examples.tolist() == [False, True] and joined.examples.feature_space == "abc"
    harbor = space.subset(["harbor"])
    other = harbor._replace(examples=ExampleBank(harbor.examples.rows, "abc", "model.blocks.1@1"))
    with pytest.raises(ClassSpaceError, match="from two models or recipes"):
        space.concat(other._replace(names=["harbor2"]))
    more = space.add_examples(space.subset(["harbor"]))  # a correction adds examples, keeps the class
    assert more.examples.rows[3].shape == (4, 3) and more.names == space.names
    assert space.subset(["forest"]).add_examples(harbor).examples is None  # a class of another name: ignored
    import yaml

    data = yaml.safe_load((tmp_path / "c.yaml").read_text())
    data["classes"]["harbor"]["features"] = [[0, 0, 0]]
    with pytest.raises(ClassSpaceError, match="'harbor': an example feature has a zero"):
        classes_from_dict(data)


def test_the_scenes_centre_round_trips_joins_and_is_checked(tmp_path, small_classes):
    """A bank's centre (the mean feature of its scene) is written and read back, kept by subsets,
    joins and corrections (the first bank's), and a centre of the wrong length is one line."""
    import yaml

    rows = [None, None, None, np.array([[0.6, 0.8, 0.0], [1.0, 0.0, 0.0]], np.float32)]
    bank = ExampleBank(rows, "abc", "model.blocks.1@1,2", centre=[0.5, 0.25, 0.0])
    space = ClassSpace(names=small_classes.names, attributes=small_classes.attributes, matrix=small_classes.matrix,
                       seen=small_classes.seen, examples=bank)
    save_classes(space, tmp_path / "c.yaml")
    back = load_classes(tmp_path / "c.yaml")
    assert back == space and back.examples.centre.tolist() == [0.5, 0.25, 0.0]
    assert back != space._replace(examples=ExampleBank(rows, "abc", "model.blocks.1@1,2"))  # no centre: another bank
    harbor = space.subset(["harbor"])
    assert harbor.examples.centre.tolist() == [0.5, 0.25, 0.0]
    assert space.subset(["forest"]).concat(harbor).examples.centre.tolist() == [0.5, 0.25, 0.0]
    other = harbor._replace(names=["harbor2"], examples=ExampleBank(harbor.examples.rows, "abc", "model.blocks.1@1,2",
                                                                     centre=[0.0, 0.0, 1.0]))
    assert space.concat(other).examples.centre.tolist() == [0.5, 0.25, 0.0]
    assert space.subset(["forest"]).add_examples(space.subset(["forest", "harbor"])).examples is None
    data = yaml.safe_load((tmp_path / "c.yaml").read_text())
    data["centre"] = [0.5, 0.25]
    with pytest.raises(ClassSpaceError, match="centre has 2 values and their features 3"):
        classes_from_dict(data)
    data["centre"] = "middle"
    with pytest.raises(ClassSpaceError, match="'centre' must be a list of numbers"):
        classes_from_dict(data)
    data["centre"] = [0.5, float("nan"), 0.0]
    with pytest.raises(ClassSpaceError, match="centre has a NaN or infinite value"):
        classes_from_dict(data)
    data["classes"]["harbor"]["features"] = [[1, 0, 0]]
    del data["recipe"]
    with pytest.raises(ClassSpaceError, match="need the file's 'feature_space' and 'recipe'"):
        classes_from_dict(data)
    data["recipe"] = "model.blocks.1@1,2"
    data["classes"]["harbor"] = {"vector": data["classes"]["harbor"]["vector"], "prototype": [1, 0, 0]}
    with pytest.raises(ClassSpaceError, match="older recipe of rsdsva classes from-map"):  # a file of the old recipe
        classes_from_dict(data, source="old.yaml")


def test_examples_of_another_model_fall_back_to_attribute_vectors(tiny_model, mosaic, tmp_path):
    import torch

    from rsdsva.models.backbones import example_layers
    from rsdsva.predict import Classifier

    model, info = tiny_model
    layer = example_layers(model.backbone)
    recipe = f"{'+'.join(layer)}@1,2"
    rows = np.eye(2, model.backbone.width * 2, dtype=np.float32)  # the tiny ViT's middle block: its width
    mine = ClassSpace(names=["x"], attributes=info.classes.attributes, matrix=[[0, 0, 0, 0, 50, 100]], seen=[False],
                      examples=ExampleBank([rows], "0123456789abcdef", recipe))
    info = info.replace(example_calibrations={recipe: (10.0, 0.0)})
    with pytest.warns(RsdsvaWarning, match="ranked by their attribute vectors: their examples were taken with another"):
        run = Classifier(model, info, info.classes.concat(mine))
    assert run.routes == ["seen", "seen", "seen", "attributes"]
    same = mine._replace(examples=ExampleBank([rows], feature_space_id(model), recipe))
    with pytest.warns(RsdsvaWarning, match=f"no calibration for their recipe {recipe}"):
        Classifier(model, info.replace(example_calibrations={}), info.classes.concat(same))
    run = Classifier(model, info, info.classes.concat(same), calibration=0.5)
    assert run.routes[-1] == "examples" and run.scales == (1.0, 2.0)
    tile, window = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 64, 64)
    logits, _, _, sims = run.forward({1.0: tile, 2.0: window})
    feats = []
    for view in (tile, window):  # the middle stage, pooled, on each window; normalised and joined
        with torch.no_grad():
            out = model(run.engine.prepare(view), tap=layer)
        feats += [torch.nn.functional.normalize(t, dim=-1) for t in out.tapped]
    joined = torch.cat(feats, dim=1) / 2**0.5
    nearest = (joined @ torch.from_numpy(rows).T).amax(dim=1, keepdim=True).numpy()
    np.testing.assert_allclose(sims, nearest, atol=1e-5)
    np.testing.assert_allclose(logits[:, -1:], 10.0 * nearest - 0.5, atol=1e-5)  # lambda applies to example classes too


def test_example_calibration_puts_similarities_on_the_logits_scale():
    rng = np.random.default_rng(0)
    n, c = 400, 5
    labels = rng.integers(0, c, n)
    own = np.eye(c, dtype=bool)[labels]
    logits = rng.normal(0, 1, (n, c)) + 3 * own
    sims = 0.3 + 0.3 * own + rng.normal(0, 0.1, (n, c))  # as informative as the logits, on another scale
    scale, bias = fit_example_calibration(logits, labels, sims)
    assert scale > 0
    z = scale * sims + bias
    others = np.where(own, -np.inf, logits).max(axis=1)
    # an own-class prototype score beats the other logits about as often as the own logit does,
    assert abs(np.mean(z[own] > others) - np.mean(logits[own] > others)) < 0.1
    # and another class's prototype score beats the own logit about as seldom as its logit does
    mine = logits[own][:, None]
    assert abs(np.mean(z[~own].reshape(n, c - 1) > mine) - np.mean(logits[~own].reshape(n, c - 1) > mine)) < 0.05


def test_the_sample_example_areas_make_six_classes_on_their_reference_tiles(tmp_path):
    import yaml

    root = ROOT
    out = tmp_path / "autzen_classes.yaml"
    result = CliRunner().invoke(cli, ["classes", "from-map", str(root / "sample_data" / "autzen_0p3m_2994.tif"),
                                      str(root / "sample_data" / "autzen_examples.gpkg"), "--name-field", "kind",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    classes = yaml.safe_load(out.read_text())["classes"]
    reference = yaml.safe_load((root / "docs" / "autzen_reference.yaml").read_text())
    for kind, spec in reference.items():
        name = next(n for n in spec["accept"] if n in classes)  # the example class a person accepts there
        cells = classes[name]["examples"]["cells"]["autzen_0p3m_2994.tif"]
        assert len(cells) == 3 and all(c in spec["tiles"] for c in cells)  # each on a tile of its kind


def test_areas_over_several_rasters(mosaic, tmp_path):
    from rsdsva.data.images import Sample

    raster, cells = mosaic
    east = (510_000.0, 4_000_000.0)  # a second scene 10 km east of the first
    planes = [Sample(str(p), "airplane") for p in sorted((DATA / "ucm" / "airplane").iterdir())[10:12]]
    other = tmp_path / "east.tif"
    write_image_mosaic(planes, other, columns=2, origin=east)
    first = next((r, c) for r, c, lab in cells if lab == "airplane")
    areas = gpd.GeoDataFrame({"class": ["plane_here", "plane_here"]}, crs="EPSG:32610",
                             geometry=[cell_polygon(*first), cell_polygon(0, 1, origin=east)])
    areas.to_file(tmp_path / "two.gpkg")
    out = tmp_path / "two.yaml"
    result = CliRunner().invoke(cli, ["classes", "from-map", str(raster), str(other), str(tmp_path / "two.gpkg"),
                                      "--name-field", "class", "--out", str(out)])
    assert result.exit_code == 0, result.output
    import yaml

    examples = yaml.safe_load(out.read_text())["classes"]["plane_here"]["examples"]
    assert examples["tiles"] == 2 and examples["rasters"] == ["east.tif", "mosaic.tif"]
    assert examples["cells"] == {"mosaic.tif": [list(first)], "east.tif": [[0, 1]]}
    far = areas.copy()
    far.loc[far.index[0], "geometry"] = cell_polygon(0, 0, origin=(530_000.0, 4_000_000.0))
    far.to_file(tmp_path / "far.gpkg")
    result = CliRunner().invoke(cli, ["classes", "from-map", str(raster), str(other), str(tmp_path / "far.gpkg"),
                                      "--name-field", "class", "--out", str(out), "--overwrite"])
    assert result.exit_code == 1 and "lies outside" in result.output and "east.tif" in result.output


def test_evaluate_ranks_example_classes_by_their_examples_as_map_does(mosaic, tmp_path):
    from rsdsva.mapping.areas import classes_from_map
    from rsdsva.training.experiment import evaluate_classes_file

    raster, cells = mosaic
    areas, _ = _areas(cells)
    out = tmp_path / "ex.yaml"
    classes_from_map([raster], areas, "class", out, scales=(1.0,))  # images have no surroundings: the tile alone
    for folder, name in CLASSES.items():  # every image of the three classes, as the mosaic holds them
        (tmp_path / "data" / name).mkdir(parents=True)
        for s in [s for s in scan_image_folder(DATA / "ucm") if s.label == folder][:PER_CLASS]:
            image = Image.open(s.source).convert("RGB").resize((256, 256), Image.BILINEAR)
            image.save(tmp_path / "data" / name / (Path(s.source).stem + ".png"))
    report = evaluate_classes_file(default_model_path(), tmp_path / "data", out)
    map_scene(raster, tmp_path / "m.gpkg", MapSettings(classes=str(out), held_out=False, context=1, orientations=1))
    tiles = gpd.read_file(tmp_path / "m.gpkg", layer="tiles")
    got = {(r, c): lab for r, c, lab in zip(tiles["row"], tiles["col"], tiles["label"])}
    per_class = {n: np.mean([got[(r, c)] == n for r, c, lab in cells if lab == n]) for n in CLASSES.values()}
    assert report.gzsl_test["u"] == pytest.approx(np.mean(list(per_class.values())))  # same tiles, same labels


SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"


@pytest.fixture(scope="module")
def sample_example_map(tmp_path_factory):
    """The sample scene mapped with classes from its shipped example areas, with --similarity."""
    tmp = tmp_path_factory.mktemp("examples")
    result = CliRunner().invoke(cli, ["classes", "from-map", str(SCENE), str(ROOT / "sample_data" / "autzen_examples.gpkg"),
                                      "--name-field", "kind", "--out", str(tmp / "ex.yaml")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["map", str(SCENE), "--classes", str(tmp / "ex.yaml"), "--out", str(tmp / "map.gpkg"),
                                      "--similarity", str(tmp / "sim.tif"), "--progress", "none"])
    assert result.exit_code == 0, result.output
    return tmp


def _labels(path):
    tiles = gpd.read_file(path, layer="tiles")
    return {(int(r), int(c)): lab for r, c, lab in zip(tiles["row"], tiles["col"], tiles["label"])}


def test_classes_from_the_map_keep_their_scenes_centre(sample_example_map):
    """The file keeps the mean feature of the scene's tiles, as long as the examples' features."""
    import yaml

    data = yaml.safe_load((sample_example_map / "ex.yaml").read_text())
    centre = np.array(data["centre"])
    features = np.array(next(iter(data["classes"].values()))["features"])
    assert centre.shape == features.shape[1:] and 0.3 < np.linalg.norm(centre) < 1  # a mean of unit features


def test_the_docs_sample_figures_are_what_the_maps_give(sample_example_map, tmp_path):
    """The sample scene's agreement quoted in sample_data/README.md and the guides is a fresh map's."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("score", ROOT / "scripts" / "bench" / "score_sample_map.py")
    scoring = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scoring)
    result = CliRunner().invoke(cli, ["map", str(SCENE), "--out", str(tmp_path / "labels.gpkg"), "--progress", "none"])
    assert result.exit_code == 0, result.output
    _, default, _ = scoring.score(tmp_path / "labels.gpkg")
    _, examples, others = scoring.score(sample_example_map / "map.gpkg", examples=sample_example_map / "ex.yaml")
    sample = (ROOT / "sample_data" / "README.md").read_text()
    assert f"gets {default} right" in sample and f"agrees on {examples} of the {others} tiles" in sample
    assert f"| {default}/90 (" in (ROOT / "docs" / "classes.md").read_text()
    assert f"| {examples}/{others} (" in (ROOT / "docs" / "classes.md").read_text()
    assert f"the model alone {default}/90 reference tiles, shipped example areas {examples}/{others}" in (
        ROOT / "docs" / "mapping.md").read_text()


def test_similarity_raster_has_a_band_per_example_class(sample_example_map):
    import rasterio
    import yaml

    tmp = sample_example_map
    classes = yaml.safe_load((tmp / "ex.yaml").read_text())["classes"]
    with rasterio.open(tmp / "sim.tif") as src:
        assert src.descriptions == tuple(classes) and (src.height, src.width) == (18, 13)
        bands = src.read(masked=True)
    assert bands.min() >= 0 and bands.max() <= 1 and bands.mask[:, 17].all()  # the skipped bottom row is nodata
    for i, (name, spec) in enumerate(classes.items()):
        for row, col in spec["examples"]["cells"]["autzen_0p3m_2994.tif"]:
            assert bands[i, row, col] == pytest.approx(1.0, abs=1e-3)  # an example is its own nearest example
    labels = _labels(tmp / "map.gpkg")
    best = np.asarray(bands).argmax(axis=0)
    agree = [labels[rc] == list(classes)[best[rc]] for rc in labels if labels[rc] in classes]
    # where an example class wins, it is mostly the one with the nearest example; the map's choice
    # among example classes is the classifier fitted on all their examples (measured: 91 % agree)
    assert np.mean(agree) >= 0.8, np.mean(agree)


def test_correct_tiles_and_map_again(sample_example_map, tmp_path):
    """The loop a user runs: type the right class into a few wrong tiles of the map, add them as
    examples, map again; the corrected tiles come out right and the others do not get worse."""
    import shutil

    import yaml

    tmp = sample_example_map
    reference = yaml.safe_load((ROOT / "docs" / "autzen_reference.yaml").read_text())
    before = _labels(tmp / "map.gpkg")
    ours = {"water": "open_water", "forest": "woods", "meadow": "lawn", "parking_lot": "car_park",
            "stadium": "sports_stadium", "large_buildings": "big_roofs"}
    wrong = [(tuple(rc), ours[kind]) for kind, spec in reference.items() for rc in spec["tiles"]
             if before[tuple(rc)] not in spec["accept"]]
    assert wrong, "the example map has no wrong reference tile left to correct"
    fixes = dict(wrong[::2])  # correct every other wrong tile; the rest show whether the fix spreads
    tiles = gpd.read_file(tmp / "map.gpkg", layer="tiles")
    tiles["fix"] = [fixes.get((int(r), int(c))) for r, c in zip(tiles["row"], tiles["col"])]
    tiles.to_file(tmp_path / "edited.gpkg", layer="tiles")
    classes = tmp_path / "classes.yaml"
    shutil.copy(tmp / "ex.yaml", classes)
    result = CliRunner().invoke(cli, ["classes", "from-map", str(SCENE), str(tmp_path / "edited.gpkg"), "--layer", "tiles",
                                      "--name-field", "fix", "--update", str(classes)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(classes.read_text())["centre"] == yaml.safe_load((tmp / "ex.yaml").read_text())["centre"]
    data = yaml.safe_load(classes.read_text())["classes"]
    for name in set(fixes.values()):
        assert data[name]["examples"]["tiles"] == 3 + sum(v == name for v in fixes.values())
    result = CliRunner().invoke(cli, ["map", str(SCENE), "--classes", str(classes), "--out", str(tmp_path / "again.gpkg"),
                                      "--progress", "none"])
    assert result.exit_code == 0, result.output
    after = _labels(tmp_path / "again.gpkg")
    assert all(after[rc] == name for rc, name in fixes.items())  # the corrected tiles come out right

    def agreement(labels, skip=()):
        return sum(labels[tuple(rc)] in spec["accept"] for spec in reference.values() for rc in spec["tiles"]
                   if tuple(rc) not in skip)

    # the map as a whole does not get worse; the other tiles may: a corrected tile at a parking lot's wooded
    # edge also draws the wooded tiles whose surroundings it shares (measured: 82 of the other 87 right, 84 before)
    assert agreement(after) >= agreement(before)
    assert agreement(after, fixes) >= agreement(before, fixes) - 6


def test_examples_taken_in_every_orientation_match_tiles_at_any_heading(mosaic, tmp_path):
    """--orientations 8: the examples and the tiles compared with them, averaged over the eight
    orientations; a turned tile is as like them as the tile; --update keeps the file's way."""
    from rsdsva.examples.recipe import oriented
    from rsdsva.inference import ClassifierSettings
    from rsdsva.predict import build_classifier

    raster, cells = mosaic
    areas, _ = _areas(cells)
    areas.to_file(tmp_path / "areas.gpkg", layer="examples")
    out = tmp_path / "turned.yaml"
    base = ["classes", "from-map", str(raster), str(tmp_path / "areas.gpkg"), "--name-field", "class"]
    result = CliRunner().invoke(cli, base + ["--orientations", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    clf = build_classifier(ClassifierSettings(classes=str(out), held_out=False, mode="zsl", context=(1.0,)))
    assert clf.classes.examples.recipe == "model.blocks.4+model.blocks.5@1,2/8"
    assert clf.examples.recipe.orientations == 8
    tiles = example_tiles([open_tile_source(raster, model_tile_m=clf.info.tile_m)], areas, "class",
                          scales=(1.0, 2.0))
    views = {s: np.stack([v[s] for v in tiles["airplane"].views]).astype(np.float32) / 255 for s in (1.0, 2.0)}
    sims = [clf.forward({s: oriented(w, v) for s, w in views.items()}).similarity for v in (0, 2, 5)]
    for s in sims[1:]:
        np.testing.assert_allclose(s, sims[0], atol=1e-4)
    assert np.allclose(sims[0][:, clf.example_names.index("airplane")], 1, atol=1e-3)  # the examples themselves
    again = CliRunner().invoke(cli, base + ["--update", str(out)])  # the same areas again, as the file took them
    assert again.exit_code == 0, again.output
    assert load_classes(out, vocabulary=clf.info.classes.attributes).examples.recipe.endswith("/8")
    code, lines = _run(base + ["--update", str(out), "--orientations", "1"])
    assert code == 1 and len(lines) == 1 and "another model or recipe" in lines[0]
    from rsdsva.errors import ConfigError
    from rsdsva.mapping.areas import classes_from_map

    with pytest.raises(ConfigError, match="`orientations` 3 is not one of 1, 2, 8"):
        classes_from_map([raster], areas, "class", tmp_path / "no.yaml", orientations=3)
    assert not (tmp_path / "no.yaml").exists()


def test_a_correction_under_a_seen_class_name_outranks_it_where_it_matches(mosaic, tmp_path):
    raster, cells = mosaic
    areas, examples = _areas(cells, per_class=2, rename={"airplane": "runway"})  # a seen class: a correction
    areas = areas[areas["class"] == "runway"]
    out = tmp_path / "fix.yaml"
    result = CliRunner().invoke(cli, ["classes", "from-map", str(raster), str(_save(areas, tmp_path)),
                                      "--name-field", "class", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "corrects the model's seen classes runway" in result.output
    map_scene(raster, tmp_path / "m.gpkg", MapSettings(classes=str(out), held_out=False))
    table = gpd.read_file(tmp_path / "m.gpkg", layer="classes")
    routes = dict(table[["name", "route"]].itertuples(index=False))
    assert routes["runway"] == "seen+examples" and list(routes).count("runway") == 1
    assert table.loc[table["name"] == "runway", "seen"].item()  # still the model's seen class, not "unseen"
    with warnings.catch_warnings():  # classes check says it corrects the class, and warns of nothing
        warnings.simplefilter("error", RsdsvaWarning)
        check = CliRunner().invoke(cli, ["classes", "check", str(out)])
    assert check.exit_code == 0 and "'runway' corrects the model's seen class" in check.output, check.output
    got = _labels(tmp_path / "m.gpkg")
    planes = [(r, c) for r, c, lab in cells if lab == "airplane"]
    assert sum(got[rc] == "runway" for rc in planes) >= len(planes) - 1  # its examples' look now wins there


def test_check_of_a_three_band_example_file_says_how_it_was_read_and_no_more(sample_example_map):
    """No spectra (three bands) is no reason to warn that the file does not say how it was read."""
    code, lines = _run(["classes", "check", str(sample_example_map / "ex.yaml")])
    assert code == 0 and "examples read as" in lines[-1] and not any("does not record" in ln for ln in lines), lines
    assert "examples keep their scene's centre" in lines[-2]


def test_an_example_file_from_before_still_maps_and_check_says_what_it_lacks(sample_example_map, tmp_path):
    """A file made before the read record and the scene's centre: it maps as the map's own flags
    read the raster, and classes check says both what it lacks and how to get it."""
    import yaml

    data = yaml.safe_load((sample_example_map / "ex.yaml").read_text())
    del data["read"], data["centre"]
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(data))
    check = CliRunner().invoke(cli, ["classes", "check", str(old)])
    assert check.exit_code == 0, check.output
    assert "does not record how its examples were read" in check.output
    assert "examples without their scene's centre" in check.output and "make them again" in check.output
    result = CliRunner().invoke(cli, ["map", str(SCENE), "--classes", str(old), "--out", str(tmp_path / "m.gpkg"),
                                      "--progress", "none"])
    assert result.exit_code == 0, result.output
    assert set(_labels(tmp_path / "m.gpkg").values()) <= set(data["classes"])  # the example classes still win


def _save(frame, folder):
    path = folder / "areas.gpkg"
    frame.to_file(path)
    return path


def test_bad_corrections_get_one_line_and_write_nothing(sample_example_map, tmp_path):
    tmp = sample_example_map
    tiles = gpd.read_file(tmp / "map.gpkg", layer="tiles")
    tiles["fix"] = None
    tiles.to_file(tmp_path / "empty.gpkg", layer="tiles")
    base = ["classes", "from-map", str(SCENE)]
    code, lines = _run(base + [str(tmp_path / "empty.gpkg"), "--layer", "tiles", "--name-field", "fix",
                               "--out", str(tmp_path / "a.yaml")])
    assert code == 1 and len(lines) == 1 and "field 'fix' is empty on every tile" in lines[0]
    code, lines = _run(base + [str(tmp_path / "empty.gpkg"), "--layer", "tiles", "--name-field", "kind",
                               "--out", str(tmp_path / "a.yaml")])
    assert code == 1 and len(lines) == 1 and "no field 'kind'" in lines[0]
    tiles["fix"] = ["woods"] + [None] * (len(tiles) - 1)
    tiles.to_file(tmp_path / "one.gpkg", layer="tiles")
    plain = tmp_path / "plain.yaml"
    plain.write_text("classes:\n  marsh: [has_water, has_grass]\n")
    code, lines = _run(base + [str(tmp_path / "one.gpkg"), "--layer", "tiles", "--name-field", "fix", "--update", str(plain)])
    assert code == 1 and len(lines) == 1 and "not a classes file from example areas" in lines[0]
    junk = tmp_path / "junk.yaml"
    junk.write_text("just: [a, list\n")
    code, lines = _run(base + [str(tmp_path / "one.gpkg"), "--layer", "tiles", "--name-field", "fix", "--update", str(junk)])
    assert code == 1 and len(lines) == 1 and "junk.yaml" in lines[0]
    import yaml

    other = yaml.safe_load((tmp / "ex.yaml").read_text())
    other["recipe"] = "model.blocks.4+model.blocks.5@1"  # examples taken another way
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    code, lines = _run(base + [str(tmp_path / "one.gpkg"), "--layer", "tiles", "--name-field", "fix", "--update",
                               str(tmp_path / "other.yaml")])
    assert code == 1 and len(lines) == 1 and "another model or recipe" in lines[0]
    first = next(iter(other["classes"]))
    for damage, says in ((5, "it must be a mapping"), ({"tiles": "three"}, "'tiles' must be a whole number"),
                         ({"cells": {"x.tif": [[1]]}}, "'cells' must be raster names, each with a list of [row, col]")):
        damaged = yaml.safe_load((tmp / "ex.yaml").read_text())
        damaged["classes"][first]["examples"] = damage
        (tmp_path / "damaged.yaml").write_text(yaml.safe_dump(damaged))
        code, lines = _run(base + [str(tmp_path / "one.gpkg"), "--layer", "tiles", "--name-field", "fix", "--update",
                                   str(tmp_path / "damaged.yaml")])
        assert code == 1 and len(lines) == 1 and f"class {first!r}: its 'examples' record is damaged ({says})" in lines[0]
    (tmp_path / "damaged.yaml").unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.gpkg", "junk.yaml", "one.gpkg", "other.yaml", "plain.yaml"]
    assert yaml.safe_load((tmp_path / "other.yaml").read_text()) == other  # inputs untouched
