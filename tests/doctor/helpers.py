"""Running `doctor` against the emulator, reading its rows, and bending the emulator's answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.doctor import THROWAWAY_TITLE

Page = dict[str, Any]


def invoke(*args: str):
    """Run `doctor` in-process; stdout and stderr apart."""
    return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)


def rows_of(result) -> dict[str, dict[str, Any]]:
    """The rows of a `doctor --json` run, by assumption."""
    return {row["assumption"]: row for row in json.loads(result.stdout)}


def seed_imports(emu, clock, n: int, *, upload: bool = True) -> list[str]:
    """n imports made a second apart (the oldest first), uploaded unless `upload` is false."""
    ids = []
    for i in range(n):
        clock.advance(1)
        view, token, _ = emu.store.create(
            {
                "format": "csv",
                "size": 22,
                "count": 1,
                "title": f"seeded {i}",
                "metadata": {"team": "growth"},
                "entity": {"type": "company"},
                "identifier": 0,
            }
        )
        if upload:
            emu.store.upload(token, b"url\nhttps://a.example\n")
        ids.append(view["id"])
    clock.advance(1)
    return ids


def stored_titles(emu) -> list[str]:
    """The titles of every import the emulator holds, newest first."""
    return [item["title"] for item in emu.store.list(200, None)["data"]]


def no_throwaway_left(emu) -> bool:
    return THROWAWAY_TITLE not in stored_titles(emu)


def bend_listing(emu, monkeypatch, edit: Callable[[Page, int, str | None], Page]) -> None:
    """Answer every listing through `edit(page, limit, cursor)`, as a service that behaves otherwise would."""
    original = emu.store.list_json

    def list_json(limit: int, cursor: str | None) -> str:
        return json.dumps(edit(json.loads(original(limit, cursor)), limit, cursor))

    monkeypatch.setattr(emu.store, "list_json", list_json)
