"""The command line: `websets-reconciler validate | plan | apply | emulator | demo`."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.emulator import DEFAULT_API_KEY, Emulator, EmulatorConfigError, FaultConfig, Latency, Rate
from reconciler.errors import ManifestInvalid, ReconcilerError
from reconciler.manifest.load import load_manifest
from reconciler.planfile import write_saved_plan
from reconciler.refresh import plan_from, read_snapshot
from reconciler.remote.client import ApiClient
from reconciler.render.diagnostics import render_diagnostics, validation_json
from reconciler.render.plan_json import render_json
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
@reports_errors
def plan(
    manifest_path: str,
    targets: tuple[str, ...],
    out_path: str | None,
    fmt: str,
    as_json: bool,
    detailed_exitcode: bool,
    no_color: bool,
) -> None:
    """Show what apply would change: read the remote, diff it against the manifest. Changes nothing."""
    chosen = frozenset(targets) if targets else None
    with ApiClient.from_env() as client:
        result = plan_from(read_snapshot(manifest_path, client), chosen)
    if out_path:
        write_saved_plan(out_path, result, manifest_path, chosen)
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
def demo() -> None:
    """Start the embedded emulator and show it answering (a first look, with no account needed)."""
    import httpx

    with Emulator(processing_delay=0.2) as server:
        click.echo(f"Embedded emulator listening on {server.base_url}")
        with httpx.Client(base_url=server.base_url, headers={"x-api-key": server.api_key}) as client:
            response = client.get("/websets/v0/imports", params={"limit": 200})
        click.echo(f"GET /websets/v0/imports -> {response.status_code}, request id {response.headers['X-Request-Id']}")
        click.echo(response.text)


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
