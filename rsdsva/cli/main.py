"""The click group; each command lives in its own module and only parses and calls."""

from __future__ import annotations

import signal
import warnings

import click

from rsdsva.cli.options import in_flags
from rsdsva.errors import TORCH_FAMILY, TORCH_INSTALL, RsdsvaError, RsdsvaWarning


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; ``signum`` says which (the exit status is 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.reported = False  # a command that said so itself (a JSON event) sets this


def _raise_interrupted(signum, frame):
    # the first signal stops the run; a second one while it cleans up (removing temporaries,
    # joining readers) would break that cleanup off with a traceback, so it is only noted
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _cleaning_up)
    raise Interrupted(signum)


def _cleaning_up(signum, frame):
    click.echo("Still stopping: removing temporary files, one moment", err=True)


# how torch and ONNX Runtime say that an allocation failed
_OUT_OF_MEMORY = ("can't allocate memory", "failed to allocate memory", "bad_alloc", "out of memory")


def _out_of_memory(err: Exception) -> bool:
    if isinstance(err, MemoryError):
        return True
    runtime = isinstance(err, RuntimeError) or type(err).__module__.startswith("onnxruntime")
    return runtime and any(m in str(err).lower() for m in _OUT_OF_MEMORY)


_MEMORY_ADVICE = ("close other programs, or run it with a smaller --batch-size (and --read-threads) where the "
                  "command takes one, or on a smaller input")


def one_line(err: Exception) -> str:
    """An error's message as one line. torch's DataLoader re-raises a worker's error with the
    worker's traceback in its message ("Caught DatasetError in DataLoader worker process 0.
    Original Traceback ..."): the original message is its last line."""
    text = str(err).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        return last.split(": ", 1)[1] if last.startswith(f"{type(err).__module__}.") and ": " in last else last
    return text


class _Group(click.Group):
    """Library errors: one line on stderr, exit status 1; usage errors: 2 (click's);
    Ctrl-C: 130, SIGTERM: 143 (128 + the signal), as shells report them."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RsdsvaError as err:
            raise click.ClickException(in_flags(one_line(err))) from None
        except ImportError as err:  # a command of the torch extra, run on the light install
            name = (getattr(err, "name", None) or "").split(".")[0]
            if name not in TORCH_FAMILY:
                raise
            command = ctx.invoked_subcommand or "this command"
            raise click.ClickException(f"rsdsva {command} needs {name}, which is not installed (the light install "
                                       f"maps, explains and defines classes without it); {TORCH_INSTALL}") from None
        except Exception as err:  # numpy's MemoryError; torch's and ONNX Runtime's failed allocations
            if not _out_of_memory(err):
                raise
            raise click.ClickException(f"out of memory in rsdsva {ctx.invoked_subcommand} ({one_line(err)[:120]}); "
                                       f"{_MEMORY_ADVICE}") from None
        except KeyboardInterrupt as err:
            signum = getattr(err, "signum", signal.SIGINT)
            if not getattr(err, "reported", False):
                click.echo(f"Interrupted ({signal.Signals(signum).name}): stopped, no partial output left", err=True)
            ctx.exit(128 + signum)


# rasterio's notes on a raster without georeferencing: rsdsva refuses such a raster in one line,
# or, under --allow-no-crs, says once what it means for the map
_SAID_OTHERWISE = ("Dataset has no geotransform", "'crs' was not provided", "The given matrix is equal to Affine.identity")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {in_flags(str(message))}", err=True)


@click.group(cls=_Group)
@click.version_option(package_name="rsdsva")
def cli() -> None:
    """Zero-shot scene classification of remote-sensing imagery (DSVA)."""
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", RsdsvaWarning)
    for gdal_note in _SAID_OTHERWISE:
        warnings.filterwarnings("ignore", message=gdal_note)
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)  # SIGTERM cleans up like Ctrl-C


def _register() -> None:
    from rsdsva.cli import attributes, change, classes, explain, export, info, map, train, weights

    cli.add_command(attributes.group)
    cli.add_command(change.command)
    cli.add_command(classes.group)
    cli.add_command(explain.command)
    cli.add_command(export.command)
    cli.add_command(info.command)
    cli.add_command(map.command)
    cli.add_command(train.train_command)
    cli.add_command(train.evaluate_command)
    cli.add_command(weights.group)


_register()
