"""GeoPackage output: tiles, regions, classes, the run's metadata and a QGIS style; and the
GeoTIFFs beside it (labels, similarity, attention).

Knows nothing of torch: it takes plain rows and writes them with geopandas/pyogrio.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from rsdsva.colors import hex_color, parse_color

# the tiles layer's record, defined once: field -> dtype (then area_m2, the explain columns, the geometry)
TILE_FIELDS = {"row": "int64", "col": "int64", "label": "str", "class_id": "int64", "score": "float64",
               "confidence": "float64", "is_unseen": "bool", "top_labels": "str", "top_scores": "str",
               "valid_fraction": "float64", "check_rank": "int64"}
LOOK = "_look"  # a record's attribute scores: what check_rank compares tiles by, not a column


def tile_record(classes, spec, result, explain: bool = False) -> dict[str, Any]:
    """One tiles-layer record (``bounds`` and :data:`TILE_FIELDS`, plus the explain columns)
    from a classified tile (:class:`rsdsva.mapping.classify.TileResult`) over ``classes``."""
    from rsdsva.mapping.grid import window_bounds

    best = int(result.top_k[0])
    record = {
        "bounds": window_bounds(spec, result.tile.window),
        "row": result.tile.row, "col": result.tile.col,
        "label": classes.names[best], "class_id": best, "score": float(result.top_scores[0]),
        "confidence": round(float(result.confidence), 4),
        "is_unseen": bool(classes.unseen[best]),
        "top_labels": ";".join(classes.names[int(i)] for i in result.top_k),
        "top_scores": ";".join(f"{s:.4f}" for s in result.top_scores),
        "valid_fraction": round(result.valid_fraction, 4),
        LOOK: np.asarray(result.attributes, dtype=np.float16),
    }
    return {**record, **(_evidence(result, classes.attributes) if explain else {})}


def _evidence(result, attributes, k: int = 3) -> dict[str, Any]:
    """Explain columns: strongest predicted attributes and the terms of the winning score."""
    top = np.argsort(-result.attributes)[:k]
    ev = np.argsort(-result.contributions)[:k]
    return {
        "attributes": "; ".join(f"{attributes[i]} {result.attributes[i]:.2f}" for i in top),
        "attributes_json": json.dumps({a: round(float(v), 4) for a, v in zip(attributes, result.attributes)}),
        "evidence": "; ".join(f"{attributes[i]} {result.contributions[i]:.3f}" for i in ev),
        "evidence_json": json.dumps({a: round(float(v), 5) for a, v in zip(attributes, result.contributions)}),
        "class_logit": float(result.contributions.sum()),
    }


def tiles_frame(rows: Sequence[dict[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    """Rows with ``bounds`` plus :data:`TILE_FIELDS` -> the tiles layer."""
    if not rows:
        empty = {f: pd.Series(dtype=t) for f, t in TILE_FIELDS.items()}
        empty["area_m2"] = pd.Series(dtype="float64")
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    from rsdsva.mapping.checking import check_ranks

    geoms = shapely.box(*np.asarray([r["bounds"] for r in rows], dtype=np.float64).T)
    data = {f: [r[f] for r in rows] for f in TILE_FIELDS if f != "check_rank"}  # ranked once all tiles are in
    # by score, not confidence: ranked by confidence, the default map's first five corrections lifted
    # the other reference tiles less than five random wrong ones (docs/benchmarks.md, the confidence bullet)
    data["check_rank"] = check_ranks(1 - np.asarray(data["score"]), np.stack([r[LOOK] for r in rows]))
    extra = [k for k in rows[0] if k not in TILE_FIELDS and k not in ("bounds", LOOK)]
    data.update({k: [r[k] for r in rows] for k in extra})
    frame = gpd.GeoDataFrame(data, geometry=geoms, crs=crs)
    frame.insert(len(TILE_FIELDS), "area_m2", ground_area_m2(frame.geometry))
    return frame


def regions_frame(tiles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Touching or overlapping tiles of one label dissolved into regions, with their ground area
    (m²) and mean score."""
    if tiles.empty:
        return gpd.GeoDataFrame({"label": pd.Series(dtype="str"), "tiles": pd.Series(dtype="int64"),
                                 "area_m2": pd.Series(dtype="float64"), "mean_score": pd.Series(dtype="float64")},
                                geometry=gpd.GeoSeries([], crs=tiles.crs), crs=tiles.crs)
    parts = tiles[["label", "geometry"]].dissolve(by="label").explode(index_parts=False).reset_index()
    joined = gpd.sjoin(
        gpd.GeoDataFrame({"label": tiles["label"], "score": tiles["score"]}, geometry=_centres(tiles.geometry),
                         crs=tiles.crs),
        parts.reset_index(names="region"), predicate="within",
    )
    joined = joined[joined["label_left"] == joined["label_right"]]
    stats = joined.groupby("region")["score"].agg(["count", "mean"])
    parts["tiles"] = stats["count"].reindex(parts.index).fillna(0).astype("int64")
    parts["mean_score"] = stats["mean"].reindex(parts.index)
    parts["area_m2"] = ground_area_m2(parts.geometry)
    return parts[["label", "tiles", "area_m2", "mean_score", "geometry"]]


def _centres(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Each tile's centre, to tell which region holds it: in degrees too, where geopandas warns that a
    centroid is not exact (a point inside its own small tile is all that is needed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Gg]eographic CRS.*centroid")
        return geoms.centroid


def ground_area_m2(geoms: gpd.GeoSeries) -> np.ndarray:
    """Areas in square metres on the ground, whatever the CRS (Web Mercator, degrees, feet):
    measured in a Lambert azimuthal equal-area projection centred on the shapes. Without
    a CRS, areas are in the raster's own units squared."""
    if geoms.crs is None or geoms.empty:
        return geoms.area.to_numpy()
    x0, y0, x1, y1 = geoms.total_bounds  # the centre of the bounds: no union of a million tiles
    centre = gpd.GeoSeries(gpd.points_from_xy([(x0 + x1) / 2], [(y0 + y1) / 2]), crs=geoms.crs).to_crs("EPSG:4326")
    lon, lat = centre.x.iloc[0], centre.y.iloc[0]
    return geoms.to_crs(f"+proj=laea +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m").area.to_numpy()


def write_geopackage(
    path: str | Path,
    tiles: gpd.GeoDataFrame,
    classes: pd.DataFrame,
    run: dict[str, Any],
    to_check: int = 0,
) -> None:
    """Write layers ``tiles``, ``regions``, ``classes`` and ``run`` to a new GeoPackage at ``path``,
    and ``to_check``, the first ``to_check`` tiles by ``check_rank``, where asked."""
    import pyogrio

    path = str(path)
    # GeoPackage 1.2: read without warnings by the older GDAL of QGIS LTR installs (3.22 ships GDAL 3.6)
    pyogrio.write_dataframe(tiles, path, layer="tiles", driver="GPKG", dataset_options={"VERSION": "1.2"})
    if to_check:
        pyogrio.write_dataframe(to_check_frame(tiles, to_check), path, layer="to_check", driver="GPKG")
    pyogrio.write_dataframe(regions_frame(tiles), path, layer="regions", driver="GPKG", append=False)
    pyogrio.write_dataframe(classes, path, layer="classes", driver="GPKG")
    table = pd.DataFrame({"key": list(run), "value": [json.dumps(v, default=str) for v in run.values()]})
    pyogrio.write_dataframe(table, path, layer="run", driver="GPKG")
    _write_styles(path, list(classes["name"]), [parse_color(c) for c in classes["color"]],
                  ("tiles", "regions", *(("to_check",) if to_check else ())))


def to_check_frame(tiles: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    """The first ``n`` tiles by ``check_rank``, with an empty ``fix`` column: type the right class
    there and feed the layer back with ``rsdsva classes from-map --layer to_check --name-field fix``."""
    first = tiles.sort_values("check_rank").head(n)
    keep = ["check_rank", "row", "col", "label", "class_id", "score", "confidence", "top_labels", "top_scores",
            "area_m2"]
    frame = first[keep + ["geometry"]].copy()
    frame.insert(4, "fix", pd.Series([None] * len(frame), index=frame.index, dtype="object"))
    return frame


def classes_frame(classes, routes: Sequence[str], colors: Sequence[tuple[int, int, int]]) -> pd.DataFrame:
    """One row per class of ``classes`` (a ClassSpace): its id, name, whether the model was trained
    on it (a seen class corrected by examples still is), how it was defined (``seen``, ``held-out``,
    ``attributes``, ``examples``, ``seen+examples``), its map colour and its attribute vector."""
    return pd.DataFrame({
        "class_id": np.arange(len(classes.names)),
        "name": list(classes.names),
        "seen": [r in ("seen", "seen+examples") for r in routes],
        "route": list(routes),
        "color": [hex_color(c) for c in colors],
        "attributes": [json.dumps({a: round(float(v), 4) for a, v in zip(classes.attributes, row) if v})
                       for row in classes.matrix],
    })


def _qml(names: Sequence[str], colors: Sequence[tuple[int, int, int]], geometry: str = "polygon") -> str:
    cats, syms = [], []
    for i, (name, (r, g, b)) in enumerate(zip(names, colors)):
        cats.append(f'<category render="true" symbol="{i}" value="{escape(name)}" label="{escape(name)}"/>')
        syms.append(
            f'<symbol type="fill" name="{i}" alpha="0.6" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleFill" enabled="1" locked="0" pass="0">'
            f'<prop k="color" v="{r},{g},{b},255"/><prop k="outline_color" v="60,60,60,120"/>'
            f'<prop k="outline_width" v="0.1"/><prop k="style" v="solid"/></layer></symbol>'
        )
    return (
        '<!DOCTYPE qgis PUBLIC \'http://mrcc.com/qgis.dtd\' \'SYSTEM\'>'
        '<qgis version="3.22" styleCategories="Symbology">'
        '<renderer-v2 type="categorizedSymbol" attr="label" enableorderby="0" forceraster="0" symbollevels="0">'
        f'<categories>{"".join(cats)}</categories><symbols>{"".join(syms)}</symbols>'
        '</renderer-v2></qgis>'
    )


def _write_styles(path: str, names: Sequence[str], colors: Sequence[tuple[int, int, int]],
                  layers: Sequence[str] = ("tiles", "regions")) -> None:
    """QGIS's ``layer_styles`` table: the tiles and regions layers (and ``to_check``) open coloured by label."""
    qml = _qml(names, colors)
    _store_styles(path, {layer: (f"{layer} by label", qml, "rsdsva: coloured by label") for layer in layers})


def _change_qml(names: Sequence[str], colors: Sequence[tuple[int, int, int]]) -> str:
    """Rules for a change map's tiles: unchanged tiles a faint outline, changed ones filled with
    their to-class's colour."""
    def fill(i: int, rgb: tuple[int, int, int], alpha: float, outline: str) -> str:
        r, g, b = rgb
        return (f'<symbol type="fill" name="{i}" alpha="{alpha}" clip_to_extent="1" force_rhr="0">'
                f'<layer class="SimpleFill" enabled="1" locked="0" pass="0"><prop k="color" v="{r},{g},{b},255"/>'
                f'<prop k="outline_color" v="{outline}"/><prop k="outline_width" v="0.1"/>'
                f'<prop k="style" v="{"no" if i == 0 else "solid"}"/></layer></symbol>')

    rules = ['<rule key="unchanged" filter="&quot;changed&quot; = 0" symbol="0" label="unchanged"/>']
    symbols = [fill(0, (200, 200, 200), 0.5, "150,150,150,120")]
    for i, (name, rgb) in enumerate(zip(names, colors), start=1):
        quoted = escape(name.replace("'", "''"), {'"': "&quot;"})
        rules.append(f'<rule key="to{i}" filter="&quot;changed&quot; = 1 AND &quot;to_label&quot; = \'{quoted}\'" '
                     f'symbol="{i}" label="changed to {escape(name, {chr(34): "&quot;"})}"/>')
        symbols.append(fill(i, rgb, 0.75, "40,40,40,200"))
    return (
        '<!DOCTYPE qgis PUBLIC \'http://mrcc.com/qgis.dtd\' \'SYSTEM\'>'
        '<qgis version="3.22" styleCategories="Symbology">'
        '<renderer-v2 type="RuleRenderer" enableorderby="0" forceraster="0" symbollevels="0">'
        f'<rules key="root">{"".join(rules)}</rules><symbols>{"".join(symbols)}</symbols>'
        '</renderer-v2></qgis>'
    )


def write_change_style(path: str, names: Sequence[str], colors: Sequence[tuple[int, int, int]]) -> None:
    """A change map's tiles layer opens in QGIS with unchanged tiles faint and changed ones coloured
    by their to-class."""
    _store_styles(path, {"tiles": ("tiles by change", _change_qml(names, colors),
                                   "rsdsva: unchanged faint, changed coloured by to-class")})


def _store_styles(path: str, styles: dict[str, tuple[str, str, str]]) -> None:
    """QGIS's ``layer_styles`` table with each layer's default style (layer -> name, QML, description)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
            "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
            "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
            "update_time DATETIME)"
        )
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # GeoPackage DATETIME form
        for layer, (name, qml, description) in styles.items():
            db.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                "styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                "VALUES ('', '', ?, 'geom', ?, ?, '', 1, ?, '', '', ?)",
                (layer, name, qml, description, now),
            )
        db.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', '', ?)", (now,)
        )


LABEL_NODATA = 65535


def write_geotiff(path: str | Path, profile: dict[str, Any], fill: Callable[[Any], None]) -> None:
    """Write a GeoTIFF: ``fill(dataset)`` writes the bands into a GDAL in-memory file, which is
    then copied to ``path`` by Python. libtiff, writing to a full disk itself, can spin in its
    close for ever or leave a short file behind without an error; a Python write raises
    ``OSError`` (ENOSPC), which the caller reports."""
    from rasterio.io import MemoryFile

    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            fill(dst)
        data = memory.read()
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # a full disk may only say so here


def write_label_raster(
    path: str | Path,
    tiles: gpd.GeoDataFrame,
    grid_shape: tuple[int, int],
    transform: Any,
    crs: Any,
    class_names: Sequence[str],
    colors: Sequence[tuple[int, int, int]],
) -> None:
    """A GeoTIFF with one pixel per grid cell: band 1 class id, band 2 score.

    Cell (row, col) covers ``stride`` x ``stride`` raster pixels from the tile's
    top-left corner (``transform`` is the raster's, scaled by the stride). Both
    bands are uint16: band 2 stores score x 10000 with a band scale of 1e-4, so GDAL
    and QGIS read it as 0-1. Skipped tiles are nodata (65535); band 1 carries a
    colour table in the colours of the GeoPackage style.
    """
    rows, cols = grid_shape
    ids = np.full((rows, cols), LABEL_NODATA, dtype=np.uint16)
    scores = np.full((rows, cols), LABEL_NODATA, dtype=np.uint16)
    if len(tiles):
        r, c = tiles["row"].to_numpy(), tiles["col"].to_numpy()
        ids[r, c] = tiles["class_id"].to_numpy()
        scores[r, c] = np.round(tiles["score"].to_numpy() * 10000).astype(np.uint16)
    block = 256 if rows >= 256 and cols >= 256 else None
    profile = dict(driver="GTiff", width=cols, height=rows, count=2, dtype="uint16", crs=crs, transform=transform,
                   nodata=LABEL_NODATA, compress="deflate", tiled=block is not None,
                   **({"blockxsize": block, "blockysize": block} if block else {}))

    def fill(dst) -> None:
        dst.write(ids, 1)
        dst.write(scores, 2)
        dst.scales = (1.0, 1e-4)
        dst.set_band_description(1, "class_id")
        dst.set_band_description(2, "score")
        dst.write_colormap(1, {i: (*rgb, 255) for i, rgb in enumerate(colors)})
        dst.update_tags(1, **{f"class_{i}": n for i, n in enumerate(class_names)})

    write_geotiff(path, profile, fill)


SIMILARITY_NODATA = -1.0


def write_change_raster(path: str | Path, tiles: gpd.GeoDataFrame, class_names: Sequence[str],
                        grid_shape: tuple[int, int], transform: Any, crs: Any) -> None:
    """A change map as a float32 GeoTIFF on the label raster's grid: band 1 each tile's change score
    (0-1), band 2 its transition code, ``from_id * 1000 + to_id`` where it changed and -1 where it
    did not (tagged ``transition_CODE=from -> to``); tiles not compared are nodata (-1) in both."""
    rows, cols = grid_shape
    bands = np.full((2, rows, cols), SIMILARITY_NODATA, dtype=np.float32)
    index = {n: i for i, n in enumerate(class_names)}
    codes = {}
    if len(tiles):
        r, c = tiles["row"].to_numpy(), tiles["col"].to_numpy()
        bands[0, r, c] = tiles["change_score"].to_numpy()
        code = np.array([index[a] * 1000 + index[b] for a, b in zip(tiles["from_label"], tiles["to_label"])], np.float32)
        changed = tiles["changed"].to_numpy(bool)
        bands[1, r, c] = np.where(changed, code, -1)
        codes = {int(k): f"{a} -> {b}" for k, a, b, x in zip(code, tiles["from_label"], tiles["to_label"], changed) if x}
    profile = dict(driver="GTiff", width=cols, height=rows, count=2, dtype="float32", crs=crs, transform=transform,
                   nodata=SIMILARITY_NODATA, compress="deflate")

    def fill(dst) -> None:
        dst.write(bands)
        dst.set_band_description(1, "change_score")
        dst.set_band_description(2, "transition (from_id * 1000 + to_id)")
        dst.update_tags(rsdsva="change", **{f"transition_{k}": v for k, v in sorted(codes.items())})

    write_geotiff(path, profile, fill)


def write_similarity_raster(
    path: str | Path,
    cells: Sequence[tuple[int, int]],
    similarity: np.ndarray,
    grid_shape: tuple[int, int],
    transform: Any,
    crs: Any,
    class_names: Sequence[str],
) -> None:
    """A float32 GeoTIFF on the label raster's grid, one band per example class (named after
    it): each tile's cosine similarity to the class's nearest example, clipped to 0-1;
    skipped tiles are nodata (-1). ``similarity`` is (len(cells), len(class_names))."""
    rows, cols = grid_shape
    bands = np.full((len(class_names), rows, cols), SIMILARITY_NODATA, dtype=np.float32)
    if len(cells):
        r, c = np.asarray(cells).T
        bands[:, r, c] = np.clip(similarity, 0.0, 1.0).T
    block = 256 if rows >= 256 and cols >= 256 else None
    profile = dict(driver="GTiff", width=cols, height=rows, count=len(class_names), dtype="float32", crs=crs,
                   transform=transform, nodata=SIMILARITY_NODATA, compress="deflate", tiled=block is not None,
                   **({"blockxsize": block, "blockysize": block} if block else {}))

    def fill(dst) -> None:
        dst.write(bands)
        dst.update_tags(rsdsva="similarity to example classes")  # so QGIS may replace what rsdsva wrote
        for i, name in enumerate(class_names, start=1):
            dst.set_band_description(i, name)

    write_geotiff(path, profile, fill)
