"""One call from data on disk to a trained, evaluated model file (what the CLI runs)."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsdsva.class_files import classes_to_dict
from rsdsva.data.images import scan_image_folder
from rsdsva.data.splits import choose_unseen, make_split, parse_split
from rsdsva.library import classes_or_library
from rsdsva.models.checkpoint import create_model, load_checkpoint, save_checkpoint
from rsdsva.models.info import DEFAULT_BACKBONE
from rsdsva.training.evaluate import EvalReport, evaluate_split
from rsdsva.training.confidence_fit import fit_confidence_curves
from rsdsva.training.example_fit import fit_example_features
from rsdsva.training.loop import TrainConfig, TrainResult, train_dsva
from rsdsva.training.plots import plot_report

VARIANTS = ("dsva", "vam", "word2vec", "official-loss")


@dataclass(frozen=True)
class Experiment:
    """What to train on and how.

    Attributes:
        data: image folder with one sub-folder per class, or several such folders
            (their images pooled; a class may have images in several).
        attributes: class-attribute CSV/YAML (classes x attributes).
        split: ``SEEN/UNSEEN`` sizes, e.g. ``16/5``; unseen classes drawn with ``seed``.
        folder_map: ``ucm``, ``aid``, ``ucm-unified``, ``aid-unified`` or None (folder
            names are class names); with several folders, one per folder.
        unseen: the held-out classes, named (instead of drawn by ``split``).
        variant: ``dsva`` (full), ``vam`` (VAM head only), ``word2vec`` (class
            vectors from attribute word2vec), ``official-loss`` (double softmax).
        word2vec: the ``<SET>_attribute_word2vec.npy`` file for ``variant='word2vec'``.
        gsd_m: ground sample distance of the images, stored in the model for mapping.
    """

    data: str | Path | tuple[str | Path, ...]
    attributes: str | Path
    split: str = "16/5"
    seed: int = 0
    backbone: str = DEFAULT_BACKBONE
    image_size: int | None = None
    weights: str | Path | None = None
    folder_map: str | tuple[str | None, ...] | None = None
    variant: str = "dsva"
    word2vec: str | Path | None = None
    gsd_m: float | None = None
    unseen: tuple[str, ...] | None = None

    def sources(self) -> list[tuple[str | Path, str | None]]:
        """(folder, folder map) pairs."""
        return data_sources(self.data, self.folder_map)


def data_sources(data, folder_map) -> list[tuple[str | Path, str | None]]:
    """(folder, folder map) pairs: one map for all folders, or one per folder."""
    folders = list(data) if isinstance(data, (list, tuple)) else [data]
    maps = list(folder_map) if isinstance(folder_map, (list, tuple)) else [folder_map]
    maps = maps * len(folders) if len(maps) == 1 else maps
    if len(maps) != len(folders):
        from rsdsva.errors import DatasetError

        raise DatasetError(f"{len(folders)} data folders but {len(maps)} folder maps; give one map per folder")
    return list(zip(folders, maps))


def recorded_split(info, ucm: str | Path, aid: str | Path):
    """The split a model trained on UC Merced and AID (through the unified attribute library) was
    trained on, as its provenance records it: the same seed, the same held-out classes."""
    prov = info.provenance
    record = prov.get("split") or {}
    exp = Experiment(data=(str(ucm), str(aid)), folder_map=("ucm-unified", "aid-unified"),
                     attributes=prov.get("attributes", "unified"),
                     split=f"{len(record.get('seen', []))}/{len(record.get('unseen', []))}",
                     seed=int(prov.get("seed", 0)), backbone=info.backbone.name,
                     image_size=info.preprocessing.image_size)
    return prepare(exp, unseen=record.get("unseen"))[1]


def prepare(exp: Experiment, unseen: list[str] | None = None):
    """Classes (with seen flags) and the split, reproducibly from ``exp.seed``.

    ``unseen`` overrides the drawn unseen classes (a saved model's own split).
    """
    from rsdsva.errors import ConfigError, DatasetError

    if exp.variant not in VARIANTS:
        raise ConfigError(f"variant {exp.variant!r} is not one of {', '.join(VARIANTS)}")
    classes = classes_or_library(exp.attributes)
    samples = [s for root, fmap in exp.sources() for s in scan_image_folder(root, classes, fmap)]
    present = [n for n in classes.names if any(s.label == n for s in samples)]
    classes = classes.subset(present)
    if unseen is None and exp.unseen:
        unseen = list(exp.unseen)
        missing = sorted(set(unseen) - set(present))
        if missing:
            raise DatasetError(f"held-out classes {missing} have no images in {exp.data}; name classes of the data")
    if unseen is None:
        _, n_unseen = parse_split(exp.split, len(classes))
        unseen = choose_unseen(classes.names, n_unseen, exp.seed)
    classes = classes.with_seen([n not in unseen for n in classes.names])
    if exp.variant == "word2vec":
        from rsdsva.attributes import load_word2vec, word2vec_classes

        if exp.word2vec is None:
            raise DatasetError("variant word2vec needs `word2vec` FILE (<SET>_attribute_word2vec.npy)")
        classes = word2vec_classes(classes, load_word2vec(exp.word2vec, classes))
    return classes, make_split(samples, unseen, seed=exp.seed)


def run_experiment(
    exp: Experiment,
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    work_dir: str | Path | None = None,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> tuple[TrainResult, EvalReport]:
    """Train, pick the best epoch on validation, evaluate on test, write ``out``.

    ``out`` gets the model (with the validation-chosen calibration and the test
    metrics in its provenance); beside it ``<out>.report.json`` and ``<out>.report.png``.
    """
    out = Path(out)
    work_dir = Path(work_dir) if work_dir else out.with_suffix(".work")
    with _work_folder(work_dir):
        return _run_experiment(exp, out, config, work_dir, device, resume, progress)


@contextlib.contextmanager
def _work_folder(work_dir: Path):
    """A work folder this run makes is removed if the run fails before an epoch is saved there
    (nothing to resume: a bad input leaves nothing behind); one with ``last.pt`` stays for --resume."""
    made = not work_dir.exists()
    try:
        yield
    except BaseException:
        if made and work_dir.is_dir() and not (work_dir / "last.pt").exists():
            shutil.rmtree(work_dir, ignore_errors=True)
        raise


def _run_experiment(exp: Experiment, out: Path, config: TrainConfig, work_dir: Path, device: str, resume: bool,
                    progress: bool) -> tuple[TrainResult, EvalReport]:
    from dataclasses import replace

    from rsdsva.training.config import LossWeights

    classes, split = prepare(exp)
    if exp.variant == "official-loss":
        config = replace(config, loss=LossWeights.official())
    vam_only = exp.variant == "vam"
    from rsdsva.models.backbones import BackboneConfig

    model, info = create_model(
        classes.subset(split.seen),
        backbone=BackboneConfig(exp.backbone, image_size=exp.image_size),
        weights=exp.weights,
        prototypes=not vam_only,
        score_head="vam" if vam_only else "prototype",
        gsd_m=exp.gsd_m,
        provenance={"data": [str(root) for root, _ in exp.sources()], "attributes": str(exp.attributes),
                    "variant": exp.variant},
    )
    if exp.gsd_m:
        info = info.replace(tile_m=round(exp.gsd_m * _typical_size(split), 1))
    result = train_dsva(model, info, classes, split, work_dir, config, device, resume, progress=progress)
    best, best_info = load_checkpoint(result.model_path, device=next(model.parameters()).device)
    return result, _evaluate_and_write(best, best_info, classes, split, out, config.batch_size)


def finish_experiment(
    model_path: str | Path, exp: Experiment, out: str | Path, batch_size: int = 64, device: str | None = None
) -> EvalReport:
    """Evaluate a trained model (e.g. a work folder's ``best.safetensors``) on its recorded
    split's test images and write ``out`` with the test metrics, the validation-chosen
    calibrations and the held-out classes, plus ``<out>.report.json`` and ``.report.png``."""
    best, best_info = load_checkpoint(model_path, device=device)
    recorded = (best_info.provenance.get("split") or {}).get("unseen")
    classes, split = prepare(exp, unseen=recorded)
    return _evaluate_and_write(best, best_info, classes, split, Path(out), batch_size)


def _evaluate_and_write(best, best_info, classes, split, out: Path, batch_size: int) -> EvalReport:
    report = evaluate_split(best, best_info, classes, split, batch_size=batch_size)
    best_info = fit_example_features(best, best_info, split, batch_size=batch_size)
    prov = dict(best_info.provenance, test=report.summary(), counts=report.counts, unseen_classes=classes_to_dict(classes.subset(split.unseen)))
    best_info = best_info.replace(calibration=report.calibration, map_calibration=report.map_calibration, provenance=prov)
    best_info = best_info.replace(confidence_curves=fit_confidence_curves(best, best_info, split, batch_size=batch_size))
    save_checkpoint(best, best_info, out)
    report.to_json(out.with_suffix(".report.json"))
    plot_report(report, out.with_suffix(".report.png"))
    return report


def evaluate_model(model_path: str | Path, exp: Experiment, calibration: float | None = None) -> EvalReport:
    """Re-run the evaluation of a saved model; its recorded split wins over ``exp.split``."""
    model, info = load_checkpoint(model_path)
    recorded = (info.provenance.get("split") or {}).get("unseen")
    classes, split = prepare(exp, unseen=recorded)
    return evaluate_split(model, info, classes, split, calibration=calibration)


def evaluate_classes_file(
    model_path: str | Path,
    data: str | Path | tuple[str | Path, ...],
    classes_file: str | Path,
    folder_map: str | dict | tuple | None = None,
    calibration: float | None = None,
    batch_size: int = 64,
) -> EvalReport:
    """Score the classes of ``classes_file`` (unseen to the model) on labelled images.

    Every image of ``data`` (one sub-folder per class; ``folder_map`` maps folder names to
    class names) is a test image; its class must be one of the model's seen classes or of
    the file. The model ranks its seen classes and the file's, as ``rsdsva map`` does
    (without the held-out classes), at ``calibration`` (default: the model's lambda for
    prediction; there are no validation images to choose one on). Classes from example
    areas are ranked by their nearest examples, as map ranks them; lambda is subtracted from
    their logits as from the seen classes' (so the U/S curve over lambda holds theirs at
    the chosen one).
    """
    from rsdsva.class_files import load_classes
    from rsdsva.data.splits import ZeroShotSplit
    from rsdsva.errors import ClassSpaceError, DatasetError
    from rsdsva.inference import ClassifierSettings
    from rsdsva.models.model_file import read_model_info
    from rsdsva.predict import build_classifier
    from rsdsva.training.logits import classifier_logits

    info = read_model_info(model_path)
    seen = info.classes.with_seen(True)
    extra = load_classes(classes_file, vocabulary=seen.attributes).with_seen(False)
    taken = [n for n in extra.names if n in seen.names]
    if taken:
        raise ClassSpaceError(f"{classes_file}: {taken[0]!r} is one of the model's seen classes; a file to evaluate "
                              "holds classes the model did not train on")
    classes = seen.concat(extra)
    sources = data_sources(data, folder_map)
    samples = [s for root, fmap in sources for s in scan_image_folder(root, classes, fmap)]
    test_unseen = [s for s in samples if s.label in extra.names]
    if not test_unseen:
        folders = ", ".join(str(root) for root, _ in sources)
        raise DatasetError(f"no images of {classes_file}'s classes ({', '.join(extra.names)}) in {folders}; "
                           "map the image folders to them with `folder_map`")
    split = ZeroShotSplit(seen=[n for n in seen.names if any(s.label == n for s in samples)], unseen=list(extra.names),
                          test_seen=[s for s in samples if s.label in seen.names], test_unseen=test_unseen)
    lam = info.prediction_calibration() if calibration is None else calibration
    clf = build_classifier(ClassifierSettings(model=str(model_path), classes=str(classes_file), held_out=False,
                                              calibration=lam, device="cpu", engine="torch"))
    logits = None
    if extra.has_examples.any():
        undo = np.where(classes.seen, lam, 0.0).astype(np.float32)  # evaluate_split takes lambda from the seen ones

        def logits(samples):  # the classifier's calibrated logits, example classes' included
            got, labels = classifier_logits(clf, samples, batch_size)
            return got + undo, labels
    return evaluate_split(clf.engine.model, clf.info, classes, split, batch_size=batch_size, calibration=lam, logits=logits)


def _typical_size(split) -> int:
    """Pixel size of the first training image (scene datasets have one size)."""
    from rsdsva.data.folders import read_image

    src = split.train[0].source
    return int(read_image(src).shape[-1]) if isinstance(src, str) else 256
