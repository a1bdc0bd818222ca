"""``rsdsva explain IMAGE``: a picture of why one image got its label."""

from __future__ import annotations

import click

from rsdsva.cli.options import classifier_options


@click.command("explain")
@click.argument("image", type=click.Path(dir_okay=False))
@classifier_options
@click.option("--top", type=click.IntRange(1, 12), default=4, show_default=True, help="Attributes to show.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def command(image, top, out, overwrite, **classifier) -> None:
    """Write a PNG with IMAGE, the attention maps of its top attributes and the class ranking.

    The classes and their ranking are those of `rsdsva map` with the same options.
    """
    from pathlib import Path

    from rsdsva._io import check_distinct, check_output_path
    from rsdsva.errors import OutputError
    from rsdsva.explain import explain_image, plot_explanation
    from rsdsva.inference import ClassifierSettings

    if Path(out).suffix.lower() != ".png":
        raise OutputError(f"--out {out} must end in .png (explain writes a PNG picture)")
    check_distinct({"--out": out}, {"the image": image, "the --classes file": classifier.get("classes"),
                                    "the --model file": classifier.get("model")})
    check_output_path(out, overwrite)
    ex = explain_image(image, ClassifierSettings(**classifier), top_attributes=top)
    plot_explanation(ex, out, title=str(image).rsplit("/", 1)[-1])
    ranking = ", ".join(f"{n} {p:.2f}" for n, p in ex.classes[:3])
    click.echo(f"wrote {out}: {ranking}; top attributes " + ", ".join(n for n, _ in ex.attributes))
