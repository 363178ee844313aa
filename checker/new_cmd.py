"""`deepdives new NAME`: the skeleton of a system of your own and its test, ready to hunt."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import click

from checker.badinput import BadInput

TEMPLATE = "pbstore"  # the tutorial's system, which the skeleton is
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def skeleton(name: str) -> dict[str, str]:
    """File name -> contents, the template's name replaced by `name`."""
    files = resources.files("checker.skeleton")
    return {f"{prefix}{name}.py": files.joinpath(f"{prefix}{TEMPLATE}.py").read_text()
            .replace(TEMPLATE, name) for prefix in ("", "test_")}


@click.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Where to write the two files.")
def new_command(name: str, directory: Path) -> None:
    """Write NAME.py (a small primary-backup store with a seeded bug, to change into your
    protocol) and test_NAME.py, as walked through in docs/your-own-system.md."""
    if not _NAME.fullmatch(name):
        raise BadInput(f"name {name!r}: a lowercase Python module name, like 'raft' or 'kv2'")
    files = skeleton(name)
    taken = [f for f in files if (directory / f).exists()]
    if taken:
        raise BadInput(f"{directory / taken[0]} exists: not overwritten")
    directory.mkdir(parents=True, exist_ok=True)
    for file, text in files.items():
        (directory / file).write_text(text)
        click.echo(f"wrote {directory / file}")
    click.echo(f"next: deepdives --system-module {name} hunt {name}   (from {directory}), "
               f"or pytest test_{name}.py")
