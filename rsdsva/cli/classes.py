"""``rsdsva classes list|pick|check``: the class library and classes files."""

from __future__ import annotations

import warnings

import click

from rsdsva.errors import RsdsvaWarning
from rsdsva.library import LIBRARIES


@click.group("classes")
def group() -> None:
    """Known classes (the class library) and checks of classes files."""


library_option = click.option("--library", type=click.Choice(LIBRARIES), default="unified", show_default=True,
                              help="Which class library.")


@group.command("list")
@library_option
@click.option("--top", default=4, show_default=True, help="Strongest attributes shown per class.")
def list_command(library, top) -> None:
    """The library's classes, the sets each comes from, and their strongest attributes."""
    from rsdsva.library import library_sources, load_library

    classes, sources = load_library(library), library_sources(library)
    width = max(len(n) for n in classes.names)
    for name, row in zip(classes.names, classes.matrix):
        strongest = ", ".join(classes.attributes[i] for i in row.argsort()[::-1][:top] if row[i] > 0)
        sets = ",".join(sources.get(name, {}))
        click.echo(f"{name:<{width}}  {sets:<16}  {strongest}")
    click.echo(f"{len(classes)} classes over {classes.num_attributes} attributes ({library})", err=True)


@group.command("pick")
@click.argument("names", nargs=-1, required=True)
@library_option
@click.option("--seen", is_flag=True, help="Flag them seen, to train on (default: unseen, to add to a model).")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="Model the file is for (default: the embedded model); its seen classes are left out.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Classes file to write (.yaml/.json/.csv).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def pick_command(names, library, seen, model, out, overwrite) -> None:
    """Write the library classes NAMES to a classes file (for `rsdsva map --classes`).

    Classes the model already knows (its seen classes) are left out with a note: `map` names
    them anyway, and would refuse a file that adds them again.
    """
    from pathlib import Path

    from rsdsva._io import check_output_path
    from rsdsva.errors import ClassSpaceError
    from rsdsva.library import pick
    from rsdsva.models.info import read_model_info

    check_output_path(Path(out), overwrite)
    picked = pick(names, library, seen=seen)
    if not seen:
        from rsdsva.mapping.pipeline import default_model_path

        known = set(read_model_info(model or default_model_path()).classes.names)
        dropped = [n for n in picked.names if n in known]
        if dropped and len(dropped) == len(picked.names):
            raise ClassSpaceError(f"{', '.join(dropped)}: all are seen classes of the model already, which "
                                  "`rsdsva map` names without a classes file; nothing to write")
        if dropped:
            click.echo(f"left out {', '.join(dropped)}: seen classes of the model already", err=True)
            picked = picked.subset([n for n in picked.names if n not in known])
    picked.save(out)
    click.echo(f"wrote {out}: {', '.join(picked.names)} ({'seen' if seen else 'unseen'}, {library} vocabulary)")


@group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: the embedded model).")
def check_command(file, model) -> None:
    """Validate FILE against MODEL's vocabulary; show each class's nearest classes."""
    from rsdsva.attributes.check import check_classes
    from rsdsva.mapping.pipeline import default_model_path
    from rsdsva.models.info import read_model_info

    info = read_model_info(model or default_model_path())
    report = check_classes(file, info)
    width = max(len(c.name) for c in report)
    click.echo(f"{file}: {len(report)} classes over the model's {info.classes.num_attributes} attributes")
    for c in report:
        near = ", ".join(f"{n.name} {n.cosine:.2f} ({n.kind})" for n in c.neighbours)
        note = "  (replaces the model's held-out class of this name)" if c.same_name == "held-out" else ""
        click.echo(f"  {c.name:<{width}}  nearest: {near}{note}")
    for c in report:
        if c.same_name == "seen":
            warnings.warn(f"{c.name!r} is already a seen class of the model; rename or drop it "
                          "(rsdsva map refuses two classes of one name)", RsdsvaWarning, stacklevel=1)
        elif c.duplicate is not None:
            warnings.warn(
                f"{c.name!r} is nearly the same as {c.duplicate.kind} class {c.duplicate.name!r} "
                f"(cosine {c.duplicate.cosine:.2f}): the model can hardly tell them apart; make the vectors differ",
                RsdsvaWarning, stacklevel=1,
            )
