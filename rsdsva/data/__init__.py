"""Datasets, zero-shot splits, samplers and transforms (each imported on first use)."""

from rsdsva._lazy import lazy_members

_MEMBERS = {
    "Sample": "rsdsva.data.folders",
    "SceneDataset": "rsdsva.data.folders",
    "scan_image_folder": "rsdsva.data.folders",
    "torchgeo_samples": "rsdsva.data.folders",
    "EpisodicSampler": "rsdsva.data.samplers",
    "ShuffledSampler": "rsdsva.data.samplers",
    "ZeroShotSplit": "rsdsva.data.splits",
    "choose_unseen": "rsdsva.data.splits",
    "make_split": "rsdsva.data.splits",
    "parse_split": "rsdsva.data.splits",
    "eval_transform": "rsdsva.data.transforms",
    "train_transform": "rsdsva.data.transforms",
}
__getattr__ = lazy_members(__name__, _MEMBERS)
__all__ = sorted(_MEMBERS)
