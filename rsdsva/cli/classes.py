"""``rsdsva classes list|pick|check|from-map``: the class library and classes files."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from rsdsva.cli.options import (SectionedCommand, device_option, engine_option, orientations_option, plural,
                                precision_option, read_options)
from rsdsva.errors import RsdsvaWarning
from rsdsva.library import LIBRARIES


@click.group("classes")
def group() -> None:
    """Known classes (the class library), checks of classes files, classes from example areas."""


library_option = click.option("--library", type=click.Choice(LIBRARIES), default="unified", show_default=True,
                              help="Which class library.")


@group.command("list")
@library_option
@click.option("--top", type=click.IntRange(0), default=4, show_default=True, help="Strongest attributes shown per class.")
def list_command(library, top) -> None:
    """The library's classes, the sets each comes from, and their strongest attributes."""
    from rsdsva.library import library_sources, load_library

    classes, sources = load_library(library), library_sources(library)
    width = max(len(n) for n in classes.names)
    for name, row in zip(classes.names, classes.matrix):
        strongest = ", ".join(classes.attributes[i] for i in row.argsort()[::-1][:top] if row[i] > 0)
        sets = ",".join(sources.get(name, {}))
        click.echo(f"{name:<{width}}  {sets:<16}  {strongest}")
    click.echo(f"{plural(len(classes), 'class')} over {plural(classes.num_attributes, 'attribute')} ({library})", err=True)


@group.command("pick")
@click.argument("names", nargs=-1)
@library_option
@click.option("--define", "definitions", multiple=True, metavar="'NAME: ATTR, ATTR'",
              help="A new class by its present attributes (repeatable), e.g. 'marsh: has_water, has_grass'.")
@click.option("--seen", is_flag=True, help="Flag them seen, to train on (default: unseen, to add to a model).")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="Model the file is for (default: the embedded model); its seen classes are left out.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Classes file to write (.yaml/.json/.csv).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def pick_command(names, definitions, library, seen, model, out, overwrite) -> None:
    """Write the library classes NAMES, and classes given by --define, to a classes file (for
    `rsdsva map --classes`).

    Classes the model already knows (its seen classes) are left out with a note: `map` names
    them anyway, and would refuse a file that adds them again.
    """
    from rsdsva._io import check_output_path
    from rsdsva.class_files import save_classes
    from rsdsva.library import pick_and_define, without_seen
    from rsdsva.models.model_file import default_model_path, read_model_info

    if not names and not definitions:
        raise click.UsageError("name library classes (rsdsva classes list shows them) or --define new ones")
    check_output_path(Path(out), overwrite)
    picked = pick_and_define(names, definitions, library, seen=seen)
    if not seen:
        picked, dropped = without_seen(picked, read_model_info(model or default_model_path()))
        if dropped:
            click.echo(f"left out {', '.join(dropped)}: seen classes of the model already", err=True)
    save_classes(picked, out)
    click.echo(f"wrote {out}: {', '.join(picked.names)} ({'seen' if seen else 'unseen'}, {library} vocabulary)")


@group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: the embedded model).")
def check_command(file, model) -> None:
    """Validate FILE against MODEL's vocabulary; show each class's nearest classes and the
    attributes it names that the model was never taught to see (no seen class has them)."""
    from rsdsva.attributes.check import UNTAUGHT_SHARE, check_classes
    from rsdsva.models.model_file import default_model_path, read_model_info

    info = read_model_info(model or default_model_path())
    report = check_classes(file, info)
    width = max(len(c.name) for c in report)
    click.echo(f"{file}: {plural(len(report), 'class')} over the model's {plural(info.classes.num_attributes, 'attribute')}")
    for c in report:
        near = ", ".join(f"{n.name} {n.cosine:.2f} ({n.kind})" for n in c.neighbours)
        note = "  (replaces the model's held-out class of this name)" if c.same_name == "held-out" else ""
        if c.prototype_neighbour is not None:
            p = c.prototype_neighbour
            note += f"; ranked by its examples, nearest example class {p.name} {p.cosine:.2f}"
        if c.untaught:
            note += f"; untaught: {', '.join(c.untaught)}"
        click.echo(f"  {c.name:<{width}}  nearest: {near}{note}")
    _say_how_read(file, info)
    for c in report:
        if c.same_name == "seen" and c.examples:  # classes from-map's correction: map ranks it by its examples
            click.echo(f"  {c.name!r} corrects the model's seen class of that name: where a tile looks like its "
                       "examples, it wins")
        elif c.same_name == "seen":
            warnings.warn(f"{c.name!r} is already a seen class of the model; rename or drop it "
                          "(rsdsva map refuses two classes of one name)", RsdsvaWarning, stacklevel=1)
        elif c.duplicate is not None:
            warnings.warn(
                f"{c.name!r} is nearly the same as {c.duplicate.kind} class {c.duplicate.name!r} "
                f"(cosine {c.duplicate.cosine:.2f}): the model can hardly tell them apart; make the vectors differ",
                RsdsvaWarning, stacklevel=1,
            )
        if c.prototype_neighbour is None and c.untaught_share >= UNTAUGHT_SHARE:
            warnings.warn(
                f"{c.name!r} rests on attributes no seen class of the model has ({', '.join(c.untaught) or 'weak ones'}: "
                f"{c.untaught_share:.0%} of its vector), which the model was never taught to see; it may miss this "
                "class: lean on attributes its seen classes have, or define it from example areas (rsdsva classes from-map)",
                RsdsvaWarning, stacklevel=1,
            )


def _say_how_read(file, info) -> None:
    """For a classes file from example areas: how its examples were read, or that it does not say."""
    from rsdsva.mapping.record import classes_and_record

    classes, record = classes_and_record(file, info.classes.attributes)
    if classes.examples is None:
        return
    spectra = classes.examples.spectra
    if spectra is not None:
        click.echo(f"  examples keep their spectra ({', '.join(spectra.features)}; weight "
                   f"{spectra.weight:g}): rsdsva map compares each tile's, from a raster with those bands")
    if classes.examples.centre is not None:
        click.echo("  examples keep their scene's centre: rsdsva map also chooses among them on features centred on it")
    else:
        click.echo("  examples without their scene's centre (made before rsdsva kept it): make them again with rsdsva "
                   "classes from-map to choose among them better on imagery unlike the model's training images")
    if record is not None:
        click.echo(f"  examples read as {record.describe()}: rsdsva map reads its raster so unless told otherwise")
    else:
        warnings.warn(f"{file} does not record how its examples were read (footprint, bands, stretch, nodata; made "
                      "before rsdsva kept them): rsdsva map uses its own settings, which must be the ones the "
                      "examples were read with; make it again with rsdsva classes from-map to record them",
                      RsdsvaWarning, stacklevel=1)


FROM_MAP_SECTIONS = {
    "Examples": ("--name-field", "--layer", "--min-cover", "--like"),
    "Input": ("--bands", "--scale", "--nodata", "--spectra"),
    "Tiles": ("--tile-m", "--tile-size", "--orientations"),
    "Classes": ("--model",),
    "Output": ("--out", "--update", "--overwrite"),
    "Speed": ("--device", "--engine", "--precision"),
}


@group.command("from-map", cls=SectionedCommand, sections=FROM_MAP_SECTIONS)
@click.argument("rasters", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.argument("examples", type=click.Path(dir_okay=False))
@click.option("--name-field", required=True,
              help="Field of EXAMPLES holding each area's class name (in a map's tiles layer: the field you typed "
                   "the right class into; tiles left empty are ignored).")
@click.option("--layer", default=None, help="Layer of EXAMPLES (default: its first; 'tiles' for a map's tiles).")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Classes file to write (.yaml or .json; default with --update: that file, replaced).")
@click.option("--update", type=click.Path(dir_okay=False), default=None,
              help="A classes file from example areas to add these examples to (new names are added).")
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: the embedded model).")
@click.option("--min-cover", type=float, default=0.5, show_default=True,
              help="Share of a map tile an area must cover for the tile to be an example.")
@click.option("--tile-m", type=click.FloatRange(0, min_open=True), default=None,
              help="Tile footprint in metres (default: the --update file's or the corrected map's, else the model's, "
                   "as map).")
@click.option("--tile-size", type=click.IntRange(1), default=None, help="Tile size in pixels (instead of --tile-m).")
@read_options
@click.option("--like", type=click.Path(dir_okay=False), default=None,
              help="The map (GeoPackage) whose tiles EXAMPLES corrects, when EXAMPLES is a copy of its tiles layer: "
                   "its tiles are read as that map read them (a map's own tiles layer says so itself).")
@orientations_option(None, "Take each example, and each tile a map compares with it, mirrored (2) or in every quarter "
                           "turn, mirrored or not (8), averaged: for examples from images of different headings (image "
                           "chips, several flights). [default: as read (1), or as the --update file's]")
@click.option("--spectra", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="On rasters of more than three bands: the share of each tile's likeness to an example taken from "
                   "their spectra over every band (band means, NDVI, NDWI, NDBI); 0 for the network's view of red, "
                   "green and blue alone. [default: 0.05, or the --update file's]")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@device_option
@engine_option
@precision_option
def from_map_command(rasters, examples, name_field, layer, out, update, model, min_cover, tile_m, tile_size,
                     bands, scale, nodata, spectra, like, orientations, overwrite, device, engine, precision) -> None:
    """Classes from example areas: polygons of EXAMPLES drawn over RASTERS (one or more), or
    the tiles of a map whose --name-field you filled in where the map was wrong.

    Each class (a value of --name-field) keeps every map tile its areas cover, seen with
    its surroundings, and an attribute vector from them. `rsdsva map --classes OUT` then
    ranks each tile by its nearest example, beside the model's own classes. A name of one of the model's seen classes corrects that class:
    where a tile looks like its examples, it wins.

    The file records how the tiles were read (footprint, bands, stretch, nodata): `map
    --classes OUT` reads its raster the same way. On a raster of more than three bands each
    example also keeps its spectra over every band, which the map compares too. The tiles layer of a map is read as that
    map read its raster, and --update as that file's examples were.
    """
    from rsdsva._io import check_distinct, check_output_path
    from rsdsva.mapping.areas import classes_from_map
    from rsdsva.mapping.settings import GridSettings, ReadSettings
    from rsdsva.mapping.source import read_map
    from rsdsva.mapping.vectors import read_vector

    if out is None and update is None:
        raise click.UsageError("give --out FILE (or --update FILE to add to a classes file)")
    out_path = Path(out or update)
    if out_path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise click.UsageError(f"--out {out_path} must end in .yaml or .json (a CSV cannot hold example features)")
    check_distinct({"--out": out_path}, {"the examples file": examples, "the --like map": like, "the --model file": model,
                                         **{f"the raster {r}": r for r in rasters}})
    if out is not None and not (update and Path(out).resolve() == Path(update).resolve()):
        check_output_path(out_path, overwrite)
    from tqdm.auto import tqdm

    areas = read_vector(examples, "example areas", layer)
    made = read_map(like or examples, rasters, "--like", required=bool(like))  # a map's tiles: read as it read them
    bar = None

    def progress(done: int, total: int) -> None:  # a bar once the tiles are read, so an input error stays one line
        nonlocal bar
        bar = bar or tqdm(total=total, unit="tile", desc="example features", file=sys.stderr, disable=None)
        bar.update(done - bar.n)

    try:
        result = classes_from_map(rasters, areas, name_field, out_path, model=model, update=update,
                                  min_cover=min_cover, grid=GridSettings(tile_size=tile_size, tile_m=tile_m),
                                  read=ReadSettings(bands=bands, scale=scale, nodata=nodata), device=device,
                                  source=examples, progress=progress, engine=engine, precision=precision,
                                  orientations=orientations,
                                  made_by=made[0] if made else None, spectra=spectra)
    finally:
        if bar is not None:
            bar.close()
    counts = ", ".join(f"{n} {k}" for n, k in result.tiles.items())
    click.echo(f"wrote {out_path}: {plural(len(result.classes), 'class')}; example tiles added: {counts}")
    spectra = result.classes.examples.spectra if result.classes.examples is not None else None
    if spectra is not None:
        click.echo(f"  each example keeps its spectra too ({', '.join(spectra.features)}; weight "
                   f"{spectra.weight:g}, --spectra 0 for none)", err=True)
    if result.updated:
        click.echo(f"  added to: {', '.join(result.updated)}", err=True)
    if result.corrected:
        click.echo(f"  corrects the model's seen classes {', '.join(result.corrected)}: where a tile looks like "
                   "their examples, they win", err=True)

