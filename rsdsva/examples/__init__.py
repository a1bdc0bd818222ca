"""Classes from example areas, once their tiles are read: how their features are taken
(:mod:`~rsdsva.examples.recipe`), how tiles are scored against them
(:mod:`~rsdsva.examples.scorer`, :mod:`~rsdsva.examples.choice`) and the spectra of rasters of
more than three bands (:mod:`~rsdsva.examples.spectra`). numpy only; making them from polygons
is :mod:`rsdsva.mapping.areas`."""
