"""Click options shared by several commands, written once."""

from __future__ import annotations

import click

from rsdsva.data.names import KNOWN_FOLDER_MAPS

device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where the model runs; auto uses CUDA when present.",
)


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
