"""``rsdsva explain IMAGE``: a picture of why one image got its label."""

from __future__ import annotations

import click

from rsdsva.classes import ClassSpace


@click.command("explain")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: the embedded model).")
@click.option("--classes", type=click.Path(dir_okay=False), default=None, help="Unseen classes file.")
@click.option("--mode", type=click.Choice(["gzsl", "zsl", "seen"]), default="gzsl", show_default=True)
@click.option("--top", type=click.IntRange(1, 12), default=4, show_default=True, help="Attributes to show.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
def command(image, model, classes, mode, top, out) -> None:
    """Write a PNG with IMAGE, the attention maps of its top attributes and the class ranking."""
    from rsdsva.explain import explain_image, plot_explanation
    from rsdsva.mapping.pipeline import default_model_path
    from rsdsva.models.info import read_model_info

    unseen = None
    if classes:
        vocab = read_model_info(model or default_model_path()).classes.attributes
        unseen = ClassSpace.load(classes, vocabulary=vocab)
    ex = explain_image(image, model, unseen, mode, top_attributes=top)
    plot_explanation(ex, out, title=str(image).rsplit("/", 1)[-1])
    ranking = ", ".join(f"{n} {p:.2f}" for n, p in ex.classes[:3])
    click.echo(f"wrote {out}: {ranking}; top attributes " + ", ".join(n for n, _ in ex.attributes))
