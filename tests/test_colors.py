"""Colours by meaning (#39): a map reads without its legend."""

from __future__ import annotations

import pytest

from rsdsva.class_files import load_classes, save_classes
from rsdsva.colors import class_colors, family, hex_color
from rsdsva.errors import ClassSpaceError
from rsdsva.models.model_file import default_model_path, read_model_info


def _kind(rgb) -> str:
    r, g, b = rgb
    if b > r + 40 and b > g:
        return "blue"
    if g > r + 30 and g > b + 30:
        return "green"
    if r > g + 60 and r > b + 60:
        return "red"
    return "other"


def test_the_model_and_user_classes_get_colours_from_what_they_are():
    info = read_model_info(default_model_path())
    names = list(info.classes.names) + list(info.held_out_classes().names) + ["open_water", "woods", "lawn", "car_park", "big_roofs",
                                                               "Dense Urban", "river_bed", "mangrove", "pond"]
    names = list(dict.fromkeys(names))
    colors = dict(zip(names, class_colors(names)))
    for name in ("river", "harbor", "open_water", "pond"):
        assert _kind(colors[name]) == "blue", (name, colors[name])
    for name in ("forest", "woods", "meadow", "lawn", "park", "golf_course"):
        assert _kind(colors[name]) == "green", (name, colors[name])
    for name in ("buildings", "medium_residential", "Dense Urban"):
        assert _kind(colors[name]) == "red", (name, colors[name])
    assert family("car_park") == "paved" and family("river_bed") == "bare" and family("mobile_home_park") == "built"
    assert len(set(colors.values())) == len(names)  # neighbours stay apart: no two classes share a colour
    assert class_colors(names) == list(colors.values())  # stable for a list of names


def test_a_classes_file_may_choose_a_colour(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("attributes: [water, trees]\nclasses:\n  lagoon: {attributes: [water], color: '#FF8800'}\n"
                    "  pond: [water]\n")
    classes = load_classes(path)
    assert classes.colors == {"lagoon": "#ff8800"}
    assert class_colors(classes.names, classes.colors)[0] == (255, 136, 0)
    save_classes(classes, tmp_path / "again.yaml")
    assert load_classes(tmp_path / "again.yaml") == classes and hex_color((255, 136, 0)) == "#ff8800"
    path.write_text("attributes: [water]\nclasses:\n  lagoon: {attributes: [water], color: blueish}\n")
    with pytest.raises(ClassSpaceError, match="class 'lagoon': color 'blueish' is not #rrggbb"):
        load_classes(path)
