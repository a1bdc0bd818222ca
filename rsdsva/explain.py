"""Why a scene got its label: attention maps of its strongest attributes and the class ranking."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsdsva.errors import ClassSpaceError, RsdsvaWarning
from rsdsva.inference import ClassifierSettings
from rsdsva.mapping.settings import GridSettings, ReadSettings


@dataclass
class Explanation:
    classes: list[tuple[str, float]]  # (name, probability), best first
    attributes: list[tuple[str, float]]  # (name, score), strongest first
    evidence: list[tuple[str, float]]  # (name, term of the winning class's score), largest first
    attention: np.ndarray  # (k, H, W) maps of ``attributes`` at the image's size
    image: np.ndarray  # (H, W, 3) uint8


def explain_image(
    image: str | Path,
    settings: ClassifierSettings = ClassifierSettings(),
    top_attributes: int = 4,
    top_classes: int = 5,
    tile: tuple[int, int] | None = None,
    grid: GridSettings = GridSettings(),
    read: ReadSettings = ReadSettings(),
) -> Explanation:
    """Classify one image as ``rsdsva map`` would with the same ``settings``, and collect
    what the prototype head looked at. ``tile`` (row, col): the tile of that map grid cell of a
    raster, instead of the whole image, read as ``rsdsva map`` reads it with ``grid`` and
    ``read`` settings (:func:`rsdsva.mapping.source.settings_of_map` gives a map's), with the
    windows around it that ``settings``' context and classes look at, so it gets the label
    and score a map with those settings gives it; the attention maps are cut to the tile."""
    from rsdsva.data.images import read_pixels
    from rsdsva.engines.base import resize, softmax
    from rsdsva.errors import MissingFileError
    from rsdsva.models.model_file import read_model_info
    from rsdsva.predict import build_classifier

    if not Path(image).is_file():
        raise MissingFileError(f"image not found: {image}; give a JPEG, PNG or TIFF file")
    info = read_model_info(settings.model_path)
    if not info.dsva.prototypes:
        raise ClassSpaceError("this model has no attribute prototypes, so no attention maps to show")
    if tile is None:
        _warn_if_squashed(image, info.tile_m)
    clf = build_classifier(settings)
    if tile:
        pixels, views, spectra, (seen, (y, x)) = map_tile(image, tile, info.tile_m, grid, read, clf)
        scored = clf.forward(views, spectra)
    else:
        pixels, seen, y, x = read_pixels(str(image)), 0, 0, 0
        scored = clf.forward(pixels[None].astype(np.float32) / np.float32(255))
    probs = softmax(scored.logits)[0]
    order = np.argsort(-probs, kind="stable")[:top_classes]
    attrs = scored.attributes[0]
    best_attr = np.argsort(-attrs, kind="stable")[:top_attributes]
    contrib = clf.contributions(attrs[None], order[:1])[0]
    height, width = pixels.shape[-2:]  # the attention covers the first context window: the tile's part of it
    maps = resize(scored.attention[:, best_attr].astype(np.float32), height + 2 * seen, width + 2 * seen)[0]
    maps = maps[:, y : y + height, x : x + width]
    names, vocab = clf.classes.names, clf.classes.attributes
    return Explanation(
        classes=[(names[i], float(probs[i])) for i in order],
        attributes=[(vocab[i], float(attrs[i])) for i in best_attr],
        evidence=[(vocab[i], float(contrib[i])) for i in np.argsort(-contrib, kind="stable")[:top_attributes]],
        attention=maps,
        image=pixels.transpose(1, 2, 0),
    )


def map_tile(raster: str | Path, tile: tuple[int, int], tile_m: float | None, grid: GridSettings, read: ReadSettings,
             classifier) -> tuple[np.ndarray, dict, np.ndarray | None, tuple[int, tuple[int, int]]]:
    """Grid cell ``tile`` (row, col) of ``rsdsva map``'s grid with ``grid`` and ``read`` settings
    (``tile_m``: the model's footprint), read as the map reads it for ``classifier``: its uint8
    (3, H, W) pixels, the windows around it (window size -> [0, 1] floats (1, 3, h, w)), its
    spectra where the classifier's example classes compare them, and where the tile lies in
    the first context window (that window's margin, and the tile's row and col in it)."""
    from rsdsva.mapping.source import open_tile_source

    source = open_tile_source(raster, grid, read, tile_m, note=False)
    if classifier.spectra is not None:
        source = source.with_spectra(classifier.spectra)
    margins = source.margins(classifier.scales)
    batch = source.reader(classifier.scales)([source.tile(*tile)])
    first = margins[classifier.views.context[0]]
    y, x = (int(v) for v in batch.offsets[first][0])
    size = source.grid.size
    pixels = batch.views[first][0, :, y : y + size, x : x + size]
    views = {s: batch.views[m].astype(np.float32) / np.float32(255) for s, m in margins.items()}
    return pixels, views, batch.spectra, (first, (y, x))


def _warn_if_squashed(image: str | Path, tile_m: float | None) -> None:
    """A georeferenced image much larger than the model's tile is shrunk into one input: say so."""
    import rasterio

    from rsdsva.mapping.grid import pixel_size_m

    try:
        with warnings.catch_warnings():  # a plain photo: no georeferencing to warn of
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(image)
        with src:
            if src.crs is None or not src.crs.is_projected or not tile_m:
                return
            side = max(src.width, src.height) * pixel_size_m(src)
    except Exception:  # not a raster GDAL knows, or not georeferenced: an ordinary photo
        return
    if side > 3 * tile_m:
        warnings.warn(f"{image} covers {side:.0f} m and the model's tile {tile_m:g} m: the whole image is shrunk "
                      "into one input; explain one map tile with --tile ROW,COL", RsdsvaWarning, stacklevel=3)


def plot_explanation(ex: Explanation, path: str | Path, title: str = "") -> Path:
    """A PNG: the image, one attention overlay per top attribute, and the class ranking."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rsdsva._io import atomic_path

    k = len(ex.attributes)
    fig, axes = plt.subplots(1, k + 2, figsize=(3.2 * (k + 2), 3.6),
                             gridspec_kw={"width_ratios": [1] * (k + 1) + [1.4]})
    axes[0].imshow(ex.image)
    axes[0].set_title(title or "image", fontsize=9)
    for ax, (name, score), amap in zip(axes[1 : k + 1], ex.attributes, ex.attention):
        ax.imshow(ex.image)
        ax.imshow(amap, cmap="inferno", alpha=0.55)
        ax.set_title(f"{name}\nscore {score:.2f}", fontsize=9)
    for ax in axes[: k + 1]:
        ax.set_axis_off()
    bars = axes[-1]
    labels = [n for n, _ in ex.classes][::-1]
    bars.barh(labels, [p for _, p in ex.classes][::-1], color="tab:blue")
    bars.set_xlim(0, 1)
    bars.set_title("class probability", fontsize=9)
    bars.tick_params(labelsize=8)
    evidence = "\n".join(f"{n} {v:+.2f}" for n, v in ex.evidence)
    bars.text(0.98, 0.02, f"evidence for {ex.classes[0][0]}:\n{evidence}", transform=bars.transAxes,
              ha="right", va="bottom", fontsize=7, family="monospace")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)
