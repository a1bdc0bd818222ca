"""Batch samplers: episodic (ways x shots) and plain shuffled, seeded per epoch."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from rsdsva.errors import DatasetError


class EpisodicSampler(Sampler[list[int]]):
    """Each batch holds ``ways`` distinct classes with ``shots`` images each.

    One epoch has as many episodes as it takes to show about every image once.
    Call :meth:`set_epoch` to reseed (training does), so runs are reproducible.
    """

    def __init__(self, labels: Sequence[int], ways: int = 8, shots: int = 3, seed: int = 0) -> None:
        self.by_class: dict[int, np.ndarray] = {}
        for i, y in enumerate(labels):
            self.by_class.setdefault(int(y), []).append(i)  # type: ignore[arg-type]
        self.by_class = {k: np.array(v) for k, v in self.by_class.items()}
        if ways > len(self.by_class):
            raise DatasetError(f"ways={ways} but only {len(self.by_class)} classes; lower --ways")
        self.ways, self.shots, self.seed, self.epoch = ways, shots, seed, 0
        self.episodes = max(1, len(labels) // (ways * shots))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.episodes

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        keys = sorted(self.by_class)
        for _ in range(self.episodes):
            batch: list[int] = []
            for c in rng.choice(keys, size=self.ways, replace=False):
                pool = self.by_class[int(c)]
                batch += rng.choice(pool, size=self.shots, replace=len(pool) < self.shots).tolist()
            yield batch


class ShuffledSampler(Sampler[list[int]]):
    """Plain shuffled batches of ``batch_size`` (the last, short one dropped)."""

    def __init__(self, n: int, batch_size: int = 32, seed: int = 0) -> None:
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return max(1, self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size].tolist()
