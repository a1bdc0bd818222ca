import numpy as np
import pytest
import torch

from rsdsva.class_files import load_classes
from rsdsva.data import (
    EpisodicSampler,
    SceneDataset,
    ShuffledSampler,
    choose_unseen,
    eval_transform,
    make_split,
    parse_split,
    scan_image_folder,
    torchgeo_samples,
    train_transform,
)
from rsdsva.data.names import AID_FOLDER_TO_CLASS, UCM_FOLDER_TO_CLASS
from rsdsva.errors import DatasetError
from tests.conftest import ATTRIBUTES, DATA


@pytest.mark.parametrize(
    "folder, csv, mapping",
    [("ucm", "UCM", UCM_FOLDER_TO_CLASS), ("aid150", "AID", AID_FOLDER_TO_CLASS)],
)
def test_every_real_folder_maps_to_a_csv_class(folder, csv, mapping):
    classes = load_classes(ATTRIBUTES / f"{csv}_class_attributes.csv")
    folders = sorted(p.name for p in (DATA / folder).iterdir() if p.is_dir())
    assert sorted(mapping) == folders
    assert sorted(mapping.values()) == sorted(classes.names)


def test_scan_ucm_with_the_map():
    classes = load_classes(ATTRIBUTES / "UCM_class_attributes.csv")
    samples = scan_image_folder(DATA / "ucm", classes, "ucm")
    assert len(samples) == 2100 and {s.label for s in samples} == set(classes.names)
    with pytest.raises(DatasetError, match="map the folder name"):
        scan_image_folder(DATA / "ucm", classes, None)


def test_splits_are_disjoint_and_reproducible(make_image_folder):
    classes = load_classes(ATTRIBUTES / "UCM_class_attributes.csv")
    root = make_image_folder(sorted(UCM_FOLDER_TO_CLASS), per_class=10, size=8)
    samples = scan_image_folder(root, classes, "ucm")
    assert parse_split("16/5", 21) == (16, 5)
    with pytest.raises(DatasetError, match="does not fit 21 classes"):
        parse_split("16/4", 21)
    unseen = choose_unseen(classes.names, 5, seed=0)
    assert unseen == choose_unseen(classes.names, 5, seed=0) != choose_unseen(classes.names, 5, seed=1)
    a, b = make_split(samples, unseen, seed=0), make_split(samples, unseen, seed=0)
    parts = ["train", "val_seen", "test_seen", "val_unseen", "test_unseen"]
    assert all([s.source for s in getattr(a, p)] == [s.source for s in getattr(b, p)] for p in parts)
    sources = [s.source for p in parts for s in getattr(a, p)]
    assert len(sources) == len(set(sources)) == 210
    train = {s.source for s in a.train}
    assert not train & {s.source for s in a.test_seen + a.val_seen}, "a seen test image reaches training"
    assert not {s.label for s in a.train} & set(unseen), "an unseen class reaches training"
    assert {s.label for s in a.test_seen} == set(a.seen)


def test_episodic_sampler_ways_and_shots():
    labels = np.repeat(np.arange(10), 7)
    sampler = EpisodicSampler(labels, ways=4, shots=3, seed=0)
    sampler.set_epoch(2)
    batches = list(sampler)
    assert batches == list(sampler)  # same epoch, same batches
    for batch in batches:
        classes = labels[batch]
        assert len(batch) == 12 and len(set(classes)) == 4
        assert all((classes == c).sum() == 3 for c in set(classes))
    sampler.set_epoch(3)
    assert list(sampler) != batches
    with pytest.raises(DatasetError, match="lower --ways"):
        EpisodicSampler(labels, ways=11)
    shuffled = list(ShuffledSampler(70, batch_size=8, seed=0))
    assert len(shuffled) == 8 and len({i for b in shuffled for i in b}) == 64


def test_transforms_shapes_and_rotation():
    img = torch.randint(0, 255, (3, 256, 256), dtype=torch.uint8)
    assert train_transform(112, (0.5,) * 3, (0.5,) * 3)(img).shape == (3, 112, 112)
    out = eval_transform(112, (0.5,) * 3, (0.5,) * 3)(img)
    assert out.shape == (3, 112, 112) and out.dtype == torch.float32


def test_scale_and_colour_augmentation():
    # a left half black, right half white image: crops of 0.35 of the area and more vary the mix
    img = torch.zeros((3, 256, 256), dtype=torch.uint8)
    img[:, :, 128:] = 255
    torch.manual_seed(0)
    aug = train_transform(64, (0.5,) * 3, (0.5,) * 3, rotations=False, min_scale=0.35)
    means = {round(float(aug(img).mean()), 2) for _ in range(20)}
    assert len(means) > 5  # the same image seen at many footprints and offsets
    grey = torch.zeros((3, 64, 64), dtype=torch.uint8)
    grey[0] = 200  # a red image: saturation and grey-scale jitter change its channels' balance
    jitter = train_transform(64, (0.5,) * 3, (0.5,) * 3, rotations=False, resize_ratio=1.0, color_jitter=0.4)
    reds = {round(float(jitter(grey)[0].mean()), 2) for _ in range(20)}
    assert len(reds) > 5


def _batch(seed=0, b=6, size=32):
    return torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_resident_augmentation_with_everything_off_is_normalisation():
    from rsdsva.data.resident import Augment, augment_batch

    x = _batch()
    off = Augment(rotations=False, flips=False, resize_ratio=1.0)
    out = augment_batch(x, (0.5,) * 3, (0.25,) * 3, off, torch.Generator().manual_seed(0))
    assert torch.allclose(out, (x.float() / 255 - 0.5) / 0.25, atol=1e-5)


def test_resident_augmentation_turns_and_flips_exactly():
    from rsdsva.data.resident import Augment, augment_batch

    x = _batch(b=64)
    out = augment_batch(x, (0.0,) * 3, (1.0,) * 3, Augment(resize_ratio=1.0), torch.Generator().manual_seed(1))
    # every output is the input under one of the 8 symmetries of the square, and all 8 occur
    seen = set()
    for i in range(len(x)):
        img = x[i].float() / 255
        for k in range(4):
            for flip in (False, True):
                cand = torch.rot90(img.flip(-1) if flip else img, k, dims=(-2, -1))
                if torch.allclose(out[i], cand, atol=1e-5):
                    seen.add((k, flip))
                    break
            else:
                continue
            break
        else:
            raise AssertionError(f"image {i} is not a rotation or flip of its input")
    assert len(seen) == 8


def test_resident_augmentation_crops_jitters_and_is_reproducible():
    from rsdsva.data.resident import Augment, augment_batch

    # left half black, right half white: crops of 0.35 of the area and more vary the mix
    half = torch.zeros((40, 3, 64, 64), dtype=torch.uint8)
    half[..., 32:] = 255
    crop = Augment(rotations=False, flips=False, min_scale=0.35)
    out = augment_batch(half, (0.0,) * 3, (1.0,) * 3, crop, torch.Generator().manual_seed(0))
    assert out.shape == half.shape[:1] + (3, 64, 64)
    assert len({round(float(m), 2) for m in out.mean(dim=(1, 2, 3))}) > 10
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    red = torch.zeros((40, 3, 16, 16), dtype=torch.uint8)
    red[:, 0] = 200
    jitter = Augment(rotations=False, flips=False, resize_ratio=1.0, color_jitter=0.4, grey_fraction=0.25)
    a = augment_batch(red, (0.0,) * 3, (1.0,) * 3, jitter, torch.Generator().manual_seed(3))
    b = augment_batch(red, (0.0,) * 3, (1.0,) * 3, jitter, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    grey = (a[:, 0] == a[:, 1]).all(dim=(1, 2)) & (a[:, 1] == a[:, 2]).all(dim=(1, 2))
    assert 2 <= int(grey.sum()) <= 20  # a quarter grey, the rest red of several shades
    assert len({round(float(v), 2) for v in a[~grey, 0].mean(dim=(1, 2))}) > 10


def test_torchgeo_dataset_is_adapted(make_image_folder):
    from torchgeo.datasets import NonGeoClassificationDataset

    ds = NonGeoClassificationDataset(root=str(make_image_folder(["beach", "forest"])))
    samples = torchgeo_samples(ds)
    assert [s.label for s in samples] == ["beach"] * 3 + ["forest"] * 3
    scene = SceneDataset(samples, ["forest", "beach"], eval_transform(32, (0.5,) * 3, (0.5,) * 3), ds)
    x, y = scene[0]
    assert x.shape == (3, 32, 32) and y == 1


def test_webp_copies_scan_and_decode_like_the_originals(tmp_path, ucm_csv, make_image_folder):
    """scripts/jobs/resize_images.py --format webp writes the copies that GPU runs carry."""
    import subprocess
    import sys

    from rsdsva.data import scan_image_folder
    from rsdsva.data.folders import read_image
    from tests.conftest import ROOT

    src = make_image_folder(["beach", "forest"], per_class=2, size=128, suffix=".jpg")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "jobs" / "resize_images.py"), str(src), str(tmp_path / "copies"),
                    "--size", "64", "--format", "webp", "--workers", "1"], check=True, capture_output=True)
    samples = scan_image_folder(tmp_path / "copies", load_classes(ucm_csv), "ucm")
    assert [s.label for s in samples] == ["beach", "beach", "forest", "forest"]
    assert all(s.source.endswith(".webp") for s in samples)
    image = read_image(samples[2].source)
    original = read_image(str(src / "forest" / "forest00.jpg")).float()
    small = torch.nn.functional.interpolate(original[None], size=64, mode="bilinear", antialias=True)[0]
    assert image.shape == (3, 64, 64) and (image.float() - small).abs().mean() < 12


def test_max_images_is_a_seeded_sample_not_the_first_by_name(make_image_folder):
    from rsdsva.data.images import images_by_class

    root = make_image_folder(["beach", "forest"], per_class=12, size=8)
    a = images_by_class(root, "ucm", max_images=5, seed=0)
    b = images_by_class(root, "ucm", max_images=5, seed=0)
    c = images_by_class(root, "ucm", max_images=5, seed=1)
    assert a == b and a != c and all(len(v) == 5 for v in a.values())
    first = sorted(images_by_class(root, "ucm")["forest"])[:5]
    assert a["forest"] != first and set(a["forest"]) <= set(images_by_class(root, "ucm")["forest"])
