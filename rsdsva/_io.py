"""Atomic output: write beside the target, rename into place only when complete; inputs checked by
kind (regular files; YAML without alias bombs); and file checksums."""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import hashlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from rsdsva.errors import ConfigError, OutputError


def check_input_file(path: str | Path, what: str) -> Path:
    """Refuse an input that exists but is not a regular file: reading a FIFO waits forever, and a
    device or a folder is not data. A missing file is left to the caller's own message."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        return path
    if stat.S_ISREG(mode):
        return path
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "not a regular file")
    raise ConfigError(f"{what} {path} is {kind}, not a file; give the file itself")


# YAML nodes a file may expand to: aliases make a few lines stand for billions ("billion laughs")
YAML_NODE_BUDGET = 20_000_000


def yaml_loader(base=None):
    """A safe YAML loader (subclass of ``base``, default ``yaml.SafeLoader``) that refuses a document
    whose aliases expand it beyond :data:`YAML_NODE_BUDGET` nodes, before anything is built."""
    import yaml

    class Loader(base or yaml.SafeLoader):
        def get_single_node(self):
            node = super().get_single_node()
            if node is not None and _expanded(node, {}) > YAML_NODE_BUDGET:
                raise yaml.YAMLError(f"its aliases expand it beyond {YAML_NODE_BUDGET:,} values (an alias bomb?); "
                                     "write the values out instead of through aliases")
            return node

    return Loader


def _expanded(node, sizes: dict) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (a cycle counts as too many)."""
    import yaml

    key = id(node)
    if key in sizes:
        return sizes[key]
    sizes[key] = YAML_NODE_BUDGET + 1  # met again while being counted: a cycle
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded(child, sizes)
            if total > YAML_NODE_BUDGET:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded(k, sizes) + _expanded(v, sizes)
            if total > YAML_NODE_BUDGET:
                break
    sizes[key] = total
    return total


def check_output_path(path: str | Path, overwrite: bool = False) -> Path:
    """Refuse an existing output (unless ``overwrite``) or a folder we cannot write."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputError(f"output {path} already exists; pass `overwrite` or choose another name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder} is not writable; choose another folder")
    return path


def check_distinct(outputs: dict[str, str | Path | None], inputs: dict[str, str | Path | None]) -> None:
    """Refuse an output that is one of the inputs (it would be replaced) or another output (one
    would be lost). ``outputs`` and ``inputs``: flag or role -> path (None: not given)."""
    seen: dict[Path, str] = {}
    for role, path in inputs.items():
        if path:
            seen.setdefault(_identity(path), role)
    for flag, path in outputs.items():
        if not path:
            continue
        key = _identity(path)
        if key in seen:
            other = seen[key]
            what = other if other in inputs else f"also the {other} output"
            raise OutputError(f"{flag} {path} is {what}; choose another name (inputs are never overwritten, "
                              "and each output needs its own file)")
        seen[key] = flag


def _identity(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read once while its size and modification time stay the same (a map
    asks for its model's three times: choosing the engine, opening it, recording the run)."""
    st = Path(path).stat()
    return _sha256(_identity(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_HELD = threading.local()  # outputs this thread holds: a writer nested in a run's lock does not lock again


@contextlib.contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold ``path`` for one writer: a second run onto the same output fails at once with one
    line instead of both reporting success and one result being lost. The lock dies with its
    process, so a run killed with SIGKILL leaves no lock behind; the partial files such a run
    left beside ``path`` are removed (the lock proves no one is writing them), with a warning."""
    import fcntl
    import warnings

    from rsdsva.errors import RsdsvaWarning

    path = Path(path)
    held = _HELD.__dict__.setdefault("paths", set())
    if _identity(path) in held:
        yield
        return
    folder = path.parent if str(path.parent) else Path(".")
    lock = folder / f".{path.name}.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as err:
        raise OutputError(f"cannot write in {folder} ({err.strerror}); choose another output") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)  # the lock file is the other run's: leave it
        raise OutputError(f"another rsdsva run is writing {path} (it holds {lock}); wait for it to finish or "
                          "choose another output") from None
    held.add(_identity(path))
    try:
        stale = sorted(folder.glob(f".{glob.escape(path.name)}.*.part{path.suffix}"))
        for part in stale:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        if stale:
            warnings.warn(f"removed {len(stale)} partial file(s) that an interrupted run left beside {path} "
                          f"({stale[0].name})", RsdsvaWarning, stacklevel=3)
        yield
    finally:
        held.discard(_identity(path))
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    On any exception, KeyboardInterrupt included, the temporary file is removed and
    nothing appears under the final name (:func:`atomic_paths` of one).
    """
    with atomic_paths([path]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(paths: list[str | Path]) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; rename them all into place only once
    every one is complete (the outputs of one run are replaced together, or none is).

    On any exception, KeyboardInterrupt included, every temporary is removed and the files
    under the final names stay as they were. SIGINT and SIGTERM wait while the temporaries are
    renamed, so a signal cannot leave some outputs new and others old.
    """
    import signal

    paths = [Path(p) for p in paths]
    with contextlib.ExitStack() as stack:
        for path in paths:
            stack.enter_context(output_lock(path))
        temps: list[Path] = []
        try:
            for path in paths:
                temps.append(_temporary(path))
            yield temps
            main = threading.current_thread() is threading.main_thread()
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}) if main else None
            try:
                for tmp, path in zip(temps, paths):
                    os.replace(tmp, path)
            finally:
                if held is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
        except BaseException as err:
            for tmp in temps:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            if isinstance(err, Exception) and not isinstance(err, OutputError) and _out_of_space(err):
                raise write_failure(" and ".join(map(str, paths)), err) from None
            raise


# what a full disk, a quota or a read-only mount look like from Python, GDAL, SQLite and torch
_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
_SPACE_WORDS = ("no space left", "disk is full", "free disk space", "quota exceeded", "read-only file system",
                "file too large")


def _out_of_space(err: BaseException) -> bool:
    return (isinstance(err, OSError) and err.errno in _SPACE_ERRNOS) or any(
        w in str(err).lower() for w in _SPACE_WORDS)


def write_failure(path: str | Path, err: BaseException) -> OutputError:
    """A failed write of ``path`` as one line naming it; the partial files are already removed.
    A writer nested in another's temporary names the file the user asked for, not the temporary."""
    import re

    path = re.sub(r"(^|/)\.([^/]+)\.[^./]+\.part(\.[^./]*)?(?=$| and )", r"\1\2", str(path))
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return OutputError(f"could not write {path} ({reason}); check the free space and permissions of its folder; "
                       "nothing was left there")


def _temporary(path: Path) -> Path:
    """A free name beside ``path`` for its temporary (nothing created: writers create the file)."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=folder)
    except OSError as err:
        raise OutputError(f"cannot write in {folder} ({err.strerror}); choose another output") from None
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL, safetensors) want to create the file themselves
    return Path(tmp)


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
