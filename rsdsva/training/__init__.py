"""Training and evaluation: the loop, zero-shot metrics, experiments."""

from rsdsva.training.evaluate import EvalReport, evaluate_split, plot_report
from rsdsva.training.experiment import Experiment, evaluate_model, run_experiment
from rsdsva.training.loop import TrainConfig, TrainResult, train_dsva

__all__ = [
    "EvalReport",
    "Experiment",
    "TrainConfig",
    "TrainResult",
    "evaluate_model",
    "evaluate_split",
    "plot_report",
    "run_experiment",
    "train_dsva",
]


def __getattr__(name: str):
    """The Lightning task and data module, imported (with lightning) only when asked for."""
    if name in ("DSVATask", "ZeroShotDataModule", "ExportBest"):
        from rsdsva.training import lightning

        return getattr(lightning, name)
    raise AttributeError(f"module 'rsdsva.training' has no attribute {name!r}")
