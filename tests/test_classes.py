import json
import warnings

import numpy as np
import pytest

from rsdsva.class_files import load_classes, save_classes
from rsdsva.classes import ClassSpace
from rsdsva.errors import ClassSpaceError, MissingFileError, RsdsvaWarning


def test_ucm_csv_loads_as_21_by_33(ucm_csv):
    space = load_classes(ucm_csv)
    assert len(space) == 21 and space.num_attributes == 33
    assert space.names[0] == "agriculture" and space.attributes[0] == "has_farmland"
    assert space.vector("airplane")[space.attributes.index("has_planes")] == 100
    assert space.seen.all()


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".csv"])
def test_round_trip(small_classes, tmp_path, suffix):
    path = save_classes(small_classes, tmp_path / f"classes{suffix}")
    back = load_classes(path)
    if suffix == ".csv":  # CSV keeps names, vocabulary and values only
        assert back == small_classes.with_seen(True)
    else:
        assert back == small_classes


def test_three_ways_to_give_a_class(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "attributes: [water, trees, sand]\n"
        "seen: false\n"
        "classes:\n"
        "  lake: [water]\n"
        "  park: {trees: 70, water: 5}\n"
        "  dune: [0, 0, 100]\n"
        "  wood: {attributes: [trees], seen: true}\n"
    )
    space = load_classes(path)
    np.testing.assert_array_equal(space.matrix, [[100, 0, 0], [5, 70, 0], [0, 0, 100], [0, 100, 0]])
    assert space.seen.tolist() == [False, False, False, True]


def test_vocabulary_from_caller(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"classes": {"lake": ["water"]}}))
    space = load_classes(path, vocabulary=["water", "trees"])
    assert space.attributes == ("water", "trees")
    with pytest.raises(ClassSpaceError, match="no attribute vocabulary"):
        load_classes(path)


@pytest.mark.parametrize(
    "body, message",
    [
        ("  lake: [watr]\n", r"unknown attribute 'watr'; did you mean 'water'\?"),
        ("  lake: [1, 2]\n", r"vector of length 2, expected 3"),
        ("  lake: [.nan, 0, 1]\n", r"NaN or infinite value for 'water'"),
        ("  lake: {water: -3}\n", r"negative value -3 for 'water'"),
        ("  lake: {water: 0}\n", r"no attribute present"),
        ("  lake: [water]\n  lake2: [water]\n  lake: [sand]\n", None),
    ],
)
def test_bad_classes_are_refused_with_their_message(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text("attributes: [water, trees, sand]\nclasses:\n" + body)
    if message is None:  # YAML itself keeps the last duplicate key; test duplicates via the API
        with pytest.raises(ClassSpaceError, match=r"duplicate class 'a'"):
            ClassSpace(names=["a", "a"], attributes=["x"], matrix=[[1], [2]], seen=[True, True])
        return
    with pytest.raises(ClassSpaceError, match=message) as info:
        load_classes(path)
    assert str(path) in str(info.value)


def test_empty_space_and_missing_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("attributes: [water]\nclasses: {}\n")
    with pytest.raises(ClassSpaceError, match="empty"):
        load_classes(path)
    with pytest.raises(MissingFileError, match="not found"):
        load_classes(tmp_path / "nope.yaml")


def test_unseen_twin_of_a_seen_class_warns():
    with pytest.warns(RsdsvaWarning, match="unseen class 'b' has the same attribute vector as seen class 'a'"):
        ClassSpace(names=["a", "b"], attributes=["x", "y"], matrix=[[1, 2], [1, 2]], seen=[True, False])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ClassSpace(names=["a", "b"], attributes=["x", "y"], matrix=[[1, 2], [2, 1]], seen=[True, False])


def test_concat_requires_same_vocabulary(small_classes):
    other = ClassSpace(names=["x"], attributes=["a"], matrix=[[1]], seen=[False])
    with pytest.raises(ClassSpaceError, match="vocabularies differ"):
        small_classes.concat(other)
    more = small_classes.subset(["forest"]).with_seen(False)._replace(names=["woods"], matrix=[[1, 50, 0, 0, 0, 0]])
    joined = small_classes.concat(more)
    assert joined.names[-1] == "woods" and not joined.seen[-1]


def test_unified_classes_have_the_attributes_their_names_say():
    """A class whose defining attribute is 0 (residential without is_residential) misleads
    every comparison with a user's class; the library build lifts such values."""
    from rsdsva.library import DEFINING_FLOOR, defining_attributes, load_library

    unified = load_library("unified")
    table = defining_attributes()
    assert set(table) <= set(unified.names)
    assert len(table) >= 50
    low = [
        f"{name}.{attr} = {unified.matrix[unified.names.index(name), unified.attributes.index(attr)]:.0f}"
        for name, attrs in table.items()
        for attr in attrs
        if unified.matrix[unified.names.index(name), unified.attributes.index(attr)] < DEFINING_FLOOR
    ]
    assert not low, f"defining attributes below {DEFINING_FLOOR}: {low}"


def test_a_grass_class_is_nearest_meadow():
    from rsdsva.library import load_library

    unified = load_library("unified")
    grass = np.array([100.0 if a in ("has_grass", "has_green_field", "has_vegetation") else 0.0
                      for a in unified.attributes])
    m = unified.matrix / np.linalg.norm(unified.matrix, axis=1, keepdims=True)
    order = np.argsort(-(m @ (grass / np.linalg.norm(grass))))
    assert unified.names[order[0]] == "meadow", [unified.names[i] for i in order[:3]]


@pytest.mark.parametrize("suffix, text", [
    (".yaml", "attributes: [water, trees]\nclasses:\n  lake: [100, 0]\n  wood: [0, 100]\n  lake: [90, 10]\n"),
    (".json", '{"attributes": ["water", "trees"], "classes": {"lake": [100, 0], "lake": [90, 10]}}'),
])
def test_a_class_defined_twice_is_refused(tmp_path, suffix, text):
    path = tmp_path / f"twice{suffix}"
    path.write_text(text)
    with pytest.raises(ClassSpaceError, match=r"twice\..*: 'lake' is defined twice.*keep one definition"):
        load_classes(path)


def test_picking_and_defining_classes_from_python():
    """What `rsdsva classes pick NAMES --define ...` does, callable from Python."""
    import pytest

    from rsdsva.errors import ClassSpaceError
    from rsdsva.library import pick_and_define, without_seen
    from rsdsva.models.model_file import default_model_path, read_model_info

    classes = pick_and_define(["wetland", "forest"], ["marsh: has_water, has_grass"])
    assert classes.names == ("wetland", "forest", "marsh") and not classes.seen.any()
    kept, dropped = without_seen(classes, read_model_info(default_model_path()))
    assert dropped == ["forest"] and kept.names == ("wetland", "marsh")
    with pytest.raises(ClassSpaceError, match="write it as 'NAME: ATTRIBUTE, ATTRIBUTE'"):
        pick_and_define([], ["marsh"])
    with pytest.raises(ClassSpaceError, match="all are seen classes of the model already"):
        without_seen(pick_and_define(["forest"]), read_model_info(default_model_path()))


def test_a_json_classes_file_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "c.json"  # as Notepad writes UTF-8
    path.write_bytes(b"\xef\xbb\xbf" + b'{"attributes": ["water", "trees"], "classes": {"pond": ["water"]}}')
    assert load_classes(path).names == ("pond",)
