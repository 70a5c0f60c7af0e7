"""The commands that run locally, with no account: the emulator, and the demo of the whole job on it."""

from __future__ import annotations

import os
import sys

import click

from reconciler.emulator import DEFAULT_API_KEY, Emulator, EmulatorConfigError, FaultConfig, Latency, Rate
from reconciler.emulator.choices import DECLARED_COUNTS, EXPIRED_UPLOADS, METADATA_UPDATES


def _option_value(parse, value, name):  # type: ignore[no-untyped-def]
    try:
        return parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def _api_rate(spec: str) -> Rate:
    rate = Rate.parse(spec)
    if rate.methods is not None and "PUT" in rate.methods:
        raise ValueError("uploads (PUT) are not under the API's rate limit: use --upload-throttle-rate")
    return rate


@click.command()
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
    help="Share of API requests answered 429 with Retry-After (never an upload).",
)
@click.option("--retry-after", default=1.0, show_default=True, type=float, help="Retry-After seconds on 429.")
@click.option("--rps-limit", default=None, type=float, help="Answer 429 beyond this many API requests a second.")
@click.option(
    "--upload-throttle-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    metavar="RATE",
    help="Share of uploads answered 503 SlowDown, as S3 throttles.",
)
@click.option(
    "--upload-rps-limit", default=None, type=float, help="Answer 503 SlowDown beyond this many uploads a second."
)
@click.option(
    "--lose-rate",
    default="0",
    show_default=True,
    metavar="RATE[:METHODS]",
    help="Share of requests whose change is made but whose response is lost.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for reproducible faults.")
@click.option("--request-log", type=click.Path(dir_okay=False), help="Append a JSON line per request here.")
@click.option(
    "--websets",
    "websets_file",
    type=click.Path(dir_okay=False),
    help="Serve these websets (a JSON list; partial websets are completed), read-only, under /websets/v0/websets.",
)
@click.option(
    "--metadata-update",
    type=click.Choice(METADATA_UPDATES),
    default="replace",
    show_default=True,
    help="Whether a PATCH's metadata replaces the stored object or merges into it.",
)
@click.option(
    "--expired-upload",
    type=click.Choice(EXPIRED_UPLOADS),
    default="pending",
    show_default=True,
    help="What becomes of a pending import past uploadValidUntil.",
)
@click.option(
    "--declared-count",
    type=click.Choice(DECLARED_COUNTS),
    default="correct",
    show_default=True,
    help="What a completed import reports when its declared count is not the records parsed.",
)
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
    upload_throttle_rate: float,
    upload_rps_limit: float | None,
    lose_rate: str,
    seed: int,
    request_log: str | None,
    websets_file: str | None,
    metadata_update: str,
    expired_upload: str,
    declared_count: str,
) -> None:
    """Serve a local emulator of the Exa Websets Imports API (for offline trials and tests)."""
    faults = FaultConfig(
        seed=seed,
        latency=_option_value(lambda v: Latency.parse(v, jitter_ms), latency_ms, "--latency-ms"),
        errors=_option_value(Rate.parse, error_rate, "--error-rate"),
        throttle=_option_value(_api_rate, throttle_rate, "--throttle-rate"),
        retry_after=retry_after,
        lose=_option_value(Rate.parse, lose_rate, "--lose-rate"),
        rps_limit=rps_limit,
        upload_throttle=upload_throttle_rate,
        upload_rps_limit=upload_rps_limit,
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
            metadata_update=metadata_update,
            expired_upload=expired_upload,
            declared_count=declared_count,
            websets=websets_file,
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


@click.command()
@click.option("--keep", type=click.Path(file_okay=False), help="Work in this folder (kept) instead of a temporary one.")
def demo(keep: str | None) -> None:
    """Run the main job on the bundled example against the embedded emulator: validate, plan, apply,
    then change a title and a CSV and apply again. Needs no Exa account."""
    import shutil
    import tempfile
    from pathlib import Path

    cli = click.get_current_context().find_root().command  # the group, without importing it

    examples = Path(__file__).resolve().parents[2] / "examples"
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
