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


# Long enough for a model to finish loading (torch's import and weights: a few seconds on two
# cores); bounded, because an interrupt that lands while the main thread holds Python's import
# lock can leave the loading thread waiting for that lock for ever (seen: SIGTERM from QGIS's
# Cancel during the first batch, while ONNX Runtime was being imported in the thread).
SETTLE_S = 10.0


@contextmanager
def settled_on_error(loading: Future):
    """On an error or an interrupt (Ctrl-C, SIGTERM), let a model still loading in its thread
    finish (up to :data:`SETTLE_S`) before the exception goes on: an interpreter exiting under
    a thread inside torch's C++ code aborts the process ("terminate called without an active
    exception"). The exception's clean-up (temporary files, locks) runs either way."""
    try:
        yield
    except BaseException:
        wait([loading], timeout=SETTLE_S)
        raise


def done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future
