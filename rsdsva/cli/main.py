"""The click group; each command lives in its own module and only parses and calls."""

from __future__ import annotations

import warnings

import click

from rsdsva.errors import RsdsvaError, RsdsvaWarning


class _Group(click.Group):
    """Turns library errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RsdsvaError as err:
            raise click.ClickException(str(err)) from None


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=_Group)
@click.version_option(package_name="rsdsva")
def cli() -> None:
    """Zero-shot scene classification of remote-sensing imagery (DSVA)."""
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", RsdsvaWarning)


def _register() -> None:
    from rsdsva.cli import attributes, classes, explain, info, map, train, weights

    cli.add_command(attributes.group)
    cli.add_command(classes.group)
    cli.add_command(explain.command)
    cli.add_command(info.command)
    cli.add_command(map.command)
    cli.add_command(train.train_command)
    cli.add_command(train.evaluate_command)
    cli.add_command(weights.group)


_register()
