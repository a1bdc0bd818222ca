"""ClassSpace: the classes a model can name, each defined by its attribute vector.

Value scale: attribute values run from 0 (absent) to ``scale`` (default 100, the
scale of the human-annotated matrices in ZS-ViDAT). A class given as a list of
present attributes gets ``scale`` for each of them and 0 for the rest. The model
never sees this scale: it L2-normalises each class vector (see
:func:`rsdsva.models.dsva.class_matrix_tensor`), so only the ratios matter.

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
import difflib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from rsdsva.errors import ClassSpaceError, MissingFileError, RsdsvaWarning

DEFAULT_SCALE = 100.0


@dataclass(frozen=True, eq=False)
class ClassSpace:
    """Ordered classes, the attribute vocabulary and the class-attribute matrix.

    Attributes:
        names: class names, in order (the class ids are their positions).
        attributes: attribute names (the vocabulary), in order.
        matrix: (C, A) float32 values in ``[0, scale]``.
        seen: (C,) bool, True for classes the model was trained on.
        groups: optional attribute -> group name (e.g. functions, materials).
        scale: the value that means "fully present".
        signed: allow negative values (class vectors that are embeddings, not attributes).
        examples: optional, per class, the (k, D) unit-norm features of its k example tiles in
            the feature space ``feature_space`` names (None for a class defined by attributes only).
        feature_space: the model the examples belong to (:func:`rsdsva.models.dsva.feature_space_id`).
        recipe: how the example features were taken (layers and windows, ``model.blocks.4@1,2``).
        spectra: the :class:`~rsdsva.examples.spectra.SpectralRecord` of examples from a raster of more than
            three bands, whose features end in each tile's spectra; None otherwise.
        colors: class name -> ``#rrggbb`` for the classes whose map colour the file chose
            (the others get one from their name's meaning: :mod:`rsdsva.colors`).
    """

    names: tuple[str, ...]
    attributes: tuple[str, ...]
    matrix: np.ndarray
    seen: np.ndarray
    groups: Mapping[str, str] = field(default_factory=dict)
    scale: float = DEFAULT_SCALE
    signed: bool = False  # True for embedding-like vectors (e.g. word2vec) that may be negative
    examples: tuple[np.ndarray | None, ...] | None = None
    feature_space: str | None = None
    recipe: str | None = None
    spectra: Any = None  # rsdsva.examples.spectra.SpectralRecord
    colors: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float32)
        seen = np.asarray(self.seen, dtype=bool)
        if self.examples is not None:
            rows = tuple(None if e is None else np.atleast_2d(np.asarray(e, dtype=np.float32)) for e in self.examples)
            object.__setattr__(self, "examples", rows if any(r is not None for r in rows) else None)
        if self.examples is None:
            object.__setattr__(self, "feature_space", None)
            object.__setattr__(self, "recipe", None)
            object.__setattr__(self, "spectra", None)
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "seen", seen)
        object.__setattr__(self, "groups", dict(self.groups))
        object.__setattr__(self, "colors", {n: c for n, c in dict(self.colors).items() if n in self.names})
        self._validate()

    # -- validation ---------------------------------------------------------

    def _validate(self) -> None:
        if not self.names:
            raise ClassSpaceError("the class space is empty: define at least one class")
        if not self.attributes:
            raise ClassSpaceError("the attribute vocabulary is empty: list the attribute names")
        _check_unique(self.names, "class")
        _check_unique(self.attributes, "attribute")
        _check_names(self.names)
        c, a = len(self.names), len(self.attributes)
        if self.matrix.shape != (c, a):
            raise ClassSpaceError(
                f"class-attribute matrix has shape {self.matrix.shape}, expected ({c}, {a}) "
                "(one row per class, one column per attribute)"
            )
        if self.seen.shape != (c,):
            raise ClassSpaceError(f"seen flags have shape {self.seen.shape}, expected ({c},)")
        if self.examples is not None:
            if len(self.examples) != c:
                raise ClassSpaceError(f"example features for {len(self.examples)} classes, expected {c}")
            dims = {e.shape[1] for e in self.examples if e is not None}
            if len(dims) > 1:
                raise ClassSpaceError(f"example features have different lengths ({sorted(dims)}); they must come "
                                      "from one model and recipe")
            if not self.feature_space or not self.recipe:
                raise ClassSpaceError("example features without a feature_space and recipe: say which model made them")
        for i, name in enumerate(self.names):
            _check_values(name, self.matrix[i], self.attributes, self.scale, self.signed)
        unknown = sorted(set(self.groups) - set(self.attributes))
        if unknown:
            raise ClassSpaceError(
                f"groups name unknown attribute {unknown[0]!r}{did_you_mean(unknown[0], self.attributes)}"
            )
        self._warn_unseen_duplicates()

    def _warn_unseen_duplicates(self) -> None:
        seen_rows = {tuple(self.matrix[i]): self.names[i] for i in np.flatnonzero(self.seen)}
        for i in np.flatnonzero(~self.seen):
            twin = seen_rows.get(tuple(self.matrix[i]))
            if twin is not None:
                warnings.warn(
                    f"unseen class {self.names[i]!r} has the same attribute vector as seen class "
                    f"{twin!r}: the model cannot tell them apart; change one of the vectors",
                    RsdsvaWarning,
                    stacklevel=3,
                )

    # -- views --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_attributes(self) -> int:
        return len(self.attributes)

    @property
    def unseen(self) -> np.ndarray:
        return ~self.seen

    @property
    def has_examples(self) -> np.ndarray:
        """(C,) True for classes with example tiles (from example areas)."""
        if self.examples is None:
            return np.zeros(len(self), dtype=bool)
        return np.array([e is not None for e in self.examples], dtype=bool)

    def index(self, name: str) -> int:
        """Position of class ``name``; a clear error with a suggestion if unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            shown = ", ".join(self.names[:8]) + (f" and {len(self.names) - 8} more" if len(self.names) > 8 else "")
            raise ClassSpaceError(
                f"unknown class {name!r}{did_you_mean(name, self.names, f'; the classes are {shown}')}"
            ) from None

    def vector(self, name: str) -> np.ndarray:
        return self.matrix[self.index(name)]

    def subset(self, names: Iterable[str]) -> ClassSpace:
        """The classes ``names`` in that order, with their flags."""
        idx = [self.index(n) for n in names]
        return self._replace(
            names=[self.names[i] for i in idx], matrix=self.matrix[idx], seen=self.seen[idx],
            examples=None if self.examples is None else [self.examples[i] for i in idx],
        )  # colors: kept for the names that stay

    def with_seen(self, seen: bool | Sequence[bool] | np.ndarray) -> ClassSpace:
        """A copy with every class (bool) or each class (sequence) flagged seen or unseen."""
        flags = np.broadcast_to(np.asarray(seen, dtype=bool), (len(self),)).copy()
        return self._replace(seen=flags)

    def rescaled(self, scale: float) -> ClassSpace:
        """The same space with values expressed on another scale."""
        return self._replace(matrix=self.matrix * (scale / self.scale), scale=scale)

    def concat(self, other: ClassSpace) -> ClassSpace:
        """This space followed by ``other``, which must share the vocabulary."""
        if other.attributes != self.attributes:
            missing = [a for a in self.attributes if a not in other.attributes]
            extra = [a for a in other.attributes if a not in self.attributes]
            detail = f"missing {missing[:5]}" if missing else f"unknown {extra[:5]}"
            if not missing and not extra:
                detail = "same names in another order"
            raise ClassSpaceError(
                f"attribute vocabularies differ ({detail}); define the classes over the "
                "same attributes, in the same order"
            )
        other = other.rescaled(self.scale)
        return self._replace(
            names=self.names + other.names,
            matrix=np.concatenate([self.matrix, other.matrix]),
            seen=np.concatenate([self.seen, other.seen]),
            colors={**self.colors, **other.colors},
            **_concat_examples(self, other),
        )

    def add_examples(self, other: ClassSpace) -> ClassSpace:
        """This space with the example tiles of ``other``'s classes added to those of the classes
        of the same names (their vectors, flags and order stay); ``other``'s other classes are
        ignored."""
        _concat_examples(self, other)  # refuses examples from another model or recipe
        rows = list(self.examples) if self.examples is not None else [None] * len(self)
        for name, extra in zip(other.names, other.examples or ()):
            if extra is None or name not in self.names:
                continue
            i = self.index(name)
            rows[i] = extra if rows[i] is None else np.concatenate([rows[i], extra])
        space = self if self.examples is not None else other
        return self._replace(examples=rows, feature_space=space.feature_space, recipe=space.recipe,
                             spectra=space.spectra)

    def _replace(self, **changes: Any) -> ClassSpace:
        fields = dict(
            names=self.names,
            attributes=self.attributes,
            matrix=self.matrix,
            seen=self.seen,
            groups=self.groups,
            scale=self.scale,
            signed=self.signed,
            examples=self.examples,
            feature_space=self.feature_space,
            recipe=self.recipe,
            spectra=self.spectra,
            colors=self.colors,
        )
        fields.update(changes)
        return ClassSpace(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClassSpace):
            return NotImplemented
        return (
            self.names == other.names
            and self.attributes == other.attributes
            and np.array_equal(self.seen, other.seen)
            and np.allclose(self.matrix, other.matrix, rtol=0, atol=1e-4)
            and dict(self.groups) == dict(other.groups)
            and self.scale == other.scale
            and self.signed == other.signed
            and self.feature_space == other.feature_space
            and self.recipe == other.recipe
            and self.spectra == other.spectra
            and dict(self.colors) == dict(other.colors)
            and _same_examples(self.examples, other.examples)
        )

    # -- (de)serialisation -----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-able dict that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"scale": self.scale, "attributes": list(self.attributes)}
        if self.groups:
            out["groups"] = dict(self.groups)
        if self.signed:
            out["signed"] = True
        out["classes"] = {
            name: {"seen": bool(flag), "vector": [round(float(v), 6) for v in row],
                   **({"color": self.colors[name]} if name in self.colors else {})}
            for name, flag, row in zip(self.names, self.seen, self.matrix)
        }
        if self.examples is not None:
            out["feature_space"] = self.feature_space
            out["recipe"] = self.recipe
            if self.spectra is not None:
                out["spectra"] = self.spectra.to_dict()
            for name, rows in zip(self.names, self.examples):
                if rows is not None:
                    out["classes"][name]["features"] = [[round(float(v), 5) for v in r] for r in rows]
        return out

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        vocabulary: Sequence[str] | None = None,
        source: str = "class definition",
    ) -> ClassSpace:
        """Build from the YAML/JSON structure described in the module docstring.

        Args:
            data: the parsed file.
            vocabulary: attribute names to use when ``data`` lists none (the model's).
            source: the file name, for error messages.
        """
        try:
            return _from_dict(cls, data, vocabulary)
        except ClassSpaceError as err:
            raise ClassSpaceError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path: str | Path, vocabulary: Sequence[str] | None = None) -> ClassSpace:
        """Read a ``.yaml``, ``.yml``, ``.json`` or ``.csv`` class file."""
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
        return cls.from_dict(data, vocabulary=vocabulary, source=str(path))

    def save(self, path: str | Path) -> Path:
        """Write to ``.yaml``, ``.json`` or ``.csv`` (CSV keeps neither flags nor groups)."""
        from rsdsva._io import atomic_write_text

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            rows = [["", *self.attributes]]
            rows += [[n, *(f"{v:g}" for v in r)] for n, r in zip(self.names, self.matrix)]
            text = "\n".join(",".join(r) for r in rows) + "\n"
        elif suffix in (".yaml", ".yml"):
            import yaml

            text = "# rsdsva classes\n" + yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        elif suffix == ".json":
            text = json.dumps(self.to_dict(), indent=1)
        else:
            raise ClassSpaceError(f"{path}: unknown classes file type {suffix!r}; use .yaml, .json or .csv")
        return atomic_write_text(path, text)


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


def normalized_vectors(classes: ClassSpace) -> np.ndarray:
    """(C, A) class vectors scaled to unit L2 norm: the targets DSVA's heads regress to,
    and what cosine comparisons of classes use."""
    m = classes.matrix.astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


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


def _from_dict(cls: type[ClassSpace], data: Mapping[str, Any], vocabulary: Sequence[str] | None) -> ClassSpace:
    attributes = data.get("attributes", vocabulary)
    if attributes is None:
        raise ClassSpaceError("no attribute vocabulary: add an 'attributes' list to the file")
    if isinstance(attributes, str) or not isinstance(attributes, Sequence):
        raise ClassSpaceError("'attributes' must be a list of attribute names")
    attributes = [str(a) for a in attributes]
    _check_unique(attributes, "attribute")
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
    return cls(
        names=[str(n) for n in classes],
        attributes=attributes,
        matrix=np.array(rows, dtype=np.float32),
        seen=np.array(flags, dtype=bool),
        groups=groups,
        scale=scale,
        signed=_flag("signed", data.get("signed", False)),
        examples=examples if has_examples else None,
        feature_space=str(data["feature_space"]) if has_examples else None,
        recipe=str(data["recipe"]) if has_examples else None,
        spectra=_spectra(data) if has_examples else None,
        colors=colors,
    )


def _spectra(data: Mapping[str, Any]):
    """The file's spectral record (examples from a raster of more than three bands), or None."""
    if data.get("spectra") is None:
        return None
    from rsdsva.examples.spectra import SpectralRecord

    return SpectralRecord.from_dict(data["spectra"], "the file")


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


def _same_examples(a, b) -> bool:
    if (a is None) != (b is None):
        return False
    if a is None:
        return True
    return all((x is None) == (y is None) and (x is None or (x.shape == y.shape and np.allclose(x, y, atol=1e-4)))
               for x, y in zip(a, b))


def _concat_examples(a: ClassSpace, b: ClassSpace) -> dict[str, Any]:
    """The example features, feature space and recipe of ``a`` followed by ``b``."""
    if a.examples is None and b.examples is None:
        return {}
    if a.examples is not None and b.examples is not None:
        if (a.feature_space, a.recipe) != (b.feature_space, b.recipe):
            raise ClassSpaceError(f"example classes from two models or recipes ({a.feature_space} {a.recipe}, "
                                  f"{b.feature_space} {b.recipe}) cannot be ranked together; make them again with "
                                  "one model (rsdsva classes from-map)")
        if a.spectra != b.spectra:
            raise ClassSpaceError("example classes made with different spectra (bands, their standardisation or "
                                  "weight) cannot be ranked together; make them again in one rsdsva classes from-map")
    rows = [e for s in (a, b) for e in (s.examples if s.examples is not None else [None] * len(s))]
    first = a if a.examples is not None else b
    return {"examples": rows, "feature_space": first.feature_space, "recipe": first.recipe, "spectra": first.spectra}


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


def _check_values(name: str, row: np.ndarray, attributes: Sequence[str], scale: float, signed: bool = False) -> None:
    bad = np.flatnonzero(~np.isfinite(row))
    if bad.size:
        raise ClassSpaceError(
            f"class {name!r} has a NaN or infinite value for {attributes[bad[0]]!r}; give a number"
        )
    neg = np.flatnonzero(row < 0)
    if neg.size and not signed:
        raise ClassSpaceError(
            f"class {name!r} has negative value {row[neg[0]]:g} for {attributes[neg[0]]!r}; "
            "values run from 0 (absent) to the scale (present)"
        )
    high = np.flatnonzero(row > scale * (1 + 1e-4))
    if high.size and not signed:
        raise ClassSpaceError(
            f"class {name!r}: value {row[high[0]]:g} for {attributes[high[0]]!r} is above the scale ({scale:g}); "
            "values run from 0 (absent) to the scale (present), or set the file's 'scale:'"
        )
    if not row.any():
        raise ClassSpaceError(f"class {name!r} has no attribute present; give it at least one")


def _check_names(names: Sequence[str]) -> None:
    """Refuse a class name a map could not show or keep: empty, with control characters, or with the
    ';' that separates a tile's top labels."""
    for name in names:
        bad = ("is empty" if not name.strip() else
               "holds a control character" if any(ord(ch) < 32 or ord(ch) == 127 for ch in name) else
               "holds ';', which separates a tile's labels in a map" if ";" in name else "")
        if bad:
            raise ClassSpaceError(f"class name {name!r} {bad}; give each class a plain name")


def _check_unique(items: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ClassSpaceError(f"duplicate {what} {item!r}; each {what} must appear once")
        seen.add(item)


def did_you_mean(word: str, choices: Iterable[str], otherwise: str = "; see the vocabulary for valid names") -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, else ``otherwise`` (by default a
    pointer to the attribute vocabulary): the tail of every error about an unknown name."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else otherwise


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
