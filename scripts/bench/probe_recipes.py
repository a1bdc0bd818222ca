#!/usr/bin/env python
"""Which features make classes from example areas, and which windows the zero-shot map looks at.

1. Example recipes on the sample scene (docs/autzen_reference.yaml: 6 kinds, 90 tiles): k
   reference tiles per kind are the examples (--draws random draws, and the shipped example
   areas), the other tiles are scored among the 6 kinds (zero-shot among the examples, no
   seen class). Features: the default model's backbone stages, pooled, on the tile and on
   windows 2 and 3 tiles wide, read as the map reads them; a class scores a tile by the mean
   of its examples or by its nearest example (cosine).
2. The same layers on unseen UC Merced and AID images (the default model's 8 held-out
   classes, 30 images each; an image has no surroundings, so the tile alone).
3. The zero-shot map: the default model's labels on the reference tiles from one window or
   the mean probabilities of several (1 = the tile, 2 and 3 = windows that many tiles wide).

  python scripts/bench/probe_recipes.py      # about 3 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
import yaml

from rsdsva.data.folders import read_image
from rsdsva.inference import ClassifierSettings
from rsdsva.mapping.classify import context_pixels, tile_reader
from rsdsva.mapping.raster import iter_windows, make_spec, open_raster
from rsdsva.predict import build_classifier, joined_features

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
LAYERS = [f"model.blocks.{i}" for i in range(1, 7)]
WINDOWS = (1.0, 2.0, 3.0)


def short(layer: str) -> str:
    return layer.replace("model.blocks.", "b")


def reference_tiles():
    reference = yaml.safe_load((ROOT / "docs" / "autzen_reference.yaml").read_text())
    cells = [(tuple(t), kind) for kind, spec in reference.items() for t in spec["tiles"]]
    return reference, cells


def scene_outputs(clf, cells):
    """Per window: pooled layer outputs and the classifier's probabilities for the reference tiles."""
    with open_raster(SCENE) as src:
        spec = make_spec(src)
        grid = {(t.row, t.col): t for t in iter_windows(src.width, src.height, 256, 256)}
    tiles = [grid[c] for c, _ in cells]
    feats, probs = {}, {}
    for w in WINDOWS:
        images = torch.from_numpy(tile_reader(spec, 256, context_pixels(256, w))(tiles).images).float() / 255
        out = clf._run(images, tuple(LAYERS))
        for layer, t in zip(LAYERS, out.tapped):
            feats[short(layer), w] = t
        feats["final", w] = out.features  # the mean of the last tokens: the previous recipe's feature
        logits = out.logits.float() - clf.offset
        probs[w] = logits.softmax(-1).numpy()
    return feats, probs


def score(feats, recipe, kinds, chosen, test, how):
    f = joined_features([feats[key] for key in recipe]).numpy()
    names = list(chosen)
    sims = [f[test] @ f[chosen[n]].T for n in names]
    s = np.stack([x.max(1) if how == "nearest" else x.mean(1) for x in sims], 1)
    return float(np.mean(np.array(names)[s.argmax(1)] == kinds[test]))


def draws_of(kinds, k, n, fixed=None):
    names = list(dict.fromkeys(kinds))
    for seed in range(n):
        rng = np.random.default_rng(seed)
        chosen = fixed or {c: rng.choice(np.flatnonzero(kinds == c), size=k, replace=False) for c in names}
        yield chosen, np.setdiff1d(np.arange(len(kinds)), np.concatenate(list(chosen.values())))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--draws", type=int, default=20)
    a = p.parse_args()
    clf = build_classifier(ClassifierSettings(device="cpu"))
    reference, cells = reference_tiles()
    kinds = np.array([k for _, k in cells])
    with torch.inference_mode():
        feats, probs = scene_outputs(clf, cells)
    from build_sample_examples import EXAMPLES  # the shipped example areas' tiles (run from scripts/)

    index = {c: i for i, (c, _) in enumerate(cells)}
    shipped = {kind: np.array([index[tuple(rc)] for rc in next(v for n, v in EXAMPLES.items() if n in spec["accept"])])
               for kind, spec in reference.items()}
    recipes = [[("final", 1.0)], [("final", 1.0), ("final", 2.0)]] + [[(short(l), w) for l in layers for w in windows]
               for layers in ([LAYERS[2]], [LAYERS[3]], [LAYERS[4]], [LAYERS[3], LAYERS[4]], [LAYERS[5]])
               for windows in ((1.0,), (1.0, 2.0), (1.0, 2.0, 3.0))]
    print(f"1. example recipes on the sample scene's reference ({len(cells)} tiles, 6 kinds; random draws: mean of "
          f"{a.draws}; shipped: the example areas of sample_data/autzen_examples.gpkg)")
    print("| layers @ windows | score | k = 1 | k = 3 | k = 5 | shipped (3) |")
    print("|---|---|---|---|---|---|")
    for recipe in recipes:
        name = "+".join(dict.fromkeys(l for l, _ in recipe)) + " @ " + ",".join(
            f"{w:g}" for w in dict.fromkeys(w for _, w in recipe))
        for how in ("mean", "nearest"):
            row = [np.mean([score(feats, recipe, kinds, ch, te, how) for ch, te in draws_of(kinds, k, a.draws)])
                   for k in (1, 3, 5)]
            ship = score(feats, recipe, kinds, shipped, np.setdiff1d(np.arange(len(kinds)),
                                                                     np.concatenate(list(shipped.values()))), how)
            print(f"| {name} | {how} | " + " | ".join(f"{v:.0%}" for v in row) + f" | {ship:.0%} |")

    print("\n2. the same layers on unseen UC Merced + AID images (8 held-out classes x 30, tile alone, nearest example)")
    from bench_from_map import held_out_samples  # the benchmark's draw of held-out images (run from scripts/)

    samples = held_out_samples(clf.info.held_out_classes().names, 30, np.random.default_rng(0))
    images = torch.cat([torch.nn.functional.interpolate(read_image(s.source)[None].float() / 255, size=(256, 256),
                                                        mode="bilinear", antialias=True) for s in samples])
    with torch.inference_mode():
        out = clf._run(images, tuple(LAYERS))
    image_feats = {(short(l), 1.0): t for l, t in zip(LAYERS, out.tapped)}
    labels = np.array([s.label for s in samples])
    for layers in ([LAYERS[2]], [LAYERS[3]], [LAYERS[4]], [LAYERS[3], LAYERS[4]], [LAYERS[5]]):
        recipe = [(short(l), 1.0) for l in layers]
        row = [np.mean([score(image_feats, recipe, labels, ch, te, "nearest") for ch, te in draws_of(labels, k, 10)])
               for k in (1, 3, 5)]
        print(f"   {'+'.join(short(l) for l in layers):<8} k=1 {row[0]:.0%}  k=3 {row[1]:.0%}  k=5 {row[2]:.0%}")

    print("\n3. the zero-shot map's windows (the default model's classes, its map lambda; mean probabilities)")
    names = np.array(clf.classes.names)
    for r in (1, 2, 3):
        for combo in itertools.combinations(WINDOWS, r):
            labels_ = names[sum(probs[w] for w in combo).argmax(1)]
            ok = sum(lab in reference[k]["accept"] for lab, k in zip(labels_, kinds))
            print(f"   windows {','.join(f'{w:g}' for w in combo):<8} {ok}/{len(kinds)}")


if __name__ == "__main__":
    main()
