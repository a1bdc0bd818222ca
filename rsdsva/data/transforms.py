"""Train and eval transforms on uint8 image tensors (3, H, W)."""

from __future__ import annotations

from typing import Sequence

import torch
from torchvision.transforms import v2


class RandomRotate90(torch.nn.Module):
    """Rotate by a random multiple of 90 degrees: overhead scenes have no up."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        k = int(torch.randint(4, (1,)))
        return torch.rot90(image, k, dims=(-2, -1)) if k else image


def train_transform(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    rotations: bool = True,
    resize_ratio: float = 1.15,
    min_scale: float | None = None,
    color_jitter: float = 0.0,
) -> v2.Compose:
    """Resize -> RandomCrop -> flips (-> vertical flips and 90-degree rotations) -> normalise.

    ``min_scale``: instead of resize and crop, a random crop of ``min_scale`` to all of
    the image's area, resized to ``size`` (scenes seen at several ground footprints, as
    map tiles are). ``color_jitter``: random brightness, contrast and saturation of up to
    that fraction, and 10 % of images in grey (sensors and seasons differ from the
    training set's).
    """
    if min_scale:
        steps: list[torch.nn.Module] = [v2.RandomResizedCrop(size, scale=(min_scale, 1.0), antialias=True)]
    else:
        steps = [v2.Resize(int(round(size * resize_ratio)), antialias=True), v2.RandomCrop(size)]
    steps.append(v2.RandomHorizontalFlip())
    if color_jitter:
        steps += [v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter),
                  v2.RandomGrayscale(0.1)]
    if rotations:
        steps += [v2.RandomVerticalFlip(), RandomRotate90()]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


def to_model_input(images: torch.Tensor, size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Float images in [0, 1] (N, 3, H, W) as the model takes them: the whole image resized
    to ``size`` x ``size`` (bilinear, antialiased; a map tile is seen whole) and normalised.

    The one preprocessing of a checkpoint's contract (``ModelInfo.preprocessing``): map
    tiles, explained images, example tiles and images, and evaluation images all go
    through it.
    """
    if images.shape[-2:] != (size, size):
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                                 align_corners=False)
    m = torch.tensor(mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - m) / s


class ModelInput(torch.nn.Module):
    """:func:`to_model_input` for one uint8 image (3, H, W), as a dataset transform."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.size, self.mean, self.std = size, tuple(mean), tuple(std)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return to_model_input(image[None].float().div_(255), self.size, self.mean, self.std)[0]


def eval_transform(size: int, mean: Sequence[float], std: Sequence[float]) -> ModelInput:
    """The evaluation transform: the model's own input preparation (:func:`to_model_input`)."""
    return ModelInput(size, mean, std)
