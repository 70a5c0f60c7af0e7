"""`plan`: read the remote, diff it against the manifest, print or save the plan."""

from __future__ import annotations

import sys

import click

from reconciler.cli.common import (
    exclude_option,
    manifest_option,
    max_rps_option,
    refresh_only_option,
    refuse_replace_with_refresh_only,
    refuse_to_overwrite_an_input,
    replace_option,
    reports_errors,
    selection_of,
    summary_option,
    target_option,
    use_color,
    write_summary,
)
from reconciler.errors import ConfigError
from reconciler.plan.digest import plan_digest
from reconciler.planfile import write_saved_plan
from reconciler.refresh import paused_cycle_collection, plan_from, read_snapshot, with_references
from reconciler.remote.client import ApiClient
from reconciler.render.plan_json import render_json
from reconciler.render.plan_markdown import render_markdown
from reconciler.render.plan_text import render_text


@click.command()
@manifest_option
@target_option
@exclude_option
@replace_option
@refresh_only_option
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
@max_rps_option
@summary_option
@reports_errors
@paused_cycle_collection()  # resumed once the command's frame, and what it read, is gone
def plan(
    manifest_path: str,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    replace_keys: tuple[str, ...],
    refresh_only: bool,
    out_path: str | None,
    fmt: str,
    as_json: bool,
    detailed_exitcode: bool,
    no_color: bool,
    force: bool,
    max_rps: float | None,
    summary_path: str | None,
) -> None:
    """Show what apply would change: read the remote, diff it against the manifest. Changes nothing."""
    if force and not out_path:
        raise ConfigError("--force: only with --out, to record in the saved plan that it may break the safety rules")
    refuse_replace_with_refresh_only(replace_keys, refresh_only)
    chosen = selection_of(targets, excludes)
    from reconciler.cli.progress import Display

    # Progress on stderr, closed (its line erased) before the plan or an error is printed.
    with ApiClient.from_env(max_rps=max_rps) as client, Display.for_command("plan") as display:
        display.attach(client)
        snapshot = read_snapshot(manifest_path, client)
        result = plan_from(snapshot, chosen, replace_keys=frozenset(replace_keys), refresh_only=refresh_only)
        result = with_references(result, client)
    if out_path:
        refuse_to_overwrite_an_input(out_path, "--out", snapshot.manifest)
        write_saved_plan(out_path, result, manifest_path, chosen, force, frozenset(replace_keys))
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
        click.echo(f"Plan digest: {plan_digest(result)} (apply --expect-digest checks it)")
    if detailed_exitcode and result.has_changes:
        sys.exit(2)
