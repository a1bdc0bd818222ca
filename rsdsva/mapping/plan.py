"""Everything a map decides before its first tile is read: checked inputs, the grid, and the
classifier loading meanwhile (``plan_map``)."""

from __future__ import annotations

import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from rsdsva.errors import ClassSpaceError, RsdsvaWarning
from rsdsva.inference import ClassifierSettings
from rsdsva.mapping.background import done, in_background, settled_on_error
from rsdsva.mapping.grid import Grid, aoi_area, check_tile_count
from rsdsva.mapping.raster import RasterSpec
from rsdsva.mapping.settings import MapSettings, OutputSettings
from rsdsva.mapping.source import TileSource, open_tile_source, travelled
from rsdsva.models.model_file import default_model_path


@dataclass
class MapPlan:
    """Everything decided before the first tile is read (checked inputs, grid, classifier).

    The classifier is built in a background thread while the raster is checked and
    the first tiles are read; ``classifier`` waits for it (and raises its errors).
    """

    raster: Path
    model_path: Path
    source: TileSource  # the raster's grid and how its tiles are read
    loading: Future  # of the Classifier
    tiles: list
    calibration: float
    attention_names: list[str]
    attention_index: list[int]
    scales: tuple[float, ...] = (1.0,)  # the windows read around each tile (context and example recipes)
    input_size: int | None = None  # the readers resize windows to the model's input (the ONNX engine's)
    batch_size: int = 64  # tiles per forward pass: the settings', else the engine's

    @property
    def spec(self) -> RasterSpec:
        return self.source.spec

    @property
    def grid(self) -> Grid:
        """The tile size and stride over the raster's pixels."""
        return self.source.grid

    @property
    def classifier(self):
        return self.loading.result()


def map_inputs(settings: MapSettings) -> dict[str, str | None]:
    """The files a map reads besides its raster, by the flag naming them."""
    c = settings.classifier
    return {"the `aoi` file": settings.grid.aoi, "the `classes` file": c.classes, "the `model` file": c.model}


def plan_map(raster: Path, settings: MapSettings, built=None) -> MapPlan:
    """Open and validate the raster, build the tile grid; ``built`` reuses a classifier already
    built for ``settings.classifier`` (:func:`rsdsva.predict.build_classifier`).

    A classes file from example areas records how its examples were read (footprint, bands,
    stretch, nodata): the map reads its raster the same way where its own flags are not given,
    and refuses those that contradict it (:func:`rsdsva.mapping.source.travelled`).
    Without ``built`` the model is loaded in a background thread (see :class:`MapPlan`);
    the grid needs only the model file's header.
    """
    from rsdsva.engines import batch_size_for, choose_engine, input_size_for
    from rsdsva.engines.forms import fixed_batch
    from rsdsva.inference import window_scales
    from rsdsva.mapping.raster import open_raster
    from rsdsva.models.model_file import read_model_info

    c = settings.classifier
    model_path = Path(c.model) if c.model else default_model_path()
    with open_raster(raster, settings.read.allow_no_crs) as src:  # a missing or unreadable raster fails first, at once
        info = built.info if built else read_model_info(model_path)  # then a missing or damaged model file
        # an engine that cannot run here (torch or ONNX Runtime missing, no ONNX form) fails here
        engine, runs = ((built.engine.name, None) if built else
                        choose_engine(c.engine, model_path, c.device, c.precision))
        extra, record = _extra_classes(c.classes, info)  # and a bad classes file, all before any read
        if src.crs is None:
            warnings.warn(f"{raster} has no CRS (`allow_no_crs`): the map's tiles are placed in its pixel units, and "
                          "its outputs carry no CRS", RsdsvaWarning, stacklevel=3)
        grid, read = travelled(src, settings.grid, settings.read, record, f"the `classes` file {c.classes}")
        scales = window_scales(c, extra)
        similarity = settings.output.similarity
        if similarity and (extra is None or not extra.has_examples.any() or c.example_route != "examples"):
            raise ClassSpaceError(f"`similarity` {similarity}: there are no classes from example areas to "
                                  "compare tiles with; give `classes` FILE made by rsdsva classes from-map")
        loading = done(built) if built else in_background(lambda: _build(c, extra))  # the file is read once
        with settled_on_error(loading):  # the model loads while the grid is laid out
            source = open_tile_source(raster, grid, read, info.tile_m, src)
            spectra = extra.examples.spectra if extra is not None and extra.examples is not None else None
            if spectra is not None and c.example_route == "examples":
                source = source.with_spectra(spectra, f"make the classes again from {raster.name} with "
                                                            "rsdsva classes from-map, or with `spectra` 0", src)
            names, index = _attention_attributes(info, settings.output)
            area = aoi_area(grid.aoi, raster, source.spec) if grid.aoi else None
            tiles = source.tiles(area)
            if area is not None:
                check_tile_count(raster, len(tiles), source.grid.size, source.grid.stride, grid.max_tiles)
    return MapPlan(raster, model_path, source, loading, tiles, c.calibration_for(info), names,
                   index, scales, input_size_for(engine, info),
                   batch_size_for(engine, settings.read.batch_size,
                                  built.engine.fixed_batch if built else fixed_batch(runs)))


def _extra_classes(path: str | None, info):
    """The classes file ``path`` over the model's vocabulary, flagged unseen, and how its examples were read."""
    from rsdsva.mapping.record import classes_and_record

    if not path:
        return None, None
    classes, record = classes_and_record(path, info.classes.attributes)
    return classes.with_seen(False), record


def _build(settings: ClassifierSettings, extra):
    from rsdsva.predict import build_classifier

    return build_classifier(settings, extra=extra)


def _attention_attributes(info, settings: OutputSettings) -> tuple[list[str], list[int]]:
    """Names and indexes of the attributes whose attention maps go to the attention raster."""
    from rsdsva.classes import did_you_mean

    if not settings.attention_raster:
        return [], []
    if not info.dsva.prototypes:
        raise ClassSpaceError("this model has no attribute prototypes, so no attention maps; drop `attention_raster`")
    vocab = list(info.classes.attributes)
    names = list(settings.attention_attributes or vocab[:3])
    for n in names:
        if n not in vocab:
            raise ClassSpaceError(f"`attention_attributes`: unknown attribute {n!r}{did_you_mean(n, vocab)}")
    return names, [vocab.index(n) for n in names]
