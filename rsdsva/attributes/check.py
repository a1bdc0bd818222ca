"""Check a classes file against a model: unknown attributes, nearest classes, near-duplicates,
and attributes the model was never taught to see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from rsdsva.class_files import load_classes
from rsdsva.classes import ClassSpace, did_you_mean, normalized_vectors
from rsdsva.errors import ClassSpaceError, MissingFileError

DUPLICATE_COSINE = 0.95  # above this two classes are all but indistinguishable to the model
UNTAUGHT_SHARE = 0.25  # a class with this much of its vector on untaught attributes gets a warning
PRESENT = 0.5  # a class has an attribute at this share of its space's scale or more


@dataclass(frozen=True)
class Neighbour:
    name: str
    cosine: float
    kind: str  # "seen", "held-out" or "new"


@dataclass(frozen=True)
class ClassCheck:
    name: str
    neighbours: tuple[Neighbour, ...]
    same_name: str | None = None  # "seen" or "held-out" when the model already has a class of this name
    prototype_neighbour: Neighbour | None = None  # a class from example areas: the nearest other by its examples
    untaught: tuple[str, ...] = ()  # its present attributes that no seen class of the model shows
    untaught_share: float = 0.0  # the share of its vector (squared L2 norm) on untaught attributes
    examples: bool = False  # defined by example areas (under a seen class's name: a correction of it)

    @property
    def duplicate(self) -> Neighbour | None:
        """A near-identical attribute vector; None for a class ranked by its prototype."""
        first = self.neighbours[0] if self.neighbours else None
        if self.prototype_neighbour is not None or first is None:
            return None
        return first if first.cosine >= DUPLICATE_COSINE else None


def untaught_attributes(seen: ClassSpace) -> np.ndarray:
    """(A,) True for attributes that no seen class has at half its scale or more.

    Training fits the attribute scores through the seen classes' vectors only, so an attribute
    none of them has is only ever taught as absent: a class that rests on it (``airport:
    has_planes`` when no seen class has planes) is found, if at all, through its other attributes.
    """
    return seen.matrix.max(axis=0, initial=0.0) < PRESENT * seen.scale


def untaught_shares(classes: ClassSpace, untaught: np.ndarray) -> np.ndarray:
    """(C,) the share of each class vector (squared L2 norm, as the model sees it) on ``untaught``."""
    energy = np.square(classes.matrix)
    return energy[:, untaught].sum(axis=1) / np.maximum(energy.sum(axis=1), 1e-12)


def unknown_attributes(path: str | Path, vocabulary: Sequence[str]) -> list[tuple[str, str]]:
    """(class, attribute) pairs of a classes file that name attributes outside ``vocabulary``."""
    from rsdsva._io import check_input_file

    path = check_input_file(path, "the classes file")
    if not path.is_file():
        raise MissingFileError(f"classes file not found: {path}; check the path")
    known = set(vocabulary)
    try:
        if path.suffix.lower() == ".csv":
            header = path.read_text(encoding="utf-8").splitlines()[0].split(",")[1:]
            return [("(header)", a.strip()) for a in header if a.strip() not in known]
        data = _parse(path)
    except Exception:  # not parseable: ClassSpace.load gives the one-line reason
        return []
    found = []
    if isinstance(data.get("attributes"), list):
        found += [("(attributes list)", str(a)) for a in data["attributes"] if str(a) not in known]
        return found
    classes = data.get("classes")
    for name, spec in (classes.items() if isinstance(classes, Mapping) else ()):
        if isinstance(spec, Mapping) and {"vector", "attributes", "seen"} & set(spec):
            spec = spec.get("vector", spec.get("attributes"))
        keys = spec.keys() if isinstance(spec, Mapping) else spec if isinstance(spec, list) else []
        found += [(str(name), str(k)) for k in keys if isinstance(k, str) and k not in known]
    return found


def check_classes(path: str | Path, info, k: int = 3) -> list[ClassCheck]:
    """Validate ``path`` against the model ``info`` and find each new class's nearest classes.

    Raises one ClassSpaceError naming every unknown attribute (with suggestions).
    """
    vocab = info.classes.attributes
    unknown = unknown_attributes(path, vocab)
    if unknown:
        listed = ", ".join(f"{a!r} ({c}{did_you_mean(a, vocab).replace('; ', ': ', 1)})" for c, a in unknown[:6])
        more = f" and {len(unknown) - 6} more" if len(unknown) > 6 else ""
        raise ClassSpaceError(f"{path}: unknown attributes {listed}{more}; `rsdsva info MODEL` lists the model's vocabulary")
    new = load_classes(path, vocabulary=vocab)
    if new.attributes != vocab:
        raise ClassSpaceError(f"{path}: its attribute list differs from the model's (order or names); "
                              "drop the 'attributes' list to use the model's")
    existing = [(info.classes.with_seen(True), "seen")]
    held = info.held_out_classes()
    if held is not None:
        existing.append((held, "held-out"))
    names = [n for space, _ in existing for n in space.names] + list(new.names)
    kinds = [kind for space, kind in existing for _ in space.names] + ["new"] * len(new)
    vectors = np.concatenate([normalized_vectors(space) for space, _ in existing] + [normalized_vectors(new)])
    cos = normalized_vectors(new) @ vectors.T
    offset = len(names) - len(new)
    has = new.has_examples
    protos = _example_cosines(new) if has.sum() > 1 else None
    untaught = untaught_attributes(info.classes)
    shares = untaught_shares(new, untaught)
    present = new.matrix >= PRESENT * new.scale
    report = []
    for i, name in enumerate(new.names):
        same = [j for j in range(offset) if names[j] == name]
        order = [j for j in np.argsort(-cos[i]) if j != offset + i and j not in same][:k]
        neighbours = tuple(Neighbour(names[j], float(cos[i, j]), kinds[j]) for j in order)
        by_proto = None
        if protos is not None and has[i]:
            j = max((j for j in np.flatnonzero(has) if j != i), key=lambda j: protos[i, j])
            by_proto = Neighbour(new.names[j], float(protos[i, j]), "new")
        missing = tuple(new.attributes[a] for a in np.flatnonzero(present[i] & untaught))
        report.append(ClassCheck(name, neighbours, kinds[same[0]] if same else None, by_proto, missing,
                                 float(shares[i]), bool(has[i])))
    return report


def _example_cosines(classes) -> np.ndarray:
    """(C, C) cosine of the mean examples of each two classes from example areas (0 elsewhere)."""
    bank = classes.examples
    means = np.stack([np.zeros(bank.dim, np.float32) if rows is None else rows.mean(axis=0) for rows in bank.rows])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return means @ means.T


def _parse(path: Path) -> Mapping[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        from rsdsva._io import yaml_loader

        data = yaml.load(text, Loader=yaml_loader())
    return data if isinstance(data, Mapping) else {}
