"""``rsdsva attributes clip|from-images|vocabulary``: give new classes attribute vectors."""

from __future__ import annotations

from pathlib import Path

import click

from rsdsva.cli.options import device_option, engine_option, plural
from rsdsva.data.names import KNOWN_FOLDER_MAPS


@click.group("attributes")
def group() -> None:
    """Attribute vectors for classes without labels: CLIP (RSMM) or example images."""


def _images_options(f):
    options = [
        click.option("--images", type=click.Path(file_okay=False), default=None,
                     help="Folder with one sub-folder of images per class."),
        click.option("--folder-map", default=None, metavar="NAME|FILE",
                     help=f"Folder-name to class-name map: {', '.join(sorted(KNOWN_FOLDER_MAPS))}, or a YAML/JSON "
                          "file of folder: class pairs."),
        click.option("--max-images", type=click.IntRange(1), default=None,
                     help="Use N images of each class, drawn at random with --seed."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --max-images draw."),
        click.option("--seen", is_flag=True, help="Flag the classes seen (default: unseen)."),
        click.option("--out", required=True, type=click.Path(dir_okay=False), help="Classes file to write (.yaml/.json/.csv)."),
        click.option("--overwrite", is_flag=True, help="Replace an existing file."),
        click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _parse_text(item: str) -> tuple[str, str]:
    name, _, description = item.partition(":")
    name = name.strip()
    if not name:
        raise click.BadParameter(f"{item!r}: give NAME or 'NAME: description'")
    return name, description.strip() or name.replace("_", " ")


@group.command("clip")
@_images_options
@click.option("--text", "texts", multiple=True, help="Text-only class: NAME or 'NAME: description' (repeatable).")
@click.option("--vocabulary", default="unified", show_default=True,
              help="Vocabulary YAML, or a library name (unified, ucm, aid, nwpu, rsd).")
@click.option("--clip-model", default="ViT-B-32", show_default=True, help="open_clip model name.")
@click.option("--weights", "--clip-weights", "clip_weights", default=None, metavar="FILE|SPEC",
              help="CLIP weights: a local file (OpenAI CLIP, RemoteCLIP, GeoRSCLIP ...), or by name, downloaded "
                   "once: openclip:ARCH/TAG, hf:ORG/REPO/FILE.")
@device_option
def clip_command(images, folder_map, max_images, seed, seen, out, overwrite, batch_size, texts, vocabulary,
                 clip_model, clip_weights, device) -> None:
    """RSMM: class vectors from CLIP image-text similarity, averaged over each class's images."""
    from rsdsva._io import check_distinct, check_output_path
    from rsdsva.attributes.clip import annotate_images, annotate_texts, load_clip
    from rsdsva.class_files import save_classes
    from rsdsva.data.images import images_by_class
    from rsdsva.library import load_vocabulary

    if bool(images) == bool(texts):
        raise click.UsageError("give either --images DIR or --text NAME (one or more)")
    check_distinct({"--out": out}, {"the --folder-map file": folder_map, "the --clip-weights file": clip_weights})
    check_output_path(Path(out), overwrite)
    vocab = load_vocabulary(vocabulary)
    clip = load_clip(clip_model, clip_weights, device)
    if images:
        classes = annotate_images(clip, vocab, images_by_class(images, folder_map, max_images, seed), seen=seen,
                                  batch_size=batch_size, progress=True)
    else:
        classes = annotate_texts(clip, vocab, dict(_parse_text(t) for t in texts), seen=seen)
    save_classes(classes, out)
    click.echo(f"wrote {out}: {plural(len(classes), 'class')} over the {vocab.name} vocabulary ({vocab.scale:g} = strongest attribute)")


@group.command("from-images")
@_images_options
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: the embedded model).")
@click.option("--head", type=click.Choice(["vam", "prototype"]), default="vam", show_default=True,
              help="Which of the model's attribute predictors to average.")
@device_option
@engine_option
def from_images_command(images, folder_map, max_images, seed, seen, out, overwrite, batch_size, model, head, device,
                        engine) -> None:
    """Class vectors from a few example images each, with a trained model's attribute predictor."""
    from rsdsva._io import check_distinct, check_output_path
    from rsdsva.attributes.examples import attributes_from_images
    from rsdsva.class_files import save_classes
    from rsdsva.data.images import images_by_class
    from rsdsva.engines import open_engine
    from rsdsva.models.model_file import default_model_path

    if not images:
        raise click.UsageError("give --images DIR (one sub-folder of example images per class)")
    check_distinct({"--out": out}, {"the --folder-map file": folder_map, "the --model file": model})
    check_output_path(Path(out), overwrite)
    network, info = open_engine(Path(model) if model else default_model_path(), engine, device=device)
    classes = attributes_from_images(network, info, images_by_class(images, folder_map, max_images, seed),
                                     head=head, seen=seen, batch_size=batch_size)
    save_classes(classes, out)
    click.echo(f"wrote {out}: {plural(len(classes), 'class')} over the model's {plural(classes.num_attributes, 'attribute')}")


@group.command("vocabulary")
@click.argument("vocabulary", default="unified")
def vocabulary_command(vocabulary) -> None:
    """List a vocabulary's attributes by group, with their phrases."""
    from rsdsva.library import load_vocabulary

    vocab = load_vocabulary(vocabulary)
    groups: dict[str, list] = {}
    for a in vocab.attributes:
        groups.setdefault(a.group or "(no group)", []).append(a)
    for group_name, attrs in groups.items():
        about = vocab.groups.get(group_name, "")
        click.echo(f"{group_name}" + (f": {about}" if about else ""))
        for a in attrs:
            click.echo(f"  {a.name:<28} {'; '.join(a.phrases)}")
    if vocab.source:
        click.echo(f"source: {vocab.source}")
