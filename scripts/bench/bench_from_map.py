#!/usr/bin/env python
"""Classes from example areas (rsdsva classes from-map), measured on a mosaic of known truth.

The mosaic: --per-class images of each of the default model's held-out classes (never
trained on) from UC Merced and AID, one 78 m map tile each, in a GeoTIFF of 1 ft pixels.
For k example polygons per class (drawn at random, several seeds), the classes are built
from the mosaic, the mosaic is mapped, and the tiles that were not examples are scored
against their images' classes. Beside them, on the same tiles: the human (library)
vectors of the held-out classes, and a hand-written list of present attributes per class
(as a user would write one). Both modes: zsl (only these classes) and gzsl (with the
model's 33 seen classes, at the model's map lambda). Classes from examples are ranked by
their nearest example (the default) and by their attribute vector (--example-route attributes).
A mosaic of unrelated images has no real surroundings, so the examples are taken on the tile
alone (recipe ``...@1``) and the map looks at the tile alone (--context 1); context is measured
on the real scene (scripts/bench/probe_recipes.py, scripts/bench/score_sample_map.py). Nor do
its images share a heading, so the examples are taken in all eight orientations
(``--orientations 8``, recipe ``...@1/8``; ``--orientations 1`` for as read), as
``rsdsva classes from-map --orientations 8`` takes them for image chips.

  python scripts/bench/bench_from_map.py                 # about 8 minutes on 2 CPU cores
  python scripts/bench/bench_from_map.py --shots 1 3 --seeds 1 --orientations 1
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from rsdsva.class_files import classes_from_dict, save_classes  # noqa: E402
from rsdsva.data.images import scan_image_folder  # noqa: E402
from rsdsva.data.mosaic import cell_polygon, write_image_mosaic  # noqa: E402
from rsdsva.errors import RsdsvaWarning  # noqa: E402
from rsdsva.inference import ClassifierSettings  # noqa: E402
from rsdsva.mapping import MapSettings, default_model_path, map_scene  # noqa: E402
from rsdsva.mapping.areas import classes_from_map  # noqa: E402
from rsdsva.predict import build_classifier  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"

# what a user might write for each held-out class, from the vocabulary (rsdsva info)
HAND_WRITTEN = {
    "airplane": ["has_planes", "has_lot", "has_markings"],
    "airport": ["has_runway", "has_planes", "has_larger_structures", "has_lot"],
    "baseball_field": ["has_diamond_shape", "has_grass", "has_sand", "has_markings"],
    "church": ["has_cross_buildings", "has_single_large_structure", "has_buildings"],
    "dense_residential": ["is_residential", "has_high_density", "has_many_buildings_closer", "has_road", "has_trees"],
    "industrial": ["has_larger_structures", "has_buildings", "has_lot", "has_road"],
    "mobile_home_park": ["is_residential", "has_mobile_homes", "has_buildings_closer", "has_road"],
    "pond": ["has_water", "has_vegetation", "has_grass", "surrounded_by_field"],
}


def held_out_samples(names, per_class: int, rng) -> list:
    """``per_class`` UC Merced and AID images of each of ``names`` (the model's held-out classes), drawn by ``rng``."""
    pool = [s for root, fmap in ((SHARED / "ucm", "ucm-unified"), (SHARED / "aid150", "aid-unified"))
            for s in scan_image_folder(root, None, fmap) if s.label in names]
    samples = []
    for name in names:
        mine = [s for s in pool if s.label == name]
        samples += [mine[i] for i in rng.permutation(len(mine))[:per_class]]
    return samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(default_model_path()))
    p.add_argument("--per-class", type=int, default=30, help="mosaic cells per class")
    p.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5, 10])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--orientations", type=int, default=8, choices=(1, 2, 8),
                   help="orientations the examples (and the tiles compared with them) are averaged over")
    a = p.parse_args()
    warnings.simplefilter("ignore", RsdsvaWarning)  # "classes from few tiles" at k = 1

    classifier = build_classifier(ClassifierSettings(model=a.model))
    info = classifier.info
    held = info.held_out_classes()
    rng = np.random.default_rng(0)
    samples = held_out_samples(held.names, a.per_class, rng)
    samples = [samples[i] for i in rng.permutation(len(samples))]
    hand = classes_from_dict({"seen": False, "classes": HAND_WRITTEN}, vocabulary=info.classes.attributes)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mosaic = tmp / "mosaic.tif"
        cells = write_image_mosaic(samples, mosaic, columns=16)
        truth = {(r, c): label for r, c, label in cells}
        save_classes(hand, tmp / "hand.yaml")
        save_classes(held, tmp / "library.yaml")
        print(f"mosaic: {len(cells)} cells, {len(held)} held-out classes ({', '.join(held.names)}), "
              f"{a.per_class} images each; model {Path(a.model).name}; examples in {a.orientations} orientation(s)")

        def accuracy(classes_file: Path, mode: str, route: str, test: set) -> float:
            settings = MapSettings(model=a.model, classes=str(classes_file), held_out=False, mode=mode,
                                   example_route=route, overwrite=True, context=1)
            out = tmp / "map.gpkg"
            map_scene(mosaic, out, settings)
            import geopandas as gpd

            tiles = gpd.read_file(out, layer="tiles")
            got = {(r, c): lab for r, c, lab in zip(tiles["row"], tiles["col"], tiles["label"])}
            return float(np.mean([got.get(cell) == truth[cell] for cell in test]))

        results: dict[tuple[str, int], list[float]] = {}
        for k in a.shots:
            for seed in range(a.seeds):
                r = np.random.default_rng(100 + seed)
                chosen = {name: [cells[i] for i in r.permutation(len(cells)) if cells[i][2] == name][:k]
                          for name in held.names}
                import geopandas as gpd

                areas = gpd.GeoDataFrame(
                    {"class": [n for n, cs in chosen.items() for _ in cs]},
                    geometry=[cell_polygon(row, col) for cs in chosen.values() for row, col, _ in cs], crs="EPSG:32610")
                classes_from_map([mosaic], areas, "class", tmp / "examples.yaml", model=a.model, scales=(1.0,),
                                 orientations=a.orientations)
                test = set(truth) - {(row, col) for cs in chosen.values() for row, col, _ in cs}
                for mode in ("zsl", "gzsl"):
                    for route in ("examples", "attributes"):
                        results.setdefault((f"examples by {route}, {mode}", k), []).append(
                            accuracy(tmp / "examples.yaml", mode, route, test))
                    for name in ("library", "hand"):
                        results.setdefault((f"{name}, {mode}", k), []).append(accuracy(tmp / f"{name}.yaml", mode, "examples", test))
                print(f"k={k} seed={seed}: " + ", ".join(f"{m} {v[-1]:.3f}" for (m, kk), v in results.items() if kk == k),
                      flush=True)

    methods = list(dict.fromkeys(m for m, _ in results))
    print("\ntile accuracy on the cells that were not examples (mean ± sd over seeds)")
    print("| classes | " + " | ".join(f"k = {k}" for k in a.shots) + " |")
    print("|---|" + "---|" * len(a.shots))
    for m in methods:
        row = [f"{np.mean(results[m, k]):.1%} ± {np.std(results[m, k]):.1%}" for k in a.shots]
        print(f"| {m} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
