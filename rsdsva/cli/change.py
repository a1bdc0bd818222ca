"""``rsdsva change``: what changed between two dates of one place, and into what."""

from __future__ import annotations

import json

import click

from rsdsva.cli.options import SectionedCommand, classifier_options, plural, progress_reporter, reported, tiling_options
from rsdsva.mapping.settings import MapSettings

SECTIONS = {
    "Input": ("--bands", "--scale", "--nodata", "--allow-no-crs", "--aoi"),
    "Tiles": ("--tile-size", "--stride", "--tile-m", "--context", "--orientations", "--max-nodata",
              "--allow-small-tiles", "--max-tiles"),
    "Classes": ("--model", "--classes", "--held-out", "--mode", "--calibration", "--example-route"),
    "Change": ("--threshold",),
    "Output": ("--out", "--raster", "--overwrite", "--progress"),
    "Speed": ("--device", "--engine", "--precision", "--batch-size", "--read-threads", "--workers", "--scheduler"),
}


@click.command("change", cls=SectionedCommand, sections=SECTIONS)
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="GeoPackage to write (.gpkg).")
@click.option("--raster", type=click.Path(dir_okay=False), default=None,
              help="Also write a GeoTIFF, one pixel per tile: band 1 the change score, band 2 the transition "
                   "(from_id * 1000 + to_id where changed, -1 where not; the codes are tagged with their names).")
@click.option("--threshold", type=float, default=None,
              help="Change score (0-1) from which a tile is changed: how unusual its move between the dates is "
                   "among the scene's tiles. [default: 0.98, about two robust spreads above the typical tile]")
@classifier_options
@tiling_options
@click.option("--progress", type=click.Choice(["bar", "json", "none"]), default="bar", show_default=True,
              help="json: one JSON object per line on stderr.")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:PORT): classify the tiles on a "
                                                "cluster (its workers must see the rasters and model at these paths).")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Classify the tiles on a local Dask cluster of N worker processes.")
def command(before, after, out, threshold, progress, scheduler, workers, **options) -> None:
    """What changed between BEFORE and AFTER, two rasters of one place, and into what.

    Both are cut into BEFORE's grid (AFTER is read onto it where they differ) and classified as
    `rsdsva map` classifies a raster. Each tile gets a from- and a to-class and a change score:
    how unusual its pixels' move between the dates is among the scene's tiles, after one linear
    map between the dates absorbs season, sun and haze. The GeoPackage holds the tiles (unchanged
    ones faint in QGIS, changed ones coloured by their to-class) and a table of transitions.
    """
    settings = MapSettings(**options)
    reported(progress, lambda: _run(before, after, out, threshold, progress, settings, scheduler, workers))


def _run(before, after, out, threshold, progress, settings: MapSettings, scheduler, workers) -> None:
    from rsdsva.mapping.change import change_scenes

    with progress_reporter(progress, "both dates") as report:
        result = change_scenes(before, after, out, settings, threshold, progress=report, scheduler=scheduler,
                               workers=workers)
    top = sorted(result.transitions.items(), key=lambda kv: -kv[1])[:5]
    said = ", ".join(f"{a} -> {b} {n}" for (a, b), n in top)
    if progress == "json":
        click.echo(json.dumps({"event": "done", "out": str(result.out), "classified": result.tiles,
                               "skipped": 0, "seconds": round(result.seconds, 2), "changed": result.changed}), err=True)
    click.echo(f"wrote {result.out}: {plural(result.changed, 'tile')} changed of {result.tiles} in "
               f"{result.seconds:.1f} s" + (f"; most common: {said}" if said else ""))
