"""A class's attribute vector estimated from a few example images by a trained DSVA.

The model's Visual-Attribute Mapping is trained to regress each image onto its
class's (unit-norm) attribute vector, so its output for a handful of images of a
new class, averaged, estimates that class's vector. Negative values are set to 0
(attributes run from absent to present) and the vector is rescaled so that its
strongest attribute gets the vocabulary's scale, like the human matrices.
``head='prototype'`` uses the prototype attribute scores instead.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from rsdsva.classes import ClassSpace
from rsdsva.errors import ClassSpaceError

HEADS = ("vam", "prototype", "model")


def image_attributes(network, info, paths: Sequence[str], head: str = "vam", batch_size: int = 32) -> np.ndarray:
    """(N, A) attribute scores of image files: the VAM head, the prototype head, or the
    model's configured score head (``model``, what its class logits use). ``network``: an
    :class:`~rsdsva.engines.base.Engine`, or a DSVA module."""
    from rsdsva.data.images import read_pixels
    from rsdsva.engines.base import Engine, resize

    if head not in HEADS:
        raise ClassSpaceError(f"head {head!r} is not one of {', '.join(HEADS)}")
    if head == "prototype" and not info.dsva.prototypes:
        raise ClassSpaceError("this model has no attribute prototypes; use head 'vam'")
    if not isinstance(network, Engine):
        from rsdsva.engines.torch_engine import TorchEngine

        network = TorchEngine(network, info)
    size = info.preprocessing.image_size
    out = []
    for start in range(0, len(paths), batch_size):
        # each resized as the map's input is (images may differ in size), then one batch
        batch = np.concatenate([resize(read_pixels(p)[None].astype(np.float32) / np.float32(255), size, size,
                                       antialias=True) for p in paths[start : start + batch_size]])
        out.append(network.run(batch).head(head))
    return np.concatenate(out)


def attributes_from_images(
    network,
    info,
    images: Mapping[str, Sequence[str]],
    head: str = "vam",
    seen: bool = False,
    batch_size: int = 32,
) -> ClassSpace:
    """Estimated vectors of the classes in ``images`` (class -> a few image paths)."""
    vocab = info.classes
    rows = []
    for name, paths in images.items():
        if not paths:
            raise ClassSpaceError(f"class {name!r} has no example images; give at least one")
        rows.append(vector_from_scores(name, image_attributes(network, info, list(paths), head, batch_size), vocab))
    return ClassSpace(
        names=list(images), attributes=vocab.attributes, matrix=np.stack(rows),
        seen=np.full(len(images), seen), groups=vocab.groups, scale=vocab.scale,
    )


def vector_from_scores(name: str, scores: np.ndarray, vocab: ClassSpace) -> np.ndarray:
    """A class vector from its examples' (N, A) attribute scores: their mean, negatives set
    to 0, rescaled so the strongest attribute gets the vocabulary's scale."""
    mean = scores.mean(axis=0).clip(min=0)
    if not mean.any():
        raise ClassSpaceError(f"class {name!r}: the model predicts no attribute present for its examples")
    return mean / mean.max() * vocab.scale
