"""ClassSpace: the classes a model can name, each defined by its attribute vector.

Value scale: attribute values run from 0 (absent) to ``scale`` (default 100, the
scale of the human-annotated matrices in ZS-ViDAT). A class given as a list of
present attributes gets ``scale`` for each of them and 0 for the rest. The model
never sees this scale: it L2-normalises each class vector (see
:func:`rsdsva.models.dsva.class_matrix_tensor`), so only the ratios matter.

Classes from example areas also carry the features of their example tiles, in an
:class:`~rsdsva.examples.bank.ExampleBank`. Reading and writing classes files is
:mod:`rsdsva.class_files`.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from rsdsva.errors import ClassSpaceError, RsdsvaWarning
from rsdsva.examples.bank import ExampleBank

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
        examples: the features of the example tiles of classes from example areas, one entry per
            class (:class:`~rsdsva.examples.bank.ExampleBank`); None where no class has examples.
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
    examples: ExampleBank | None = None
    colors: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float32)
        seen = np.asarray(self.seen, dtype=bool)
        if self.examples is not None and not self.examples.mask.any():
            object.__setattr__(self, "examples", None)
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
        check_unique(self.names, "class")
        check_unique(self.attributes, "attribute")
        _check_names(self.names)
        c, a = len(self.names), len(self.attributes)
        if self.matrix.shape != (c, a):
            raise ClassSpaceError(
                f"class-attribute matrix has shape {self.matrix.shape}, expected ({c}, {a}) "
                "(one row per class, one column per attribute)"
            )
        if self.seen.shape != (c,):
            raise ClassSpaceError(f"seen flags have shape {self.seen.shape}, expected ({c},)")
        if self.examples is not None and len(self.examples) != c:
            raise ClassSpaceError(f"example features for {len(self.examples)} classes, expected {c}")
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
        return self.examples.mask if self.examples is not None else np.zeros(len(self), dtype=bool)

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
            examples=None if self.examples is None else self.examples.subset(idx),
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
            examples=ExampleBank.joined(self.examples, len(self), other.examples, len(other)),
        )

    def add_examples(self, other: ClassSpace) -> ClassSpace:
        """This space with the example tiles of ``other``'s classes added to those of the classes
        of the same names (their vectors, flags and order stay); ``other``'s other classes are
        ignored."""
        if other.examples is None:
            return self
        bank = self.examples or ExampleBank((None,) * len(self), other.examples.feature_space,
                                            other.examples.recipe, other.examples.spectra, other.examples.centre)
        bank.check_joins(other.examples)  # refuses examples from another model, recipe or spectra
        found = {n: r for n, r in zip(other.names, other.examples.rows) if r is not None}
        return self._replace(examples=bank.with_added(self.names, found))

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
            and dict(self.colors) == dict(other.colors)
            and self.examples == other.examples
        )


def normalized_vectors(classes: ClassSpace) -> np.ndarray:
    """(C, A) class vectors scaled to unit L2 norm: the targets DSVA's heads regress to,
    and what cosine comparisons of classes use."""
    m = classes.matrix.astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


# -- checks -------------------------------------------------------------------


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


def check_unique(items: Sequence[str], what: str) -> None:
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
