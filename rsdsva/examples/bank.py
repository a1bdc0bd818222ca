"""ExampleBank: the features of every example tile of a class space's classes from example areas,
with the model, the recipe and the spectra they were taken with. numpy only.

A :class:`~rsdsva.classes.ClassSpace` holds one bank (or None) with one row block per class, None
for a class defined by its attributes alone; only banks taken the same way can be joined, since
their features are compared with one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from rsdsva.errors import ClassSpaceError


@dataclass(frozen=True, eq=False)
class ExampleBank:
    """Per class, the (k, D) unit-norm features of its k example tiles (None: no examples).

    Attributes:
        rows: one entry per class of the class space, in its order.
        feature_space: the model the features belong to (:func:`rsdsva.models.dsva.feature_space_id`).
        recipe: how they were taken (layers and windows, ``model.blocks.4@1,2``;
            :mod:`rsdsva.examples.recipe`).
        spectra: the :class:`~rsdsva.examples.spectra.SpectralRecord` of examples from a raster of
            more than three bands, whose features end in each tile's spectra; None otherwise.
        centre: (D,) the mean feature of the tiles of the rasters the examples were drawn on, or
            None. Which example class a tile is, is also chosen on features centred on it: what
            the whole scene shares (its resolution, season, sensor) then weighs less than what
            tells its kinds apart (:class:`~rsdsva.examples.choice.ExampleChoice`).
    """

    rows: tuple[np.ndarray | None, ...]
    feature_space: str
    recipe: str
    spectra: Any = None
    centre: Any = None

    def __post_init__(self) -> None:
        rows = tuple(None if r is None else np.atleast_2d(np.asarray(r, dtype=np.float32)) for r in self.rows)
        object.__setattr__(self, "rows", rows)
        dims = {r.shape[1] for r in rows if r is not None}
        if len(dims) > 1:
            raise ClassSpaceError(f"example features have different lengths ({sorted(dims)}); they must come "
                                  "from one model and recipe")
        if not self.feature_space or not self.recipe:
            raise ClassSpaceError("example features without a feature_space and recipe: say which model made them")
        if self.centre is not None:
            centre = np.asarray(self.centre, dtype=np.float32).ravel()
            if dims and centre.shape != (next(iter(dims)),):
                raise ClassSpaceError(f"the examples' centre has {centre.size} values and their features "
                                      f"{next(iter(dims))}; make the classes again with rsdsva classes from-map")
            if not np.isfinite(centre).all():
                raise ClassSpaceError("the examples' centre has a NaN or infinite value; make the classes again "
                                      "with rsdsva classes from-map")
            object.__setattr__(self, "centre", centre)

    @classmethod
    def of(cls, rows: Iterable[np.ndarray | None], feature_space: str, recipe: str,
           spectra: Any = None, centre: Any = None) -> ExampleBank | None:
        """A bank of ``rows``, or None where no class has examples."""
        rows = list(rows)
        return cls(tuple(rows), feature_space, recipe, spectra, centre) if any(r is not None for r in rows) else None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def mask(self) -> np.ndarray:
        """(C,) True for the classes with example tiles."""
        return np.array([r is not None for r in self.rows], dtype=bool)

    @property
    def dim(self) -> int:
        return next(r.shape[1] for r in self.rows if r is not None)

    def subset(self, index: Sequence[int]) -> ExampleBank | None:
        """The rows of the classes at ``index``, in that order (None where none has examples)."""
        return self.of([self.rows[i] for i in index], self.feature_space, self.recipe, self.spectra, self.centre)

    def check_joins(self, other: ExampleBank) -> None:
        """Refuse ``other`` where its features cannot be ranked beside these."""
        if (self.feature_space, self.recipe) != (other.feature_space, other.recipe):
            raise ClassSpaceError(f"example classes from two models or recipes ({self.feature_space} {self.recipe}, "
                                  f"{other.feature_space} {other.recipe}) cannot be ranked together; make them again "
                                  "with one model (rsdsva classes from-map)")
        if self.spectra != other.spectra:
            raise ClassSpaceError("example classes made with different spectra (bands, their standardisation or "
                                  "weight) cannot be ranked together; make them again in one rsdsva classes from-map")

    @staticmethod
    def joined(a: ExampleBank | None, count_a: int, b: ExampleBank | None, count_b: int) -> ExampleBank | None:
        """The bank of ``count_a`` classes (bank ``a``) followed by ``count_b`` classes (bank ``b``),
        centred as the first bank is (a centre is how tiles are compared, not what they are)."""
        if a is None and b is None:
            return None
        if a is not None and b is not None:
            a.check_joins(b)
        rows = [*(a.rows if a is not None else [None] * count_a), *(b.rows if b is not None else [None] * count_b)]
        first = a if a is not None else b
        return ExampleBank(tuple(rows), first.feature_space, first.recipe, first.spectra, first.centre)

    def with_added(self, names: Sequence[str], others: dict[str, np.ndarray]) -> ExampleBank:
        """This bank (of classes ``names``) with ``others``' example rows added to the classes of the
        same names."""
        rows = list(self.rows)
        for i, name in enumerate(names):
            extra = others.get(name)
            if extra is not None:
                rows[i] = extra if rows[i] is None else np.concatenate([rows[i], extra])
        return ExampleBank(tuple(rows), self.feature_space, self.recipe, self.spectra, self.centre)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExampleBank):
            return NotImplemented
        return ((self.feature_space, self.recipe) == (other.feature_space, other.recipe)
                and self.spectra == other.spectra and len(self) == len(other)
                and (self.centre is None) == (other.centre is None)
                and (self.centre is None or np.allclose(self.centre, other.centre, atol=1e-4))
                and all((x is None) == (y is None)
                        and (x is None or (x.shape == y.shape and np.allclose(x, y, atol=1e-4)))
                        for x, y in zip(self.rows, other.rows)))
