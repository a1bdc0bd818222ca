"""The model loads in a thread while the raster is checked and the first tiles are read."""

from __future__ import annotations

import threading
from concurrent.futures import Future, wait
from contextlib import contextmanager
from typing import Callable


def in_background(fn: Callable[[], object]) -> Future:
    """Run ``fn`` in a daemon thread (an input error raised meanwhile does not wait for it)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as err:  # handed to whoever waits on the future
            future.set_exception(err)

    threading.Thread(target=run, name="rsdsva-model", daemon=True).start()
    return future


@contextmanager
def settled_on_error(loading: Future):
    """On an error or an interrupt (Ctrl-C, SIGTERM), let a model still loading in its thread
    finish before the exception goes on: an interpreter exiting under a thread inside torch's
    C++ code aborts the process ("terminate called without an active exception")."""
    try:
        yield
    except BaseException:
        wait([loading])
        raise


def done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future
