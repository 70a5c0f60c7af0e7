"""The command line: `websets-reconciler validate | plan | apply | emulator | demo`."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.apply.run import ApplyOptions, Declined
from reconciler.apply.run import apply as run_apply
from reconciler.apply.statelock import StateLock
from reconciler.emulator import DEFAULT_API_KEY, Emulator, EmulatorConfigError, FaultConfig, Latency, Rate
from reconciler.errors import ApplyFailed, ConfigError, ManifestInvalid, ReconcilerError
from reconciler.lockfile import lock_path_for
from reconciler.manifest.load import load_manifest
from reconciler.planfile import read_saved_plan, write_saved_plan
from reconciler.refresh import plan_from, read_snapshot
from reconciler.remote.client import ApiClient
from reconciler.render.apply_markdown import render_apply_markdown
from reconciler.render.diagnostics import render_diagnostics, validation_json
from reconciler.render.plan_json import plan_document, render_json
from reconciler.render.plan_markdown import render_markdown
from reconciler.render.plan_text import render_text


def _option_value(parse, value, name):  # type: ignore[no-untyped-def]
    try:
        return parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


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
                click.echo(line, err=True)
            click.echo(f"Error: the manifest is invalid ({len(exc.diagnostics)} problem(s)).", err=True)
            sys.exit(exc.exit_code)
        except ReconcilerError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    summary_path: str | None,
) -> None:
    """Show what apply would change: read the remote, diff it against the manifest. Changes nothing."""
    chosen = frozenset(targets) if targets else None
    with ApiClient.from_env() as client:
        result = plan_from(read_snapshot(manifest_path, client), chosen)
    if out_path:
        write_saved_plan(out_path, result, manifest_path, chosen)
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
@click.option("--lock-timeout", default=0.0, show_default=True, type=float, help="Seconds to wait for the state lock.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for uploads to finish processing.")
@click.option("--timeout", default=1800.0, show_default=True, type=float, help="Seconds to wait for processing.")
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
        manifest_path = saved[0].get("manifest", manifest_path)
        recorded = saved[0].get("targets")
        chosen = frozenset(recorded) if recorded is not None else None
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
        return click.confirm("Apply these changes?", default=False)

    with ApiClient.from_env() as client:
        try:
            plan_result, result = run_apply(
                manifest_path, client, options, progress=progress, show_plan=show_plan, confirm=confirm, saved=saved
            )
        except Declined:
            click.echo("Apply cancelled.", err=True)
            sys.exit(1)
    write_summary(summary_path, render_apply_markdown(plan_result, result))
    if as_json:
        document = {
            "status": "failed" if result.failures else "ok",
            "summary": {action: len(keys) for action, keys in result.done.items()},
            "done": result.done,
            "pending": result.pending,
            "failures": [{"key": f.key, "op": f.op, "message": f.message} for f in result.failures],
            "plan": plan_document(plan_result),
        }
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    if result.pending:
        click.echo(f"Still processing: {', '.join(sorted(result.pending))}; the next apply finishes them.", err=as_json)
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


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Keep state here across restarts.")
@click.option(
    "--api-key",
    default=DEFAULT_API_KEY,
    envvar="EMULATOR_API_KEY",
    show_default=True,
    help="The key clients must send in x-api-key.",
)
@click.option(
    "--processing-delay", default=0.5, show_default=True, type=float, help="Seconds an upload stays 'processing'."
)
@click.option(
    "--upload-valid-for", default=3600.0, show_default=True, type=float, help="Seconds an upload URL stays valid."
)
@click.option(
    "--latency-ms",
    default="0",
    show_default=True,
    metavar="MS[:METHODS]",
    help="Fixed delay per request, e.g. 20 or 20:GET,POST.",
)
@click.option("--jitter-ms", default=0.0, show_default=True, type=float, help="Extra uniform random delay.")
@click.option(
    "--error-rate",
    default="0",
    show_default=True,
    metavar="RATE[:METHODS]",
    help="Share of requests answered 500/503 with no change made.",
)
@click.option(
    "--throttle-rate",
    default="0",
    show_default=True,
    metavar="RATE[:METHODS]",
    help="Share of requests answered 429 with Retry-After.",
)
@click.option("--retry-after", default=1.0, show_default=True, type=float, help="Retry-After seconds on 429.")
@click.option("--rps-limit", default=None, type=float, help="Answer 429 beyond this many requests a second.")
@click.option(
    "--lose-rate",
    default="0",
    show_default=True,
    metavar="RATE[:METHODS]",
    help="Share of requests whose change is made but whose response is lost.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for reproducible faults.")
@click.option("--request-log", type=click.Path(dir_okay=False), help="Append a JSON line per request here.")
def emulator(
    host: str,
    port: int,
    data_dir: str | None,
    api_key: str,
    processing_delay: float,
    upload_valid_for: float,
    latency_ms: str,
    jitter_ms: float,
    error_rate: str,
    throttle_rate: str,
    retry_after: float,
    rps_limit: float | None,
    lose_rate: str,
    seed: int,
    request_log: str | None,
) -> None:
    """Serve a local emulator of the Exa Websets Imports API (for offline trials and tests)."""
    faults = FaultConfig(
        seed=seed,
        latency=_option_value(lambda v: Latency.parse(v, jitter_ms), latency_ms, "--latency-ms"),
        errors=_option_value(Rate.parse, error_rate, "--error-rate"),
        throttle=_option_value(Rate.parse, throttle_rate, "--throttle-rate"),
        retry_after=retry_after,
        lose=_option_value(Rate.parse, lose_rate, "--lose-rate"),
        rps_limit=rps_limit,
    )
    try:
        server = Emulator(
            host=host,
            port=port,
            data_dir=data_dir,
            api_key=api_key,
            faults=faults,
            processing_delay=processing_delay,
            upload_valid_for=upload_valid_for,
            request_log_path=request_log,
        ).bind()
    except (EmulatorConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Emulator of the Exa Websets Imports API listening on {server.base_url}", err=True)
    click.echo(server.base_url)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), help="Work in this folder (kept) instead of a temporary one.")
def demo(keep: str | None) -> None:
    """Run the main job on the bundled example against the embedded emulator: validate, plan, apply,
    then change a title and a CSV and apply again. Needs no Exa account."""
    import shutil
    import tempfile
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "examples"
    if not (examples / "websets.yaml").exists():
        raise click.ClickException(f"the bundled example is not at {examples}; run from a source checkout")
    with tempfile.TemporaryDirectory() as tmp, Emulator(processing_delay=0.3) as server:
        work = Path(keep or tmp) / "websets-demo"
        shutil.copytree(examples, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("github", "*.lock*"))
        manifest = str(work / "websets.yaml")
        os.environ.update(EXA_API_KEY=server.api_key, EXA_BASE_URL=server.base_url)
        click.echo(f"Embedded emulator on {server.base_url}; working copy of examples/ in {work}\n")

        def step(title: str, *args: str) -> None:
            click.secho(f"$ websets-reconciler {' '.join(args)}    # {title}", bold=True)
            try:
                cli.main(list(args), prog_name="websets-reconciler", standalone_mode=False)
            except SystemExit as exc:
                if exc.code not in (0, None):
                    raise click.ClickException(f"the step {title!r} failed") from None
            click.echo()

        step("check the manifest and CSVs offline", "validate", "-f", manifest)
        step("see what would change", "plan", "-f", manifest)
        step("make it so", "apply", "-f", manifest, "--auto-approve")
        step("nothing left to do", "plan", "-f", manifest)
        text = (work / "websets.yaml").read_text().replace("title: ACME customers", "title: ACME customers (FY26)")
        (work / "websets.yaml").write_text(text)
        with open(work / "data" / "press.csv", "a", encoding="utf-8") as f:
            f.write('"Acme named a leader",https://news.example.com/acme-leader,Example News,2025-09-30\n')
        click.echo("(edited a title and added a row to data/press.csv)\n")
        step("a title is updated in place; a changed CSV is replaced", "plan", "-f", manifest)
        step("apply the edit", "apply", "-f", manifest, "--auto-approve")
        step("converged", "plan", "-f", manifest, "--detailed-exitcode")


def main() -> None:
    """Entry point of the console script: no traceback reaches the user unless asked for."""
    try:
        cli(prog_name="websets-reconciler")
    except Exception as exc:
        if os.environ.get("WEBSETS_RECONCILER_DEBUG"):
            raise
        click.echo(
            f"Error: internal error ({type(exc).__name__}); set WEBSETS_RECONCILER_DEBUG=1 for details",
            err=True,
        )
        sys.exit(1)
