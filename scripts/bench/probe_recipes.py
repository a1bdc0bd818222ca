#!/usr/bin/env python
"""Which features make classes from example areas, and which windows the zero-shot map looks at.

1. Example recipes on the sample scene (docs/autzen_reference.yaml: 6 kinds, 90 tiles): k
   reference tiles per kind are the examples (--draws random draws, and the shipped example
   areas), the other tiles are scored among the 6 kinds (zero-shot among the examples, no
   seen class). Features: the default model's backbone stages, pooled, raw or through the
   model's whitening (the layers it whitens), on the tile and on windows 2 and 3 tiles wide,
   read as the map reads them; a class scores a tile by the mean of its examples or by its
   nearest example (cosine), or the classifier fitted on all the examples picks the kind
   (rsdsva.examples.choice, as maps do). 1b: the maps' recipe with each example and tile
   averaged over 1, 2 or 8 orientations.
2. The same layers on unseen UC Merced and AID images (the default model's 8 held-out
   classes, 30 images each; an image has no surroundings, so the tile alone).
3. The zero-shot map: the default model's labels on the reference tiles from one window or
   the mean probabilities of several (1 = the tile, 2 and 3 = windows that many tiles wide),
   each as read or also in other orientations (--orientations 2: mirrored; 8: every quarter
   turn, mirrored or not).

  python scripts/bench/probe_recipes.py      # about 3 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import copy
import itertools
import runpy
from pathlib import Path

import numpy as np
import torch
import yaml

from rsdsva.data.folders import read_image
from rsdsva.engines.base import softmax
from rsdsva.engines.torch_engine import TorchEngine
from rsdsva.examples.choice import choice_offsets, fit_example_choice
from rsdsva.examples.recipe import EXAMPLE_SCALES, ORIENTATIONS, example_recipe, oriented
from rsdsva.examples.scorer import joined_features
from rsdsva.inference import ClassifierSettings
from rsdsva.mapping.grid import iter_windows
from rsdsva.mapping.raster import make_spec, open_raster
from rsdsva.mapping.source import context_pixels, tile_reader
from rsdsva.predict import build_classifier

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
LAYERS = [f"model.blocks.{i}" for i in range(3, 7)]
WINDOWS = (1.0, 2.0, 3.0)


def short(layer: str) -> str:
    return layer.replace("model.blocks.", "b")


def reference_tiles():
    reference = yaml.safe_load((ROOT / "docs" / "autzen_reference.yaml").read_text())
    cells = [(tuple(t), kind) for kind, spec in reference.items() for t in spec["tiles"]]
    return reference, cells


def engines(clf):
    """The default model's engine (whitened taps) and one on a copy without its whitening (raw)."""
    raw = copy.deepcopy(clf.engine.model)
    raw.set_whitening({})
    return {"white": clf.engine, "raw": TorchEngine(raw, clf.info)}


def tapped(engines_, images) -> dict:
    """(form, layer) -> pooled outputs of ``images``; the whitened forms of the layers the model whitens."""
    whitened = {layer for layer, _ in engines_["white"].info.dsva.whitened}
    out = {}
    for form, engine in engines_.items():
        layers = tuple(LAYERS) if form == "raw" else tuple(l for l in LAYERS if l in whitened)
        for layer, t in zip(layers, engine.run(images, layers).tapped):
            out[form, short(layer)] = t
    return out


def scene_outputs(clf, engines_, cells):
    """Per window: pooled layer outputs (as read) and, per orientation, the classifier's
    probabilities for the reference tiles."""
    with open_raster(SCENE) as src:
        spec = make_spec(src)
        grid = {(t.row, t.col): t for t in iter_windows(src.width, src.height, 256, 256)}
    tiles = [grid[c] for c, _ in cells]
    feats, probs, windows = {}, {}, {}
    for w in WINDOWS:
        images = torch.from_numpy(tile_reader(spec, 256, context_pixels(256, w))(tiles).images).float() / 255
        windows[w] = images
        for (form, layer), t in tapped(engines_, images).items():
            feats[form, layer, w] = t
        for v in range(8):
            out = clf.engine.run(oriented(images, v))
            probs[w, v] = softmax(clf.head.logits(out.attributes) - clf.head.offset)
    for n in ORIENTATIONS:  # the maps' recipe (rsdsva classes from-map --orientations n), as maps take it
        recipe = example_recipe(clf.engine.example_layers, EXAMPLE_SCALES, n)
        feats["turned", n, None] = clf.example_features(windows, recipe)[0]
    return feats, probs


def score(feats, recipe, kinds, chosen, test, how):
    """Share of ``test`` given their kind among ``chosen``'s, by the mean of a kind's examples,
    its nearest example, or the classifier fitted on all the examples (what maps use)."""
    f = joined_features([feats[key] for key in recipe])
    names = list(chosen)
    if how == "classifier":
        starts = np.cumsum([0] + [len(chosen[n]) for n in names[:-1]])
        s = choice_offsets(f[test], *fit_example_choice(f[np.concatenate([chosen[n] for n in names])], starts))
    else:
        sims = [f[test] @ f[chosen[n]].T for n in names]
        s = np.stack([x.max(1) if how == "nearest" else x.mean(1) for x in sims], 1)
    return float(np.mean(np.array(names)[s.argmax(1)] == kinds[test]))


def draws_of(kinds, k, n, fixed=None):
    names = list(dict.fromkeys(kinds))
    for seed in range(n):
        rng = np.random.default_rng(seed)
        chosen = fixed or {c: rng.choice(np.flatnonzero(kinds == c), size=k, replace=False) for c in names}
        yield chosen, np.setdiff1d(np.arange(len(kinds)), np.concatenate(list(chosen.values())))


def layer_sets(feats):
    """(form, layers) pairs to compare: every layer raw, their pairs, and the whitened ones."""
    raw = [short(l) for l in LAYERS]
    white = sorted({layer for form, layer, *_ in feats if form == "white"})
    sets = [("raw", [l]) for l in raw] + [("raw", ["b3", "b4"]), ("raw", ["b4", "b5"])]
    sets += [("white", [l]) for l in white] + ([("white", white)] if len(white) > 1 else [])
    return sets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--draws", type=int, default=20)
    a = p.parse_args()
    clf = build_classifier(ClassifierSettings(device="cpu", engine="torch"))
    engines_ = engines(clf)
    reference, cells = reference_tiles()
    kinds = np.array([k for _, k in cells])
    feats, probs = scene_outputs(clf, engines_, cells)
    EXAMPLES = runpy.run_path(str(ROOT / "scripts" / "jobs" / "build_sample_examples.py"))["EXAMPLES"]  # their tiles

    index = {c: i for i, (c, _) in enumerate(cells)}
    shipped = {kind: np.array([index[tuple(rc)] for rc in next(v for n, v in EXAMPLES.items() if n in spec["accept"])])
               for kind, spec in reference.items()}
    print(f"1. example recipes on the sample scene's reference ({len(cells)} tiles, 6 kinds; random draws: mean of "
          f"{a.draws}; shipped: the example areas of sample_data/autzen_examples.gpkg)")
    rest = np.setdiff1d(np.arange(len(kinds)), np.concatenate(list(shipped.values())))  # the tiles shipped scores
    print("| features | layers @ windows | score | k = 1 | k = 3 | k = 5 | shipped (3) |")
    print("|---|---|---|---|---|---|---|")
    for form, layers in layer_sets(feats):
        for windows in ((1.0,), (1.0, 2.0), (1.0, 2.0, 3.0)):
            recipe = [(form, layer, w) for w in windows for layer in layers]
            name = "+".join(layers) + " @ " + ",".join(f"{w:g}" for w in windows)
            for how in ("mean", "nearest") + (("classifier",) if form == "white" else ()):
                row = [np.mean([score(feats, recipe, kinds, ch, te, how) for ch, te in draws_of(kinds, k, a.draws)])
                       for k in (1, 3, 5)]
                ship = score(feats, recipe, kinds, shipped, rest, how)
                print(f"| {form} | {name} | {how} | " + " | ".join(f"{v:.0%}" for v in row) + f" | {ship:.0%} |")

    print("\n1b. the maps' recipe (whitened b4+b5 @ 1,2, classifier) with each example and tile averaged over "
          "its orientations (rsdsva classes from-map --orientations)")
    for n in ORIENTATIONS:
        recipe = [("turned", n, None)]
        row = [np.mean([score(feats, recipe, kinds, ch, te, "classifier") for ch, te in draws_of(kinds, k, a.draws)])
               for k in (1, 3, 5)]
        ship = score(feats, recipe, kinds, shipped, rest, "classifier")
        print(f"   orientations {n}: k=1 {row[0]:.1%}  k=3 {row[1]:.1%}  k=5 {row[2]:.1%}  shipped {ship:.1%}")

    print("\n2. the same layers on unseen UC Merced + AID images (8 held-out classes x 30, tile alone)")
    from bench_from_map import held_out_samples  # the benchmark's draw of held-out images (run from scripts/bench)

    samples = held_out_samples(clf.info.held_out_classes().names, 30, np.random.default_rng(0))
    images = torch.cat([torch.nn.functional.interpolate(read_image(s.source)[None].float() / 255, size=(256, 256),
                                                        mode="bilinear", antialias=True) for s in samples])
    image_feats = {(form, layer, 1.0): t for (form, layer), t in tapped(engines_, images).items()}
    labels = np.array([s.label for s in samples])
    for form, layers in layer_sets(image_feats):
        recipe = [(form, layer, 1.0) for layer in layers]
        for how in ("nearest",) + (("classifier",) if form == "white" else ()):
            row = [np.mean([score(image_feats, recipe, labels, ch, te, how) for ch, te in draws_of(labels, k, 10)])
                   for k in (1, 3, 5)]
            print(f"   {form:<6}{'+'.join(layers):<8}{how:<11} k=1 {row[0]:.0%}  k=3 {row[1]:.0%}  k=5 {row[2]:.0%}")

    print("\n3. the zero-shot map's windows and orientations (the default model's classes, its map lambda; "
          "mean probabilities)")
    names = np.array(clf.classes.names)
    print("   windows   " + "".join(f"orientations {n:<4}" for n in ORIENTATIONS))
    for r in (1, 2, 3):
        for combo in itertools.combinations(WINDOWS, r):
            row = []
            for n in ORIENTATIONS:
                labels_ = names[sum(probs[w, v] for w in combo for v in range(n)).argmax(1)]
                row.append(f"{sum(lab in reference[k]['accept'] for lab, k in zip(labels_, kinds))}/{len(kinds)}")
            print(f"   {','.join(f'{w:g}' for w in combo):<10}" + "".join(f"{x:<17}" for x in row))


if __name__ == "__main__":
    main()
