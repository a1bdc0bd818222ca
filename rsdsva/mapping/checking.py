"""Which tiles a person should check first (the tiles layer's ``check_rank``).

The unsurest tile first; then the unsurest tile that does not look like one already ranked
(attribute scores, centred over the map, with a cosine below :data:`SIMILAR`), and so on: ten
unsure tiles of one look are one question, which a correction fed back as an example answers for
all of them. The tiles that look like a ranked one follow, the unsurest first.

Weighting a tile by how many unsure tiles look like it (so a correction reaches further) was
measured on the sample scene's reference and lost: it put fewer wrong tiles first, and the
corrections of its picks did not lift the other tiles more (docs/bench_check_first.log).
"""

from __future__ import annotations

import numpy as np

SIMILAR = 0.8  # cosine of two tiles' centred attribute scores above which one stands for the other
CANDIDATES = 2000  # the unsurest tiles that may open a look (bounds the work on huge maps)
CHUNK = 4096  # tiles compared at once: memory CANDIDATES x CHUNK floats


def check_ranks(unsure: np.ndarray, looks: np.ndarray, similar: float = SIMILAR,
                candidates: int = CANDIDATES) -> np.ndarray:
    """Each tile's rank (1: check it first) from its unsureness (N,), for instance 1 - score,
    and its look (N, A)."""
    n = len(unsure)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    by_unsure = np.argsort(-np.asarray(unsure, dtype=np.float64), kind="stable")
    looks = np.asarray(looks, dtype=np.float32)
    looks = looks - looks.mean(axis=0)
    looks /= np.maximum(np.linalg.norm(looks, axis=1, keepdims=True), 1e-12)
    pool = by_unsure[: min(n, candidates)]
    covered = np.zeros(n, dtype=bool)
    first: list[int] = []
    for i in pool:
        if covered[i]:
            continue
        first.append(int(i))
        for start in range(0, n, CHUNK):
            covered[start : start + CHUNK] |= looks[start : start + CHUNK] @ looks[i] >= similar
        covered[i] = True
    opened = np.zeros(n, dtype=bool)
    opened[first] = True
    ranks = np.empty(n, dtype=np.int64)
    ranks[first + [int(i) for i in by_unsure if not opened[i]]] = np.arange(1, n + 1)
    return ranks
