"""``rsdsva train`` and ``rsdsva evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rsdsva.cli.options import SectionedCommand, device_option, experiment_from, experiment_options, in_flags
from rsdsva.models.info import DEFAULT_BACKBONE
from rsdsva.training.config import TrainConfig

TRAIN_SECTIONS = {
    "Data": ("--data", "--attributes", "--folder-map", "--split", "--unseen", "--seed"),
    "Model": ("--backbone", "--image-size", "--weights", "--gsd", "--variant", "--word2vec"),
    "Schedule": ("--epochs", "--head-epochs", "--head-lr", "--lr", "--optimizer", "--weight-decay", "--sampler",
                 "--ways", "--shots", "--batch-size", "--max-batches", "--min-scale", "--color-jitter"),
    "Output": ("--out", "--resume"),
    "Speed": ("--device", "--loader-workers", "--resident"),
}


@click.command("train", cls=SectionedCommand, sections=TRAIN_SECTIONS)
@experiment_options
@click.option("--backbone", default=DEFAULT_BACKBONE, show_default=True,
              help="timm or open_clip model name (CNNs and ViTs; ViT-B-32-quickgelu for OpenAI CLIP weights).")
@click.option("--image-size", type=int, default=None, help="Input size in pixels (default: the backbone's).")
@click.option("--weights", default=None, metavar="FILE|SPEC",
              help="Backbone weights: a local file, a packaged name (efficientnet-lite0), or by name, downloaded "
                   "once: hf:ORG/REPO/FILE, openclip:ARCH/TAG, timm:NAME.")
@click.option("--gsd", "gsd_m", type=float, default=None, help="Ground sample distance of the images, m/px.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Model file to write (.safetensors).")
@click.option("--epochs", type=click.IntRange(1), default=TrainConfig.epochs, show_default=True,
              help="Epochs in all, both stages.")
@click.option("--head-epochs", type=click.IntRange(0), default=TrainConfig.head_epochs, show_default=True,
              help="Stage 1: prototypes and VAM only, on a frozen backbone.")
@click.option("--head-lr", type=float, default=TrainConfig.head_lr, show_default=True,
              help="Learning rate of stage 1.")
@click.option("--lr", type=float, default=TrainConfig.lr, show_default=True, help="Learning rate of stage 2.")
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), default=TrainConfig.optimizer, show_default=True,
              help="A fresh one for each stage.")
@click.option("--weight-decay", type=float, default=TrainConfig.weight_decay, show_default=True,
              help="Weight decay of the optimiser.")
@click.option("--sampler", type=click.Choice(["episodic", "shuffle"]), default=TrainConfig.sampler,
              show_default=True, help="episodic: --ways classes x --shots images a batch; shuffle: --batch-size.")
@click.option("--ways", type=click.IntRange(1), default=TrainConfig.ways, show_default=True,
              help="Classes in an episodic batch.")
@click.option("--shots", type=click.IntRange(1), default=TrainConfig.shots, show_default=True,
              help="Images of each class in an episodic batch.")
@click.option("--batch-size", type=click.IntRange(1), default=TrainConfig.batch_size, show_default=True,
              help="Images a batch (shuffle sampler, and evaluation).")
@click.option("--loader-workers", "num_workers", type=click.IntRange(0), default=TrainConfig.num_workers,
              show_default=True, help="DataLoader worker processes that decode images (map's --workers are Dask's).")
@click.option("--workers", "old_workers", type=click.IntRange(0), default=None, hidden=True)
@click.option("--max-batches", type=click.IntRange(1), default=None, help="Cap on batches per epoch (quick runs).")
@click.option("--min-scale", type=click.FloatRange(0.05, 1.0), default=None,
              help="Random resized crops of this much of the area and more.")
@click.option("--color-jitter", type=click.FloatRange(0.0, 1.0), default=TrainConfig.color_jitter, show_default=True,
              help="Brightness/contrast/saturation jitter, and 10% of images in grey.")
@click.option("--resident", is_flag=True,
              help="Decode the images once and augment on the device (fast on a GPU; needs memory for all images).")
@click.option("--resume", is_flag=True, help="Continue from the work folder's last epoch.")
@click.option("--overwrite", is_flag=True, help="Replace an existing model file (and its ONNX form).")
@device_option
def train_command(data, attributes, split, unseen, seed, folder_map, variant, word2vec, backbone, image_size, weights,
                  gsd_m, out, epochs, head_epochs, head_lr, lr, optimizer, weight_decay, sampler, ways, shots,
                  batch_size, num_workers, old_workers, max_batches, min_scale, color_jitter, resident, resume,
                  overwrite, device) -> None:
    """Train DSVA on an image folder and write one model file with its evaluation."""
    from rsdsva._io import check_distinct, check_output_path
    from rsdsva.training.config import LossWeights
    from rsdsva.training.experiment import run_experiment

    if old_workers is not None:
        click.echo("Warning: train --workers is now --loader-workers (map's --workers are Dask workers)", err=True)
        num_workers = old_workers
    onnx = Path(out).with_suffix(".onnx")
    check_distinct({"--out": out, "its ONNX form": onnx},
                   {"the --attributes file": attributes, "the --word2vec file": word2vec, "the --weights file": weights,
                    **{f"the --folder-map file {m}": m for m in folder_map}})
    for target in (Path(out), onnx):
        check_output_path(target, overwrite)

    exp = experiment_from(data, folder_map, unseen, attributes=attributes, split=split, seed=seed, backbone=backbone,
                          image_size=image_size, weights=weights, variant=variant, word2vec=word2vec, gsd_m=gsd_m)
    config = TrainConfig(epochs=epochs, head_epochs=head_epochs, head_lr=head_lr, lr=lr, optimizer=optimizer,
                         weight_decay=weight_decay, sampler=sampler, ways=ways, shots=shots, batch_size=batch_size,
                         num_workers=num_workers, seed=seed, max_batches=max_batches, min_scale=min_scale,
                         color_jitter=color_jitter, resident=resident, loss=LossWeights())
    result, report = run_experiment(exp, out, config, device=device, resume=resume)
    click.echo(f"best epoch {result.best_epoch} (validation {result.best_metric:.3f}); wrote {out}")
    _export_beside(Path(out))
    click.echo(json.dumps(report.summary()))


def _export_beside(model: Path) -> None:
    """The model's ONNX form beside it, so that it maps on the light install (--engine onnx); a
    backbone that does not export faithfully gets a warning, not a failed training run."""
    from rsdsva.engines.export import export_onnx

    try:
        onnx = export_onnx(model, model.with_suffix(".onnx"), overwrite=True)
    except Exception as err:  # the .safetensors model is written and whole; only its second form is missing
        reason = in_flags(str(err).strip().splitlines()[0][:160]) if str(err).strip() else type(err).__name__
        click.echo(f"Warning: no ONNX form written ({reason}); the model maps with --engine torch", err=True)
        return
    click.echo(f"wrote {onnx} (its ONNX form, for rsdsva map on the light install)")


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False))
@experiment_options
@click.option("--calibration", type=float, default=None, help="Use this lambda instead of choosing on validation.")
@click.option("--classes", "classes_file", type=click.Path(dir_okay=False), default=None,
              help="Score this classes file's classes (unseen to MODEL) on all images of --data instead.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here (a PNG beside it).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report and its picture.")
def evaluate_command(model, data, attributes, split, unseen, seed, folder_map, variant, word2vec, calibration,
                     classes_file, report, overwrite) -> None:
    """Evaluate MODEL (ZSL, GZSL U/S/H) on the split it was trained with.

    With --classes FILE: every image of --data is a test image of one of MODEL's seen classes
    or of FILE's classes (map folder names to them with --folder-map); ZSL ranks FILE's
    classes, GZSL all of them at MODEL's lambda for prediction (or --calibration).
    """
    from rsdsva._io import atomic_paths, check_distinct, check_output_path
    from rsdsva.errors import OutputError
    from rsdsva.training.experiment import evaluate_model
    from rsdsva.training.plots import plot_report

    if report:
        picture = Path(report).with_suffix(".png")
        if picture == Path(report):
            raise OutputError(f"--report {report}: give a .json name (its picture goes beside it, as .png)")
        check_distinct({"--report": report, "its picture": picture},
                       {"the model": model, "the --classes file": classes_file, "the --attributes file": attributes,
                        "the --word2vec file": word2vec, **{f"the --folder-map file {m}": m for m in folder_map}})
        for target in (Path(report), picture):
            check_output_path(target, overwrite)

    if classes_file:
        from rsdsva.training.experiment import evaluate_classes_file

        maps = tuple(folder_map) or None
        result = evaluate_classes_file(model, tuple(data), classes_file, maps, calibration=calibration)
    else:
        exp = experiment_from(data, folder_map, unseen, attributes=attributes, split=split, seed=seed,
                              variant=variant, word2vec=word2vec)
        result = evaluate_model(model, exp, calibration=calibration)
    if report:
        with atomic_paths([report, picture]) as (json_tmp, png_tmp):  # both, or neither
            result.to_json(json_tmp)
            plot_report(result, png_tmp)
    click.echo(json.dumps(result.summary()))
