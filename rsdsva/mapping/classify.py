"""Batched tile classification with reading overlapped with the model.

Reader threads (each with its own rasterio handle; GDAL releases the GIL while it
decodes) read the next batches while the model runs on the current one. At most
``prefetch`` batches are in flight, so memory stays bounded whatever the mosaic's
size. The touching tiles of a grid row are read as one strip and sliced (one GDAL
call instead of one per tile).
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from rsdsva.mapping.raster import RasterSpec, Tile, read_strip
from rsdsva.predict import Classifier


@dataclass
class TileResult:
    """One classified tile."""

    tile: Tile
    valid_fraction: float
    top_k: np.ndarray  # class indices, best first
    top_scores: np.ndarray  # their probabilities
    attributes: np.ndarray  # (A,) attribute scores
    contributions: np.ndarray | None = None  # (A,) terms of the winning class's score (explain)
    attention: np.ndarray | None = None  # (k, size, size) chosen attention maps at tile size


@dataclass
class _Batch:
    tiles: list[Tile]
    images: np.ndarray  # (n, 3, S, S) uint8: the windows the model sees
    valid: np.ndarray  # (n,)
    offsets: np.ndarray  # (n, 2) row, col of each tile's own top-left in its window (>= 0)


# a strip is at most this many pixels (its uint8 copy beside the batch: 12 MB)
STRIP_PIXELS = 1 << 22


def seen_window(window: Window, margin: int, width: int, height: int) -> Window:
    """The window the model sees for a tile: grown by ``margin`` pixels on each side and, where
    that reaches past a raster of ``width`` x ``height``, moved back inside it (when the raster
    is large enough). An edge tile is then seen as imagery, its neighbours' included, instead of
    black padding; its label and valid fraction stay the tile's own, which it still contains."""
    span = int(window.width) + 2 * margin

    def place(offset, extent: int) -> int:
        offset = int(offset) - margin
        return min(max(offset, 0), extent - span) if extent >= span else offset

    return Window(place(window.col_off, width), place(window.row_off, height), span, span)


def tile_reader(spec: RasterSpec, size: int, margin: int = 0) -> Callable[[Sequence[Tile]], _Batch]:
    """Reads the window the model sees for each tile (:func:`seen_window`: the tile grown by
    ``margin`` pixels of context, kept inside the raster); the valid fraction is the tile's
    own, without the context."""
    local = threading.local()
    span = size + 2 * margin

    def read(tiles: Sequence[Tile]) -> _Batch:
        src = getattr(local, "src", None)
        if src is None:
            src = local.src = rasterio.open(spec.path)
        images = np.empty((len(tiles), 3, span, span), dtype=np.uint8)
        valid = np.empty(len(tiles), dtype=np.float32)
        offsets = np.empty((len(tiles), 2), dtype=np.int64)
        for first, run in _runs(tiles, size):
            seen = [seen_window(t.window, margin, spec.width, spec.height) for t in run]
            left, top = int(seen[0].col_off), int(seen[0].row_off)  # one grid row: one top; cols ascend
            data, ok = read_strip(src, spec, Window(left, top, int(seen[-1].col_off) + span - left, span))
            for i, (t, w) in enumerate(zip(run, seen), start=first):
                x = int(w.col_off) - left
                images[i] = data[:, :, x : x + span]
                oy, ox = int(t.window.row_off) - top, int(t.window.col_off) - left  # the tile in the strip
                valid[i] = ok[oy : oy + size, ox : ox + size].sum() / (size * size)  # past the strip: outside
                offsets[i] = oy, ox - x
        return _Batch(list(tiles), images, valid, offsets)

    return read


def _runs(tiles: Sequence[Tile], size: int) -> Iterator[tuple[int, list[Tile]]]:
    """(index of the first, tiles) for each run of tiles in one grid row that touch or overlap."""
    start = 0
    for i in range(1, len(tiles) + 1):
        if i < len(tiles):
            a, b = tiles[i - 1].window, tiles[i].window
            same_row = b.row_off == a.row_off and a.col_off < b.col_off <= a.col_off + size
            if same_row and (b.col_off + size - tiles[start].window.col_off) * size <= STRIP_PIXELS:
                continue
        yield start, list(tiles[start:i])
        start = i


def _batches(tiles: Sequence[Tile], n: int) -> Iterator[list[Tile]]:
    for start in range(0, len(tiles), n):
        yield list(tiles[start : start + n])


def classify_tiles(
    classifier: Classifier | Callable[[], Classifier],
    spec: RasterSpec,
    tiles: Sequence[Tile],
    batch_size: int = 64,
    top_k: int = 3,
    max_nodata: float = 0.5,
    read_threads: int = 2,
    prefetch: int = 3,
    on_batch: Callable[[int, int], None] | None = None,
    explain: bool = False,
    attention_attributes: Sequence[int] = (),
    context: int = 0,
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
        context: pixels of the surroundings added on each side of a tile: the model sees
            the larger window, the label and the valid fraction are the tile's.
    """
    # Read at the window's own size; the classifier resizes (antialiased) to the model input,
    # exactly as it does for any image handed to it.
    if not tiles:
        return
    size = int(tiles[0].window.width)
    read = tile_reader(spec, size, context)
    done = skipped = 0
    with ThreadPoolExecutor(max_workers=max(1, read_threads), thread_name_prefix="rsdsva-read") as pool:
        pending: deque = deque()
        source = _batches(tiles, batch_size)
        for chunk in source:
            pending.append(pool.submit(read, chunk))
            if len(pending) >= prefetch:
                break
        if callable(classifier):
            classifier = classifier()
        k = min(top_k, len(classifier.classes))
        while pending:
            batch = pending.popleft().result()
            nxt = next(source, None)
            if nxt is not None:
                pending.append(pool.submit(read, nxt))
            keep = np.flatnonzero(batch.valid >= 1.0 - max_nodata)
            skipped += len(batch.tiles) - len(keep)
            if len(keep):
                images = torch.from_numpy(batch.images[keep]).to(classifier.device, non_blocking=True)
                logits, out = classifier.forward(images.float().div_(255))
                attrs = out.attributes.float()
                scores, idx = logits.softmax(dim=-1).topk(k, dim=-1)
                contrib = classifier.contributions(attrs, idx[:, 0]).cpu().numpy() if explain else None
                maps = None
                if attention_attributes:
                    chosen = out.attention[:, list(attention_attributes)].float()
                    span = size + 2 * context  # the maps cover the window the model saw; keep the tile's part
                    full = torch.nn.functional.interpolate(chosen, size=(span, span), mode="bilinear",
                                                           align_corners=False).cpu().numpy()
                    maps = np.zeros((len(keep), full.shape[1], size, size), dtype=full.dtype)
                    for j, (oy, ox) in enumerate(batch.offsets[keep]):
                        part = full[j, :, oy : oy + size, ox : ox + size]  # an edge tile's is cut at the raster's edge
                        maps[j, :, : part.shape[1], : part.shape[2]] = part
                scores, idx, attrs = scores.cpu().numpy(), idx.cpu().numpy(), attrs.cpu().numpy()
                for j, i in enumerate(keep):
                    yield TileResult(batch.tiles[i], float(batch.valid[i]), idx[j], scores[j], attrs[j],
                                     None if contrib is None else contrib[j], None if maps is None else maps[j])
            done += len(batch.tiles)
            if on_batch is not None:
                on_batch(done, skipped)
