"""The command group and the console script's entry point: exit codes that scripts can trust."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from reconciler import __version__
from reconciler.redact import redact


class Interrupted(click.ClickException):
    """Ctrl-C: one line and the shell's code for SIGINT, instead of click's "Aborted!" and exit 1."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")


@contextlib.contextmanager
def _exit_codes() -> Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        # click exits 2 on a usage error, which scripts would read as `plan --detailed-exitcode`'s "changes".
        exc.exit_code = 1
        raise
    except KeyboardInterrupt:
        raise Interrupted() from None


class ReconcilerGroup(click.Group):
    """The command group: usage errors exit 1 (2 means changes) and Ctrl-C exits 130, however it is called."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        """Parse the group's own options (a usage error here exits 1)."""
        with _exit_codes():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        """Parse and run the subcommand (a usage error there exits 1, Ctrl-C exits 130)."""
        with _exit_codes():
            return super().invoke(ctx)


@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="websets-reconciler")
def cli() -> None:
    """Declarative, reviewable management of Exa Websets imports."""


def main() -> None:
    """Entry point of the console script: no traceback reaches the user unless asked for."""
    try:
        cli(prog_name="websets-reconciler")
    except Exception as exc:
        if os.environ.get("WEBSETS_RECONCILER_DEBUG"):
            raise
        click.echo(
            redact(f"Error: internal error ({type(exc).__name__}); set WEBSETS_RECONCILER_DEBUG=1 for details"),
            err=True,
        )
        sys.exit(1)
