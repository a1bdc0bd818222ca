"""Classes files: reading and writing a :class:`~rsdsva.classes.ClassSpace`.

Values run from 0 (absent) to the file's ``scale`` (:mod:`rsdsva.classes`). ``load_classes`` reads a
file, ``save_classes`` writes one atomically; ``classes_to_dict`` and ``classes_from_dict`` are the
structure both use.

File formats (chosen by suffix):

* ``.yaml`` / ``.yml`` / ``.json``::

      scale: 100                      # optional
      attributes: [has_water, ...]    # the vocabulary; optional when the caller
                                      # passes one (e.g. the model's)
      groups: {has_water: surface}    # optional
      seen: false                     # default flag for the classes below
      classes:
        pond: [has_water, has_grass]              # present attributes
        marina: {has_water: 90, has_boats: 100}   # mapping, the rest 0
        river: [0, 12.5, ...]                     # full vector
        harbor: {attributes: [has_boats], seen: true}
        lagoon: {attributes: [has_water], color: '#1e90ff'}   # its colour on maps (rsdsva.colors)
        fallow: {vector: [...], features: [[...], ...]}  # a class from example areas
      feature_space: 1a2b3c4d5e6f7a8b   # the model whose features the examples are in
      recipe: model.blocks.4+model.blocks.5@1,2   # the layers and windows the features were taken from
      spectra: {bands: [...], band_names: [...], indexes: [ndvi], mean: [...], std: [...], weight: 0.05}
                                      # examples from a raster of more than three bands (rsdsva.examples.spectra)
      centre: [...]                   # the mean feature of the examples' scene (rsdsva.examples.bank)

  A class with ``features`` (made by ``rsdsva classes from-map``) also carries the
  features of every one of its example tiles in one model's feature space, taken as
  ``recipe`` says; that model ranks it by the similarity of a tile to its nearest example
  (see :mod:`rsdsva.mapping.areas`), any other by its vector.

* ``.csv``: as ``../shared/data/attributes/*_class_attributes.csv``: first column
  the class name, header the attribute names, every class seen.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from rsdsva.classes import DEFAULT_SCALE, ClassSpace, check_unique, did_you_mean
from rsdsva.errors import ClassSpaceError, MissingFileError
from rsdsva.examples.bank import ExampleBank


def load_classes(path: str | Path, vocabulary: Sequence[str] | None = None) -> ClassSpace:
    """Read a ``.yaml``, ``.yml``, ``.json`` or ``.csv`` classes file (``vocabulary``: the attribute
    names to use when the file lists none, the model's)."""
    from rsdsva._io import check_input_file

    path = check_input_file(path, "the classes file")
    if not path.is_file():
        raise MissingFileError(f"classes file not found: {path}; check the path")
    if path.suffix.lower() == ".csv":
        try:
            return _read_csv(path)
        except ClassSpaceError as err:
            raise ClassSpaceError(f"{path}: {err}") from None
    data = parse_classes_file(path)
    if not isinstance(data, Mapping):
        raise ClassSpaceError(f"{path}: expected a mapping with a 'classes' key")
    return classes_from_dict(data, vocabulary=vocabulary, source=str(path))


def save_classes(classes: ClassSpace, path: str | Path) -> Path:
    """Write ``classes`` to ``.yaml``, ``.json`` or ``.csv`` (CSV keeps neither flags nor groups)."""
    from rsdsva._io import atomic_write_text

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = [["", *classes.attributes]]
        rows += [[n, *(f"{v:g}" for v in r)] for n, r in zip(classes.names, classes.matrix)]
        text = "\n".join(",".join(r) for r in rows) + "\n"
    elif suffix in (".yaml", ".yml"):
        import yaml

        text = "# rsdsva classes\n" + yaml.safe_dump(classes_to_dict(classes), sort_keys=False,
                                                     default_flow_style=None)
    elif suffix == ".json":
        text = json.dumps(classes_to_dict(classes), indent=1)
    else:
        raise ClassSpaceError(f"{path}: unknown classes file type {suffix!r}; use .yaml, .json or .csv")
    return atomic_write_text(path, text)


def classes_to_dict(classes: ClassSpace) -> dict[str, Any]:
    """A plain, JSON-able dict that :func:`classes_from_dict` reads back."""
    out: dict[str, Any] = {"scale": classes.scale, "attributes": list(classes.attributes)}
    if classes.groups:
        out["groups"] = dict(classes.groups)
    if classes.signed:
        out["signed"] = True
    out["classes"] = {
        name: {"seen": bool(flag), "vector": [round(float(v), 6) for v in row],
               **({"color": classes.colors[name]} if name in classes.colors else {})}
        for name, flag, row in zip(classes.names, classes.seen, classes.matrix)
    }
    bank = classes.examples
    if bank is not None:
        out["feature_space"] = bank.feature_space
        out["recipe"] = bank.recipe
        if bank.spectra is not None:
            out["spectra"] = bank.spectra.to_dict()
        for name, rows in zip(classes.names, bank.rows):
            if rows is not None:
                out["classes"][name]["features"] = [[round(float(v), 5) for v in r] for r in rows]
        if bank.centre is not None:
            out["centre"] = [round(float(v), 5) for v in bank.centre]
    return out


def classes_from_dict(data: Mapping[str, Any], vocabulary: Sequence[str] | None = None,
                      source: str = "class definition") -> ClassSpace:
    """Build from the YAML/JSON structure described in the module docstring.

    Args:
        data: the parsed file.
        vocabulary: attribute names to use when ``data`` lists none (the model's).
        source: the file name, for error messages.
    """
    try:
        return _from_dict(data, vocabulary)
    except ClassSpaceError as err:
        raise ClassSpaceError(f"{source}: {err}") from None


def parse_classes_file(path: Path) -> Any:
    """The parsed content of a ``.yaml``, ``.yml`` or ``.json`` classes file, with one line per
    way it can be unreadable (duplicate keys included)."""
    from rsdsva._io import check_input_file

    suffix = path.suffix.lower()
    check_input_file(path, "the classes file")
    if not path.is_file():
        raise MissingFileError(f"classes file not found: {path}; check the path")
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.load(_read_text(path), Loader=_unique_key_loader())
        except _DuplicateKey as err:
            raise ClassSpaceError(f"{path}: {err}; keep one definition") from None
        except yaml.YAMLError as err:
            raise ClassSpaceError(f"{path}: not valid YAML ({_first_line(err)})") from None
        except RecursionError:
            raise ClassSpaceError(f"{path}: nested too deeply to be a classes file") from None
    if suffix == ".json":
        try:
            return json.loads(_read_text(path), object_pairs_hook=_unique_pairs)
        except _DuplicateKey as err:
            raise ClassSpaceError(f"{path}: {err}; keep one definition") from None
        except json.JSONDecodeError as err:
            raise ClassSpaceError(f"{path}: not valid JSON ({err})") from None
    raise ClassSpaceError(f"{path}: unknown classes file type {suffix!r}; use .yaml, .json or .csv")


# -- helpers -------------------------------------------------------------------


class _DuplicateKey(ValueError):
    """A key given twice in one mapping of a YAML or JSON file (the parsers keep the last)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"{key!r} is defined twice")
        out[key] = value
    return out


def _unique_key_loader():
    import yaml

    from rsdsva._io import yaml_loader

    class Loader(yaml_loader()):
        def construct_mapping(self, node, deep=False):
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (list, dict, set, tuple)):
                    raise yaml.constructor.ConstructorError(
                        None, None, f"a {type(key).__name__} as a key (line {key_node.start_mark.line + 1}); keys are "
                        "names", key_node.start_mark)
                if key in seen:
                    raise _DuplicateKey(f"{key!r} is defined twice (line {key_node.start_mark.line + 1})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


def _from_dict(data: Mapping[str, Any], vocabulary: Sequence[str] | None) -> ClassSpace:
    attributes = data.get("attributes", vocabulary)
    if attributes is None:
        raise ClassSpaceError("no attribute vocabulary: add an 'attributes' list to the file")
    if isinstance(attributes, str) or not isinstance(attributes, Sequence):
        raise ClassSpaceError("'attributes' must be a list of attribute names")
    attributes = [str(a) for a in attributes]
    check_unique(attributes, "attribute")
    scale = _positive(data.get("scale", DEFAULT_SCALE))
    default_seen = _flag("seen", data.get("seen", True))
    groups = data.get("groups") or {}
    if not isinstance(groups, Mapping) or not all(isinstance(g, str) for g in groups.values()):
        raise ClassSpaceError("'groups' must map each attribute to its group name (water: landcover)")
    classes = data.get("classes")
    if not classes:
        raise ClassSpaceError("the class space is empty: add classes under 'classes:'")
    if not isinstance(classes, Mapping):
        raise ClassSpaceError("'classes' must map each class name to its attributes")
    rows, flags, examples, colors = [], [], [], {}
    for name, spec in classes.items():
        seen = default_seen
        features = None
        if isinstance(spec, Mapping) and ({"vector", "attributes", "seen", "features", "prototype", "color"} & set(spec)):
            if spec.get("color") is not None:
                from rsdsva.colors import hex_color, parse_color

                colors[str(name)] = hex_color(parse_color(spec["color"], str(name)))
            if "prototype" in spec:
                raise ClassSpaceError(f"class {name!r} was made by an older recipe of rsdsva classes from-map (one mean "
                                      "'prototype'); make the file again with rsdsva classes from-map, which keeps "
                                      "every example tile")
            seen = _flag(f"class {name!r}: seen", spec.get("seen", default_seen))
            if spec.get("features") is not None:
                features = _parse_features(str(name), spec["features"])
            spec = spec.get("vector", spec.get("attributes"))
        rows.append(_parse_vector(str(name), spec, attributes, scale))
        flags.append(seen)
        examples.append(features)
    has_examples = any(e is not None for e in examples)
    if has_examples and not (data.get("feature_space") and data.get("recipe")):
        raise ClassSpaceError("classes with example 'features' need the file's 'feature_space' and 'recipe' (the model "
                              "and recipe that made them); make the file again with rsdsva classes from-map")
    if has_examples:
        from rsdsva.errors import ConfigError
        from rsdsva.examples.recipe import parse_recipe

        try:  # read here, so that a damaged one names the file it is in
            parse_recipe(str(data["recipe"]))
        except ConfigError as err:
            raise ClassSpaceError(f"{err}; make the file again with rsdsva classes from-map") from None
    return ClassSpace(
        names=[str(n) for n in classes],
        attributes=attributes,
        matrix=np.array(rows, dtype=np.float32),
        seen=np.array(flags, dtype=bool),
        groups=groups,
        scale=scale,
        signed=_flag("signed", data.get("signed", False)),
        examples=ExampleBank(tuple(examples), str(data["feature_space"]), str(data["recipe"]),
                             _spectra(data), _centre(data)) if has_examples else None,
        colors=colors,
    )


def _spectra(data: Mapping[str, Any]):
    """The file's spectral record (examples from a raster of more than three bands), or None."""
    if data.get("spectra") is None:
        return None
    from rsdsva.examples.spectra import SpectralRecord

    return SpectralRecord.from_dict(data["spectra"], "the file")


def _centre(data: Mapping[str, Any]) -> list[float] | None:
    """The file's centre of the examples' scene (:class:`~rsdsva.examples.bank.ExampleBank`), or None."""
    spec = data.get("centre")
    if spec is None:
        return None
    bad = ClassSpaceError("'centre' must be a list of numbers (made by rsdsva classes from-map)")
    if isinstance(spec, str) or not isinstance(spec, Sequence):
        raise bad
    try:
        return [float(v) for v in spec]
    except (TypeError, ValueError):
        raise bad from None


def _positive(value: Any) -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = math.nan
    if isinstance(value, bool) or not math.isfinite(scale) or scale <= 0:
        raise ClassSpaceError(f"scale must be a positive number, got {value!r}")
    return scale


def _flag(what: str, value: Any) -> bool:
    """YAML's true/false only: a quoted "false" would otherwise read as true."""
    if not isinstance(value, (bool, np.bool_)):
        raise ClassSpaceError(f"{what} must be true or false, got {value!r}; write it without quotes")
    return bool(value)


def _parse_features(name: str, spec: Any) -> np.ndarray:
    """(k, D) unit-norm example features from a list of lists of numbers."""
    bad = ClassSpaceError(f"class {name!r}: 'features' must be a list of lists of numbers, one per example tile "
                          "(made by rsdsva classes from-map)")
    if isinstance(spec, str) or not isinstance(spec, Sequence) or not spec:
        raise bad
    if any(isinstance(r, str) or not isinstance(r, Sequence) or not r for r in spec):
        raise bad
    if len({len(r) for r in spec}) > 1:
        raise ClassSpaceError(f"class {name!r}: its example features have different lengths; make the file again "
                              "with rsdsva classes from-map")
    rows = np.array([[_number(name, i, v) for i, v in enumerate(r)] for r in spec], dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if not np.isfinite(rows).all() or (norms == 0).any():
        raise ClassSpaceError(f"class {name!r}: an example feature has a zero, NaN or infinite value; make the file "
                              "again with rsdsva classes from-map")
    return rows / norms


def _parse_vector(name: str, spec: Any, attributes: Sequence[str], scale: float) -> np.ndarray:
    """One class's vector from a full list, a list of names or a {name: value} mapping."""
    a = len(attributes)
    if isinstance(spec, Mapping):
        vec = np.zeros(a, dtype=np.float32)
        for key, value in spec.items():
            vec[_attribute_index(name, str(key), attributes)] = _number(name, key, value)
        return vec
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        if spec and all(isinstance(v, str) for v in spec):
            vec = np.zeros(a, dtype=np.float32)
            for key in spec:
                vec[_attribute_index(name, key, attributes)] = scale
            return vec
        if len(spec) != a:
            raise ClassSpaceError(
                f"class {name!r} has a vector of length {len(spec)}, expected {a} "
                "(one value per attribute); or list the present attributes by name"
            )
        return np.array([_number(name, i, v) for i, v in enumerate(spec)], dtype=np.float32)
    raise ClassSpaceError(
        f"class {name!r}: expected a list of attribute names, a {{attribute: value}} "
        f"mapping or a full vector, got {spec!r}"
    )


def _attribute_index(name: str, key: str, attributes: Sequence[str]) -> int:
    try:
        return list(attributes).index(key)
    except ValueError:
        raise ClassSpaceError(
            f"class {name!r} uses unknown attribute {key!r}{did_you_mean(key, attributes)}"
        ) from None


def _number(name: str, key: Any, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ClassSpaceError(f"class {name!r}: value {value!r} for {key!r} is not a number") from None


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # a byte-order mark, as some Windows editors write, is no text
    except UnicodeDecodeError:
        raise ClassSpaceError(f"{path} is not UTF-8 text (a binary file?); a classes file is YAML, JSON or CSV "
                              "text") from None


def _read_csv(path: Path) -> ClassSpace:
    rows = [r for r in csv.reader(io.StringIO(_read_text(path), newline="")) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ClassSpaceError("expected a header of attribute names and one row per class")
    attributes = [a.strip() for a in rows[0][1:]]
    names, values = [], []
    for r in rows[1:]:
        name = r[0].strip()
        if len(r) - 1 != len(attributes):
            raise ClassSpaceError(
                f"class {name!r} has a vector of length {len(r) - 1}, expected {len(attributes)} "
                "(one value per header attribute)"
            )
        names.append(name)
        values.append([_number(name, attributes[i], v) for i, v in enumerate(r[1:])])
    return ClassSpace(
        names=names,
        attributes=attributes,
        matrix=np.array(values, dtype=np.float32),
        seen=np.ones(len(names), dtype=bool),
    )
