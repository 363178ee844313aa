"""The one error the CLI shows for bad input: one line, exit code 2, no traceback."""

from __future__ import annotations

import click

EXIT_BAD_INPUT = 2


class BadInput(click.ClickException):
    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"deepdives: error: {self.message}", err=True)
