"""Everything a map decides before its first tile is read: checked inputs, the grid, and the
classifier loading meanwhile (``plan_map``)."""

from __future__ import annotations

import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from rsdsva.errors import ClassSpaceError, RsdsvaWarning
from rsdsva.mapping.background import done, in_background, settled_on_error
from rsdsva.mapping.grid import Grid, aoi_area, check_grid, check_tile_count, tile_pixels, tiles_in
from rsdsva.mapping.settings import MapSettings, OutputSettings, ReadSettings
from rsdsva.models.info import default_model_path


@dataclass
class MapPlan:
    """Everything decided before the first tile is read (checked inputs, grid, classifier).

    The classifier is built in a background thread while the raster is checked and
    the first tiles are read; ``classifier`` waits for it (and raises its errors).
    """

    raster: Path
    model_path: Path
    spec: object  # RasterSpec
    loading: Future  # of the Classifier
    tiles: list
    grid: Grid  # the tile size and stride over the raster's pixels
    calibration: float
    attention_names: list[str]
    attention_index: list[int]
    scales: tuple[float, ...] = (1.0,)  # the windows read around each tile (context and example recipes)
    input_size: int | None = None  # the readers resize windows to the model's input (the ONNX engine's)

    @property
    def classifier(self):
        return self.loading.result()


def map_inputs(settings: MapSettings) -> dict[str, str | None]:
    """The files a map reads besides its raster, by the flag naming them."""
    return {"the --aoi file": settings.aoi, "the --classes file": settings.classes, "the --model file": settings.model}


def plan_map(raster: Path, settings: MapSettings, built=None) -> MapPlan:
    """Open and validate the raster, build the tile grid; ``built`` reuses a classifier already
    built for ``settings.classifier`` (:func:`rsdsva.predict.build_classifier`).

    Without ``built`` the model is loaded in a background thread (see :class:`MapPlan`);
    the grid needs only the model file's header.
    """
    from rsdsva.engines import choose_engine
    from rsdsva.inference import load_extra_classes, window_scales
    from rsdsva.mapping.raster import iter_windows, make_spec, open_raster
    from rsdsva.models.info import read_model_info

    model_path = Path(settings.model) if settings.model else default_model_path()
    grid, read = settings.grid, settings.read
    with open_raster(raster, read.allow_no_crs) as src:  # a missing or unreadable raster fails first, at once
        info = built.info if built else read_model_info(model_path)  # then a missing or damaged model file
        # an engine that cannot run here (torch or ONNX Runtime missing, no ONNX form) fails here
        engine = built.engine.name if built else choose_engine(settings.classifier.engine, model_path,
                                                               settings.classifier.device,
                                                               settings.classifier.precision)[0]
        extra = load_extra_classes(settings.classifier, info)  # and a bad classes file, all before any read
        scales = window_scales(settings.classifier, extra)
        if settings.similarity and (extra is None or not extra.has_examples.any()
                                    or settings.example_route != "examples"):
            raise ClassSpaceError(f"--similarity {settings.similarity}: there are no classes from example areas to "
                                  "compare tiles with; give --classes FILE made by rsdsva classes from-map")
        loading = done(built) if built else in_background(lambda: _build(settings))
        with settled_on_error(loading):  # the model loads while the grid is laid out
            spec = make_spec(src, read.bands, read.scale, read.nodata)
            _note_choices(raster, src, spec, read)
            size, stride = tile_pixels(src, grid, info.tile_m)
            check_grid(raster, src, grid, size, stride, info.tile_m, read.max_nodata)
            names, index = _attention_attributes(info, settings.output)
            area = aoi_area(grid.aoi, raster, spec) if grid.aoi else None
            if area is None:
                tiles = list(iter_windows(src.width, src.height, size, stride))
            else:
                tiles = tiles_in(area, spec, src.width, src.height, size, stride)
                check_tile_count(raster, len(tiles), size, stride, grid.max_tiles)
    return MapPlan(raster, model_path, spec, loading, tiles, Grid(src.width, src.height, size, stride),
                   settings.classifier.calibration_for(info), names, index, scales,
                   info.preprocessing.image_size if engine == "onnx" else None)


def _build(settings: MapSettings):
    from rsdsva.predict import build_classifier

    return build_classifier(settings.classifier)


def _note_choices(raster: Path, src, spec, settings: ReadSettings) -> None:
    """One line on stderr (a warning) for each reading choice made for the user that changes the pixels."""
    if settings.bands is None and (src.count != 3 or tuple(spec.bands) != (1, 2, 3)):
        warnings.warn(f"{raster}: using bands {','.join(map(str, spec.bands))} of {src.count} as red, green, blue; "
                      "--bands to choose others", RsdsvaWarning, stacklevel=3)
    if settings.scale is None and spec.low is not None:
        ranges = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in zip(spec.low, spec.high))
        warnings.warn(f"{raster}: {src.dtypes[0]} values stretched to 0-255 from each band's 2-98 % range "
                      f"({ranges}); --scale MIN,MAX to fix it", RsdsvaWarning, stacklevel=3)


def _attention_attributes(info, settings: OutputSettings) -> tuple[list[str], list[int]]:
    """Names and indexes of the attributes whose attention maps go to the attention raster."""
    from rsdsva.classes import did_you_mean

    if not settings.attention_raster:
        return [], []
    if not info.dsva.prototypes:
        raise ClassSpaceError("this model has no attribute prototypes, so no attention maps; drop --attention-raster")
    vocab = list(info.classes.attributes)
    names = list(settings.attention_attributes or vocab[:3])
    for n in names:
        if n not in vocab:
            raise ClassSpaceError(f"--attention-attributes: unknown attribute {n!r}{did_you_mean(n, vocab)}")
    return names, [vocab.index(n) for n in names]
