"""How the CLI ends when it cannot give a verdict: bad input (exit 2) or its own bug (exit 4).

Exit codes 0, 1 and 3 are verdicts (ok, violated, unknown). Anything else must never look like
one: bad input is one line and exit 2; an exception nobody expected is one line and exit 4,
with the traceback only when DEEPDIVES_TRACEBACK is set.
"""

from __future__ import annotations

import os
import traceback

import click

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 4


class BadInput(click.ClickException):
    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"deepdives: error: {self.message}", err=True)


class InternalError(click.ClickException):
    """A bug in deepdives, not a verdict on the input."""

    exit_code = EXIT_INTERNAL

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        if os.environ.get("DEEPDIVES_TRACEBACK") and self.__cause__ is not None:
            click.echo("".join(traceback.format_exception(self.__cause__)).rstrip(), err=True)
        click.echo(f"deepdives: internal error (exit {EXIT_INTERNAL}; a bug in deepdives, "
                   f"please report it; DEEPDIVES_TRACEBACK=1 shows where): {self.message}",
                   err=True)


class GuardedGroup(click.Group):
    """A command group whose commands end in a verdict, bad input or an internal error —
    never in a traceback whose exit code 1 would read as 'violated'."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a bad option or argument: one line too
            command = f"{ctx.command_path} {exc.ctx.info_name}" if exc.ctx and exc.ctx.parent \
                else ctx.command_path
            message = ascii(exc.format_message())[1:-1]
            raise BadInput(f"{message} (see '{command} --help')") from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort,
                SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # the one place that turns our own bugs into exit 4
            raise InternalError(ascii(f"{type(exc).__name__}: {exc}")[1:-1]) from exc
