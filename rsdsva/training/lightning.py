"""Train like a torchgeo user: DSVA as a Lightning task over torchgeo data modules.

* :class:`ZeroShotDataModule` wraps any torchgeo classification data module (or dataset):
  its folder names are mapped to classes once, the unseen classes are held out of
  training, and validation and test see seen and unseen classes together.
* :class:`DSVATask` is the LightningModule: the two-stage schedule, the DSVA losses,
  validation ZSL and GZSL U/S/H with lambda chosen on validation, test at that lambda,
  and :meth:`DSVATask.export` to the one-file model ``rsdsva map`` loads.

Lightning's ``Trainer`` brings the rest: devices, DDP (``strategy="ddp"``), mixed
precision, logging, checkpoints, early stopping. The losses (:func:`dsva_loss`), the
schedule (:func:`lr_at`, :func:`stage_of`) and the metrics are those of
:func:`rsdsva.training.train_dsva`; nothing is written twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from rsdsva.class_files import classes_from_dict, classes_to_dict
from rsdsva.classes import ClassSpace, normalized_vectors
from rsdsva.data.folders import SceneDataset, torchgeo_samples
from rsdsva.data.images import Sample, folder_map_of
from rsdsva.data.splits import choose_unseen, make_split, parse_split
from rsdsva.data.transforms import eval_transform, train_transform
from rsdsva.errors import DatasetError
from rsdsva.models.checkpoint import create_model, save_checkpoint
from rsdsva.models.dsva import class_matrix_tensor
from rsdsva.models.info import DEFAULT_BACKBONE
from rsdsva.training import metrics as M
from rsdsva.training.loop import TrainConfig, lr_at, optimizer_for, stage_of, train_only
from rsdsva.training.losses import dsva_loss


class ZeroShotDataModule(L.LightningDataModule):
    """Zero-shot batches from a torchgeo classification data module or dataset.

    Args:
        source: a torchgeo data module (its train / val / test datasets are used as they are;
            unseen classes' training images are left out) or a dataset (split here per class,
            70/10/20 for seen classes and 20/80 val/test for unseen ones, as ``rsdsva train``).
        attributes: class-attribute file or library name (``unified``, ``ucm``, ...).
        unseen: the held-out classes by name; else ``split`` (``SEEN/UNSEEN``) draws them with ``seed``.
        folder_map: the dataset's folder names -> class names (``ucm-unified``, a file, a dict).
        config: augmentation (``min_scale``, ``color_jitter``, ``rotations``), batch size, workers.
    """

    def __init__(
        self,
        source: Any,
        attributes: str | Path | ClassSpace = "unified",
        unseen: Sequence[str] | None = None,
        split: str | None = None,
        seed: int = 0,
        folder_map: str | dict[str, str] | None = None,
        config: TrainConfig = TrainConfig(),
    ) -> None:
        super().__init__()
        from rsdsva.library import classes_or_library

        self.config = config
        self.datasets = _datasets_of(source)
        names = folder_map_of(folder_map) if isinstance(folder_map, str) else dict(folder_map or {})
        self.samples = {part: [Sample(s.source, names.get(s.label, s.label)) for s in torchgeo_samples(ds)]
                        for part, ds in self.datasets.items()}
        library = attributes if isinstance(attributes, ClassSpace) else classes_or_library(attributes)
        present = sorted({s.label for part in self.samples.values() for s in part})
        unknown = [n for n in present if n not in library.names]
        if unknown:
            raise DatasetError(f"classes {unknown[:5]} of the dataset are not in the attributes; map the folder "
                               "names with folder_map (e.g. 'ucm-unified')")
        classes = library.subset([n for n in library.names if n in present])
        if unseen is None:
            if split is None:
                raise DatasetError("name the held-out classes (unseen=[...]) or give split='SEEN/UNSEEN'")
            unseen = choose_unseen(classes.names, parse_split(split, len(classes))[1], seed)
        missing = sorted(set(unseen) - set(classes.names))
        if missing:
            raise DatasetError(f"held-out classes {missing} have no images in the dataset")
        self.classes = classes.with_seen([n not in unseen for n in classes.names])
        self.unseen = [n for n in self.classes.names if n in unseen]
        if set(self.datasets) == {"all"}:  # one dataset: split it here, as rsdsva train does
            z = make_split(self.samples["all"], self.unseen, seed=seed)
            one = self.datasets["all"]
            self.datasets = {"train": one, "val": one, "test": one}
            self.samples = {"train": z.train, "val": z.val_seen + z.val_unseen, "test": z.test_seen + z.test_unseen}
        self.samples["train"] = [s for s in self.samples["train"] if s.label not in self.unseen]

    @property
    def seen_names(self) -> list[str]:
        return [n for n, s in zip(self.classes.names, self.classes.seen) if s]

    def _loader(self, part: str, names: Sequence[str], train: bool) -> DataLoader:
        pre = self.trainer.lightning_module.info.preprocessing
        cfg = self.config
        transform = (train_transform(pre.image_size, pre.mean, pre.std, rotations=cfg.rotations,
                                     min_scale=cfg.min_scale, color_jitter=cfg.color_jitter)
                     if train else eval_transform(pre.image_size, pre.mean, pre.std))
        ds = SceneDataset(self.samples[part], names, transform, self.datasets[part])
        return DataLoader(ds, batch_size=cfg.batch_size, shuffle=train, num_workers=cfg.num_workers,
                          drop_last=train and len(ds) > cfg.batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.seen_names, train=True)  # labels index the seen classes

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.classes.names, train=False)  # labels index all classes

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.classes.names, train=False)


def _datasets_of(source: Any) -> dict[str, Any]:
    if isinstance(source, L.LightningDataModule):
        for stage in ("fit", "test"):
            source.setup(stage)
        parts = {p: getattr(source, f"{p}_dataset", None) for p in ("train", "val", "test")}
        if any(d is None for d in parts.values()):
            raise DatasetError(f"{type(source).__name__} gave no train/val/test datasets after setup(); pass one "
                               "of its datasets instead, to be split here")
        return parts
    return {"all": source}


class DSVATask(L.LightningModule):
    """DSVA as a LightningModule, in the style of torchgeo's trainers.

    Args:
        classes: all classes, seen flags set (:attr:`ZeroShotDataModule.classes`).
        backbone: timm or open_clip name (``tf_efficientnet_lite0``, ``ViT-B-32``, ``tiny-vit``).
        weights: backbone weights: a file, a packaged name or weights by name (``hf:...``).
        config: the schedule (``epochs``, ``head_epochs``, ``head_lr``, ``lr``, warm-up), the
            optimiser and the loss weights, as for ``rsdsva train``.
        variant: ``dsva`` or ``vam`` (VAM-only baseline).
    """

    def __init__(
        self,
        classes: ClassSpace | dict,
        backbone: str = DEFAULT_BACKBONE,
        image_size: int | None = None,
        weights: str | None = None,
        config: TrainConfig | dict = TrainConfig(),
        variant: str = "dsva",
        gsd_m: float | None = None,
        tile_m: float | None = None,
    ) -> None:
        super().__init__()
        classes = classes if isinstance(classes, ClassSpace) else classes_from_dict(classes)
        config = config if isinstance(config, TrainConfig) else _config_from(config)
        self.save_hyperparameters({"classes": classes_to_dict(classes), "backbone": backbone, "image_size": image_size,
                                   "weights": None if weights is None else str(weights), "config": config.to_dict(),
                                   "variant": variant, "gsd_m": gsd_m, "tile_m": tile_m})
        from rsdsva.models.backbones import BackboneConfig

        self.classes, self.config = classes, config
        seen = classes.subset([n for n, s in zip(classes.names, classes.seen) if s])
        vam = variant == "vam"
        self.model, self.info = create_model(seen, backbone=BackboneConfig(backbone, image_size=image_size),
                                             weights=weights, prototypes=not vam, score_head="vam" if vam else "prototype",
                                             gsd_m=gsd_m, tile_m=tile_m)
        self.register_buffer("seen_matrix", class_matrix_tensor(seen), persistent=False)
        self.register_buffer("targets", torch.from_numpy(normalized_vectors(seen)), persistent=False)
        self.register_buffer("all_matrix", class_matrix_tensor(classes), persistent=False)
        self.val_lambda = 0.0
        self.val_map_lambda = 0.0
        self._stage: str | None = None
        self._outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, images: torch.Tensor):
        return self.model(images, self.all_matrix)

    # -- training: the two stages, the DSVA losses ----------------------------------------

    def configure_optimizers(self):
        return optimizer_for(list(self.model.parameters()), self.config.head_lr, self.config)

    def on_train_epoch_start(self) -> None:
        name, params, base = stage_of(self.model, self.current_epoch, self.config)
        train_only(self.model, params)
        if name != self._stage:  # a fresh optimiser for each stage, as train_dsva does
            if self._stage is not None:
                self.trainer.optimizers = [optimizer_for(list(self.model.parameters()), base, self.config)]
            self._stage = name

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        n = max(self.trainer.num_training_batches, 1)
        _, _, base = stage_of(self.model, self.current_epoch, self.config)
        for group in self.optimizers().optimizer.param_groups:
            group["lr"] = lr_at(self.current_epoch + batch_idx / n, base, self.config)
        loss, parts = dsva_loss(self.model(x, self.seen_matrix), y, self.targets[y], self.config.loss)
        self.log("train_loss", loss, prog_bar=True, on_epoch=True, on_step=False, batch_size=len(y))
        for k, v in parts.items():
            self.log(f"train_{k}", v, on_epoch=True, on_step=False, batch_size=len(y))
        return loss

    # -- validation and test: ZSL and GZSL over all classes ----------------------------------

    def validation_step(self, batch, batch_idx: int) -> None:
        self._collect(batch)

    def test_step(self, batch, batch_idx: int) -> None:
        self._collect(batch)

    def _collect(self, batch) -> None:
        x, y = batch
        self._outputs.append((self(x).logits.float(), y))

    def _gathered(self) -> tuple[np.ndarray, np.ndarray]:
        logits = torch.cat([o[0] for o in self._outputs]) if self._outputs else torch.zeros(0, len(self.classes))
        labels = torch.cat([o[1] for o in self._outputs]) if self._outputs else torch.zeros(0, dtype=torch.long)
        self._outputs = []
        logits, labels = self.all_gather(logits), self.all_gather(labels)  # every rank's, under DDP
        return logits.reshape(-1, len(self.classes)).cpu().numpy(), labels.reshape(-1).cpu().numpy()

    def _split(self, logits, labels):
        unseen = np.isin(labels, np.flatnonzero(self.classes.unseen))
        return logits[unseen], labels[unseen], logits[~unseen], labels[~unseen]

    def on_validation_epoch_end(self) -> None:
        found = M.validate(*self._split(*self._gathered()), self.classes.seen)
        metrics = found.metrics()
        metrics.pop("selection")
        if found.chosen is not None:
            self.val_lambda, self.val_map_lambda = float(found.calibration), float(found.map_lambda)
        else:
            metrics.pop("val_lambda")
        for k, v in metrics.items():
            self.log(k, float(v), prog_bar=k in ("val_h", "val_zsl"))

    def on_test_epoch_end(self) -> None:
        lu, yu, ls, ys = self._split(*self._gathered())
        seen = self.classes.seen
        g = M.gzsl_score(lu, yu, ls, ys, seen, self.val_lambda)
        metrics = {"test_zsl": M.zsl_accuracy(lu, yu, ~seen), "test_seen_acc": M.seen_accuracy(ls, ys, seen),
                   "test_u": g.u, "test_s": g.s, "test_h": g.h, "test_lambda": self.val_lambda}
        for k, v in metrics.items():
            self.log(k, float(v))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["val_lambda"] = self.val_lambda
        checkpoint["val_map_lambda"] = self.val_map_lambda

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.val_lambda = float(checkpoint.get("val_lambda", 0.0))
        self.val_map_lambda = float(checkpoint.get("val_map_lambda", 0.0))

    # -- export ------------------------------------------------------------------------------

    def export(self, path: str | Path, data: ZeroShotDataModule | None = None) -> Path:
        """The one-file model ``rsdsva map`` loads, as ``rsdsva train`` writes it: the held-out
        classes, the lambdas chosen on validation (GZSL H and, for maps, accuracy) and the
        example-class whitening and calibrations and the confidence curves, fitted on ``data``
        (default: the trainer's data module) for a copy of the network, so the one being trained
        keeps its parameters."""
        import copy

        from rsdsva.data.splits import ZeroShotSplit
        from rsdsva.training.confidence_fit import fit_confidence_curves
        from rsdsva.training.example_fit import fit_example_features

        data = data or getattr(self._trainer, "datamodule", None)
        model, info = self.model, self.info.replace(example_calibrations={}, confidence_curves={})
        split = None
        if isinstance(data, ZeroShotDataModule):
            split = ZeroShotSplit(seen=data.seen_names, unseen=data.unseen, train=data.samples["train"],
                                  val_seen=[s for s in data.samples["val"] if s.label not in data.unseen],
                                  val_unseen=[s for s in data.samples["val"] if s.label in data.unseen])
            model = copy.deepcopy(self.model).eval()
            info = fit_example_features(model, info, split, batch_size=self.config.batch_size,
                                        torchgeo_dataset=data.datasets["train"], val_dataset=data.datasets["val"])
        unseen = self.classes.subset([n for n, s in zip(self.classes.names, self.classes.seen) if not s])
        prov = dict(self.info.provenance, unseen_classes=classes_to_dict(unseen), train=self.config.to_dict(),
                    trainer="lightning", epoch=int(self.current_epoch))
        info = info.replace(calibration=self.val_lambda, map_calibration=self.val_map_lambda, provenance=prov)
        if split is not None:
            info = info.replace(confidence_curves=fit_confidence_curves(model, info, split, self.config.batch_size,
                                                                        data.datasets["val"]))
        return save_checkpoint(model, info, path)


class ExportBest(L.Callback):
    """Export the model to ``path`` whenever ``monitor`` (default validation H) improves."""

    def __init__(self, path: str | Path, monitor: str = "val_h") -> None:
        self.path, self.monitor, self.best = Path(path), monitor, -float("inf")

    def on_validation_end(self, trainer: L.Trainer, task: DSVATask) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None or not trainer.is_global_zero:
            return
        if float(value) > self.best:
            self.best = float(value)
            task.export(self.path)


def _config_from(data: dict) -> TrainConfig:
    from rsdsva.training.config import LossWeights

    fields = dict(data)
    if isinstance(fields.get("loss"), dict):
        fields["loss"] = LossWeights(**fields["loss"])
    return TrainConfig(**fields)
