"""Vocabularies, the class library, CLIP (RSMM) annotation, from-images, classes check."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rsdsva.attributes.check import check_classes, unknown_attributes
from rsdsva.attributes.clip import TINY_CLIP, annotate_images, annotate_texts, load_clip
from rsdsva.attributes.examples import attributes_from_images
from rsdsva.attributes.vocabulary import Vocabulary, phrase_of
from rsdsva.class_files import load_classes, save_classes
from rsdsva.classes import ClassSpace
from rsdsva.cli.main import cli
from rsdsva.data.images import images_by_class
from rsdsva.data.names import TO_UNIFIED
from rsdsva.errors import ClassSpaceError, MissingFileError, WeightsError
from rsdsva.library import LIBRARIES, SETS, library_sources, load_library, load_vocabulary, pick
from rsdsva.models.model_file import read_model_info
from tests.conftest import ATTRIBUTES, DATA

# -- vocabularies -----------------------------------------------------------------


@pytest.mark.parametrize("name", LIBRARIES)
def test_library_vocabularies_load_with_groups_phrases_and_templates(name):
    vocab = load_vocabulary(name)
    assert vocab.names == load_library(name).attributes
    assert set(vocab.groups) == {"functions", "materials", "surface", "objects"}
    for attr in vocab.attributes:
        assert attr.group in vocab.groups and attr.phrases
        prompts = vocab.prompts(attr)
        assert len(prompts) == len(attr.phrases) * len(vocab.templates) and "{}" not in prompts[0]
    if name != "unified":
        assert "ZS-ViDAT" in vocab.source and SETS[name].citation in vocab.source


def test_set_vocabularies_follow_their_csv_header():
    for key in SETS:
        header = (ATTRIBUTES / f"{key.upper()}_class_attributes.csv").read_text().splitlines()[0].split(",")[1:]
        assert list(load_vocabulary(key).names) == header


def test_vocabulary_minimal_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("attributes: [has_water, is_residential]\n")
    vocab = Vocabulary.load(path)
    assert [a.phrases for a in vocab.attributes] == [("water",), ("residential",)]
    vocab.save(tmp_path / "again.yaml")
    assert Vocabulary.load(tmp_path / "again.yaml") == vocab
    path.write_text("templates: ['aerial photo']\nattributes: [a]\n")
    with pytest.raises(ClassSpaceError, match="must contain '{}' once"):
        Vocabulary.load(path)
    path.write_text("groups: {x: y}\nattributes: [{name: a, group: z}]\n")
    with pytest.raises(ClassSpaceError, match="unknown group 'z'"):
        Vocabulary.load(path)
    with pytest.raises(MissingFileError):
        load_vocabulary(tmp_path / "none.yaml")
    assert phrase_of("has_narrow_water_flow") == "narrow water flow"


# -- the class library ---------------------------------------------------------------


@pytest.mark.parametrize("key", list(SETS))
def test_library_set_files_match_their_csv_values(key):
    csv = load_classes(ATTRIBUTES / f"{key.upper()}_class_attributes.csv")
    lib = load_library(key)
    sources = library_sources(key)
    assert lib.attributes == csv.attributes and len(lib) == len(csv)
    for name in lib.names:
        assert np.allclose(lib.vector(name), csv.vector(sources[name][key]), atol=1e-4)
        assert TO_UNIFIED[key][sources[name][key]] == name


def test_unified_library_merges_sets_by_mean_over_annotating_sets():
    unified, vocab = load_library("unified"), load_vocabulary("unified")
    sources = library_sources("unified")
    assert set(unified.names) == {n for m in TO_UNIFIED.values() for n in m.values()}
    csvs = {k: load_classes(ATTRIBUTES / f"{k.upper()}_class_attributes.csv") for k in SETS}
    # every set's attribute maps to one unified attribute, never two onto one
    for key, csv in csvs.items():
        aliases = {a.aliases[key]: a.name for a in vocab.attributes if key in a.aliases}
        mapped = [aliases.get(n, n) for n in csv.attributes]
        assert len(set(mapped)) == len(mapped) and set(mapped) <= set(vocab.names)
    beach = sources["beach"]
    assert set(beach) == {"ucm", "aid", "nwpu", "rsd"}
    values = [csvs[k].vector(beach[k])[list(csvs[k].attributes).index("has_water")] for k in beach]
    assert unified.vector("beach")[unified.attributes.index("has_water")] == pytest.approx(np.mean(values), abs=1e-4)
    # RSD's has_audience_stand is the unified has_audience_stands
    football = csvs["rsd"].vector("footballField")[list(csvs["rsd"].attributes).index("has_audience_stand")]
    assert unified.vector("football_field")[unified.attributes.index("has_audience_stands")] == pytest.approx(football, abs=1e-4)


def test_pick_gives_unseen_classes_the_default_model_accepts():
    from rsdsva.models.model_file import default_model_path

    picked = pick(["pond", "meadow"])
    assert picked.names == ("pond", "meadow") and not picked.seen.any()
    assert picked.attributes == read_model_info(default_model_path()).classes.attributes
    with pytest.raises(ClassSpaceError, match="did you mean 'meadow'"):
        pick(["meadoww"])
    with pytest.raises(ClassSpaceError, match="unknown class library"):
        load_library("nwpu45")


def test_classes_list_and_pick_commands(tmp_path):
    runner = CliRunner()
    listing = runner.invoke(cli, ["classes", "list", "--library", "rsd"])
    assert listing.exit_code == 0, listing.output
    assert "football_field" in listing.output and "19 classes over 26 attributes" in listing.output
    out = tmp_path / "picked.yaml"
    res = runner.invoke(cli, ["classes", "pick", "wetland", "island", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert load_classes(out).names == ("wetland", "island")
    again = runner.invoke(cli, ["classes", "pick", "wetland", "--out", str(out)])
    assert again.exit_code == 1 and "exists" in again.output


def test_picked_classes_always_map(tmp_path, make_geotiff):
    """Seen classes of the model are left out of a picked file (with a note), so `map` takes it;
    all of them seen is an error; --seen keeps them (a file to train on)."""
    from rsdsva.mapping import MapSettings, map_scene

    runner = CliRunner()
    out = tmp_path / "picked.yaml"
    res = runner.invoke(cli, ["classes", "pick", "meadow", "wetland", "forest", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "left out meadow, forest: seen classes of the model already" in res.output
    assert load_classes(out).names == ("wetland",)
    result = map_scene(make_geotiff(shape=(256, 256)), tmp_path / "m.gpkg", MapSettings(classes=str(out), tile_size=128))
    assert result.classified == 4
    res = runner.invoke(cli, ["classes", "pick", "meadow", "forest", "--out", str(tmp_path / "none.yaml")])
    assert res.exit_code == 1 and "all are seen classes of the model already" in res.output
    assert not (tmp_path / "none.yaml").exists()
    res = runner.invoke(cli, ["classes", "pick", "meadow", "forest", "--seen", "--out", str(tmp_path / "seen.yaml")])
    assert res.exit_code == 0 and load_classes(tmp_path / "seen.yaml").seen.all()


def test_a_file_class_may_share_a_seen_name_in_zsl_mode(tmp_path, make_geotiff):
    from rsdsva.mapping import MapSettings, map_scene

    path = tmp_path / "mine.yaml"
    save_classes(pick(["meadow", "wetland"]), path)
    raster = make_geotiff(shape=(128, 128))
    with pytest.raises(ClassSpaceError, match="'meadow' is already one of the model's seen classes.*`mode` zsl"):
        map_scene(raster, tmp_path / "a.gpkg", MapSettings(classes=str(path), tile_size=128))
    map_scene(raster, tmp_path / "b.gpkg", MapSettings(classes=str(path), tile_size=128, mode="zsl", held_out=False))
    import geopandas as gpd

    classes = gpd.read_file(tmp_path / "b.gpkg", layer="classes")
    assert set(classes[~classes["seen"].astype(bool)]["name"]) == {"meadow", "wetland"}
    assert gpd.read_file(tmp_path / "b.gpkg", layer="tiles")["label"].iloc[0] in {"meadow", "wetland"}


# -- CLIP (RSMM) --------------------------------------------------------------------


@pytest.fixture()
def few_images(tmp_path):
    """Three real UCM images of each of three classes."""
    root = tmp_path / "images"
    for folder in ("beach", "forest", "harbor"):
        (root / folder).mkdir(parents=True)
        for f in sorted((DATA / "ucm" / folder).iterdir())[:3]:
            shutil.copy(f, root / folder / f.name)
    return root


def test_clip_annotation_end_to_end_is_deterministic_and_loads(few_images, tiny_clip_weights, tmp_path):
    vocab = load_vocabulary("ucm")
    clip = load_clip(TINY_CLIP, tiny_clip_weights, device="cpu")
    images = images_by_class(few_images)
    first = annotate_images(clip, vocab, images)
    again = annotate_images(load_clip(TINY_CLIP, tiny_clip_weights, device="cpu"), vocab, images)
    assert first == again
    assert first.names == ("beach", "forest", "harbor") and first.attributes == vocab.names
    assert np.allclose(first.matrix.max(axis=1), 100) and (first.matrix > 0).all() and not first.seen.any()
    out = save_classes(first, tmp_path / "rsmm.yaml")
    assert load_classes(out) == first
    # the CLI writes the same file
    cli_out = tmp_path / "cli.yaml"
    res = CliRunner().invoke(cli, ["attributes", "clip", "--images", str(few_images), "--vocabulary", "ucm",
                                   "--clip-model", TINY_CLIP, "--clip-weights", str(tiny_clip_weights),
                                   "--device", "cpu", "--out", str(cli_out)])
    assert res.exit_code == 0, res.output
    assert load_classes(cli_out) == first


def test_clip_weights_reproduce_the_model_and_bad_weights_are_refused(tiny_clip_weights, tmp_path):
    from rsdsva.models.backbones import build_tiny_clip

    torch.manual_seed(0)
    reference = build_tiny_clip().eval()
    clip = load_clip(TINY_CLIP, tiny_clip_weights, device="cpu")
    tokens = clip.tokenizer(["an aerial photograph of water."])
    with torch.no_grad():
        assert torch.allclose(clip.model.encode_text(tokens), reference.encode_text(tokens))
    with pytest.raises(WeightsError, match="needs --weights: a local .* or weights by name"):
        load_clip("ViT-B-32", None)
    with pytest.raises(MissingFileError):
        load_clip(TINY_CLIP, tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match="expects"):
        load_clip("ViT-B-32", tiny_clip_weights)


def test_clip_text_only_mode(tiny_clip_weights):
    clip = load_clip(TINY_CLIP, tiny_clip_weights, device="cpu")
    vocab = load_vocabulary("unified")
    classes = annotate_texts(clip, vocab, {"marina": "a harbour full of small boats", "pond": "pond"})
    assert classes.names == ("marina", "pond") and np.allclose(classes.matrix.max(axis=1), 100)
    assert classes.groups == vocab.group_of()


# -- from example images ---------------------------------------------------------------


def test_from_images_on_the_tiny_model(tiny_model, few_images, tmp_path):
    model, info = tiny_model
    images = images_by_class(few_images, max_images=2)
    assert all(len(v) == 2 for v in images.values())
    for head in ("vam", "prototype"):
        est = attributes_from_images(model, info, images, head=head)
        assert est.attributes == info.classes.attributes and not est.seen.any()
        assert np.allclose(est.matrix.max(axis=1), 100) and (est.matrix >= 0).all()
    with pytest.raises(ClassSpaceError, match="no example images"):
        attributes_from_images(model, info, {"empty": []})
    # a model can take the estimated classes as unseen classes
    from rsdsva.predict import classify

    renamed = ClassSpace(names=["sand", "wood", "port"], attributes=est.attributes, matrix=est.matrix, seen=est.seen)
    pred = classify(model, info, torch.rand(2, 3, 32, 32), unseen=renamed)
    assert pred.probabilities.shape == (2, 3 + 3)


def test_from_images_command_with_a_model_file(tiny_checkpoint, few_images, tmp_path):
    out = tmp_path / "est.yaml"
    res = CliRunner().invoke(cli, ["attributes", "from-images", "--model", str(tiny_checkpoint), "--images",
                                   str(few_images), "--max-images", "2", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert load_classes(out).names == ("beach", "forest", "harbor")


# -- classes check --------------------------------------------------------------------------


def test_check_reports_every_unknown_attribute_with_suggestions(tiny_checkpoint, tmp_path):
    info = read_model_info(tiny_checkpoint)
    path = tmp_path / "new.yaml"
    path.write_text("classes:\n  pond: [watr, trees]\n  marina: {boats: 100, sandd: 20}\n")
    assert unknown_attributes(path, info.classes.attributes) == [("pond", "watr"), ("marina", "sandd")]
    with pytest.raises(ClassSpaceError) as err:
        check_classes(path, info)
    message = str(err.value)
    assert "'watr' (pond: did you mean 'water'?)" in message and "'sandd'" in message and "\n" not in message


def test_check_lists_nearest_classes_and_warns_of_near_duplicates(tiny_checkpoint, tmp_path):
    path = tmp_path / "new.yaml"
    path.write_text(
        "classes:\n"
        "  woodland: {trees: 100, water: 1}\n"  # all but forest
        "  marina: [water, boats]\n"
        "  city: [buildings]\n"  # a seen class's name
    )
    report = {c.name: c for c in check_classes(path, read_model_info(tiny_checkpoint))}
    assert report["woodland"].neighbours[0].name == "forest" and report["woodland"].duplicate is not None
    assert report["marina"].duplicate is None and report["marina"].neighbours[0].name == "beach"
    assert report["city"].same_name == "seen"
    res = CliRunner().invoke(cli, ["classes", "check", str(path), "--model", str(tiny_checkpoint)])
    assert res.exit_code == 0, res.output
    assert "woodland" in res.output and "nearest: forest" in res.output
    assert "nearly the same as seen class 'forest'" in res.output and "already a seen class" in res.output


def test_check_names_attributes_no_seen_class_has(tiny_checkpoint, tmp_path):
    """The tiny model's seen classes (forest, city, beach) have no boats: a class resting on boats
    is flagged, one that names only taught attributes is not; info lists the untaught ones."""
    from rsdsva.attributes.check import untaught_attributes

    info = read_model_info(tiny_checkpoint)
    untaught = untaught_attributes(info.classes)
    assert [a for a, off in zip(info.classes.attributes, untaught) if off] == ["boats"]
    path = tmp_path / "new.yaml"
    path.write_text("classes:\n  marina: [water, boats]\n  dune: {sand: 100, water: 10}\n  quay: {water: 100, boats: 20}\n")
    report = {c.name: c for c in check_classes(path, info)}
    assert report["marina"].untaught == ("boats",) and report["marina"].untaught_share == pytest.approx(0.5)
    assert report["dune"].untaught == () and report["dune"].untaught_share == 0.0
    assert report["quay"].untaught == () and 0 < report["quay"].untaught_share < 0.25  # weak: counted, not named
    res = CliRunner().invoke(cli, ["classes", "check", str(path), "--model", str(tiny_checkpoint)])
    assert res.exit_code == 0, res.output
    assert "untaught: boats" in res.output and "'marina' rests on attributes no seen class of the model has" in res.output
    assert "'dune' rests" not in res.output and "'quay' rests" not in res.output
    shown = CliRunner().invoke(cli, ["info", str(tiny_checkpoint)])
    assert "untaught      1 attribute no seen class has at half strength" in shown.output and "boats" in shown.output


def test_check_command_errors_are_one_line(tiny_checkpoint, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("classes:\n  pond: [watr]\n")
    res = CliRunner().invoke(cli, ["classes", "check", str(path), "--model", str(tiny_checkpoint)])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1 and "watr" in res.output



def test_pick_writes_library_and_defined_classes_together(tmp_path):
    from rsdsva.mapping import default_model_path
    from rsdsva.models.model_file import read_model_info

    out = tmp_path / "mine.yaml"
    result = CliRunner().invoke(cli, ["classes", "pick", "wetland", "--define", "marsh: has_water, has_grass",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    classes = load_classes(out, vocabulary=read_model_info(default_model_path()).classes.attributes)
    assert classes.names == ("wetland", "marsh") and not classes.seen.any()
    assert classes.vector("marsh")[classes.attributes.index("has_water")] == 100
    bad = CliRunner().invoke(cli, ["classes", "pick", "--define", "marsh: has_watr", "--out", str(tmp_path / "b.yaml")])
    assert bad.exit_code == 1 and "did you mean 'has_water'" in bad.output and not (tmp_path / "b.yaml").exists()
