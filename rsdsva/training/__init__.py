"""Training and evaluation: the loop, zero-shot metrics, experiments, the Lightning task.

Every name imports its module (and torch, or lightning) on first use; the settings,
:mod:`rsdsva.training.config`, need neither.
"""

from rsdsva._lazy import lazy_members

_MODULES = {
    "rsdsva.training.config": ("LossWeights", "TrainConfig"),
    "rsdsva.training.losses": ("dsva_loss",),
    "rsdsva.training.evaluate": ("EvalReport", "evaluate_split"),
    "rsdsva.training.example_fit": ("fit_example_features",),
    "rsdsva.training.plots": ("plot_report",),
    "rsdsva.training.experiment": ("Experiment", "evaluate_model", "run_experiment"),
    "rsdsva.training.loop": ("TrainResult", "train_dsva"),
    "rsdsva.training.lightning": ("DSVATask", "ExportBest", "ZeroShotDataModule"),
}
__getattr__ = lazy_members(__name__, _MODULES)
__all__ = sorted(name for names in _MODULES.values() for name in names)
