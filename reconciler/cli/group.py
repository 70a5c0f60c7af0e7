"""The command group and the console script's entry point: exit codes that scripts can trust.

The group knows its commands by name and imports a command's module only to run it (or show its own
help), so that `--help` and `validate` start without loading the HTTP client, the planner or the emulator.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a command is defined, and the summary `--help` lists for it (its docstring's first sentence)."""

    module: str
    attribute: str
    summary: str


class ReconcilerGroup(click.Group):
    """The command group: usage errors exit 1 (2 means changes) and Ctrl-C exits 130, however it is called;
    commands named in `lazy_commands` are imported on first use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, LazyCommand] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, loaded or not."""
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, its module imported now if it was not yet."""
        lazy = self.lazy_commands.get(cmd_name)
        if cmd_name not in self.commands and lazy is not None:
            self.add_command(getattr(importlib.import_module(lazy.module), lazy.attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands as click does, with the summaries of those not loaded (importing none)."""
        names = [n for n in self.list_commands(ctx) if n in self.lazy_commands or not self.commands[n].hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                summary = click.Command(name, help=self.lazy_commands[name].summary)
                rows.append((name, summary.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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
    finally:
        # The process ends here: the collector's walks over every object left as the interpreter shuts
        # down (some 30 ms after a plan) would find nothing worth collecting.
        gc.freeze()
