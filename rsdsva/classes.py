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
        fallow: {vector: [...], prototype: [...]}  # a class from example areas
      feature_space: 1a2b3c4d5e6f7a8b   # the model whose features the prototypes are in

  A class with a ``prototype`` (made by ``rsdsva classes from-map``) also carries the
  mean feature of its examples in one model's feature space; that model ranks it by
  feature similarity (see :mod:`rsdsva.attributes.areas`), any other by its vector.

* ``.csv``: as ``../shared/data/attributes/*_class_attributes.csv``: first column
  the class name, header the attribute names, every class seen.
"""

from __future__ import annotations

import csv
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
        prototypes: optional (C, D) unit-norm mean features of example tiles in the feature
            space ``feature_space`` names; NaN rows for classes defined by attributes only.
        feature_space: the model the prototypes belong to (:func:`rsdsva.models.dsva.feature_space_id`).
    """

    names: tuple[str, ...]
    attributes: tuple[str, ...]
    matrix: np.ndarray
    seen: np.ndarray
    groups: Mapping[str, str] = field(default_factory=dict)
    scale: float = DEFAULT_SCALE
    signed: bool = False  # True for embedding-like vectors (e.g. word2vec) that may be negative
    prototypes: np.ndarray | None = None
    feature_space: str | None = None

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float32)
        seen = np.asarray(self.seen, dtype=bool)
        if self.prototypes is not None:
            protos = np.asarray(self.prototypes, dtype=np.float32)
            object.__setattr__(self, "prototypes", protos if np.isfinite(protos).any() else None)
        if self.prototypes is None:
            object.__setattr__(self, "feature_space", None)
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "seen", seen)
        object.__setattr__(self, "groups", dict(self.groups))
        self._validate()

    # -- validation ---------------------------------------------------------

    def _validate(self) -> None:
        if not self.names:
            raise ClassSpaceError("the class space is empty: define at least one class")
        if not self.attributes:
            raise ClassSpaceError("the attribute vocabulary is empty: list the attribute names")
        _check_unique(self.names, "class")
        _check_unique(self.attributes, "attribute")
        c, a = len(self.names), len(self.attributes)
        if self.matrix.shape != (c, a):
            raise ClassSpaceError(
                f"class-attribute matrix has shape {self.matrix.shape}, expected ({c}, {a}) "
                "(one row per class, one column per attribute)"
            )
        if self.seen.shape != (c,):
            raise ClassSpaceError(f"seen flags have shape {self.seen.shape}, expected ({c},)")
        if self.prototypes is not None:
            if self.prototypes.ndim != 2 or self.prototypes.shape[0] != c:
                raise ClassSpaceError(f"prototypes have shape {self.prototypes.shape}, expected ({c}, D)")
            if not self.feature_space:
                raise ClassSpaceError("prototypes without a feature_space: say which model made them")
        for i, name in enumerate(self.names):
            _check_values(name, self.matrix[i], self.attributes, self.signed)
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
    def has_prototype(self) -> np.ndarray:
        """(C,) True for classes defined by example areas (with a visual prototype)."""
        if self.prototypes is None:
            return np.zeros(len(self), dtype=bool)
        return np.isfinite(self.prototypes).all(axis=1)

    def index(self, name: str) -> int:
        """Position of class ``name``; a clear error with a suggestion if unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ClassSpaceError(
                f"unknown class {name!r}{did_you_mean(name, self.names)}"
            ) from None

    def vector(self, name: str) -> np.ndarray:
        return self.matrix[self.index(name)]

    def subset(self, names: Iterable[str]) -> ClassSpace:
        """The classes ``names`` in that order, with their flags."""
        idx = [self.index(n) for n in names]
        return self._replace(
            names=[self.names[i] for i in idx], matrix=self.matrix[idx], seen=self.seen[idx],
            prototypes=None if self.prototypes is None else self.prototypes[idx],
        )

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
            **_concat_prototypes(self, other),
        )

    def _replace(self, **changes: Any) -> ClassSpace:
        fields = dict(
            names=self.names,
            attributes=self.attributes,
            matrix=self.matrix,
            seen=self.seen,
            groups=self.groups,
            scale=self.scale,
            signed=self.signed,
            prototypes=self.prototypes,
            feature_space=self.feature_space,
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
            and (self.prototypes is None) == (other.prototypes is None)
            and (self.prototypes is None or np.allclose(self.prototypes, other.prototypes, atol=1e-5, equal_nan=True))
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
            name: {"seen": bool(flag), "vector": [round(float(v), 6) for v in row]}
            for name, flag, row in zip(self.names, self.seen, self.matrix)
        }
        if self.prototypes is not None:
            out["feature_space"] = self.feature_space
            for name, row, has in zip(self.names, self.prototypes, self.has_prototype):
                if has:
                    out["classes"][name]["prototype"] = [round(float(v), 6) for v in row]
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
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"classes file not found: {path}; check the path")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            try:
                return _read_csv(path)
            except ClassSpaceError as err:
                raise ClassSpaceError(f"{path}: {err}") from None
        if suffix in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=_unique_key_loader())
            except _DuplicateKey as err:
                raise ClassSpaceError(f"{path}: {err}; keep one definition") from None
            except yaml.YAMLError as err:
                raise ClassSpaceError(f"{path}: not valid YAML ({_first_line(err)})") from None
        elif suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_pairs)
            except _DuplicateKey as err:
                raise ClassSpaceError(f"{path}: {err}; keep one definition") from None
            except json.JSONDecodeError as err:
                raise ClassSpaceError(f"{path}: not valid JSON ({err})") from None
        else:
            raise ClassSpaceError(
                f"{path}: unknown classes file type {suffix!r}; use .yaml, .json or .csv"
            )
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

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
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
    scale = float(data.get("scale", DEFAULT_SCALE))
    if not math.isfinite(scale) or scale <= 0:
        raise ClassSpaceError(f"scale must be a positive number, got {scale}")
    default_seen = bool(data.get("seen", True))
    classes = data.get("classes")
    if not classes:
        raise ClassSpaceError("the class space is empty: add classes under 'classes:'")
    if not isinstance(classes, Mapping):
        raise ClassSpaceError("'classes' must map each class name to its attributes")
    rows, flags, protos = [], [], {}
    for name, spec in classes.items():
        seen = default_seen
        if isinstance(spec, Mapping) and ({"vector", "attributes", "seen", "prototype"} & set(spec)):
            seen = bool(spec.get("seen", default_seen))
            if spec.get("prototype") is not None:
                protos[str(name)] = _parse_prototype(str(name), spec["prototype"])
            spec = spec.get("vector", spec.get("attributes"))
        rows.append(_parse_vector(str(name), spec, attributes, scale))
        flags.append(seen)
    prototypes = _prototype_rows([str(n) for n in classes], protos)
    if prototypes is not None and not data.get("feature_space"):
        raise ClassSpaceError("classes with a 'prototype' need the file's 'feature_space' (the model that made them)")
    return cls(
        names=[str(n) for n in classes],
        attributes=attributes,
        matrix=np.array(rows, dtype=np.float32),
        seen=np.array(flags, dtype=bool),
        groups=data.get("groups") or {},
        scale=scale,
        signed=bool(data.get("signed", False)),
        prototypes=prototypes,
        feature_space=str(data["feature_space"]) if prototypes is not None else None,
    )


def _parse_prototype(name: str, spec: Any) -> np.ndarray:
    if isinstance(spec, str) or not isinstance(spec, Sequence) or not spec:
        raise ClassSpaceError(f"class {name!r}: 'prototype' must be a list of numbers (made by rsdsva classes from-map)")
    row = np.array([_number(name, i, v) for i, v in enumerate(spec)], dtype=np.float32)
    norm = float(np.linalg.norm(row))
    if not np.isfinite(row).all() or norm == 0:
        raise ClassSpaceError(f"class {name!r}: 'prototype' has a zero, NaN or infinite value; rebuild it with "
                              "rsdsva classes from-map")
    return row / norm


def _prototype_rows(names: Sequence[str], protos: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """(C, D) prototypes with NaN rows for classes that have none; None if no class has one."""
    if not protos:
        return None
    dims = {len(p) for p in protos.values()}
    if len(dims) > 1:
        raise ClassSpaceError(f"prototypes have different lengths ({sorted(dims)}); they must come from one model")
    out = np.full((len(names), dims.pop()), np.nan, dtype=np.float32)
    for i, n in enumerate(names):
        if n in protos:
            out[i] = protos[n]
    return out


def _concat_prototypes(a: ClassSpace, b: ClassSpace) -> dict[str, Any]:
    """The prototypes and feature space of ``a`` followed by ``b``."""
    if a.prototypes is None and b.prototypes is None:
        return {}
    if a.prototypes is not None and b.prototypes is not None:
        if a.feature_space != b.feature_space or a.prototypes.shape[1] != b.prototypes.shape[1]:
            raise ClassSpaceError(f"prototypes from two models ({a.feature_space}, {b.feature_space}) cannot be "
                                  "ranked together; rebuild the classes with one model")
    dim = (a.prototypes if a.prototypes is not None else b.prototypes).shape[1]
    rows = [s.prototypes if s.prototypes is not None else np.full((len(s), dim), np.nan, np.float32) for s in (a, b)]
    return {"prototypes": np.concatenate(rows), "feature_space": a.feature_space or b.feature_space}


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


def _check_values(name: str, row: np.ndarray, attributes: Sequence[str], signed: bool = False) -> None:
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
    if not row.any():
        raise ClassSpaceError(f"class {name!r} has no attribute present; give it at least one")


def _check_unique(items: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ClassSpaceError(f"duplicate {what} {item!r}; each {what} must appear once")
        seen.add(item)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, else a pointer to the vocabulary:
    the tail of every error about an unknown name."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else "; see the vocabulary for valid names"


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]


def _read_csv(path: Path) -> ClassSpace:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if any(cell.strip() for cell in r)]
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
