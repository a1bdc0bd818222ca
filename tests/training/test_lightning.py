"""DSVA as a Lightning task on torchgeo's real UCMerced data module, offline."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from rsdsva.errors import DatasetError
from rsdsva.mapping import MapSettings, map_scene
from rsdsva.models.backbones import example_layers
from rsdsva.models.checkpoint import load_checkpoint
from rsdsva.examples.recipe import EXAMPLE_SCALES, ORIENTATIONS, example_recipe
from rsdsva.training import DSVATask, ExportBest, TrainConfig, ZeroShotDataModule
from tests.conftest import DATA

FOLDERS = ("airplane", "beach", "forest", "harbor", "river")  # airplane is held out below


@pytest.fixture(scope="module")
def ucmerced_root(tmp_path_factory):
    """A torchgeo UCMerced root over the shared images: Images/<class>/ links and the three split files."""
    root = tmp_path_factory.mktemp("ucmerced")
    splits = {"train": [], "val": [], "test": []}
    for folder in FOLDERS:
        target = root / "UCMerced_LandUse" / "Images" / folder
        target.mkdir(parents=True)
        for i, image in enumerate(sorted((DATA / "ucm" / folder).iterdir())[:20]):
            (target / image.name).symlink_to(image)
            splits["train" if i < 12 else "val" if i < 16 else "test"].append(image.name)
    for part, names in splits.items():
        (root / f"uc_merced-{part}.txt").write_text("\n".join(names) + "\n")
    return root


class _Losses(L.Callback):
    def __init__(self):
        self.per_epoch = []

    def on_train_epoch_end(self, trainer, task):
        self.per_epoch.append(float(trainer.callback_metrics["train_loss"]))


def _data(root, config):
    from torchgeo.datamodules import UCMercedDataModule

    return ZeroShotDataModule(UCMercedDataModule(root=str(root), batch_size=config.batch_size), attributes="unified",
                              unseen=["airplane"], folder_map="ucm-unified", config=config)


def test_fit_test_export_map_and_resume(ucmerced_root, tmp_path, make_geotiff):
    torch.manual_seed(0)
    config = TrainConfig(epochs=2, head_epochs=1, head_lr=3e-3, lr=3e-3, batch_size=8, num_workers=0)
    data = _data(ucmerced_root, config)
    assert data.classes.names == ("airplane", "beach", "forest", "harbor", "river")
    assert list(data.classes.seen) == [False, True, True, True, True]
    assert all(s.label != "airplane" for s in data.samples["train"]) and len(data.samples["train"]) == 48
    task = DSVATask(data.classes, backbone="tiny-vit", image_size=32, config=config, gsd_m=0.3, tile_m=9.6)
    losses, best = _Losses(), tmp_path / "best.safetensors"
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, default_root_dir=tmp_path,
                        callbacks=[losses, ExportBest(best)], enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, data)
    assert len(losses.per_epoch) == 2 and losses.per_epoch[1] < losses.per_epoch[0]
    assert {"val_zsl", "val_h", "val_seen_acc", "val_lambda"} <= set(trainer.callback_metrics)
    result = trainer.test(task, data, verbose=False)[0]
    assert {"test_zsl", "test_u", "test_s", "test_h"} <= set(result) and 0 <= result["test_h"] <= 1

    model, info = load_checkpoint(best)  # the exported model: held-out classes and lambdas recorded
    assert info.held_out_classes().names == ("airplane",) and info.calibration == pytest.approx(task.val_lambda)
    assert info.map_calibration == pytest.approx(task.val_map_lambda)  # maps use the accuracy lambda
    assert set(info.example_calibrations) == {example_recipe(example_layers(model.backbone), s, n)
                                              for s in (EXAMPLE_SCALES, (1.0,)) for n in ORIENTATIONS}  # as train writes
    assert [layer for layer, _ in info.dsva.whitened] == list(example_layers(model.backbone))  # their features whitened
    assert not task.model.whitening  # fitted on a copy: the network being trained is unchanged
    steps = {int(v["step"]) for v in trainer.optimizers[0].state.values()}
    assert steps == {trainer.num_training_batches}  # a fresh optimiser for the second stage, head weights too
    out = tmp_path / "map.gpkg"
    map_scene(make_geotiff(shape=(64, 64)), out, MapSettings(model=str(best), tile_size=32))
    assert out.stat().st_size > 10_000

    # resume from Lightning's checkpoint: one more epoch, from where it stopped
    ckpt = next((tmp_path / "checkpoints").glob("*.ckpt"))
    again = DSVATask.load_from_checkpoint(ckpt)
    assert again.val_lambda == pytest.approx(task.val_lambda)
    resumed = L.Trainer(max_epochs=3, accelerator="cpu", logger=False, default_root_dir=tmp_path / "resumed",
                        callbacks=[losses], enable_progress_bar=False, enable_model_summary=False)
    resumed.fit(again, data, ckpt_path=ckpt)
    assert resumed.current_epoch == 3 and len(losses.per_epoch) == 3


def test_the_data_module_refuses_what_it_cannot_split(ucmerced_root):
    from torchgeo.datasets import UCMerced

    config = TrainConfig(batch_size=8, num_workers=0)
    with pytest.raises(DatasetError, match="not in the attributes; map the folder names"):
        ZeroShotDataModule(UCMerced(root=str(ucmerced_root), split="train"), attributes="unified", unseen=["beach"],
                           folder_map={"airplane": "jet"})
    with pytest.raises(DatasetError, match=r"held-out classes \['pond'\] have no images"):
        ZeroShotDataModule(UCMerced(root=str(ucmerced_root)), unseen=["pond"], folder_map="ucm-unified", config=config)
    # one dataset is split here, as rsdsva train splits a folder
    data = ZeroShotDataModule(UCMerced(root=str(ucmerced_root)), split="4/1", seed=0, folder_map="ucm-unified",
                              config=config)
    assert len(data.unseen) == 1 and all(s.label not in data.unseen for s in data.samples["train"])
