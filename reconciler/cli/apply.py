"""`apply`: carry out the plan (or a saved one) under the state lock, and report the result."""

from __future__ import annotations

import json
import re
import sys

import click

from reconciler.apply.executor import ApplyResult
from reconciler.apply.interrupt import EXIT_INTERRUPTED, Interrupt
from reconciler.apply.run import ApplyOptions, Declined
from reconciler.apply.run import apply as run_apply
from reconciler.cli.common import (
    SECONDS,
    exclude_option,
    manifest_option,
    max_rps_option,
    refresh_only_option,
    refuse_replace_with_refresh_only,
    replace_option,
    reports_errors,
    selection_of,
    summary_option,
    target_option,
    use_color,
    write_summary,
)
from reconciler.errors import ApplyFailed, ConfigError, StalePlan
from reconciler.plan.model import Plan
from reconciler.planfile import read_saved_plan, refuse_other_options, saved_options
from reconciler.remote.client import ApiClient
from reconciler.render.apply_markdown import render_apply_markdown
from reconciler.render.plan_json import plan_document
from reconciler.render.plan_markdown import render_markdown
from reconciler.render.plan_text import render_text


@click.command()
@manifest_option
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed when not on a terminal).")
@click.option(
    "--parallelism",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Actions sending requests at once (an import waiting for processing holds no place).",
)
@click.option("--force", is_flag=True, help="Apply an unsafe plan (thresholds or protected imports).")
@target_option
@exclude_option
@replace_option
@refresh_only_option
@click.option(
    "--expect-digest",
    metavar="DIGEST",
    callback=lambda ctx, param, value: _digest(value),
    help="Apply only if the plan's digest is DIGEST (the one `plan` showed for review); otherwise apply nothing.",
)
@click.option(
    "--lock-timeout", default=0.0, show_default=True, type=SECONDS, help="Seconds to wait for the state lock."
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for uploads to finish processing.")
@click.option("--timeout", default=1800.0, show_default=True, type=SECONDS, help="Seconds to wait for processing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result instead of text.")
@click.option("--no-color", is_flag=True, help="Never colour the output.")
@max_rps_option
@summary_option
@reports_errors
def apply(
    manifest_path: str,
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    force: bool,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    replace_keys: tuple[str, ...],
    refresh_only: bool,
    expect_digest: str | None,
    lock_timeout: float,
    wait: bool,
    timeout: float,
    as_json: bool,
    no_color: bool,
    max_rps: float | None,
    summary_path: str | None,
) -> None:
    """Make the remote match the manifest (or carry out a saved PLAN_FILE), then update websets.lock."""
    refuse_replace_with_refresh_only(replace_keys, refresh_only)
    if expect_digest is not None and plan_file:
        raise ConfigError(
            "--expect-digest: not with a saved plan, which is checked against what it was built on; "
            "give it to a fresh apply"
        )
    saved = read_saved_plan(plan_file) if plan_file else None
    chosen, replacing = selection_of(targets, excludes), frozenset(replace_keys)
    if saved is not None:
        assert plan_file is not None
        given = click.get_current_context().get_parameter_source("manifest_path")
        explicit = given is not None and given is not click.core.ParameterSource.DEFAULT
        refuse_other_options(
            plan_file,
            saved[0],
            manifest_path if explicit else None,
            targets,
            force,
            excludes,
            replace_keys,
            refresh_only,
        )
        manifest_path = saved[0]["manifest"]
        chosen, replacing, force, refresh_only = saved_options(saved[0])
    options = ApplyOptions(
        targets=chosen,
        force=force,
        replace=replacing,
        refresh_only=refresh_only,
        expect_digest=expect_digest,
        parallelism=parallelism,
        wait=wait,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )
    color = use_color(no_color)
    from reconciler.cli.progress import Display

    display = Display.for_command("apply")  # on stderr; its lines go through it so the live line is erased first

    def progress(key: str, message: str) -> None:
        display.line(f"{key}: {message}", err=as_json)

    shown: list[Plan] = []

    def show_plan(plan) -> None:  # type: ignore[no-untyped-def]
        shown[:] = [plan]
        display.pause()  # until the changes start: a confirmation prompt may follow
        if not as_json:
            display.line(render_text(plan, color=color), nl=False)

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

    interrupt = Interrupt(say=lambda message: display.line(message, err=True))
    with interrupt.installed(), ApiClient.from_env(max_rps=max_rps) as client:
        display.attach(client)
        try:
            with display:  # closed (its line erased) before any result or error is printed
                plan_result, result = run_apply(
                    manifest_path,
                    client,
                    options,
                    progress=progress,
                    show_plan=show_plan,
                    confirm=confirm,
                    saved=saved,
                    interrupt=interrupt,
                    tracker=display,
                )
        except Declined:
            click.echo("Apply cancelled.", err=True)
            sys.exit(1)
        except StalePlan:
            # The summary shows what apply would do now, for the pull request that was reviewed; without
            # the markers of a plan comment, so no script takes its digest for a reviewed one.
            if shown:
                moved = "websets-reconciler: the plan moved since it was reviewed; nothing was applied"
                write_summary(summary_path, render_markdown(shown[-1], title=moved, reviewable=False))
            raise
        except KeyboardInterrupt:
            click.echo("Apply interrupted before its changes started; the state lock is released.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        _report_apply(plan_result, result, interrupt.interrupted, wait, as_json, summary_path)


def _digest(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
        raise click.BadParameter(f"{value!r} is not a plan digest (64 hexadecimal digits, as `plan` shows)")
    return value


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
