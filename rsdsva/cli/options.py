"""Click options shared by several commands, written once."""

from __future__ import annotations

import json
import re
import signal
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import click

from rsdsva.data.names import KNOWN_FOLDER_MAPS
from rsdsva.errors import RsdsvaError
from rsdsva.engines.registry import ENGINES, PRECISIONS
from rsdsva.inference import DEVICES, EXAMPLE_ROUTES, MODES, ClassifierSettings


_SETTING = re.compile(r"`([a-z][a-z0-9_]*)`")


def in_flags(text: str) -> str:
    """A library message in the CLI's words: each setting it names in backticks (`tile_m`) becomes
    the flag that sets it (--tile-m), as the commands' own options declare it. The one place the
    CLI turns settings into flags; a Python caller reads the setting's name."""
    flags = _flags()
    return _SETTING.sub(lambda m: flags.get(m.group(1), m.group(0)), text)


def _flags() -> dict[str, str]:
    """Each option's name -> its first long flag, over every command of the running CLI."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return {}
    out: dict[str, str] = {}
    todo = [ctx.find_root().command]
    while todo:
        command = todo.pop()
        for param in command.params:
            long = [o for o in param.opts if o.startswith("--")] if isinstance(param, click.Option) else []
            if long and param.name:
                out.setdefault(param.name, long[0])
        todo += list(getattr(command, "commands", {}).values())
    return out


def reported(progress: str, run: Callable[[], None]) -> None:
    """``run()``; with ``--progress json``, its errors and its cancellation are JSON events on stderr too,
    said once (the QGIS plugin reads them)."""
    if progress != "json":
        return run()
    try:
        return run()
    except RsdsvaError as err:
        click.echo(json.dumps({"event": "error", "message": in_flags(str(err))}), err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt as err:
        name = signal.Signals(getattr(err, "signum", signal.SIGINT)).name
        click.echo(json.dumps({"event": "cancelled", "signal": name}), err=True)
        err.reported = True
        raise


@contextmanager
def progress_reporter(progress: str, desc: str) -> Iterator[Callable[[dict], None]]:
    """A function for a job's progress dicts (``done``, ``total``, ``skipped``): one JSON line each on
    stderr (``json``), a bar (``bar``: made at the first tile done, so that an input error, or the
    grid's size before the model loads, stays one line), or nothing (``none``)."""
    bar = None

    def report(p: dict) -> None:
        nonlocal bar
        if progress == "json":
            click.echo(json.dumps({"event": "progress", **p}), err=True)
        elif progress == "bar":
            if bar is None and not p["done"]:
                return
            if bar is None:
                from tqdm.auto import tqdm

                bar = tqdm(unit="tile", desc=desc, file=sys.stderr, total=p["total"])
            if "skipped" in p:
                bar.set_postfix(skipped=p["skipped"], refresh=False)
            bar.update(p["done"] - bar.n)  # update() keeps tqdm's tiles/s honest

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()


def plural(n: int, word: str) -> str:
    """``1 class``, ``2 classes``: counts in messages."""
    return f"{n} {word if n == 1 else word + 'es' if word.endswith(('s', 'x', 'sh', 'ch')) else word + 's'}"


class SectionedCommand(click.Command):
    """A command whose --help lists its options under headings (``sections``: heading -> the
    options' first flags); options in no section come last, under "Other options"."""

    def __init__(self, *args, sections: dict[str, tuple[str, ...]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections or {}

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {p.opts[0]: p.get_help_record(ctx) for p in self.get_params(ctx) if isinstance(p, click.Option)}
        placed = set()
        for heading, flags in self.sections.items():
            rows = [records[f] for f in flags if records.get(f)]
            placed.update(flags)
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)
        rest = [r for f, r in records.items() if f not in placed and r]
        if rest:
            with formatter.section("Other options"):
                formatter.write_dl(rest)


def numbers(kind, n=None):
    """A click callback: ``1,2,3`` as a tuple of ``kind`` (``n`` of them, when given)."""
    def convert(ctx, param, value):
        if value is None:
            return None
        try:
            parts = tuple(kind(v) for v in value.split(","))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
        if n is not None and len(parts) != n:
            raise click.BadParameter(f"{value!r}: give {n} numbers")
        return parts

    return convert


def read_options(f):
    """--bands --scale --nodata: how a raster's values are read, the same for every command that reads tiles."""
    options = [
        click.option("--bands", callback=numbers(int), default=None,
                     help="1-based bands read as red, green, blue, e.g. 4,3,2 (default: by colour interpretation or "
                          "band names such as red or B04, else Sentinel-2's order for 13 or 12 undescribed bands, else "
                          "the first three; a classes file's, where it records them)."),
        click.option("--scale", callback=numbers(float, 2), default=None,
                     help="MIN,MAX linear stretch for non-uint8 data (default: each band's 2-98 % range)."),
        click.option("--nodata", type=float, default=None, help="Nodata value (overrides the file's)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def orientations_option(default: int | None, help: str):
    """--orientations, one of :data:`rsdsva.examples.recipe.ORIENTATIONS`, as an int (None: not given)."""
    from rsdsva.examples.recipe import ORIENTATIONS

    return click.option("--orientations", type=click.Choice([str(n) for n in ORIENTATIONS]),
                        default=None if default is None else str(default), show_default=default is not None,
                        callback=lambda c, p, v: None if v is None else int(v), help=help)


device_option = click.option(
    "--device", type=click.Choice(DEVICES), default=ClassifierSettings.device, show_default=True,
    help="Where the model runs; auto uses CUDA when present.",
)
engine_option = click.option(
    "--engine", type=click.Choice(ENGINES), default=ClassifierSettings.engine, show_default=True,
    help="What runs the network: onnx (ONNX Runtime on the CPU, no torch needed; about three times torch's speed "
         "there), torch (GPUs, autocast), or auto: torch on a GPU or with --precision fp16/bf16, else onnx where the "
         "model has an ONNX form (rsdsva export), else torch.",
)

precision_option = click.option(
    "--precision", "--amp", "precision", type=click.Choice(["float32", *(p for p in PRECISIONS if p)]),
    default="float32", show_default=True, callback=lambda c, p, v: None if v == "float32" else v,
    help="int8: the model's int8 ONNX form on ONNX Runtime (rsdsva export --int8; the default model ships one); "
         "fp16 or bf16: torch's autocast, on CUDA, or bf16 on a CPU with AVX512-BF16/AMX.",
)


def classifier_options(f):
    """The options that shape a classifier (``rsdsva.inference.ClassifierSettings``), the same
    for every command that classifies: --model --classes --held-out --mode --calibration
    --example-route --device --engine --precision."""
    options = [
        click.option("--model", type=click.Path(dir_okay=False), default=None,
                     help="Model file (default: the embedded model)."),
        click.option("--classes", type=click.Path(dir_okay=False), default=None,
                     help="Unseen classes file (YAML/JSON/CSV)."),
        click.option("--held-out/--no-held-out", default=ClassifierSettings.held_out, show_default=True,
                     help="Also name the classes the model was evaluated on as unseen (recorded in the model)."),
        click.option("--mode", type=click.Choice(MODES), default=ClassifierSettings.mode, show_default=True,
                     help="Rank all classes (gzsl), only the unseen ones (zsl), or only the model's seen ones."),
        click.option("--calibration", type=float, default=None,
                     help="Lambda subtracted from the seen classes' scores in gzsl (default: the model's lambda "
                          "for prediction, which rsdsva info shows; a larger lambda gives unseen classes more tiles)."),
        click.option("--example-route", type=click.Choice(EXAMPLE_ROUTES), default=ClassifierSettings.example_route,
                     show_default=True, help="Classes from example areas (rsdsva classes from-map): ranked by "
                                             "their nearest example tile or by their attribute vector."),
        device_option,
        engine_option,
        precision_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def tiling_options(f):
    """How a raster is cut and read, the same for every command that maps one (``map``, ``change``):
    --tile-size --stride --tile-m --context --orientations, the read options, --max-nodata --aoi
    --batch-size --read-threads --allow-no-crs --allow-small-tiles --max-tiles --overwrite."""
    from rsdsva.mapping.settings import DEFAULT_CONTEXT, DEFAULT_ORIENTATIONS, GridSettings, ReadSettings

    options = [
        click.option("--tile-size", type=click.IntRange(1), default=None, help="Tile size in pixels (default: from --tile-m)."),
        click.option("--stride", type=click.IntRange(1), default=None, help="Stride in pixels (default: the tile size)."),
        click.option("--tile-m", type=click.FloatRange(0, min_open=True), default=None,
                     help="Tile footprint in metres  [default: the model's training footprint, which rsdsva info shows]"),
        click.option("--context", callback=numbers(float), default=",".join(f"{c:g}" for c in DEFAULT_CONTEXT),
                     show_default=True,
                     help="Classify each tile from windows this many times its size, centred on it, their probabilities "
                          "averaged (its label still covers the tile alone); 1 is the tile alone, the fastest."),
        orientations_option(DEFAULT_ORIENTATIONS,
                            "Also score each window mirrored (2) or in every quarter turn, mirrored or not (8), their "
                            "probabilities averaged with the windows'; each multiplies the time. 1: as read, the fastest."),
        read_options,
        click.option("--max-nodata", type=click.FloatRange(0, 1), default=ReadSettings.max_nodata, show_default=True,
                     help="Skip tiles with more nodata."),
        click.option("--aoi", type=click.Path(dir_okay=False), default=None, help="Vector file restricting the grid."),
        click.option("--batch-size", type=click.IntRange(1), default=None,
                     help="Tiles per forward pass; memory grows with it, not with the raster. [default: the "
                          "engine's: 8 on ONNX Runtime, 64 on torch]"),
        click.option("--read-threads", type=click.IntRange(1), default=ReadSettings.read_threads, show_default=True,
                     help="Tile reader threads."),
        click.option("--allow-no-crs", is_flag=True, help="Accept a raster without a CRS."),
        click.option("--allow-small-tiles", is_flag=True,
                     help="Accept tiles under 32 px (the model then sees colour, not content)."),
        click.option("--max-tiles", type=click.IntRange(1), default=GridSettings.max_tiles, show_default=True,
                     help="Refuse grids of more tiles, before starting."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def experiment_options(f):
    """--data --attributes --split --unseen --seed --folder-map --variant --word2vec."""
    options = [
        click.option("--data", required=True, multiple=True, type=click.Path(file_okay=False),
                     help="Image folder, one sub-folder per class; repeat to pool several."),
        click.option("--attributes", default=None,
                     help="Class-attribute CSV/YAML/JSON, or a library name (unified, ucm, aid, nwpu, rsd)."),
        click.option("--split", default="16/5", show_default=True, help="SEEN/UNSEEN class counts."),
        click.option("--unseen", default=None, help="Held-out classes, comma-separated (instead of drawing them)."),
        click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split and the training."),
        click.option("--folder-map", multiple=True, metavar="NAME|FILE",
                     help=f"Folder-name to class-name map: {', '.join(sorted(KNOWN_FOLDER_MAPS))}, or a YAML/JSON file "
                          "of folder: class pairs; one per --data when they differ."),
        click.option("--variant", type=click.Choice(["dsva", "vam", "word2vec", "official-loss"]), default="dsva", show_default=True, help="Model/loss variant (baselines)."),
        click.option("--word2vec", type=click.Path(dir_okay=False), default=None, help="Attribute word2vec .npy (variant word2vec)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def experiment_from(data, folder_map, unseen, **fields):
    """An Experiment from the options above (repeated options arrive as tuples)."""
    from rsdsva.training.experiment import Experiment

    if fields.get("attributes") is None:
        raise click.UsageError("give --attributes: a class-attribute file or a library name (unified, ucm, aid, ...)")
    maps = tuple(folder_map)
    return Experiment(
        data=data[0] if len(data) == 1 else tuple(data),
        folder_map=(maps[0] if len(maps) == 1 else (maps or None)),
        unseen=tuple(n.strip() for n in unseen.split(",")) if unseen else None,
        **fields,
    )
