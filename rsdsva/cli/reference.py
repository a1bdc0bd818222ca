"""The command-line reference (docs/cli.md), made from the commands' own help so it cannot drift:
``python -m rsdsva.cli.reference > docs/cli.md`` writes it, and a test checks it is current."""

from __future__ import annotations

import click

WIDTH = 100


def reference_markdown() -> str:
    from rsdsva.cli.main import cli

    lines = ["# Command line", "",
             "Every command's `--help`, as this version prints it (`python -m rsdsva.cli.reference > docs/cli.md`",
             "writes this page).", ""]
    for path, command in _commands(cli, ("rsdsva",)):
        ctx = click.Context(command, info_name=" ".join(path), terminal_width=WIDTH, max_content_width=WIDTH)
        lines += [f"## {' '.join(path)}", "", "```text", command.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(lines)


def _commands(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _commands(command.commands[name], (*path, name))


if __name__ == "__main__":
    print(reference_markdown(), end="")
