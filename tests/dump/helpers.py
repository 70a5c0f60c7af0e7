"""Imports as the dashboard, a webset or another tool would have left them, and running `dump`."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.manifest.yamlload import load_yaml

ONE_RECORD = b"url\nhttps://a.example\n"


def seed_raw(emu, *, title: str, entity: Any = None, fmt: str = "csv", metadata: dict | None = None) -> str:
    """A completed import made outside the tool, with any entity (None too) and format."""
    view, token, _ = emu.store.create(
        {
            "format": fmt,
            "size": len(ONE_RECORD),
            "count": 1,
            "title": title,
            "metadata": metadata or {},
            "entity": entity,
            "identifier": 0,
        }
    )
    emu.store.upload(token, ONE_RECORD)
    return view["id"]


def invoke(*args: str):
    """Run the command line in-process; stdout and stderr apart."""
    return CliRunner().invoke(cli, ["dump", *args], catch_exceptions=False)


def document(text: str) -> dict[str, Any]:
    """The manifest's values, read by the loader's own YAML reader."""
    return load_yaml(text)[0]
