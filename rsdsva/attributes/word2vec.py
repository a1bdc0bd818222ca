"""Word2vec class vectors: the baseline that replaces attributes by word embeddings.

A class's vector is the attribute-weighted mean of its attributes' word2vec
vectors (``../shared/data/attributes/<SET>_attribute_word2vec.npy``, one 300-d row
per attribute), so the model aligns images with a 300-d semantic space instead of
the attribute space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsdsva.classes import ClassSpace
from rsdsva.errors import ClassSpaceError, MissingFileError


def load_word2vec(path: str | Path, classes: ClassSpace) -> np.ndarray:
    """The (A, D) attribute embeddings in ``path``, checked against the vocabulary size."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"word2vec file not found: {path}; give the <SET>_attribute_word2vec.npy file")
    vectors = np.load(path, allow_pickle=False)
    if vectors.ndim != 2 or vectors.shape[0] != classes.num_attributes:
        raise ClassSpaceError(
            f"{path}: shape {vectors.shape} does not fit {classes.num_attributes} attributes; "
            "use the file made for this attribute vocabulary"
        )
    return vectors.astype(np.float32)


def word2vec_classes(classes: ClassSpace, vectors: np.ndarray) -> ClassSpace:
    """``classes`` re-expressed in word2vec space (dimensions ``w2v_000`` ...)."""
    weights = classes.matrix / classes.matrix.sum(axis=1, keepdims=True)
    matrix = weights @ vectors
    dims = [f"w2v_{i:03d}" for i in range(vectors.shape[1])]
    return ClassSpace(names=classes.names, attributes=dims, matrix=matrix, seen=classes.seen, scale=1.0, signed=True)
