"""Datasets, zero-shot splits, samplers and transforms (each imported on first use)."""

from rsdsva._lazy import lazy_members

_MODULES = {
    "rsdsva.data.folders": ("SceneDataset", "torchgeo_samples"),
    "rsdsva.data.images": ("Sample", "scan_image_folder"),
    "rsdsva.data.samplers": ("EpisodicSampler", "ShuffledSampler"),
    "rsdsva.data.splits": ("ZeroShotSplit", "choose_unseen", "make_split", "parse_split"),
    "rsdsva.data.transforms": ("eval_transform", "train_transform"),
}
__getattr__ = lazy_members(__name__, _MODULES)
__all__ = sorted(name for names in _MODULES.values() for name in names)
