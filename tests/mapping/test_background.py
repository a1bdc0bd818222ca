"""The model loading in its thread while the raster is read."""

from __future__ import annotations

import time
from concurrent.futures import Future

import pytest

from rsdsva.mapping import background


def test_an_interrupt_waits_for_the_loading_model_but_not_for_ever(monkeypatch):
    """A load that never ends (its thread stuck on a lock the interrupt left held) does not hold
    the exit: after SETTLE_S the interrupt goes on, and the run's clean-up with it."""
    monkeypatch.setattr(background, "SETTLE_S", 0.2)
    stuck: Future = Future()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with background.settled_on_error(stuck):
            raise KeyboardInterrupt
    assert 0.2 <= time.perf_counter() - t0 < 2


def test_an_error_waits_for_a_load_that_finishes():
    loading = background.in_background(lambda: time.sleep(0.3) or "model")
    with pytest.raises(ValueError):
        with background.settled_on_error(loading):
            raise ValueError("bad input")
    assert loading.done() and loading.result() == "model"
