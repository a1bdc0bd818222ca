"""Images decoded once and held on the training device, augmented a batch at a time.

A tiny ViT on a GPU consumes images faster than worker processes can decode and
augment JPEGs: on an H200 the default model's loader run took about 7.6 s an epoch
(5,800 images, validation included), a resident run about 3 s with a second run
sharing the GPU. Here the images are decoded once into a uint8 tensor at the
model's input size and augmented on the device: one affine warp per image (a
random resized crop, a flip, a 90-degree rotation), colour jitter, some grey
images, then normalisation. The same choices as :func:`train_transform`, drawn
from a seeded generator, so runs are reproducible on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from rsdsva.data.folders import SceneDataset
from rsdsva.data.images import Sample
from rsdsva.data.transforms import to_model_input

GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


@dataclass(frozen=True)
class Augment:
    """What :func:`augment_batch` draws; mirrors ``train_transform``'s options."""

    rotations: bool = True
    min_scale: float | None = None  # area of the crop, from this to 1; None: the fixed 1/1.15 zoom
    resize_ratio: float = 1.15
    color_jitter: float = 0.0
    grey_fraction: float = 0.1  # of images, when color_jitter is on
    flips: bool = True


def augment_batch(
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    aug: Augment,
    generator: torch.Generator,
) -> torch.Tensor:
    """Augmented, normalised float images from uint8 ``images`` (B, 3, S, S), on their device.

    Random numbers come from the CPU ``generator`` (a few per image), so the same
    seed gives the same batch on CPU and GPU.
    """
    b, dev = images.shape[0], images.device
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    if aug.min_scale:
        area = aug.min_scale + (1 - aug.min_scale) * rand(b)
        log_ratio = (rand(b) * 2 - 1) * math.log(4 / 3)  # aspect 3/4 to 4/3, as RandomResizedCrop
        w = (area * log_ratio.exp()).sqrt().clamp(max=1.0)
        h = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
    else:
        w = h = torch.full((b,), 1 / aug.resize_ratio)
    # crop centre anywhere that keeps the crop inside the image; [-1, 1] coordinates
    cx, cy = (rand(b) * 2 - 1) * (1 - w), (rand(b) * 2 - 1) * (1 - h)
    k = torch.randint(4, (b,), generator=generator) if aug.rotations else torch.zeros(b, dtype=torch.long)
    flip = (rand(b) < 0.5).float() * 2 - 1 if aug.flips else torch.ones(b)
    cos, sin = _quarter_turns(k)
    # input coordinate = diag(w, h) @ R(k) @ diag(flip, 1) @ output coordinate + centre
    theta = torch.stack(
        [torch.stack([w * cos * flip, -w * sin, cx], 1), torch.stack([h * sin * flip, h * cos, cy], 1)], 1
    )
    x = images.float().div_(255)
    grid = F.affine_grid(theta.to(dev), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if aug.color_jitter:
        x = _jitter(x, aug, generator)
    return _normalise(x, mean, std)


def _normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    return to_model_input(x, x.shape[-1], mean, std)  # already at the model's size: normalised only


def _quarter_turns(k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact cos and sin of k x 90 degrees."""
    cos = torch.tensor([1.0, 0.0, -1.0, 0.0])[k]
    sin = torch.tensor([0.0, 1.0, 0.0, -1.0])[k]
    return cos, sin


def _grey(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(GREY, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _jitter(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation factors in [1 - j, 1 + j]; then some images grey."""
    b, j, dev = x.shape[0], aug.color_jitter, x.device
    factor = lambda: (1 - j + 2 * j * torch.rand(b, generator=generator)).view(b, 1, 1, 1).to(dev)  # noqa: E731
    x = (x * factor()).clamp_(0, 1)
    mean = _grey(x).mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * factor() + mean).clamp_(0, 1)
    g = _grey(x)
    x = ((x - g) * factor() + g).clamp_(0, 1)
    grey = (torch.rand(b, generator=generator) < aug.grey_fraction).view(b, 1, 1, 1).to(dev)
    return torch.where(grey, _grey(x).expand_as(x), x)


class _Fit(torch.nn.Module):
    """The model input's resize (:func:`to_model_input`), kept as uint8: a quarter of the memory."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = to_model_input(image[None].float().div_(255), self.size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))[0]
        return x.mul_(255).round_().clamp_(0, 255).to(torch.uint8)


class ResidentImages:
    """``samples`` decoded once to uint8 (N, 3, size, size) on ``device``, with their labels.

    Each image is resized whole to ``size`` x ``size``, as the model's input preparation
    (:func:`rsdsva.data.transforms.to_model_input`) shows any image, and kept as uint8 (so
    within 1/510 of what the loader gives the model, before normalisation).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        class_names: Sequence[str],
        size: int,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        torchgeo_dataset: Any = None,
    ) -> None:
        ds = SceneDataset(samples, class_names, _Fit(size), torchgeo_dataset)
        images, labels = [], []
        for x, y in DataLoader(ds, batch_size=256, num_workers=num_workers):
            images.append(x)
            labels.append(y)
        empty = torch.zeros((0, 3, size, size), dtype=torch.uint8)
        self.images = (torch.cat(images) if images else empty).to(device)
        self.labels = (torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)).to(device)

    def __len__(self) -> int:
        return len(self.labels)

    def batches(
        self,
        index_batches: Iterable[Sequence[int]],
        mean: Sequence[float],
        std: Sequence[float],
        aug: Augment,
        generator: torch.Generator,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Augmented (images, labels) for each list of indices (a batch sampler's output)."""
        for idx in index_batches:
            i = torch.as_tensor(np.asarray(idx), device=self.images.device)
            yield augment_batch(self.images[i], mean, std, aug, generator), self.labels[i]

    def normalised(self, start: int, stop: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
        """Images ``start:stop`` as the eval transform gives them (no augmentation)."""
        return _normalise(self.images[start:stop].float().div_(255), mean, std)
