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
