"""Bad input and faults, one row each: the command fails with one line that says what is wrong,
and leaves every input as it was and nothing behind.

A new case is one row of ``CASES``: the files it needs (names -> contents or a maker), the command
line (``{scene}``, ``{model}`` and file names in braces are replaced by paths) and a piece of the
one line it must print.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rsdsva.cli.main import cli
from rsdsva.data.splits import parse_split
from rsdsva.errors import ConfigError, DatasetError
from rsdsva.mapping.settings import MapSettings
from rsdsva.training.loop import TrainConfig
from tests.conftest import DATA

JPEG = DATA / "ucm" / "harbor" / "harbor05.jpg"
YAML_HEAD = "attributes: [water, trees, buildings, roads, sand, boats]\n"


def _truncated_tif(world) -> bytes:
    return world["scene"].read_bytes()[:3000]


def _missing_source_vrt(world) -> str:
    return (f'<VRTDataset rasterXSize="64" rasterYSize="64"><SRS>EPSG:32618</SRS>'
            f'<GeoTransform>500000, 0.3, 0, 4000000, 0, -0.3</GeoTransform>'
            f'<VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
            f'<SourceFilename relativeToVRT="0">{world["tmp"] / "gone.tif"}</SourceFilename>'
            f'<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')


def _float_tiff(world) -> bytes:
    from PIL import Image

    path = world["tmp"] / "_float.tif"
    Image.fromarray(np.random.default_rng(0).random((64, 64)).astype(np.float32) * 1000).save(path)
    data = path.read_bytes()
    path.unlink()
    return data


def _png(world) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.open(JPEG).save(buffer, format="PNG")
    return buffer.getvalue()


def _tif(crs=None, transform=None, data=None) -> bytes:
    """A small GeoTIFF's bytes: without a CRS (and geotransform) unless given."""
    from rasterio.io import MemoryFile

    data = np.random.default_rng(0).integers(0, 255, (3, 96, 96)).astype(np.uint8) if data is None else data
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype)
    if crs:
        profile.update(crs=crs, transform=transform)
    import warnings

    with MemoryFile() as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio's note that the file has no geotransform: on purpose
        with mem.open(**profile) as dst:
            dst.write(data)
        return mem.read()


def _no_crs_tif(world) -> bytes:
    return _tif()


def _degrees_tif(world) -> bytes:
    from rasterio.transform import from_origin

    return _tif("EPSG:4326", from_origin(10, 50, 1e-4, 1e-4))


def _aoi(world, geometries) -> bytes:
    import geopandas as gpd

    path = world["tmp"] / "_aoi.gpkg"
    gpd.GeoDataFrame({"id": list(range(len(geometries)))}, geometry=list(geometries),
                     crs="EPSG:32618").to_file(path)
    data = path.read_bytes()
    path.unlink()
    return data


def _aoi_outside(world):
    from shapely.geometry import box

    return _aoi(world, [box(0, 0, 10, 10)])


def _aoi_null(world):
    return _aoi(world, [None, None])


def _aoi_empty(world):
    return _aoi(world, [])


def _header_edited(world, edit) -> bytes:
    """The tiny model's file with its safetensors header passed through ``edit`` (dict -> None)."""
    raw = world["model"].read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n:]


def _with_metadata(world, edit) -> bytes:
    """The tiny model's file with its rsdsva metadata passed through ``edit`` (a str -> str)."""
    def change(header):
        header["__metadata__"]["rsdsva"] = edit(header["__metadata__"]["rsdsva"])

    return _header_edited(world, change)


def _damaged_json(world):
    return _with_metadata(world, lambda meta: meta[:-40])


def _wrong_shape(world):
    def edit(meta):
        data = json.loads(meta)
        data["classes"]["attributes"].append("extra")  # one more attribute than the weights were made for
        for spec in data["classes"]["classes"].values():
            spec["vector"].append(0.0)
        return json.dumps(data)

    return _with_metadata(world, edit)


def _swapped_shape(world):
    """A 2-D weight's shape reversed in the file's header: the bytes fit, the shape does not."""
    def swap(header):
        name = next(k for k, v in header.items() if k != "__metadata__" and len(v["shape"]) == 2
                    and v["shape"][0] != v["shape"][1])
        header[name]["shape"] = header[name]["shape"][::-1]

    return _header_edited(world, swap)


def _image_folder(bad: bytes):
    def make(world):
        root = world["tmp"] / "images"
        for name in ("harbor", "beach"):
            (root / name).mkdir(parents=True, exist_ok=True)
            for i in range(2):
                (root / name / f"{name}{i}.jpg").write_bytes(JPEG.read_bytes())
        (root / "beach" / "broken.jpg").write_bytes(bad)
        return root

    return make


def _gcp_tiff(world) -> Path:
    """A GeoTIFF placed by four ground control points and no geotransform (as a scanned map is)."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    gcps = [GroundControlPoint(r, c, 500000 + c * 0.3, 4000000 - r * 0.3) for r in (0, 63) for c in (0, 63)]
    path = world["tmp"] / "g.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8") as dst:
        dst.write(np.zeros((3, 64, 64), np.uint8))
        dst.gcps = (gcps, CRS.from_epsg(32618))
    return path


def _huge_png(world) -> bytes:
    """A PNG whose header claims 20,000 x 20,000 pixels (a few hundred bytes on disk)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _fifo(name: str):
    def make(world):
        import os

        path = world["tmp"] / name
        os.mkfifo(path)  # reading it would wait forever for a writer
        return path

    return make


# nine aliases of nine aliases, nine levels deep: 9^9 values from a few lines
ALIAS_BOMB = YAML_HEAD + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'water'}]\n" for i in range(10)) + "classes: {x: *l9}\n"


# (id, files {name: bytes | str | maker(world)}, command line, a piece of the one line printed)
CASES = [
    # classes files, through `classes check` and `map --classes`
    ("classes-binary", {"c.yaml": b"\xff\xfe\x00\x81garbage\x00"}, "classes check {c.yaml} --model {model}", "is not UTF-8 text"),
    ("map-classes-binary", {"c.yaml": b"\xff\xfe\x00\x81garbage\x00"},
     "map {scene} --model {model} --classes {c.yaml} --out {o.gpkg}", "is not UTF-8 text"),
    ("classes-empty-csv", {"c.csv": ""}, "classes check {c.csv} --model {model}", "expected a header of attribute names"),
    ("classes-not-a-mapping", {"c.yaml": YAML_HEAD + "classes: hello\n"}, "classes check {c.yaml} --model {model}",
     "'classes' must map each class name to its attributes"),
    ("classes-a-word-model-vocabulary", {"c.yaml": "classes: hello\n"}, "classes check {c.yaml} --model {model}",
     "'classes' must map each class name"),
    ("classes-a-list", {"c.yaml": YAML_HEAD + "classes: [a, b]\n"}, "classes check {c.yaml} --model {model}",
     "'classes' must map each class name"),
    ("scale-a-word", {"c.yaml": YAML_HEAD + "scale: abc\nclasses: {x: [water]}\n"}, "classes check {c.yaml} --model {model}",
     "scale must be a positive number, got 'abc'"),
    ("scale-high", {"c.yaml": YAML_HEAD + "scale: high\nclasses: {x: [water]}\n"}, "classes check {c.yaml} --model {model}",
     "scale must be a positive number, got 'high'"),
    ("groups-a-list", {"c.yaml": YAML_HEAD + "groups: [a, b]\nclasses: {x: [water]}\n"}, "classes check {c.yaml} --model {model}",
     "'groups' must map each attribute to its group name"),
    ("value-above-scale", {"c.yaml": YAML_HEAD + "classes: {x: {water: 150}}\n"}, "classes check {c.yaml} --model {model}",
     "value 150 for 'water' is above the scale (100)"),
    ("seen-a-string", {"c.yaml": YAML_HEAD + "classes: {x: {vector: [water], seen: \"false\"}}\n"},
     "classes check {c.yaml} --model {model}", "seen must be true or false, got 'false'"),
    ("file-seen-a-string", {"c.yaml": YAML_HEAD + "seen: 'no'\nclasses: {x: [water]}\n"}, "classes check {c.yaml} --model {model}",
     "seen must be true or false, got 'no'"),
    # rasters
    ("truncated-geotiff", {"t.tif": _truncated_tif}, "map {t.tif} --model {model} --out {o.gpkg}",
     "cannot be read"),
    ("vrt-missing-source", {"v.vrt": _missing_source_vrt}, "map {v.vrt} --model {model} --out {o.gpkg}",
     "cannot be read"),
    ("missing-raster-before-model", {"m.safetensors": b"not a model at all"},
     "map {gone.tif} --model {m.safetensors} --out {o.gpkg}", "gone.tif"),
    # areas of interest
    ("aoi-outside", {"a.gpkg": _aoi_outside}, "map {scene} --model {model} --aoi {a.gpkg} --out {o.gpkg}",
     "does not overlap"),
    ("aoi-null-geometries", {"a.gpkg": _aoi_null}, "map {scene} --model {model} --aoi {a.gpkg} --out {o.gpkg}",
     "has no geometries"),
    ("aoi-empty", {"a.gpkg": _aoi_empty}, "map {scene} --model {model} --aoi {a.gpkg} --out {o.gpkg}",
     "has no geometries"),
    # model files
    ("model-text", {"m.safetensors": b"hello\n"}, "info {m.safetensors}", "not a safetensors model"),
    ("model-damaged-json", {"m.safetensors": _damaged_json}, "info {m.safetensors}", "metadata is damaged"),
    ("map-model-damaged-json", {"m.safetensors": _damaged_json},
     "map {scene} --model {m.safetensors} --out {o.gpkg}", "metadata is damaged"),
    ("model-classes-edited", {"m.safetensors": _wrong_shape}, "info {m.safetensors}",
     "its classes have 7 attributes, its weights 6"),
    ("model-wrong-shape", {"m.safetensors": _swapped_shape},
     "map {scene} --model {m.safetensors} --out {o.gpkg}", "weights do not fit the recorded architecture"),
    # explain's image
    ("explain-text", {"i.png": "just text\n"}, "explain {i.png} --model {model} --out {e.png}",
     "is not an image"),
    ("explain-garbage", {"i.jpg": bytes(range(256)) * 4}, "explain {i.jpg} --model {model} --out {e.png}",
     "is not an image"),
    ("explain-truncated-jpeg", {"i.jpg": JPEG.read_bytes()[:2000]},
     "explain {i.jpg} --model {model} --out {e.png}", "is not an image"),
    ("explain-float-tiff", {"i.tif": _float_tiff}, "explain {i.tif} --model {model} --out {e.png}",
     "8-bit"),
    # image folders
    ("from-images-corrupt-jpeg", {"images": _image_folder(JPEG.read_bytes()[:1500])},
     "attributes from-images --images {images} --model {model} --out {c.yaml}", "broken.jpg"),
    ("evaluate-corrupt-jpeg", {"images": _image_folder(b"\xff\xd8\xff garbage")},
     "evaluate {model} --data {images} --classes {model_classes.yaml}", "broken.jpg"),
    # training
    ("train-split-one-class", {"images": _image_folder(JPEG.read_bytes())},
     "train --data {images} --attributes ucm --split 2/0 --backbone tiny-vit --out {m2.safetensors}",
     "zero-shot needs at least one seen and one unseen class"),
    ("train-corrupt-image", {"images": _image_folder(JPEG.read_bytes()[:1500])},
     "train --data {images} --attributes ucm --split 1/1 --backbone tiny-vit --sampler shuffle --epochs 1 "
     "--out {m2.safetensors}", "broken.jpg is not an image"),  # raised in a DataLoader worker; no .work left
    # outputs that would replace an input or another output
    ("explain-onto-its-image", {"i.png": _png}, "explain {i.png} --model {model} --out {i.png} --overwrite",
     "is the image"),
    ("raster-onto-the-geopackage", {}, "map {scene} --model {model} --out {o.gpkg} --raster {o.gpkg}",
     "is also the --out output"),
    ("out-onto-the-aoi", {"a.gpkg": _aoi_null}, "map {scene} --model {model} --aoi {a.gpkg} --out {a.gpkg} "
     "--overwrite", "is the --aoi file"),
    ("from-map-empty-areas", {"a.gpkg": _aoi_empty},
     "classes from-map {scene} {a.gpkg} --model {model} --name-field id --out {c.yaml}", "the layer has no features"),
    # numbers from users
    ("calibration-nan", {}, "map {scene} --model {model} --calibration nan --out {o.gpkg}", "--calibration nan"),
    ("scale-empty-range", {}, "map {scene} --model {model} --scale 10,10 --out {o.gpkg}", "--scale 10,10"),
    ("context-fifty", {}, "map {scene} --model {model} --context 50 --out {o.gpkg}", "--context 50"),
    ("calibration-inf", {}, "map {scene} --model {model} --calibration inf --out {o.gpkg}", "--calibration inf"),
    ("scale-inverted", {}, "map {scene} --model {model} --scale 200,10 --out {o.gpkg}", "--scale 200,10"),
    # data loss (#37): an output onto an input, or over an earlier output without --overwrite
    ("train-out-exists", {"m.safetensors": b"an earlier model"},
     "train --data {tmp} --attributes ucm --out {m.safetensors}", "already exists; pass --overwrite"),
    ("train-out-onto-attributes", {"a.csv": "x,water\n"}, "train --data {tmp} --attributes {a.csv} --out {a.csv}",
     "is the --attributes file"),
    ("evaluate-report-onto-model", {}, "evaluate {model} --data {tmp} --attributes ucm --report {model}",
     "is the model"),
    ("evaluate-report-exists", {"r.json": "{}"}, "evaluate {model} --data {tmp} --attributes ucm --report {r.json}",
     "already exists; pass --overwrite"),
    ("evaluate-picture-exists", {"r.png": b"an earlier picture"},
     "evaluate {model} --data {tmp} --attributes ucm --report {r.json}", "r.png already exists; pass --overwrite"),
    ("from-map-out-onto-examples", {"e.json": '{"type": "FeatureCollection", "features": []}'},
     "classes from-map {scene} {e.json} --name-field kind --out {e.json}", "is the examples file"),
    ("from-images-out-onto-folder-map", {"f.yaml": "a: b\n"},
     "attributes from-images --images {tmp} --folder-map {f.yaml} --out {f.yaml}", "is the --folder-map file"),
    # hostile files (#37): an alias bomb, and inputs that are not regular files
    ("classes-alias-bomb", {"c.yaml": ALIAS_BOMB}, "classes check {c.yaml} --model {model}", "an alias bomb?"),
    ("map-classes-alias-bomb", {"c.yaml": ALIAS_BOMB}, "map {scene} --model {model} --classes {c.yaml} --out {o.gpkg}",
     "an alias bomb?"),
    ("folder-map-alias-bomb", {"f.yaml": "a: &a [b, b]\nb: &b [*a, *a]\n" + "".join(
        f"c{i}: &c{i} [" + ", ".join([f"*c{i - 1}" if i else "*b"] * 9) + "]\n" for i in range(10))},
     "attributes from-images --images {tmp} --folder-map {f.yaml} --model {model} --out {c.yaml}", "an alias bomb?"),
    ("raster-a-fifo", {"f.tif": _fifo("f.tif")}, "map {f.tif} --model {model} --out {o.gpkg}",
     "the input raster"),
    ("from-map-raster-a-fifo", {"f.tif": _fifo("f.tif"), "a.gpkg": _aoi_null},
     "classes from-map {f.tif} {a.gpkg} --model {model} --name-field id --out {c.yaml}", "is a FIFO (named pipe)"),
    ("aoi-a-fifo", {"a.gpkg": _fifo("a.gpkg")}, "map {scene} --model {model} --aoi {a.gpkg} --out {o.gpkg}",
     "the AOI file"),
    ("classes-a-fifo", {"c.yaml": _fifo("c.yaml")}, "classes check {c.yaml} --model {model}",
     "the classes file"),
    ("classes-dev-null", {}, "map {scene} --model {model} --classes /dev/null --out {o.gpkg}",
     "/dev/null is a device, not a file"),
    ("model-a-fifo", {"m.safetensors": _fifo("m.safetensors")}, "info {m.safetensors}",
     "is a FIFO (named pipe), not a file"),
    # numbers out of range (#37): refused where the setting is declared, for the CLI and Python alike
    ("tile-m-nan", {}, "map {scene} --model {model} --tile-m nan --out {o.gpkg}", "--tile-m nan: give a finite"),
    ("tile-m-inf", {}, "map {scene} --model {model} --tile-m inf --out {o.gpkg}", "--tile-m inf: give a finite"),
    ("from-map-tile-m-nan", {"a.gpkg": _aoi_null},
     "classes from-map {scene} {a.gpkg} --model {model} --name-field id --tile-m nan --out {c.yaml}", "--tile-m nan"),
    ("max-nodata-nan", {}, "map {scene} --model {model} --max-nodata nan --out {o.gpkg}", "--max-nodata nan: give"),
    ("raster-a-png", {}, "map {scene} --model {model} --out {o.gpkg} --raster {l.png}", "--raster"),
    ("class-name-with-semicolon", {"c.yaml": YAML_HEAD + "classes: {'a;b': [water]}\n"},
     "classes check {c.yaml} --model {model}", "holds ';', which separates"),
    ("class-name-empty", {"c.yaml": YAML_HEAD + "classes: {' ': [water]}\n"},
     "classes check {c.yaml} --model {model}", "class name ' ' is empty"),
    ("class-name-nul", {"c.json": '{"classes": {"a\\u0000b": ["water"]}, ' + '"attributes": ["water"]}'},
     "classes check {c.json} --model {model}", "holds a control character"),
    ("classes-a-list-as-key", {"c.yaml": YAML_HEAD + "classes: {[a, b]: [water]}\n"},
     "classes check {c.yaml} --model {model}", "a list as a key"),
    ("image-over-the-pixel-budget", {"big.png": _huge_png}, "explain {big.png} --model {model} --out {e.png}",
     "the 100,000,000 an image may have"),
    ("raster-by-gcps-only", {"g.tif": _gcp_tiff}, "map {g.tif} --model {model} --out {o.gpkg}",
     "georeferenced by 4 ground control points, not a grid; warp it onto one first: gdalwarp"),
    ("classes-recipe-damaged", {"c.yaml": YAML_HEAD + "feature_space: abc\nrecipe: nonsense\n"
                                "classes: {x: {vector: [water], features: [[0.6, 0.8]]}}\n"},
     "classes check {c.yaml} --model {model}", "c.yaml: example recipe 'nonsense' is not LAYER"),
    ("pick-unknown-library-class", {}, "classes pick zzqqxx --out {p.yaml}",
     "unknown class 'zzqqxx'; the classes are airplane"),
    ("out-dir-missing", {}, "map {scene} --model {model} --out-dir {nodir}", "--out-dir"),
    ("calibration-huge", {}, "map {scene} --model {model} --calibration 1e308 --out {o.gpkg}",
     "--calibration 1e+308: give a number from -1000 to 1000"),
    ("explain-tile-no-crs", {"n.tif": _no_crs_tif}, "explain {n.tif} --tile 1,1 --model {model} --out {e.png}",
     "has no CRS, so explain cannot lay out the map's grid on it by itself; map it with rsdsva map"),
    ("explain-tile-degrees", {"d.tif": _degrees_tif}, "explain {d.tif} --tile 1,1 --model {model} --out {e.png}",
     "is not in a projected CRS, so explain cannot lay out the map's grid on it by itself"),
    ("scheduler-malformed", {}, "map {scene} --model {model} --scheduler nonsense --out {o.gpkg}",
     "--scheduler nonsense: not a scheduler address"),
]


# the same promise from Python: (id, a call, the error class and a piece of its message)
API_CASES = [
    ("split-with-no-unseen", lambda: parse_split("1/0", 1), DatasetError, "at least one seen and one unseen class"),
    ("an-epoch-with-no-batches", lambda: TrainConfig(max_batches=0), ConfigError, "max_batches 0: give a whole"),
    ("zero-shots", lambda: TrainConfig(shots=0), ConfigError, "shots 0"),
    ("no-batch", lambda: MapSettings(batch_size=0), ConfigError, "`batch_size` 0: give a whole number"),
    ("no-top-k", lambda: MapSettings(top_k=0), ConfigError, "`top_k` 0: give a whole number"),
    ("tile-m-inf", lambda: MapSettings(tile_m=float("inf")), ConfigError, "`tile_m` inf"),
    ("max-nodata-two", lambda: MapSettings(max_nodata=2.0), ConfigError, "`max_nodata` 2.0: give a share"),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_values_from_python_are_one_clear_error(case):
    _, call, error, message = case
    with pytest.raises(error, match=re.escape(message)):
        call()


def _sha(path: Path) -> str:
    if path.is_fifo():
        return "a FIFO"
    if path.is_dir():
        return "".join(_sha(p) for p in sorted(path.rglob("*")) if p.is_file())
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def world(make_geotiff, tiny_checkpoint, tmp_path):
    scene = make_geotiff(shape=(64, 64), name="scene.tif")
    classes = tmp_path / "model_classes.yaml"  # harbor: a class the tiny model did not train on
    classes.write_text(YAML_HEAD + "classes: {harbor: {vector: [water, boats], seen: false}}\n")
    return {"scene": scene, "model": tiny_checkpoint, "model_classes.yaml": classes, "tmp": tmp_path}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_loses_nothing(case, world):
    _, files, line, expect = case
    tmp = world["tmp"]
    paths = {k: str(v) for k, v in world.items()}
    for name, content in files.items():
        value = content(world) if callable(content) else content
        path = value if isinstance(value, Path) else tmp / name
        if isinstance(value, bytes):
            path.write_bytes(value)
        elif isinstance(value, str):
            path.write_text(value)
        paths[name] = str(path)
    before = {p: _sha(p) for p in tmp.iterdir()}
    argv = [re.sub(r"\{([^}]+)\}", lambda m: paths.get(m[1], str(tmp / m[1])), part) for part in line.split()]
    if argv[0] == "map":
        argv += ["--progress", "none"]
    result = CliRunner().invoke(cli, argv)
    lines = [ln for ln in result.output.splitlines() if ln.strip() and not ln.startswith("Warning:")]
    assert result.exit_code == 1 and len(lines) == 1, result.output + repr(result.exception)
    assert expect in lines[0]
    assert {p: _sha(p) for p in tmp.iterdir()} == before  # inputs untouched, nothing written or left


def test_an_unreachable_scheduler_is_one_line(world, monkeypatch):
    from rsdsva.mapping import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1)
    out = world["tmp"] / "o.gpkg"
    result = CliRunner().invoke(cli, ["map", str(world["scene"]), "--model", str(world["model"]), "--progress", "none",
                                      "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)])
    assert result.exit_code == 1 and "--scheduler tcp://127.0.0.1:9: no Dask scheduler answered" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


class _OnnxRuntimeFailure(Exception):
    """What ONNX Runtime raises: not a RuntimeError, from its own module."""


_OnnxRuntimeFailure.__module__ = "onnxruntime.capi.onnxruntime_pybind11_state"


@pytest.mark.parametrize("failure", [
    MemoryError("Unable to allocate 108. MiB for an array with shape (64, 3, 768, 768) and data type uint8"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to "
                 "allocate 1073741824 bytes"),
    _OnnxRuntimeFailure("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested "
                        "buffer of size 411041792"),
], ids=["numpy", "torch", "onnxruntime"])
def test_running_out_of_memory_is_one_line_naming_the_batch_size(world, monkeypatch, failure):
    from rsdsva.mapping import pipeline

    def plan(*args, **kwargs):
        raise failure

    monkeypatch.setattr(pipeline, "plan_map", plan)
    out = world["tmp"] / "o.gpkg"
    result = CliRunner().invoke(cli, ["map", str(world["scene"]), "--model", str(world["model"]), "--progress", "none",
                                      "--out", str(out)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("Error: out of memory in rsdsva map (") and "--batch-size" in result.output
    assert not out.exists()


def test_other_runtime_errors_are_not_called_memory(world, monkeypatch):
    from rsdsva.mapping import pipeline

    def plan(*args, **kwargs):
        raise RuntimeError("something else broke")

    monkeypatch.setattr(pipeline, "plan_map", plan)
    result = CliRunner().invoke(cli, ["map", str(world["scene"]), "--model", str(world["model"]), "--progress", "none",
                                      "--out", str(world["tmp"] / "o.gpkg")])
    assert isinstance(result.exception, RuntimeError) and "out of memory" not in result.output


def test_a_second_signal_while_stopping_does_not_break_the_cleanup(world, monkeypatch):
    """Ctrl-C, then SIGTERM while the run removes its temporaries: still one line and exit 130, the
    cleanup finished, no traceback."""
    import os
    import signal
    import time

    from rsdsva.mapping import pipeline

    cleaned = []

    def plan(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the signal arrives here
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # impatient: a second one during the cleanup
            time.sleep(0.2)
            cleaned.append(True)

    monkeypatch.setattr(pipeline, "plan_map", plan)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = CliRunner().invoke(cli, ["map", str(world["scene"]), "--model", str(world["model"]),
                                          "--progress", "none", "--out", str(world["tmp"] / "o.gpkg")])
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    assert result.exit_code == 130 and cleaned == [True], result.stderr
    assert result.stderr.splitlines() == ["Still stopping: removing temporary files, one moment",
                                          "Interrupted (SIGINT): stopped, no partial output left"]


def test_rasters_without_georeferencing_or_with_nan_say_only_rsdsva_s_warnings(world):
    """A raster without a CRS mapped under --allow-no-crs, and a float raster with NaN pixels: the only
    warnings are rsdsva's own lines, not rasterio's or numpy's."""
    tmp = world["tmp"]
    (tmp / "n.tif").write_bytes(_no_crs_tif(world))
    data = np.random.default_rng(1).normal(0, 1, (3, 64, 64)).astype(np.float32)
    data[0, :10, :10] = np.nan
    from rasterio.transform import from_origin

    (tmp / "f.tif").write_bytes(_tif("EPSG:32618", from_origin(500000, 4000000, 0.3, 0.3), data))
    for name, extra, said in (("n.tif", ["--allow-no-crs", "--attention-raster", str(tmp / "a.tif")],
                               "has no CRS (--allow-no-crs): the map's tiles are placed in its pixel units"),
                              ("f.tif", [], "values stretched to 0-255")):
        result = CliRunner().invoke(cli, ["map", str(tmp / name), "--model", str(world["model"]), "--tile-size", "32",
                                          "--progress", "none", "--out", str(tmp / f"{name}.gpkg"), "--raster",
                                          str(tmp / f"{name}.labels.tif"), *extra])
        assert result.exit_code == 0, result.output
        warned = [ln for ln in result.output.splitlines() if ln.startswith("Warning:")]
        assert len(warned) == 1 and said in warned[0], result.output


def test_explain_takes_a_map_of_a_raster_without_a_crs(world):
    tmp = world["tmp"]
    (tmp / "n.tif").write_bytes(_no_crs_tif(world))
    common = ["--model", str(world["model"])]
    made = CliRunner().invoke(cli, ["map", str(tmp / "n.tif"), *common, "--allow-no-crs", "--tile-size", "32",
                                    "--progress", "none", "--out", str(tmp / "m.gpkg")])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(cli, ["explain", str(tmp / "n.tif"), *common, "--map", str(tmp / "m.gpkg"), "--tile",
                                      "1,1", "--out", str(tmp / "e.png")])
    assert result.exit_code == 0 and (tmp / "e.png").exists(), result.output
