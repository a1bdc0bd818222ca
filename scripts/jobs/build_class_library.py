#!/usr/bin/env python
"""Write the class library (rsdsva/resources/library) from the ZS-ViDAT csvs.

Reads ``../shared/data/attributes/<SET>_class_attributes.csv`` and the hand-written
``unified_vocabulary.yaml``; writes for each set ``<set>.yaml`` (the csv's values,
plain class names from rsdsva.data.names, the csv spelling kept under
``sources``) and ``<set>_vocabulary.yaml`` (the csv's attributes in order, with
groups and phrases), and ``unified.yaml``: every class of the four sets over the
unified vocabulary. A class found in several sets takes, for each attribute, the
mean over the sets that annotate that attribute; an attribute no set of the class
annotates is 0. Then each class's defining attributes
(``unified_defining.yaml``: what its name says it has) below 50 are raised to 100,
so that, for example, residential (from WHU-RS19, which has no is_residential)
has is_residential.

  python scripts/jobs/build_class_library.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]

from rsdsva._io import atomic_write_text  # noqa: E402
from rsdsva.attributes.vocabulary import Attribute, Vocabulary  # noqa: E402
from rsdsva.class_files import load_classes  # noqa: E402
from rsdsva.data.names import TO_UNIFIED  # noqa: E402
from rsdsva.library import ATTRIBUTES_CITATION, DEFINING_FLOOR, LIBRARY_DIR, SETS, defining_attributes  # noqa: E402


def set_name_map(unified: Vocabulary, key: str) -> dict[str, str]:
    """The set's attribute name -> unified name (identity unless an alias says otherwise)."""
    out = {a.aliases[key]: a.name for a in unified.attributes if key in a.aliases}
    out.update({a.name: a.name for a in unified.attributes if a.name not in out.values()})
    return out


def write_yaml(path: Path, data: dict) -> None:
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=200)
    atomic_write_text(path, text)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--attributes", default=str(ROOT.parent / "shared" / "data" / "attributes"))
    a = p.parse_args()
    unified = Vocabulary.load(LIBRARY_DIR / "unified_vocabulary.yaml")
    by_name = {attr.name: attr for attr in unified.attributes}
    index = {n: i for i, n in enumerate(unified.names)}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    sources: dict[str, dict[str, str]] = {}

    for key, info in SETS.items():
        csv = load_classes(Path(a.attributes) / f"{key.upper()}_class_attributes.csv")
        to_unified = set_name_map(unified, key)
        unknown = [n for n in csv.attributes if n not in to_unified]
        if unknown:
            sys.exit(f"{key}: attributes {unknown} are not in unified_vocabulary.yaml; add them")
        source = f"{info.title} ({info.citation}); {ATTRIBUTES_CITATION}"
        vocab = Vocabulary(
            name=key, source=source, scale=unified.scale, templates=unified.templates, groups=unified.groups,
            attributes=tuple(
                Attribute(n, by_name[to_unified[n]].group, by_name[to_unified[n]].phrases) for n in csv.attributes
            ),
        )
        vocab.save(LIBRARY_DIR / f"{key}_vocabulary.yaml")
        print(f"wrote {key}_vocabulary.yaml ({len(csv.attributes)} attributes)")
        names = [TO_UNIFIED[key][c] for c in csv.names]
        write_yaml(LIBRARY_DIR / f"{key}.yaml", {
            "name": key, "source": source, "scale": csv.scale, "attributes": list(csv.attributes),
            "groups": vocab.group_of(), "seen": True,
            "sources": {n: {key: c} for n, c in zip(names, csv.names)},
            "classes": {n: [round(float(v), 6) for v in row] for n, row in zip(names, csv.matrix)},
        })
        cols = [index[to_unified[n]] for n in csv.attributes]
        for name, c, row in zip(names, csv.names, csv.matrix):
            s = sums.setdefault(name, np.zeros(len(index)))
            k = counts.setdefault(name, np.zeros(len(index)))
            s[cols] += row
            k[cols] += 1
            sources.setdefault(name, {})[key] = c

    names = sorted(sums)
    merged = {n: np.divide(sums[n], counts[n], out=np.zeros(len(index)), where=counts[n] > 0) for n in names}
    for name, attrs in defining_attributes().items():
        for attr in attrs:
            if merged[name][index[attr]] < DEFINING_FLOOR:
                print(f"{name}: {attr} {merged[name][index[attr]]:.1f} -> {unified.scale:g} (defining)")
                merged[name][index[attr]] = unified.scale
    write_yaml(LIBRARY_DIR / "unified.yaml", {
        "name": "unified", "source": unified.source, "scale": unified.scale, "attributes": list(unified.names),
        "groups": unified.group_of(), "seen": True, "sources": {n: sources[n] for n in names},
        "classes": {n: [round(float(v), 6) for v in merged[n]] for n in names},
    })
    print(f"{len(names)} unified classes over {len(index)} attributes")


if __name__ == "__main__":
    main()
