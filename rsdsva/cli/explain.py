"""``rsdsva explain IMAGE``: a picture of why one image got its label."""

from __future__ import annotations

import click

from rsdsva.cli.options import SectionedCommand, classifier_options, numbers, orientations_option
from rsdsva.mapping.settings import DEFAULT_CONTEXT, DEFAULT_ORIENTATIONS


@click.command("explain", cls=SectionedCommand, sections={
    "Input": ("--tile", "--map"),
    "Classes": ("--model", "--classes", "--held-out", "--mode", "--calibration", "--example-route", "--context",
                "--orientations"),
    "Output": ("--out", "--top", "--overwrite"),
    "Speed": ("--device", "--engine", "--precision"),
})
@click.argument("image", type=click.Path(dir_okay=False))
@classifier_options
@click.option("--top", type=click.IntRange(1, 12), default=4, show_default=True, help="Attributes to show.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@click.option("--tile", metavar="ROW,COL", default=None, callback=lambda c, p, v: _tile(v),
              help="For a raster: explain the map tile of this row and col (of the map's tiles layer), ranked "
                   "from the windows around it as the map ranks it, instead of the whole image.")
@click.option("--map", "map_file", type=click.Path(dir_okay=False), default=None,
              help="With --tile: the map (GeoPackage) the row and col are of; its grid, bands and stretch, and "
                   "where no flag is given its classes file and ranking options, are used (default: the default grid "
                   "and bands), so the tile gets that map's label.")
@click.option("--context", callback=numbers(float), default=",".join(f"{c:g}" for c in DEFAULT_CONTEXT),
              show_default=True, help="With --tile: the windows around the tile (times its size) ranked, as rsdsva "
                                      "map's --context.")
@orientations_option(DEFAULT_ORIENTATIONS, "Each window also mirrored (2) or turned (8), as rsdsva map's --orientations.")
def command(image, top, out, overwrite, tile, map_file, **classifier) -> None:
    """Write a PNG with IMAGE, the attention maps of its top attributes and the class ranking.

    The classes and their ranking are those of `rsdsva map` with the same options: a map tile
    (--tile) is ranked from the same windows around it.
    """
    from pathlib import Path

    from click.core import ParameterSource

    from rsdsva._io import check_distinct, check_output_path
    from rsdsva.errors import OutputError, RasterError
    from rsdsva.explain import explain_image, plot_explanation
    from rsdsva.inference import ClassifierSettings
    from rsdsva.mapping.settings import GridSettings, ReadSettings
    from rsdsva.mapping.source import classifier_of_map, settings_of_map

    if Path(out).suffix.lower() != ".png":
        raise OutputError(f"--out {out} must end in .png (explain writes a PNG picture)")
    check_distinct({"--out": out}, {"the image": image, "the --classes file": classifier.get("classes"),
                                    "the --model file": classifier.get("model")})
    check_output_path(out, overwrite)
    grid, read = GridSettings(), ReadSettings()
    if map_file:
        if tile is None:
            raise click.UsageError("--map needs --tile ROW,COL: the map tile to explain")
        grid, read = settings_of_map(map_file, image)
        ctx = click.get_current_context()
        given = {n for n in classifier if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE}
        recorded = classifier_of_map(map_file, classes="classes" not in given)
        classifier.update({k: v for k, v in recorded.items() if k not in given})
    try:
        ex = explain_image(image, ClassifierSettings(**classifier), top_attributes=top, tile=tile, grid=grid, read=read)
    except RasterError as err:  # the advice names map's flags, which explain does not take
        if tile is None or map_file or err.setting not in ("allow_no_crs", "tile_size"):
            raise
        why = "has no CRS" if err.setting == "allow_no_crs" else "is not in a projected CRS"
        flags = "--allow-no-crs --tile-size PX" if err.setting == "allow_no_crs" else "--tile-size PX"
        raise RasterError(f"{image} {why}, so explain cannot lay out the map's grid on it by itself; map it with "
                          f"rsdsva map {image} {flags} --out m.gpkg, then explain --map m.gpkg --tile "
                          f"{tile[0]},{tile[1]}") from None
    name = str(image).rsplit("/", 1)[-1]
    plot_explanation(ex, out, title=f"{name}, tile {tile[0]},{tile[1]}" if tile else name)
    ranking = ", ".join(f"{n} {p:.2f}" for n, p in ex.classes[:3])
    click.echo(f"wrote {out}: {ranking}; top attributes " + ", ".join(n for n, _ in ex.attributes))


def _tile(value):
    if value is None:
        return None
    try:
        row, col = (int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give ROW,COL, e.g. 3,5") from None
    return row, col
