"""``rsdsva map``: classify the tiles of a raster into a GeoPackage."""

from __future__ import annotations

import json

import click

from rsdsva.cli.options import (
    SectionedCommand,
    classifier_options,
    in_flags,
    plural,
    progress_reporter,
    reported,
    tiling_options,
)
from rsdsva.mapping.pipeline import map_scene
from rsdsva.mapping.settings import MapSettings, OutputSettings


SECTIONS = {
    "Input": ("--bands", "--scale", "--nodata", "--allow-no-crs", "--aoi"),
    "Tiles": ("--tile-size", "--stride", "--tile-m", "--context", "--orientations", "--max-nodata", "--allow-small-tiles", "--max-tiles"),
    "Classes": ("--like", "--model", "--classes", "--held-out", "--mode", "--calibration", "--example-route", "--top-k"),
    "Output": ("--out", "--out-dir", "--raster", "--similarity", "--to-check", "--explain", "--attention-raster",
               "--attention-attributes", "--overwrite", "--progress"),
    "Speed": ("--device", "--engine", "--precision", "--batch-size", "--read-threads", "--workers", "--scheduler"),
}


@click.command("map", cls=SectionedCommand, sections=SECTIONS)
@click.argument("input_rasters", metavar="RASTER...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="GeoPackage to write (.gpkg); with several rasters, one merged file with a 'scene' column.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, help="One GeoPackage per raster here.")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:PORT) to run on a cluster.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Start a local Dask cluster of N worker processes.")
@classifier_options
@tiling_options
@click.option("--top-k", type=click.IntRange(1), default=OutputSettings.top_k, show_default=True,
              help="Classes kept per tile in the top_labels and top_scores columns.")
@click.option("--raster", type=click.Path(dir_okay=False), default=None,
              help="Also write a label GeoTIFF (class id and score, one pixel per grid cell).")
@click.option("--similarity", type=click.Path(dir_okay=False), default=None,
              help="Also write a GeoTIFF of each tile's similarity (0-1) to each example class, a band per class.")
@click.option("--to-check", type=click.IntRange(0), default=0, show_default=True,
              help="Also write a to_check layer: the N tiles to check first (check_rank), with an empty 'fix' "
                   "column to type corrections in.")
@click.option("--explain", is_flag=True, help="Add attribute evidence columns to the tiles layer.")
@click.option("--attention-raster", type=click.Path(dir_okay=False), default=None,
              help="Write the prototype attention maps, stitched, as a float GeoTIFF on the input's grid.")
@click.option("--attention-attributes", "attention_attributes", callback=lambda c, p, v: tuple(v.split(",")) if v else None,
              default=None, help="Attributes for --attention-raster, e.g. has_water,has_buildings (default: first 3).")
@click.option("--progress", type=click.Choice(["bar", "json", "none"]), default="bar", show_default=True,
              help="json: one JSON object per line on stderr.")
@click.option("--like", type=click.Path(dir_okay=False), default=None,
              help="A map (GeoPackage) to map as: its settings (tiles, bands, context, classes' mode, model, ...) "
                   "where no flag is given; not its outputs or classes file. E.g. after a correction.")
def command(input_rasters, out, out_dir, scheduler, workers, progress, like, **options) -> None:
    """Classify the tiles of RASTER into seen and unseen classes; write a GeoPackage.

    Several rasters, --out-dir, --scheduler or --workers run the job on Dask.
    """
    if like:
        from click.core import ParameterSource

        from rsdsva.mapping.source import settings_like

        ctx = click.get_current_context()
        given = {name for name in options if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
        options.update({k: v for k, v in settings_like(like).items() if k not in given})
    settings = MapSettings(**options)
    reported(progress, lambda: _run(input_rasters, out, out_dir, scheduler, workers, progress, settings))


def _run(input_rasters, out, out_dir, scheduler, workers, progress, settings: MapSettings) -> None:
    if len(input_rasters) > 1 or out_dir or scheduler or workers:
        return _distributed(input_rasters, out, out_dir, scheduler, workers, progress, settings)
    if out is None:
        raise click.UsageError("give --out FILE.gpkg")
    with progress_reporter(progress, "mapping") as report:
        result = map_scene(input_rasters[0], out, settings, progress=report)
    summary = {"event": "done", "out": str(result.out), "tiles": result.tiles, "classified": result.classified,
               "skipped": result.skipped, "seconds": round(result.seconds, 2), "labels": result.counts}
    if progress == "json":
        click.echo(json.dumps(summary), err=True)
    top = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items(), key=lambda kv: -kv[1])[:5])
    click.echo(f"wrote {result.out}: {plural(result.classified, 'tile')} classified, {result.skipped} skipped "
               f"in {result.seconds:.1f} s" + (f"; most common: {top}" if top else ""))


def _distributed(rasters, out, out_dir, scheduler, workers, progress, settings) -> None:
    from rsdsva.mapping.distributed import map_scenes

    def report(p: dict) -> None:
        if progress == "json":
            click.echo(json.dumps({"event": "progress", **p}), err=True)
        elif progress == "bar":
            click.echo(f"\rmapping: {p['done']}/{p['total']} tiles, {p['tiles_per_s']} tiles/s", err=True, nl=False)

    results = map_scenes(rasters, settings, out_dir=out_dir, out=out, scheduler=scheduler, workers=workers,
                         progress=report)
    if progress == "bar":
        click.echo("", err=True)
    failed = [r for r in results if r.error]
    for r in results:
        error = in_flags(r.error) if r.error else None
        line = f"{r.raster}: failed: {error}" if error else f"{r.raster}: {r.classified} of {r.tiles} tiles -> {r.out or out}"
        if progress == "json":
            click.echo(json.dumps({"event": "scene", "raster": str(r.raster), "error": error,
                                   "classified": r.classified, "tiles": r.tiles}), err=True)
        click.echo(line, err=bool(r.error))
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} scenes failed (see above); the others were written")
