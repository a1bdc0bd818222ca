"""Training settings, with no torch: the CLI reads its defaults from here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rsdsva.errors import ConfigError

@dataclass(frozen=True)
class LossWeights:
    """Weights of the five terms; ``double_softmax`` reproduces the official loss."""

    xe: float = 1.0  # compatibility, prototype head
    attri: float = 1e-2  # regression, prototype head
    layer_xe: float = 1.0  # compatibility, VAM head
    layer_attri: float = 8e-2  # regression, VAM head
    cpt: float = 1e-2  # attention concentration
    double_softmax: bool = False

    @classmethod
    def official(cls) -> LossWeights:
        """The official scripts' weights and their cross-entropy over softmax outputs."""
        return cls(cpt=1e-9, double_softmax=True)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; defaults suit fine-tuning a pretrained backbone."""

    epochs: int = 20
    head_epochs: int = 2  # stage 1: prototypes + VAM linear only
    head_lr: float = 1e-3
    lr: float = 1e-4
    optimizer: str = "adamw"  # or "sgd" (momentum 0.9)
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.0
    sampler: str = "episodic"  # or "shuffle"
    ways: int = 8
    shots: int = 3
    batch_size: int = 32  # shuffle sampler and evaluation
    rotations: bool = True
    min_scale: float | None = None  # random resized crops of this much of the area and more
    color_jitter: float = 0.0  # brightness/contrast/saturation jitter, and some grey images
    # decode the images once, keep them on the training device and augment there (a GPU
    # trains a small model faster than loader workers can decode JPEGs); needs the memory
    # for train + validation images at the input size (about 38 KB each at 112 px)
    resident: bool = False
    amp: bool = True  # CUDA only
    num_workers: int = 2
    seed: int = 0
    loss: LossWeights = field(default_factory=LossWeights)
    max_batches: int | None = None  # per epoch; for quick runs and tests
    # time budget for the epochs (not start-up or the final test evaluation): from the time
    # per epoch so far, fewer epochs (the whole cosine schedule) if the planned ones would not fit
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        counts = {"epochs": self.epochs, "ways": self.ways, "shots": self.shots, "batch_size": self.batch_size,
                  "max_batches": 1 if self.max_batches is None else self.max_batches}
        for name, value in counts.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} {value!r}: give a whole number of 1 or more (an epoch needs a batch)")
        if not isinstance(self.head_epochs, int) or self.head_epochs < 0:
            raise ConfigError(f"head_epochs {self.head_epochs!r}: give a whole number of 0 or more")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
