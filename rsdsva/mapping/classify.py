"""Batched tile classification with reading overlapped with the model.

Reader threads (each with its own rasterio handle; GDAL releases the GIL while it
decodes) read the next batches while the model runs on the current one. At most
``prefetch`` batches are in flight, so memory stays bounded whatever the mosaic's
size. Tiles are read by :mod:`rsdsva.mapping.source`, in strips.
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from rsdsva.engines.base import largest, resize, softmax
from rsdsva.mapping.grid import Tile
from rsdsva.mapping.raster import RasterSpec, SpectralSpec
from rsdsva.mapping.settings import ReadSettings
from rsdsva.mapping.source import Batch, context_pixels, tile_reader
from rsdsva.predict import Classifier


@dataclass
class TileResult:
    """One classified tile."""

    tile: Tile
    valid_fraction: float
    top_k: np.ndarray  # class indices, best first
    top_scores: np.ndarray  # their probabilities
    confidence: float  # how likely the label is right (rsdsva.confidence)
    attributes: np.ndarray  # (A,) attribute scores
    contributions: np.ndarray | None = None  # (A,) terms of the winning class's score (explain)
    attention: np.ndarray | None = None  # (k, size, size) chosen attention maps at tile size
    similarity: np.ndarray | None = None  # (E,) cosine similarity to each example class's nearest example


def _floats(images: np.ndarray) -> np.ndarray:
    """uint8 pixels as [0, 1] floats; floats as they are."""
    return images if images.dtype == np.float32 else images.astype(np.float32) / np.float32(255)


def _one_blas_thread(on: bool):
    """numpy's BLAS on one thread while the readers resize beside ONNX Runtime, whose threads have
    the cores: BLAS's own threads on top oversubscribe them (bench_map --quick's ONNX map: 4.4 s with
    them, 3.7 s without). ONNX Runtime does not use numpy's BLAS; torch has its own threads."""
    if not on:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _batches(tiles: Sequence[Tile], n: int) -> Iterator[list[Tile]]:
    for start in range(0, len(tiles), n):
        yield list(tiles[start : start + n])


def classify_tiles(
    classifier: Classifier | Callable[[], Classifier],
    spec: RasterSpec,
    tiles: Sequence[Tile],
    batch_size: int = 64,
    top_k: int = 3,
    max_nodata: float = ReadSettings.max_nodata,
    read_threads: int = 2,
    prefetch: int = 3,
    on_batch: Callable[[int, int], None] | None = None,
    explain: bool = False,
    attention_attributes: Sequence[int] = (),
    scales: Sequence[float] = (1.0,),
    input_size: int | None = None,
    spectral: SpectralSpec | None = None,
) -> Iterator[TileResult]:
    """Classify ``tiles``; tiles more than ``max_nodata`` invalid are skipped (not yielded).

    Args:
        classifier: the classifier, or a function returning it: called once the first
            reads are queued (a model loading in another thread overlaps them). It runs at
            its own precision (``--amp``).
        on_batch: called with (tiles done, tiles skipped) after each batch.
        explain: also give each tile the terms of its winning class's score.
        attention_attributes: attribute indexes whose prototype attention maps are
            returned, upsampled (bilinear) from the patch grid to the tile's size.
        scales: the windows, in tile sizes, read around each tile (the classifier's
            :attr:`~rsdsva.predict.Classifier.scales`, known before it is built): the model
            sees them, the label and the valid fraction are the tile's.
        input_size: resize the windows to the model's input (px) in the reader threads, while
            the model runs on the batch before (for the ONNX engine, which resizes in numpy);
            None: the classifier's engine resizes them.
        spectral: read each tile's spectra too, for classes from example areas that compare them
            (:attr:`~rsdsva.mapping.source.TileSource.spectral`).
    """
    # Read at the window's own size and resized (antialiased) to the model input by the readers
    # (input_size) or the classifier, exactly as any image handed to it is.
    if not tiles:
        return
    size = int(tiles[0].window.width)
    margin = {s: context_pixels(size, s) for s in scales}
    read = tile_reader(spec, size, list(margin.values()), spectral, input_size)

    def prepared(chunk: list[Tile]) -> tuple[Batch, np.ndarray, dict[float, np.ndarray]]:
        """A batch, the indexes of the tiles kept, and their windows: resized to the model's
        [0, 1] input by the reader with ``input_size``, else as read (uint8, a quarter of the
        memory while queued; made floats just before the model runs)."""
        batch = read(chunk)
        keep = np.flatnonzero(batch.valid >= 1.0 - max_nodata)
        return batch, keep, {s: batch.views[m][keep] for s, m in margin.items()}

    done = skipped = 0
    with _one_blas_thread(input_size is not None), \
            ThreadPoolExecutor(max_workers=max(1, read_threads), thread_name_prefix="rsdsva-read") as pool:
        pending: deque = deque()
        source = _batches(tiles, batch_size)
        for chunk in source:
            pending.append(pool.submit(prepared, chunk))
            if len(pending) >= prefetch:
                break
        if callable(classifier):
            classifier = classifier()
        k = min(top_k, len(classifier.classes))
        while pending:
            batch, keep, views = pending.popleft().result()
            nxt = next(source, None)
            if nxt is not None:
                pending.append(pool.submit(prepared, nxt))
            skipped += len(batch.tiles) - len(keep)
            if len(keep):
                spectra = None if batch.spectra is None else batch.spectra[keep]
                scored = classifier.forward({s: _floats(v) for s, v in views.items()}, spectra)
                logits, attrs, attention, sims = scored.logits, scored.attributes, scored.attention, scored.similarity
                scores, idx = largest(softmax(logits), k)
                sure = classifier.confidence(scores[:, 0], idx[:, 0])
                contrib = classifier.contributions(attrs, idx[:, 0]) if explain else None
                maps = None
                if attention_attributes:
                    chosen = attention[:, list(attention_attributes)]
                    seen = margin[classifier.views.context[0]]  # the maps cover the first context window; keep the tile's part
                    span = size + 2 * seen
                    full = resize(chosen.astype(np.float32), span, span)
                    maps = np.zeros((len(keep), full.shape[1], size, size), dtype=full.dtype)
                    for j, (oy, ox) in enumerate(batch.offsets[seen][keep]):
                        part = full[j, :, oy : oy + size, ox : ox + size]  # an edge tile's is cut at the raster's edge
                        maps[j, :, : part.shape[1], : part.shape[2]] = part
                for j, i in enumerate(keep):
                    yield TileResult(tile=batch.tiles[i], valid_fraction=float(batch.valid[i]), top_k=idx[j],
                                     top_scores=scores[j], confidence=float(sure[j]), attributes=attrs[j],
                                     contributions=None if contrib is None else contrib[j],
                                     attention=None if maps is None else maps[j],
                                     similarity=None if sims is None else sims[j])
            done += len(batch.tiles)
            if on_batch is not None:
                on_batch(done, skipped)
