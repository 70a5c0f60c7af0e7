"""The command line: `websets-reconciler validate | plan | apply | emulator | demo`."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.apply.executor import ApplyResult
from reconciler.apply.interrupt import EXIT_INTERRUPTED, Interrupt
from reconciler.apply.run import ApplyOptions, Declined
from reconciler.apply.run import apply as run_apply
from reconciler.apply.statelock import StateLock
from reconciler.errors import ApplyFailed, ConfigError, ManifestInvalid, ReconcilerError
from reconciler.lockfile import lock_path_for
from reconciler.manifest.load import load_manifest
from reconciler.model import Manifest
from reconciler.plan.model import Plan
from reconciler.planfile import read_saved_plan, refuse_other_options, write_saved_plan
from reconciler.redact import redact
from reconciler.refresh import plan_from, read_snapshot
from reconciler.remote.client import ApiClient
from reconciler.render.apply_markdown import render_apply_markdown
from reconciler.render.diagnostics import render_diagnostics, validation_json
from reconciler.render.plan_json import plan_document, render_json
from reconciler.render.plan_markdown import render_markdown
from reconciler.render.plan_text import render_text

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


@cli.command()
@manifest_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text lines, a JSON document, or GitHub workflow annotations.",
)
def validate(manifest_path: str, fmt: str) -> None:
    """Check the manifest and its CSV files offline (no API key needed). Exit 0 valid, 1 invalid."""
    try:
        manifest, diagnostics = load_manifest(manifest_path), []
    except ManifestInvalid as exc:
        manifest, diagnostics = None, exc.diagnostics
    if fmt == "json":
        click.echo(validation_json(manifest_path, manifest, diagnostics))
    elif diagnostics:
        click.echo(render_diagnostics(diagnostics, fmt))
        click.echo(f"{manifest_path}: {len(diagnostics)} problem(s)", err=True)
    else:
        assert manifest is not None
        records = sum(i.csv.records for i in manifest.imports.values())
        size = sum(i.csv.size for i in manifest.imports.values())
        click.echo(f"{manifest_path}: valid: {len(manifest.imports)} imports, {records:,} records, {size:,} bytes")
    sys.exit(1 if diagnostics else 0)


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


def _refuse_to_overwrite_an_input(path: str, option: str, manifest: Manifest) -> None:
    """An output file must not be the manifest, the lockfile or a CSV: writing it would destroy an input."""
    target = Path(path).resolve()
    inputs = {Path(manifest.path).resolve(), lock_path_for(manifest.path).resolve()}
    inputs |= {Path(item.csv.absolute).resolve() for item in manifest.imports.values()}
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

target_option = click.option(
    "--target", "targets", multiple=True, metavar="KEY", help="Limit the plan to these keys (repeatable)."
)


@cli.command()
@manifest_option
@target_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Save the plan here, for `apply PLAN_FILE`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="How to print the plan.",
)
@click.option("--json", "as_json", is_flag=True, help="Short for --format json.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@click.option("--no-color", is_flag=True, help="Never colour the output.")
@click.option(
    "--force", is_flag=True, help="With --out: record that applying the saved plan may break the safety rules."
)
@summary_option
@reports_errors
def plan(
    manifest_path: str,
    targets: tuple[str, ...],
    out_path: str | None,
    fmt: str,
    as_json: bool,
    detailed_exitcode: bool,
    no_color: bool,
    force: bool,
    summary_path: str | None,
) -> None:
    """Show what apply would change: read the remote, diff it against the manifest. Changes nothing."""
    if force and not out_path:
        raise ConfigError("--force: only with --out, to record in the saved plan that it may break the safety rules")
    chosen = frozenset(targets) if targets else None
    with ApiClient.from_env() as client:
        snapshot = read_snapshot(manifest_path, client)
        result = plan_from(snapshot, chosen)
    if out_path:
        _refuse_to_overwrite_an_input(out_path, "--out", snapshot.manifest)
        write_saved_plan(out_path, result, manifest_path, chosen, force)
    write_summary(summary_path, render_markdown(result))
    fmt = "json" if as_json else fmt
    if fmt == "json":
        click.echo(render_json(result), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(result), nl=False)
    else:
        click.echo(render_text(result, color=use_color(no_color)), nl=False)
    if out_path and fmt == "text":
        click.echo(f"Saved the plan to {out_path}; apply it with: websets-reconciler apply {out_path}")
    if detailed_exitcode and result.has_changes:
        sys.exit(2)


@cli.command()
@manifest_option
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed when not on a terminal).")
@click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64), help="Actions run at once.")
@click.option("--force", is_flag=True, help="Apply an unsafe plan (thresholds or protected imports).")
@target_option
@click.option(
    "--lock-timeout", default=0.0, show_default=True, type=SECONDS, help="Seconds to wait for the state lock."
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for uploads to finish processing.")
@click.option("--timeout", default=1800.0, show_default=True, type=SECONDS, help="Seconds to wait for processing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result instead of text.")
@click.option("--no-color", is_flag=True, help="Never colour the output.")
@summary_option
@reports_errors
def apply(
    manifest_path: str,
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    force: bool,
    targets: tuple[str, ...],
    lock_timeout: float,
    wait: bool,
    timeout: float,
    as_json: bool,
    no_color: bool,
    summary_path: str | None,
) -> None:
    """Make the remote match the manifest (or carry out a saved PLAN_FILE), then update websets.lock."""
    saved = read_saved_plan(plan_file) if plan_file else None
    chosen = frozenset(targets) if targets else None
    if saved is not None:
        assert plan_file is not None
        given = click.get_current_context().get_parameter_source("manifest_path")
        explicit = given is not None and given is not click.core.ParameterSource.DEFAULT
        refuse_other_options(plan_file, saved[0], manifest_path if explicit else None, targets, force)
        manifest_path = saved[0]["manifest"]
        recorded = saved[0].get("targets")
        chosen = frozenset(recorded) if recorded is not None else None
        force = bool(saved[0].get("force"))
    options = ApplyOptions(
        targets=chosen, force=force, parallelism=parallelism, wait=wait, timeout=timeout, lock_timeout=lock_timeout
    )
    color = use_color(no_color)

    def progress(key: str, message: str) -> None:
        click.echo(f"{key}: {message}", err=as_json)

    def show_plan(plan) -> None:  # type: ignore[no-untyped-def]
        if not as_json:
            click.echo(render_text(plan, color=color), nl=False)

    def confirm(plan) -> bool:  # type: ignore[no-untyped-def]
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise ConfigError("refusing to apply without confirmation: not a terminal; pass --auto-approve")
        try:
            return click.confirm("Apply these changes?", default=False)
        except click.Abort as exc:  # click turns Ctrl-C at the prompt into Abort; it is an interrupt
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            return False

    interrupt = Interrupt(say=lambda message: click.echo(message, err=True))
    with interrupt.installed(), ApiClient.from_env() as client:
        try:
            plan_result, result = run_apply(
                manifest_path,
                client,
                options,
                progress=progress,
                show_plan=show_plan,
                confirm=confirm,
                saved=saved,
                interrupt=interrupt,
            )
        except Declined:
            click.echo("Apply cancelled.", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Apply interrupted before its changes started; the state lock is released.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        _report_apply(plan_result, result, interrupt.interrupted, wait, as_json, summary_path)


def _report_apply(
    plan_result: Plan, result: ApplyResult, interrupted: bool, wait: bool, as_json: bool, summary_path: str | None
) -> None:
    """Print an apply's result and exit with its code: 1 on failures, 130 when a signal cut it short."""
    # Imports left processing by --no-wait were not cut short by the signal.
    cut_short = interrupted and bool(result.skipped or (wait and result.pending))
    write_summary(summary_path, render_apply_markdown(plan_result, result))
    if as_json:
        document = {
            "status": "interrupted" if cut_short else "failed" if result.failures else "ok",
            "skipped": result.skipped,
            "summary": {action: len(keys) for action, keys in result.done.items()},
            "done": result.done,
            "pending": result.pending,
            "failures": [{"key": f.key, "op": f.op, "message": f.message} for f in result.failures],
            "plan": plan_document(plan_result),
        }
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    if result.pending:
        click.echo(f"Still processing: {', '.join(sorted(result.pending))}; the next apply finishes them.", err=as_json)
    if cut_short:
        for failure in result.failures:
            click.echo(f"  - {failure}", err=True)
        not_started = (
            f"{len(result.skipped)} change(s) not started ({', '.join(sorted(result.skipped))}); "
            if result.skipped
            else ""
        )
        click.echo(f"Apply interrupted: {not_started}the progress made is saved; apply again to finish.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.failures:
        raise ApplyFailed(result.failures)
    if not as_json:
        click.echo(f"Apply complete: {result.summary()}")


@cli.command("force-unlock")
@manifest_option
@click.argument("lock_id")
@reports_errors
def force_unlock(manifest_path: str, lock_id: str) -> None:
    """Remove the state lock LOCK_ID left by an apply that is no longer running."""
    StateLock(lock_path_for(manifest_path)).force_unlock(lock_id)
    click.echo(f"Removed the state lock {lock_id}.")


from reconciler.cli_local import demo, emulator  # noqa: E402 - they attach to the group above

cli.add_command(emulator)
cli.add_command(demo)


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
