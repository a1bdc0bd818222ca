"""The ``rsdsva`` command: a thin skin over the library."""

from rsdsva.cli.main import cli

__all__ = ["cli"]
