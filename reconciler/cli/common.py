"""What the commands share: options, the mapping of errors to exit codes, output helpers."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.errors import ConfigError, ManifestInvalid, ReconcilerError
from reconciler.lockfile import lock_path_for
from reconciler.model import Manifest
from reconciler.redact import redact
from reconciler.remote.pacing import MIN_RATE
from reconciler.render.diagnostics import render_diagnostics

if TYPE_CHECKING:
    from reconciler.plan.model import Selection

F = TypeVar("F", bound=Callable[..., Any])

manifest_option = click.option(
    "-f",
    "--manifest",
    "manifest_path",
    default="websets.yaml",
    show_default=True,
    envvar="WEBSETS_MANIFEST",
    help="The manifest file.",
)


def reports_errors(command: F) -> F:
    """Map the error tree to one-line messages and exit codes, in one place for every command."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ManifestInvalid as exc:
            for line in render_diagnostics(exc.diagnostics, "text").splitlines():
                click.echo(redact(line), err=True)
            click.echo(f"Error: the manifest is invalid ({len(exc.diagnostics)} problem(s)).", err=True)
            sys.exit(exc.exit_code)
        except ReconcilerError as exc:
            # Messages are redacted where they are made; this is the last gate before the terminal.
            click.echo(redact(f"Error: {exc}"), err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def use_color(no_color: bool) -> bool:
    """Colour only on a terminal, never with --no-color or NO_COLOR set."""
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


summary_option = click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False),
    help="Also write the result as Markdown to this file (e.g. $GITHUB_STEP_SUMMARY); appended to.",
)


def write_summary(path: str | None, markdown: str) -> None:
    """Append Markdown to a summary file (a job summary collects several steps)."""
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown + "\n")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the summary: {exc.strerror}") from None


def refuse_to_overwrite_an_input(path: str, option: str, manifest: Manifest) -> None:
    """An output file must not be the manifest, the lockfile (or its journal or state lock) or a CSV:
    writing it would destroy an input."""
    from reconciler.apply.journal import journal_path_for
    from reconciler.apply.statelock import HELD_SUFFIX

    target = Path(path).resolve()
    lock = lock_path_for(manifest.path).resolve()
    inputs = {Path(manifest.path).resolve(), lock, journal_path_for(lock), lock.with_name(lock.name + HELD_SUFFIX)}
    inputs |= {Path(item.csv.absolute).resolve() for item in manifest.imports.values() if item.csv is not None}
    if target in inputs:
        raise ConfigError(f"{option} {path}: that is an input of the plan (the manifest, the lockfile or a CSV)")


class Seconds(click.ParamType):
    """A finite, non-negative number of seconds (`nan` or `inf` would wait forever or never)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite, non-negative number of seconds", param, ctx)
        return seconds


SECONDS = Seconds()


class RequestRate(click.ParamType):
    """A finite, non-negative number of requests a second (0: no pacing)."""

    name = "rps"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            rate = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of requests a second", param, ctx)
        if not math.isfinite(rate) or rate < 0:
            self.fail(f"{value!r} is not a finite, non-negative number of requests a second", param, ctx)
        if 0 < rate < MIN_RATE:
            self.fail(
                f"{value!r} is below {MIN_RATE:g} requests a second; give {MIN_RATE:g} or more, or 0 for no pacing",
                param,
                ctx,
            )
        return rate


# The default is DEFAULT_MAX_RPS of reconciler.remote.client, written out so that --help needs no HTTP stack.
max_rps_option = click.option(
    "--max-rps",
    "max_rps",
    type=RequestRate(),
    default=None,
    envvar="WEBSETS_MAX_RPS",
    help="API requests a second, shared by every worker, under the team's rate limit (Exa allows 10 on the "
    "common plans) [default: 8; 0: no pacing].",
)

target_option = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="KEY",
    help="Limit the plan to these keys or globs such as 'prospects-*' (repeatable).",
)
exclude_option = click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="KEY",
    help="Leave these keys or globs out of the plan (repeatable).",
)
replace_option = click.option(
    "--replace",
    "replace_keys",
    multiple=True,
    metavar="KEY",
    help="Replace this key's import even when nothing changed: a bad upload, a corrupted import (repeatable).",
)
refresh_only_option = click.option(
    "--refresh-only",
    is_flag=True,
    help="Only record in the lockfile what changed remotely since it was written; change nothing remote.",
)


def selection_of(targets: tuple[str, ...], excludes: tuple[str, ...]) -> Selection | None:
    """The --target and --exclude patterns as a Selection (None: every key)."""
    from reconciler.plan.model import Selection

    return Selection(tuple(sorted(set(targets))), tuple(sorted(set(excludes)))) if targets or excludes else None


def refuse_replace_with_refresh_only(replace_keys: tuple[str, ...], refresh_only: bool) -> None:
    if replace_keys and refresh_only:
        raise ConfigError("--replace: not with --refresh-only, which changes nothing remote")
