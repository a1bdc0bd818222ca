"""check_rank: the tiles a person should check first."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from click.testing import CliRunner

from rsdsva.cli.main import cli
from rsdsva.mapping.checking import check_ranks


def _looks(groups, rng, spread=0.05):
    """Tiles of a few looks: rows near one random direction each."""
    centres = rng.normal(size=(len(groups), 16))
    return np.concatenate([c + spread * rng.normal(size=(n, 16)) for c, n in zip(centres, groups)])


def test_the_unsurest_tile_first_then_the_unsurest_of_another_look():
    rng = np.random.default_rng(0)
    looks = _looks([3, 1, 2], rng)  # three tiles of one look, a loner, two of a third look
    unsure = np.array([0.9, 0.8, 0.7, 0.5, 0.3, 0.2])
    ranks = check_ranks(unsure, looks)
    assert sorted(ranks) == list(range(1, 7))
    # 0 opens its look; 1 and 2 look like it and wait behind the loner and the third look's unsurest
    assert list(np.argsort(ranks)) == [0, 3, 4, 1, 2, 5]


def test_each_pick_is_another_look():
    rng = np.random.default_rng(1)
    looks = _looks([4, 4, 4], rng)
    unsure = np.full(12, 0.5)
    order = np.argsort(check_ranks(unsure, looks))
    assert sorted(i // 4 for i in order[:3]) == [0, 1, 2]


def test_no_tiles_no_ranks():
    assert check_ranks(np.zeros(0), np.zeros((0, 5))).shape == (0,)


def test_the_map_ranks_its_tiles_and_writes_the_tiles_to_check_with_a_fix_column(make_geotiff, tmp_path):
    scene = make_geotiff(shape=(96, 96))
    out = tmp_path / "m.gpkg"
    result = CliRunner().invoke(cli, ["map", str(scene), "--tile-size", "32", "--context", "1", "--orientations", "1",
                                      "--progress", "none", "--to-check", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tiles = gpd.read_file(out, layer="tiles")
    assert sorted(tiles["check_rank"]) == list(range(1, 10))
    first = gpd.read_file(out, layer="to_check")
    assert list(first["check_rank"]) == [1, 2, 3] and first["fix"].isna().all()
    ranked = tiles.sort_values("check_rank").head(3)
    assert list(zip(first["row"], first["col"])) == list(zip(ranked["row"], ranked["col"]))
    # the layer goes straight back as corrections
    first.loc[0, "fix"] = "my_field"
    first.to_file(tmp_path / "checked.gpkg", layer="to_check")
    fed = CliRunner().invoke(cli, ["classes", "from-map", str(scene), str(tmp_path / "checked.gpkg"), "--layer",
                                   "to_check", "--name-field", "fix", "--like", str(out), "--out", str(tmp_path / "c.yaml")])
    assert fed.exit_code == 0 and "my_field 1" in fed.output, fed.output


def test_to_check_is_a_count():
    import pytest

    from rsdsva.errors import ConfigError
    from rsdsva.mapping.settings import MapSettings

    with pytest.raises(ConfigError, match="`to_check` -1"):
        MapSettings(to_check=-1)
