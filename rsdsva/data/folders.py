"""Scene images as (image, class name) samples: image folders and torchgeo datasets."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset

from rsdsva.data.images import Sample
from rsdsva.errors import DatasetError


def read_image(path: str) -> torch.Tensor:
    """An 8-bit RGB image as a uint8 tensor (3, H, W), decoded by torchvision where it can
    (faster) and otherwise by :func:`rsdsva.data.images.read_pixels` (its errors)."""
    from torchvision.io import ImageReadMode, decode_image

    from rsdsva.data.images import check_image_size, read_pixels

    check_image_size(path)
    try:
        return decode_image(path, mode=ImageReadMode.RGB)
    except RuntimeError:  # formats torchvision cannot decode (e.g. TIFF), and damaged files: PIL says which
        return torch.from_numpy(read_pixels(path))


def torchgeo_samples(dataset: Any) -> list[Sample]:
    """Samples of a torchgeo scene-classification dataset (UCMerced, RESISC45, EuroSAT, ...).

    The dataset object is the user's, built over data they downloaded; we only
    read its class list and its ``{"image", "label"}`` samples.
    """
    names = getattr(dataset, "classes", None)
    if not names:
        raise DatasetError(f"{type(dataset).__name__} has no 'classes' list; pass a torchgeo classification dataset")
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = [int(dataset[i]["label"]) for i in range(len(dataset))]
    return [Sample(i, names[int(t)]) for i, t in enumerate(targets)]


class SceneDataset(Dataset):
    """Samples -> (transformed image tensor, class index in ``class_names``)."""

    def __init__(
        self,
        samples: Sequence[Sample],
        class_names: Sequence[str],
        transform: Callable[[torch.Tensor], torch.Tensor],
        torchgeo_dataset: Any = None,
    ) -> None:
        index = {n: i for i, n in enumerate(class_names)}
        missing = sorted({s.label for s in samples} - set(index))
        if missing:
            raise DatasetError(f"samples of classes {missing[:5]} are not among the classes being trained")
        self.samples = list(samples)
        self.labels = [index[s.label] for s in self.samples]
        self.transform = transform
        self.torchgeo_dataset = torchgeo_dataset

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, i: int) -> torch.Tensor:
        source = self.samples[i].source
        if isinstance(source, int):
            image = self.torchgeo_dataset[source]["image"]
            return _to_uint8(image[:3])
        return read_image(source)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.load(i)), self.labels[i]


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """torchgeo images come as float 0-255 (or uint8); our transforms expect uint8."""
    if image.dtype == torch.uint8:
        return image
    if image.is_floating_point() and image.max() <= 1.0:
        image = image * 255
    return image.clamp(0, 255).round().to(torch.uint8)
