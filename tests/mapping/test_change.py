"""rsdsva change: what changed between two dates, and into what (#38)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from rsdsva.cli.main import cli
from rsdsva.data.images import scan_image_folder
from rsdsva.data.mosaic import write_image_mosaic
from rsdsva.mapping.change import change_scores
from tests.conftest import DATA


@pytest.fixture(scope="module")
def dates(tmp_path_factory):
    """Two dates of a 4 x 4 mosaic of real UC Merced fields and forests, as 16-bit reflectances:
    AFTER is BEFORE a fifth darker everywhere (haze, another sun), with one field built over
    (cell 1, 2: a dense residential image)."""
    scenes = [s for s in scan_image_folder(DATA / "ucm") if s.label in ("agricultural", "forest")]
    built = next(s for s in scan_image_folder(DATA / "ucm") if s.label == "denseresidential")
    tmp = tmp_path_factory.mktemp("dates")
    cells = write_image_mosaic(scenes[:8] + scenes[-8:], tmp / "before8.tif", columns=4)
    later = scenes[:8] + scenes[-8:]
    later[6] = built  # row 1, col 2
    write_image_mosaic(later, tmp / "after8.tif", columns=4)
    paths = []
    for name, factor in (("before", 1.0), ("after", 0.8)):
        with rasterio.open(tmp / f"{name}8.tif") as src:
            data, profile = src.read().astype(np.float64), src.profile
        profile.update(dtype="uint16", photometric="RGB")
        with rasterio.open(tmp / f"{name}.tif", "w", **profile) as dst:
            dst.write(np.round((data * 10 + 100) * factor).astype(np.uint16))
        paths.append(tmp / f"{name}.tif")
    return paths[0], paths[1], cells


def _last_three_columns(after, tmp_path):
    """AFTER cut to its last three columns of tiles: another grid than BEFORE's."""
    with rasterio.open(after) as src:
        window = rasterio.windows.Window(256, 0, 768, 1024)
        profile = {**src.profile, "width": 768, "height": 1024, "transform": src.window_transform(window)}
        data = src.read(window=window)
    cut = tmp_path / "after_cut.tif"
    with rasterio.open(cut, "w", **profile) as dst:
        dst.write(data)
    return cut


def _run(args):
    result = CliRunner().invoke(cli, [str(a) for a in args] + ["--progress", "none"])
    return result.exit_code, [ln for ln in result.output.splitlines() if ln.strip()], result


def test_the_built_over_field_changes_and_the_haze_does_not(dates, tmp_path):
    before, after, _ = dates
    out = tmp_path / "change.gpkg"
    raster = tmp_path / "change.tif"
    code, lines, _ = _run(["change", before, after, "--out", out, "--threshold", 0.999, "--context", 1,
                           "--orientations", 1, "--scale", "100,2650", "--raster", raster])
    assert code == 0, lines
    assert lines[-1].startswith(f"wrote {out}: 1 tile changed of 16")
    tiles = gpd.read_file(out, layer="tiles")
    assert len(tiles) == 16 and set(tiles.columns) >= {"row", "col", "from_label", "to_label", "from_score",
                                                       "to_score", "change_score", "changed", "area_m2"}
    changed = tiles[tiles["changed"]]
    assert [(r, c) for r, c in zip(changed["row"], changed["col"])] == [(1, 2)]
    assert changed["change_score"].iloc[0] == tiles["change_score"].max() > 0.999
    unchanged = tiles[~tiles["changed"]]  # the whole scene darker: no tile stands out
    assert (unchanged["from_label"] == unchanged["to_label"]).mean() >= 0.75
    transitions = gpd.read_file(out, layer="transitions")
    row = changed.iloc[0]
    assert transitions[["from_label", "to_label", "tiles"]].values.tolist() == [[row.from_label, row.to_label, 1]]
    assert transitions["area_ha"].iloc[0] == pytest.approx(row.area_m2 / 1e4)
    run = gpd.read_file(out, layer="run")
    record = {k: json.loads(v) for k, v in zip(run["key"], run["value"])}
    assert record["command"] == "change" and record["threshold"] == 0.999 and record["changed"] == 1
    import sqlite3

    with sqlite3.connect(out) as db:  # QGIS opens it styled: unchanged faint, changed by their to-class
        (qml,) = db.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = 'tiles'").fetchone()
    assert 'RuleRenderer' in qml and "&quot;changed&quot; = 0" in qml and f"'{row.to_label}'" in qml
    with rasterio.open(raster) as src:  # one pixel per tile: the score, and the transition where it changed
        score, code = src.read()
        assert src.shape == (4, 4) and src.tags()[f"transition_{int(code[1, 2])}"] == f"{row.from_label} -> {row.to_label}"
    assert score[1, 2] == pytest.approx(row.change_score, abs=1e-4) and (code >= 0).sum() == 1


def test_after_on_another_grid_is_read_onto_befores(dates, tmp_path):
    """AFTER cut to its last three columns of tiles: read onto BEFORE's grid, the overlap compared."""
    before, after, _ = dates
    cut = _last_three_columns(after, tmp_path)
    out = tmp_path / "c.gpkg"
    code, lines, _ = _run(["change", before, cut, "--out", out, "--threshold", 0.999, "--context", 1,
                           "--orientations", 1, "--scale", "100,2650"])
    assert code == 0, lines
    tiles = gpd.read_file(out, layer="tiles")
    assert sorted(set(tiles["col"])) == [1, 2, 3]  # BEFORE's numbering; column 0 has no AFTER
    assert [(r, c) for r, c, x in zip(tiles["row"], tiles["col"], tiles["changed"]) if x] == [(1, 2)]


def test_progress_counts_both_dates(dates, tmp_path):
    """Progress goes on over the second date: tiles done and skipped never go back. BEFORE's first
    column of tiles is nodata, and AFTER lacks it: 4 tiles skipped on each date."""
    from rsdsva.mapping.change import change_scenes
    from rsdsva.mapping.settings import MapSettings

    before, after, _ = dates
    with rasterio.open(before) as src:
        data, profile = src.read(), src.profile
    data[:, :, :256] = 0
    holed = tmp_path / "before_holed.tif"
    with rasterio.open(holed, "w", **{**profile, "nodata": 0}) as dst:
        dst.write(data)
    events = []
    change_scenes(holed, _last_three_columns(after, tmp_path), tmp_path / "c.gpkg",
                  MapSettings(context=(1,), orientations=1, scale=(100, 2650)), progress=events.append)
    done, skipped = [e["done"] for e in events], [e["skipped"] for e in events]
    assert done == sorted(done) and done[-1] == events[-1]["total"] == 32
    assert skipped == sorted(skipped) and skipped[-1] == 8


def test_bad_change_input_is_one_line_and_writes_nothing(dates, tmp_path):
    before, after, _ = dates
    with rasterio.open(before) as src:
        profile, data = src.profile, src.read()
    three = tmp_path / "three.tif"
    with rasterio.open(three, "w", **{**profile, "count": 2}) as dst:
        dst.write(data[:2])
    far = tmp_path / "far.tif"
    with rasterio.open(far, "w", **{**profile, "transform": rasterio.Affine(0.3048, 0, 0, 0, -0.3048, 9e6)}) as dst:
        dst.write(data)
    out = tmp_path / "o.gpkg"
    for args, said in (([before, before], "BEFORE and AFTER are the same file"),
                       ([before, three], "three.tif has 2 bands and"),
                       ([before, far], "far.tif does not overlap"),
                       ([before, after, "--threshold", 1.5], "--threshold 1.5: give a change score between 0 and 1"),
                       ([before, after, "--out", before, "--overwrite"], "before.tif must end in .gpkg")):
        argv = ["change", *args] + ([] if "--out" in args else ["--out", out])
        code, lines, _ = _run(argv)
        assert code == 1 and len([ln for ln in lines if not ln.startswith("Warning")]) == 1, lines
        assert said in lines[-1], lines
    assert not out.exists()


def test_change_scores_are_the_normal_probability_of_a_robust_z():
    moves = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 5.0, np.nan])
    scores = change_scores(moves)
    assert scores[6] > 0.999 and scores[0] == pytest.approx(0.5, abs=0.01) and scores[7] == 0
    assert (scores[:6] < 0.95).all()  # within a spread or two of the typical move
    shifted = change_scores(moves * 3 + 7)  # a move of every tile alike: the same scores
    assert np.allclose(shifted, scores)


def test_on_dask_the_same_change_map(dates, tmp_path):
    """--workers classifies both dates on a local Dask cluster: the same tiles, labels and scores as
    in one process, with AFTER on another grid travelling to the workers as its warped VRT."""
    before, after, _ = dates
    cut = _last_three_columns(after, tmp_path)
    base = ["change", before, cut, "--threshold", 0.999, "--context", 1, "--orientations", 1, "--scale", "100,2650"]
    code, lines, _ = _run(base + ["--out", tmp_path / "here.gpkg"])
    assert code == 0, lines
    code, lines, _ = _run(base + ["--out", tmp_path / "dask.gpkg", "--workers", 1])
    assert code == 0, lines
    here, dask = (gpd.read_file(tmp_path / f"{n}.gpkg", layer="tiles").sort_values(["row", "col"]).reset_index(drop=True)
                  for n in ("here", "dask"))
    assert len(here) == 12
    for column in ("row", "col", "from_label", "to_label", "changed"):
        assert list(here[column]) == list(dask[column]), column
    np.testing.assert_allclose(here[["from_score", "to_score", "change_score"]].to_numpy(),
                               dask[["from_score", "to_score", "change_score"]].to_numpy(), atol=1e-4)
    code, lines, _ = _run(base + ["--out", tmp_path / "x.gpkg", "--scheduler", "nonsense"])
    assert code == 1 and len(lines) == 1 and "--scheduler nonsense" in lines[0]
    assert not (tmp_path / "x.gpkg").exists()
