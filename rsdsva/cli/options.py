"""Click options shared by several commands, written once."""

from __future__ import annotations

import click

device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where the model runs; auto uses CUDA when present.",
)


def experiment_options(f):
    """--data --attributes --split --seed --folder-map --variant --word2vec."""
    options = [
        click.option("--data", required=True, type=click.Path(file_okay=False), help="Image folder, one sub-folder per class."),
        click.option("--attributes", required=True, type=click.Path(dir_okay=False), help="Class-attribute CSV/YAML/JSON."),
        click.option("--split", default="16/5", show_default=True, help="SEEN/UNSEEN class counts."),
        click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split and the training."),
        click.option("--folder-map", type=click.Choice(["ucm", "aid"]), default=None, help="Known folder-name to class-name map."),
        click.option("--variant", type=click.Choice(["dsva", "vam", "word2vec", "official-loss"]), default="dsva", show_default=True, help="Model/loss variant (baselines)."),
        click.option("--word2vec", type=click.Path(dir_okay=False), default=None, help="Attribute word2vec .npy (variant word2vec)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f
