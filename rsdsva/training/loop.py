"""DSVA training: two stages, episodic batches, model selection on validation data.

Stage 1 (``head_epochs``) trains only the attribute prototypes and the VAM linear
layer at ``head_lr`` with the backbone frozen; stage 2 trains everything at
``lr``. After every epoch the model is scored on the VALIDATION images (never the
test images) and the best epoch by validation H (or seen accuracy, when the split
has no unseen validation images) is kept. ``last.pt`` (weights and optimiser
state, read back with ``weights_only=True``; written on each new best, at most
every ``STATE_EVERY_S`` seconds otherwise, and after the last epoch) lets
``resume=True`` continue where a run stopped. Randomness is derived from ``seed`` and the epoch
number, so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from rsdsva._io import atomic_write_text
from rsdsva.classes import ClassSpace, normalized_vectors
from rsdsva.data.folders import SceneDataset
from rsdsva.data.resident import Augment, ResidentImages
from rsdsva.data.samplers import EpisodicSampler, ShuffledSampler
from rsdsva.data.splits import ZeroShotSplit
from rsdsva.data.transforms import train_transform
from rsdsva.errors import ConfigError, DatasetError
from rsdsva.models.checkpoint import save_checkpoint
from rsdsva.models.device import pick_device
from rsdsva.models.dsva import DSVA, class_matrix_tensor
from rsdsva.models.info import ModelInfo
from rsdsva.training import metrics as M
from rsdsva.training.config import TrainConfig
from rsdsva.training.logits import logits_for, logits_resident
from rsdsva.training.losses import dsva_loss

STATE_EVERY_S = 30.0  # last.pt holds weights and optimiser state: too big to write every short epoch


@dataclass
class TrainResult:
    best_epoch: int
    best_metric: float
    history: list[dict[str, float]]
    model_path: Path
    calibration: float


def optimizer_for(params: list, lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    raise ConfigError(f"optimizer {cfg.optimizer!r} is not 'adamw' or 'sgd'")


def train_only(model: DSVA, params: list) -> None:
    """Freeze every parameter of ``model`` but ``params`` (the stage's)."""
    trainable = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)


def stage_of(model: DSVA, epoch: int, cfg: TrainConfig) -> tuple[str, list, float]:
    """Which parameters train in ``epoch``, and at which base learning rate."""
    if epoch < cfg.head_epochs:
        return "head", model.head_parameters(), cfg.head_lr
    return "all", list(model.parameters()), cfg.lr


def train_dsva(
    model: DSVA,
    info: ModelInfo,
    classes: ClassSpace,
    split: ZeroShotSplit,
    out_dir: str | Path,
    config: TrainConfig = TrainConfig(),
    device: str = "auto",
    resume: bool = False,
    torchgeo_dataset: Any = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` on ``split.train`` and keep the best epoch by validation.

    Args:
        classes: all classes of the split (seen flags set), over the model's vocabulary.
        out_dir: receives ``last.pt`` (resume state), ``best.safetensors`` and ``history.json``.
    Returns:
        where the best model is, its epoch and validation metric, and the history.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    torch.manual_seed(config.seed)
    seen_classes = classes.subset(split.seen)
    t_data = time.perf_counter()
    labels, epoch_batches, logits_of = _data(model, info, classes, split, config, dev, torchgeo_dataset)
    if progress and config.resident:
        tqdm.write(f"training and validation images decoded in {time.perf_counter() - t_data:.0f} s")
    if config.sampler == "episodic":
        sampler: EpisodicSampler | ShuffledSampler = EpisodicSampler(labels, config.ways, config.shots, config.seed)
    else:
        sampler = ShuffledSampler(len(labels), config.batch_size, config.seed)
    gen = torch.Generator()
    seen_matrix = class_matrix_tensor(seen_classes, dev)
    targets = torch.from_numpy(normalized_vectors(seen_classes)).to(dev)
    model.to(dev)
    use_amp = config.amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start, history, best = 0, [], (-math.inf, -1, 0.0)
    state_path = out_dir / "last.pt"
    stage_name, params, base_lr = stage_of(model, 0, config)
    opt = optimizer_for(params, base_lr, config)
    if resume:
        if not state_path.is_file():
            raise DatasetError(f"nothing to resume: {state_path} does not exist; drop `resume`")
        state = torch.load(state_path, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        start, history = int(state["epoch"]) + 1, json.loads(state["history"])
        best = tuple(json.loads(state["best"]))
        stage_name, params, base_lr = stage_of(model, start, config)
        opt = optimizer_for(params, base_lr, config)
        if state["stage"] == stage_name:
            opt.load_state_dict(state["optimizer"])

    run_start = saved_at = time.perf_counter()
    epoch, planned = start, config.epochs
    while epoch < config.epochs:
        name, params, base_lr = stage_of(model, epoch, config)
        if name != stage_name:
            stage_name, opt = name, optimizer_for(params, base_lr, config)
        train_only(model, params)
        sampler.set_epoch(epoch)
        gen.manual_seed(config.seed * 100_003 + epoch)
        torch.manual_seed(config.seed * 100_003 + epoch)
        model.train()
        n_batches = len(sampler) if config.max_batches is None else min(len(sampler), config.max_batches)
        sums: dict[str, float] = {}
        images = 0
        t0 = time.perf_counter()
        # disable=None: no bar when not writing to a terminal (logs keep the epoch lines)
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{config.epochs} ({name})",
                   disable=None if progress else True, leave=False)
        for step, (x, y) in enumerate(epoch_batches(sampler, gen)):
            if step >= n_batches:
                break
            lr = lr_at(epoch + step / n_batches, base_lr, config)
            for g in opt.param_groups:
                g["lr"] = lr
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            images += x.shape[0]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                loss, parts = dsva_loss(model(x, seen_matrix), y, targets[y], config.loss)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{sums['loss'] / (step + 1):.3f}")
            bar.update()
        bar.close()
        if not images:
            raise DatasetError(f"epoch {epoch + 1} had no training batches ({len(labels)} training images); give "
                               "more images, or a smaller `batch_size`")
        record = {k: v / n_batches for k, v in sums.items()}
        record.update(epoch=epoch + 1, seconds=time.perf_counter() - t0,
                      images_per_s=images / max(time.perf_counter() - t0, 1e-9))
        record.update(_validate(logits_of, classes, split))
        history.append(record)
        if progress:
            tqdm.write(_describe(record))
        improved = record["selection"] > best[0]
        if improved:
            best = (record["selection"], epoch + 1, record["val_lambda"])
            save_checkpoint(model, _with_provenance(info, config, split, best, history), out_dir / "best.safetensors")
        atomic_write_text(out_dir / "history.json", json.dumps(history, indent=1))
        epoch += 1
        elapsed = time.perf_counter() - run_start
        if epoch == start + 1:
            first_epoch_s = elapsed
        if config.max_minutes and (epoch == start + 1 or epoch >= start + 5):
            # the first epoch alone at first (it errs short: warm-up), then the mean of the others
            per_epoch = elapsed if epoch == start + 1 else (elapsed - first_epoch_s) / (epoch - start - 1)
            config = _fit_budget(config, planned, epoch, elapsed, per_epoch, progress)
        # also on a new best, so a resumed run never replaces best.safetensors with a worse epoch
        if improved or epoch >= config.epochs or time.perf_counter() - saved_at >= STATE_EVERY_S:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch - 1,
                     "stage": stage_name, "history": json.dumps(history), "best": json.dumps(list(best))}
            torch.save(state, out_dir / "last.pt.part")
            (out_dir / "last.pt.part").replace(state_path)
            saved_at = time.perf_counter()
    for p in model.parameters():
        p.requires_grad_(True)
    return TrainResult(
        best_epoch=int(best[1]), best_metric=float(best[0]), history=history,
        model_path=out_dir / "best.safetensors", calibration=float(best[2]),
    )


def _fit_budget(
    config: TrainConfig, planned: int, done: int, elapsed: float, per_epoch: float, progress: bool
) -> TrainConfig:
    """The epochs that fit the time budget at ``per_epoch`` seconds each, at most ``planned``.

    Called after the first epoch and after every epoch from the fifth on, so a run that
    slows down (or speeds up) still ends inside its budget.
    """
    from dataclasses import replace

    left = int((config.max_minutes * 60 - elapsed) / max(per_epoch, 1e-9))
    fits = min(max(done + left, done, config.head_epochs + 1), planned)
    if fits == config.epochs:
        return config
    if progress and config.epochs == planned:  # said once; later refits move it an epoch or two
        tqdm.write(f"time budget {config.max_minutes} min: about {fits} epochs instead of {planned}")
    return replace(config, epochs=fits)


def lr_at(progress: float, base: float, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 1% over the stage-2 epochs."""
    if cfg.warmup_epochs and progress < cfg.warmup_epochs:
        return base * max(progress / cfg.warmup_epochs, 0.01)
    if progress < cfg.head_epochs:
        return base
    span = max(cfg.epochs - cfg.head_epochs, 1e-9)
    t = min((progress - cfg.head_epochs) / span, 1.0)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def _data(model, info, classes, split, cfg, dev, torchgeo_dataset):
    """Training labels, a function of (batch sampler, generator) giving the epoch's
    batches, and one giving validation logits for "val_seen" or "val_unseen"."""
    pre = info.preprocessing
    seen_names = classes.subset(split.seen).names
    if cfg.resident:
        aug = Augment(rotations=cfg.rotations, min_scale=cfg.min_scale, color_jitter=cfg.color_jitter)
        load = lambda samples, names: ResidentImages(samples, names, pre.image_size, dev, cfg.num_workers, torchgeo_dataset)  # noqa: E731
        train = load(split.train, seen_names)
        val = {"val_seen": load(split.val_seen, classes.names), "val_unseen": load(split.val_unseen, classes.names)}
        return (
            train.labels.tolist(),
            lambda sampler, gen: train.batches(sampler, pre.mean, pre.std, aug, gen),
            lambda which: logits_resident(model, info, classes, val[which], cfg.batch_size),
        )
    ds = SceneDataset(
        split.train,
        seen_names,
        train_transform(pre.image_size, pre.mean, pre.std, rotations=cfg.rotations,
                        min_scale=cfg.min_scale, color_jitter=cfg.color_jitter),
        torchgeo_dataset,
    )

    def epoch_batches(sampler, gen):
        return DataLoader(ds, batch_sampler=sampler, num_workers=cfg.num_workers, generator=gen,
                          pin_memory=dev.type == "cuda")

    return (
        ds.labels,
        epoch_batches,
        lambda which: logits_for(model, info, classes, getattr(split, which), cfg.batch_size, cfg.num_workers,
                                 torchgeo_dataset),
    )


def _validate(logits_of, classes: ClassSpace, split: ZeroShotSplit) -> dict[str, float]:
    """Validation metrics; ``selection`` is what picks the best epoch."""
    lv_s, yv_s = logits_of("val_seen")
    lv_u, yv_u = logits_of("val_unseen") if split.val_unseen else (lv_s[:0], yv_s[:0])
    return M.validate(lv_u, yv_u, lv_s, yv_s, classes.seen).metrics()


def _describe(r: dict[str, float]) -> str:
    keys = ("loss", "val_seen_acc", "val_zsl", "val_h", "images_per_s")
    return f"epoch {int(r['epoch'])}: " + "  ".join(f"{k} {r[k]:.3f}" for k in keys if k in r)


def _with_provenance(info: ModelInfo, cfg: TrainConfig, split: ZeroShotSplit, best, history) -> ModelInfo:
    prov = dict(info.provenance)
    prov.update(
        split={"seen": split.seen, "unseen": split.unseen},
        seed=cfg.seed,
        train=cfg.to_dict(),
        best_epoch=int(best[1]),
        validation=history[-1] if history else {},
    )
    return info.replace(calibration=float(best[2]), provenance=prov)
