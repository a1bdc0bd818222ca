import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rsdsva.class_files import save_classes
from rsdsva.cli import cli
from rsdsva.errors import DatasetError
from rsdsva.models import load_checkpoint
from rsdsva.training import metrics as M
from rsdsva.training.experiment import Experiment, prepare
from rsdsva.training.loop import TrainConfig, train_dsva
from tests.conftest import ATTRIBUTES, DATA


def test_metrics_match_hand_computed_values():
    labels = np.array([0, 0, 0, 1, 2, 2])
    preds = np.array([0, 1, 0, 1, 0, 2])
    # class 0: 2/3, class 1: 1, class 2: 1/2
    assert M.mean_per_class_accuracy(labels, preds) == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    assert M.harmonic_mean(0.5, 1.0) == pytest.approx(2 / 3)
    seen = np.array([True, True, False])
    logits = np.array([[1.0, 0.0, 0.8], [0.0, 0.5, 0.9]])
    assert M.calibrated_predictions(logits, seen, 0.0).tolist() == [0, 2]
    assert M.calibrated_predictions(logits, seen, 0.3).tolist() == [2, 2]
    assert M.zsl_accuracy(logits, np.array([2, 2]), ~seen) == 1.0
    cm = M.confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_lambda_search_maximises_h():
    seen = np.array([True, False])
    # seen images: gaps (seen - unseen) 3, 2, 1; unseen images: gaps 1.5, 0.5, -1
    logits_s = np.array([[3.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    logits_u = np.array([[1.5, 0.0], [0.5, 0.0], [-1.0, 0.0]])
    ys, yu = np.zeros(3, int), np.ones(3, int)
    best = M.choose_calibration(logits_u, yu, logits_s, ys, seen)
    brute = max(
        (M.gzsl_score(logits_u, yu, logits_s, ys, seen, lam) for lam in np.linspace(-2, 4, 6001)),
        key=lambda g: g.h,
    )
    assert best.h == pytest.approx(brute.h)
    # H = 0.8 for lambda in (0.5, 1] (U=2/3, S=1) and in (1.5, 2] (U=1, S=2/3);
    # ties go to the smaller |lambda|
    assert best.h == pytest.approx(0.8)
    assert 0.5 < best.lam <= 1.0


def test_lambda_for_maps_maximises_accuracy_over_all_classes():
    """Three seen classes and one unseen: the map lambda counts each class once, so it stops
    short of H's, which gives up seen images to win unseen ones."""
    seen = np.array([True, True, True, False])
    logits_s = np.array([[3.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0.4, 0]])
    ys = np.array([0, 1, 2, 2])
    logits_u = np.array([[0, 0, 0.2, 0], [0, 0, 1.5, 0]])  # the second needs lambda > 1.5
    yu = np.array([3, 3])
    by_h = M.choose_calibration(logits_u, yu, logits_s, ys, seen)
    by_accuracy = M.choose_calibration(logits_u, yu, logits_s, ys, seen, criterion="accuracy")

    def mean_accuracy(g):
        return (3 * g.s + g.u) / 4

    brute = max((M.gzsl_score(logits_u, yu, logits_s, ys, seen, lam) for lam in np.linspace(-1, 4, 5001)),
                key=mean_accuracy)
    assert mean_accuracy(by_accuracy) == pytest.approx(mean_accuracy(brute))
    assert 0.2 < by_accuracy.lam <= 0.4 and (by_accuracy.u, by_accuracy.s) == (0.5, 1.0)
    assert 1.5 < by_h.lam and by_h.h == pytest.approx(0.8)
    with pytest.raises(ValueError, match="criterion 'f1'"):
        M.choose_calibration(logits_u, yu, logits_s, ys, seen, criterion="f1")


@pytest.fixture(scope="module")
def four_classes(tmp_path_factory):
    """4 real UCM classes (2 seen, 2 unseen), 20 images each."""
    root = tmp_path_factory.mktemp("ucm4")
    for folder in ("beach", "forest", "river", "harbor"):
        (root / folder).mkdir()
        for f in sorted((DATA / "ucm" / folder).iterdir())[:20]:
            (root / folder / f.name).symlink_to(f)
    attrs = ClassSpaceSubset.write(root)
    return Experiment(data=root, attributes=attrs, split="2/2", seed=0, backbone="tiny-vit", folder_map="ucm", gsd_m=0.3)


class ClassSpaceSubset:
    @staticmethod
    def write(root):
        from rsdsva.class_files import load_classes

        full = load_classes(ATTRIBUTES / "UCM_class_attributes.csv")
        return save_classes(full.subset(["beach", "forest", "river", "harbour"]), root / "attributes.csv")


def test_two_epochs_lower_the_loss_and_resume(four_classes, tmp_path):
    from rsdsva.models import create_model

    classes, split = prepare(four_classes)
    cfg = TrainConfig(epochs=2, head_epochs=0, lr=3e-3, ways=2, shots=4, num_workers=0, batch_size=16)
    model, info = create_model(classes.subset(split.seen), backbone="tiny-vit")
    res = train_dsva(model, info, classes, split, tmp_path / "run", cfg, device="cpu", progress=False)
    assert len(res.history) == 2 and res.history[1]["loss"] < res.history[0]["loss"]
    loaded, info2 = load_checkpoint(res.model_path)
    assert info2.classes.names == tuple(split.seen)
    assert info2.provenance["split"]["unseen"] == split.unseen
    # resume: a 3-epoch config continues from epoch 2 and keeps the history
    cfg3 = TrainConfig(epochs=3, head_epochs=0, lr=3e-3, ways=2, shots=4, num_workers=0, batch_size=16)
    model, info = create_model(classes.subset(split.seen), backbone="tiny-vit")
    res3 = train_dsva(model, info, classes, split, tmp_path / "run", cfg3, device="cpu", resume=True, progress=False)
    assert [h["epoch"] for h in res3.history] == [1, 2, 3]
    assert res3.history[:2] == res.history


def test_resident_images_train_and_validate_like_the_loader(four_classes, tmp_path):
    from rsdsva.data.resident import ResidentImages
    from rsdsva.models import create_model
    from rsdsva.training.logits import logits_for, logits_resident

    classes, split = prepare(four_classes)
    model, info = create_model(classes.subset(split.seen), backbone="tiny-vit")
    size = info.preprocessing.image_size
    # decoded once, the eval view of each image gives the loader's logits (up to uint8 rounding)
    val = ResidentImages(split.val_seen + split.val_unseen, classes.names, size)
    assert val.images.dtype == torch.uint8 and val.images.shape[1:] == (3, size, size)
    got, labels = logits_resident(model, info, classes, val, batch_size=5)
    want, want_labels = logits_for(model, info, classes, split.val_seen + split.val_unseen, batch_size=5)
    assert np.array_equal(labels, want_labels) and np.allclose(got, want, atol=0.05)
    assert np.array_equal(got.argmax(1), want.argmax(1))
    cfg = TrainConfig(epochs=2, head_epochs=0, lr=3e-3, sampler="shuffle", batch_size=8, num_workers=0,
                      resident=True, min_scale=0.5, color_jitter=0.3)
    res = train_dsva(model, info, classes, split, tmp_path / "run", cfg, device="cpu", progress=False)
    assert len(res.history) == 2 and res.history[1]["loss"] < res.history[0]["loss"]
    assert {"val_seen_acc", "val_h", "val_lambda"} <= set(res.history[1])
    _, info2 = load_checkpoint(res.model_path)
    assert info2.provenance["train"]["resident"] is True


def test_cli_train_and_evaluate(four_classes, tmp_path):
    out = tmp_path / "m.safetensors"
    args = ["--data", str(four_classes.data), "--attributes", str(four_classes.attributes), "--split", "2/2",
            "--folder-map", "ucm"]
    result = CliRunner().invoke(cli, ["train", *args, "--backbone", "tiny-vit", "--epochs", "2", "--head-epochs", "1",
                                      "--ways", "2", "--shots", "4", "--loader-workers", "0", "--out", str(out), "--gsd", "0.3",
                                      "--resident", "--min-scale", "0.5", "--color-jitter", "0.2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary) == {"zsl", "seen", "u", "s", "h", "lambda"}
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["calibration"] == summary["lambda"] and len(report["confusion"]) == 4
    assert out.with_suffix(".report.png").stat().st_size > 1000
    _, info = load_checkpoint(out)
    assert info.tile_m == pytest.approx(76.8) and info.provenance["test"]["h"] == summary["h"]
    assert info.provenance["train"]["resident"] and info.provenance["train"]["min_scale"] == 0.5
    # fitted on the validation images, for classes from example areas: the tile with its window, and alone,
    # as read, mirrored and in all eight orientations
    assert set(info.example_calibrations) == {f"model.blocks.0@{w}{n}" for w in ("1,2", "1")
                                              for n in ("", "/2", "/8")}  # tiny-vit: one block
    assert all(np.isfinite(v).all() and v[0] > 0 for v in info.example_calibrations.values())
    assert [layer for layer, _ in info.dsva.whitened] == ["model.blocks.0"]  # their features whitened first
    from rsdsva.engines.forms import onnx_form

    assert onnx_form(out) == out.with_suffix(".onnx")  # its ONNX form beside it, for the light install
    again = CliRunner().invoke(cli, ["evaluate", str(out), *args])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["zsl"] == pytest.approx(summary["zsl"])


def test_pooled_folders_over_the_unified_library_with_named_held_out_classes(tmp_path):
    """UCM and AID folders pooled: a class in both (beach) gets the images of both."""
    ucm, aid = tmp_path / "ucm", tmp_path / "aid"
    for root, folders in ((ucm, ("beach", "forest", "harbor")), (aid, ("Beach", "Pond", "Desert"))):
        src = DATA / ("ucm" if root == ucm else "aid150")
        for folder in folders:
            (root / folder).mkdir(parents=True)
            for f in sorted((src / folder).iterdir())[:12]:
                (root / folder / f.name).symlink_to(f)
    exp = Experiment(data=(ucm, aid), folder_map=("ucm-unified", "aid-unified"), attributes="unified",
                     unseen=("pond", "harbor"), backbone="tiny-vit")
    classes, split = prepare(exp)
    assert set(classes.names) == {"beach", "forest", "harbor", "pond", "desert"}
    assert split.unseen == ["harbor", "pond"] and sorted(split.seen) == ["beach", "desert", "forest"]
    beach = [s for part in (split.train, split.val_seen, split.test_seen) for s in part if s.label == "beach"]
    assert len(beach) == 24 and {"ucm", "aid"} == {"aid" if "/aid/" in s.source else "ucm" for s in beach}
    with pytest.raises(DatasetError, match="no images"):
        prepare(Experiment(data=(ucm, aid), folder_map=("ucm-unified", "aid-unified"), attributes="unified",
                           unseen=("airport",)))
    with pytest.raises(DatasetError, match="one map per folder"):
        prepare(Experiment(data=(ucm, aid, ucm), folder_map=("ucm-unified", "aid-unified"), attributes="unified"))


def test_time_budget_shortens_the_schedule_after_the_first_epoch():
    from rsdsva.training.loop import _fit_budget

    cfg = TrainConfig(epochs=50, head_epochs=2, max_minutes=1.0)
    fit = lambda done, elapsed, per_epoch: _fit_budget(cfg, 50, done, elapsed, per_epoch, progress=False).epochs  # noqa: E731
    assert fit(1, 6.0, 6.0) == 10
    assert fit(1, 0.5, 0.5) == 50  # never more than planned
    assert fit(1, 600.0, 600.0) == 3  # at least one stage-2 epoch
    # after the fifth epoch, from the steady epochs: a slow first epoch no longer cuts the run short
    assert fit(5, 12.0, 1.0) == 50 and fit(5, 12.0, 2.0) == 29


def test_evaluate_scores_a_classes_file_on_a_labelled_folder(tmp_path):
    """Folders named as the user likes, an explicit folder -> class map, the file's classes unseen."""
    import json

    from click.testing import CliRunner

    from rsdsva.cli import cli
    from rsdsva.library import pick
    from rsdsva.mapping import default_model_path
    from tests.conftest import DATA

    for folder, ucm, n in (("planes", "airplane", 4), ("diamonds", "baseballdiamond", 4), ("trees", "forest", 3)):
        (tmp_path / "imgs" / folder).mkdir(parents=True)
        for i in range(n):
            name = f"{ucm}{i:02d}.jpg"
            (tmp_path / "imgs" / folder / name).write_bytes((DATA / "ucm" / ucm / name).read_bytes())
    (tmp_path / "map.yaml").write_text("planes: airplane\ndiamonds: baseball_field\ntrees: forest\n")
    save_classes(pick(["airplane", "baseball_field"]), tmp_path / "new.yaml")
    args = ["evaluate", str(default_model_path()), "--data", str(tmp_path / "imgs"), "--classes", str(tmp_path / "new.yaml"),
            "--folder-map", str(tmp_path / "map.yaml"), "--report", str(tmp_path / "r.json")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert 0 <= summary["zsl"] <= 1 and 0 <= summary["h"] <= 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["counts"]["test_unseen"] == 8 and report["counts"]["test_seen"] == 3
    assert [c for c, s in zip(report["classes"], report["seen_mask"]) if not s] == ["airplane", "baseball_field"]
    bad = CliRunner().invoke(cli, args[:6])  # no folder map: "diamonds" is no class
    assert bad.exit_code == 1 and "class 'diamonds' is not in the attribute file" in bad.output
