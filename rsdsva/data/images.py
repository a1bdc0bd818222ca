"""Image folders and image files without torch (the light install's explain and class vectors
from example images): scanning a folder of class sub-folders, and reading one image as 8-bit RGB."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from rsdsva.classes import ClassSpace
from rsdsva.data.names import KNOWN_FOLDER_MAPS
from rsdsva.errors import DatasetError, MissingFileError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


@dataclass(frozen=True)
class Sample:
    """One image: where it is (a path, or an index into a torchgeo dataset) and its class."""

    source: str | int
    label: str


def scan_image_folder(
    root: str | Path,
    classes: ClassSpace | None = None,
    folder_map: Mapping[str, str] | str | None = None,
) -> list[Sample]:
    """Samples of a folder with one sub-folder of images per class.

    Args:
        root: the folder (e.g. ``../shared/data/ucm``).
        classes: when given, every folder must map to one of its classes.
        folder_map: folder name -> class name; a known name (``ucm``, ``aid``), a YAML or
            JSON file of ``folder: class`` pairs, or None to use folder names as they are.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"image folder not found: {root}; give a folder with one sub-folder per class")
    if isinstance(folder_map, str):
        folder_map = folder_map_of(folder_map)
    folder_map = dict(folder_map or {})
    samples: list[Sample] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder_map.get(folder.name, folder.name)
        if classes is not None and name not in classes.names:
            raise DatasetError(
                f"{folder}: class {name!r} is not in the attribute file; map the folder name to a class "
                "(folder_map, or --folder-map ucm|aid)"
            )
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        samples += [Sample(str(f), name) for f in files]
    if not samples:
        raise DatasetError(f"{root}: no images found in class sub-folders ({', '.join(IMAGE_SUFFIXES)})")
    return samples


def folder_map_of(spec: str) -> dict[str, str]:
    """A known folder map by name, or a YAML/JSON file of ``folder: class`` pairs."""
    if spec in KNOWN_FOLDER_MAPS:
        return dict(KNOWN_FOLDER_MAPS[spec])
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
        import yaml  # JSON is YAML

        from rsdsva._io import yaml_loader

        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml_loader())
        except yaml.YAMLError as err:
            raise DatasetError(f"{path}: not a readable folder map ({str(err).splitlines()[0]})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise DatasetError(f"{path}: a folder map is a mapping of folder names to class names")
        return {str(k): v for k, v in data.items()}
    raise DatasetError(f"unknown folder map {spec!r}; use one of {sorted(KNOWN_FOLDER_MAPS)} or a YAML/JSON file "
                       "of folder: class pairs")


def images_by_class(
    root: str | Path, folder_map: Mapping[str, str] | str | None = None, max_images: int | None = None,
    seed: int = 0,
) -> dict[str, list[str]]:
    """class -> image paths of a folder with one sub-folder per class; with ``max_images``, a
    sample of that many per class drawn with ``seed`` (in name order), not the first by name."""
    out: dict[str, list[str]] = {}
    for s in scan_image_folder(root, None, folder_map):
        out.setdefault(s.label, []).append(str(s.source))
    if max_images is not None:
        rng = np.random.default_rng(seed)
        for name, paths in out.items():
            if len(paths) > max_images:
                keep = sorted(rng.choice(len(paths), size=max_images, replace=False))
                out[name] = [paths[i] for i in keep]
    return out




# an image of more pixels is refused before it is decoded (a scene belongs to rsdsva map; a small
# file can claim billions of pixels)
MAX_IMAGE_PIXELS = 100_000_000


def check_image_size(path: str) -> None:
    """Refuse an image of more than :data:`MAX_IMAGE_PIXELS` from its header, before decoding it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError:
        width = height = MAX_IMAGE_PIXELS  # PIL's own limit is above ours
    except (UnidentifiedImageError, OSError, ValueError):
        return  # read_pixels says what is wrong with it
    if width * height > MAX_IMAGE_PIXELS:
        if width == height == MAX_IMAGE_PIXELS:
            raise DatasetError(f"{path} has more pixels than the {MAX_IMAGE_PIXELS:,} an image may have; map a scene "
                               "with rsdsva map, or shrink the image")
        raise DatasetError(f"{path} has {width} x {height} pixels, more than the {MAX_IMAGE_PIXELS:,} an image may "
                           "have; map a scene with rsdsva map, or shrink the image")


def read_pixels(path: str) -> np.ndarray:
    """An 8-bit RGB image as a uint8 array (3, H, W); one :class:`DatasetError` line naming the file
    when it is not one (not an image, cut short, too large, or of float or 16-bit pixels)."""
    from PIL import Image, UnidentifiedImageError

    check_image_size(path)
    try:
        im = Image.open(path)
        im.load()
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DatasetError(f"{path} is not an image rsdsva can read ({str(err).splitlines()[0][:100]}); replace "
                           "it with a PNG, JPEG or 8-bit TIFF, or remove it") from None
    with im:
        if im.mode in ("F", "I") or im.mode.startswith("I;"):
            raise DatasetError(f"{path} has {im.mode} pixels (float or 16-bit); images are read as 8-bit RGB: "
                               "convert it (gdal_translate -ot Byte -scale), or map a GeoTIFF with rsdsva map")
        return np.ascontiguousarray(np.asarray(im.convert("RGB")).transpose(2, 0, 1))
