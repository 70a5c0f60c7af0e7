"""`validate`: the manifest and its CSVs, offline."""

from __future__ import annotations

import sys

import click

from reconciler.cli.common import manifest_option
from reconciler.errors import ManifestInvalid
from reconciler.manifest.load import load_manifest
from reconciler.render.diagnostics import render_diagnostics, validation_json, validation_summary


@click.command()
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
        click.echo(f"{manifest_path}: valid: {validation_summary(manifest)}")
    sys.exit(1 if diagnostics else 0)
