"""What an engine is: the network's forward, images in, attribute scores (and attention maps,
and pooled layer features for classes from example areas) out, as numpy arrays.

Everything after the forward (class matrix, calibration, example classes, top-k) is
:class:`rsdsva.predict.Classifier`'s, written once for every engine. No torch here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np


class Forward(NamedTuple):
    """One forward pass over a batch of N images."""

    attributes: np.ndarray  # (N, A) attribute scores of the model's score head, float32
    attention: np.ndarray | None  # (N, A, grid_h, grid_w) prototype attention maps; None without prototypes
    tapped: tuple[np.ndarray, ...] = ()  # (N, D_i) pooled outputs of the layers asked for
    vam_attributes: np.ndarray | None = None  # (N, A) the Visual-Attribute Mapping's scores

    def head(self, name: str) -> np.ndarray:
        """Attribute scores of head ``name``: ``vam``, ``prototype`` (each attention map's maximum)
        or any other name for the model's score head."""
        if name == "vam":
            return self.vam_attributes
        if name == "prototype":
            return self.attention.max(axis=(2, 3))
        return self.attributes


class Engine:
    """Runs a model's network. Subclasses: :class:`rsdsva.engines.torch_engine.TorchEngine`
    (training, CUDA, conversion) and :class:`rsdsva.engines.onnx_engine.OnnxEngine` (CPUs,
    no torch)."""

    name: str = ""
    feature_space: str  # fingerprint of the weights (:func:`rsdsva.models.dsva.feature_space_id`)
    example_layers: tuple[str, ...]  # the layers classes from example areas are made from by default
    fixed_batch: int | None = None  # the batch size its graph was made for (a smaller one is padded up); None: any

    def run(self, images, tap: tuple[str, ...] = ()) -> Forward:
        """``images``: [0, 1] floats (N, 3, H, W), any size (resized to the model's input)."""
        raise NotImplementedError


def resize(images: np.ndarray, height: int, width: int, antialias: bool = False) -> np.ndarray:
    """Bilinear resize of (..., H, W) arrays to ``height`` x ``width`` with torch's weights
    (``align_corners=False``; ``antialias`` widens the filter when shrinking), as float32: along
    the rows (:func:`resize_columns`), then down the columns (:func:`resize_rows`). ``images`` may
    be a view into a larger array (a window of a strip): it is not copied."""
    if images.shape[-2:] == (height, width):
        return images
    return resize_rows(resize_columns(images, width, antialias), height, antialias)


def resize_columns(images: np.ndarray, width: int, antialias: bool = False) -> np.ndarray:
    """(..., H, W) to (..., H, ``width``), float32: one pass of :func:`resize`. Each output pixel
    reads a few source pixels, so the pass is a few matrix products over bands of outputs and the
    source pixels they read (:func:`_bands`), not one over the whole width: a 768 px window shrunk
    to 128 px costs about half."""
    x = images if images.dtype == np.float32 else images.astype(np.float32)
    if x.shape[-1] == width:
        return x
    out = np.empty((*x.shape[:-1], width), np.float32)
    for first, last, lo, hi, weights in _bands(x.shape[-1], width, antialias):
        out[..., first:last] = x[..., lo:hi] @ weights.T
    return out


def resize_rows(images: np.ndarray, height: int, antialias: bool = False) -> np.ndarray:
    """(..., H, W) to (..., ``height``, W), float32: the other pass of :func:`resize`."""
    x = images if images.dtype == np.float32 else images.astype(np.float32)
    if x.shape[-2] == height:
        return x
    out = np.empty((*x.shape[:-2], height, x.shape[-1]), np.float32)
    for first, last, lo, hi, weights in _bands(x.shape[-2], height, antialias):
        out[..., first:last, :] = np.matmul(weights, x[..., lo:hi, :])
    return out


_BAND = 8  # outputs per band: fewer wastes calls, more multiplies by zeros


@lru_cache(maxsize=64)
def _bands(n_in: int, n_out: int, antialias: bool) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """One axis's weights (:func:`_weights`) in bands of :data:`_BAND` outputs: (first, last output,
    first, last source pixel read, their (last - first, hi - lo) weights)."""
    dense = _weights(n_in, n_out, antialias)
    bands = []
    for first in range(0, n_out, _BAND):
        last = min(first + _BAND, n_out)
        read = np.flatnonzero(dense[first:last].any(axis=0))
        lo, hi = (int(read[0]), int(read[-1]) + 1) if len(read) else (0, 1)
        bands.append((first, last, lo, hi, np.ascontiguousarray(dense[first:last, lo:hi])))
    return tuple(bands)


@lru_cache(maxsize=64)
def _weights(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    """(n_out, n_in) matrix of one axis's bilinear weights, as ATen computes them."""
    scale = n_in / n_out
    out = np.zeros((n_out, n_in), np.float32)
    if antialias:  # the triangle filter, stretched by the scale when shrinking; weights renormalised at edges
        support = scale if scale >= 1.0 else 1.0
        inv = 1.0 / scale if scale >= 1.0 else 1.0
        for i in range(n_out):
            center = scale * (i + 0.5)
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), n_in)
            j = np.arange(lo, hi)
            wts = np.clip(1.0 - np.abs((j - center + 0.5) * inv), 0.0, None)
            total = wts.sum()
            out[i, lo:hi] = wts / total if total > 0 else 0.0
        return out
    for i in range(n_out):  # plain bilinear: the two nearest source pixels
        src = max(scale * (i + 0.5) - 0.5, 0.0)
        i0 = min(int(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        frac = src - i0
        out[i, i0] += 1.0 - frac
        out[i, i1] += frac
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def largest(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, indices) of the k largest per row, largest first."""
    idx = np.argsort(-values, axis=-1, kind="stable")[:, :k]
    return np.take_along_axis(values, idx, axis=-1), idx
