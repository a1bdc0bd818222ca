"""Datasets, zero-shot splits, samplers and transforms."""

from rsdsva.data.folders import Sample, SceneDataset, scan_image_folder, torchgeo_samples
from rsdsva.data.samplers import EpisodicSampler, ShuffledSampler
from rsdsva.data.splits import ZeroShotSplit, choose_unseen, make_split, parse_split
from rsdsva.data.transforms import eval_transform, train_transform

__all__ = [
    "EpisodicSampler",
    "Sample",
    "SceneDataset",
    "ShuffledSampler",
    "ZeroShotSplit",
    "choose_unseen",
    "eval_transform",
    "make_split",
    "parse_split",
    "scan_image_folder",
    "torchgeo_samples",
    "train_transform",
]
