"""The emulator's websets: read-only, seeded from a fixture, answered as the published Webset object.

Only as much of the Websets API as the tool reads: which websets use an import, as a source (`imports`),
an exclusion (`excludes`) or in a search (`searches[].scope`, `searches[].exclude`). A fixture may give
partial websets (an id, a title and those references); every other field the published spec requires
is filled here. An import a webset names is shown as the emulator's current Import when it exists, so a
title changed through the Imports API shows in the webset too; one that does not exist is shown as the
fixture gave it, completed.

The listing keeps the fixture's order (the first webset is the newest); `Websets.add` puts one in front.
A cursor names the last webset served, so it means the same to every emulator seeded from one fixture.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.emulator.store import BadCursor, isoformat
from reconciler.emulator.wire import EmulatorConfigError

MAX_LIMIT = 100  # the Websets listing takes fewer per page than the Imports listing
WEBSET_STATUSES = ("idle", "pending", "running", "paused")
SEARCH_STATUSES = ("created", "pending", "running", "completed", "canceled")
BEHAVIORS = ("override", "append")
SOURCES = ("import", "webset")
DASHBOARD = "https://websets.exa.ai/websets/"

_WEBSET_FIELDS = (
    "id",
    "object",
    "status",
    "dashboardUrl",
    "externalId",
    "title",
    "searches",
    "imports",
    "excludes",
    "enrichments",
    "monitors",
    "metadata",
    "createdAt",
    "updatedAt",
)
_SEARCH_FIELDS = (
    "id",
    "object",
    "websetId",
    "status",
    "query",
    "entity",
    "criteria",
    "count",
    "behavior",
    "exclude",
    "scope",
    "progress",
    "recall",
    "metadata",
    "canceledAt",
    "canceledReason",
    "createdAt",
    "updatedAt",
)


class WebsetNotFound(Exception):
    """No webset has that id."""


class FixtureInvalid(EmulatorConfigError):
    """A fixture webset the emulator cannot serve; the message names the field."""


def _id(prefix: str) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(24))


def _expect(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise FixtureInvalid(f"{where}: {message}")


def _text_or_none(value: Any, where: str) -> str | None:
    _expect(value is None or isinstance(value, str), where, "must be a string or null")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    _expect(isinstance(value, list), where, "must be a list")
    return value


def _known(given: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in given:
        _expect(key in allowed, f"{where}.{key}", f"unknown field (allowed: {', '.join(allowed)})")


def _source(value: Any, where: str, *, relationship: bool = False) -> dict[str, Any]:
    """A `{source, id}` reference (a scope item may add a `relationship`)."""
    _expect(isinstance(value, dict), where, "must be an object with source and id")
    _known(value, ("source", "id", "relationship") if relationship else ("source", "id"), where)
    _expect(value.get("source") in SOURCES, f"{where}.source", "must be 'import' or 'webset'")
    _expect(isinstance(value.get("id"), str) and bool(value["id"]), f"{where}.id", "must be a non-empty string")
    item = {"source": value["source"], "id": value["id"]}
    if relationship and value.get("relationship") is not None:
        rel = value["relationship"]
        _expect(
            isinstance(rel, dict) and isinstance(rel.get("definition"), str),
            f"{where}.relationship",
            "must be an object with a definition",
        )
        limit = rel.get("limit", 1)
        _expect(
            isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= 10,
            f"{where}.relationship.limit",
            "must be a whole number from 1 to 10",
        )
        item["relationship"] = {"definition": rel["definition"], "limit": limit}
    return item


def _metadata(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    _expect(
        isinstance(value, dict) and all(isinstance(v, str) for v in value.values()), where, "must map keys to strings"
    )
    return dict(value)


def _search_id(webset_id: str, index: int) -> str:
    # Derived, not drawn: every emulator seeded from one fixture answers with the same ids.
    return "webset_search_" + hashlib.sha256(f"{webset_id}/{index}".encode()).hexdigest()[:24]


def _search(given: Any, webset_id: str, index: int, when: str, where: str) -> dict[str, Any]:
    _expect(isinstance(given, dict), where, "must be an object")
    _known(given, _SEARCH_FIELDS, where)
    status, behavior = given.get("status", "completed"), given.get("behavior", "override")
    _expect(status in SEARCH_STATUSES, f"{where}.status", f"must be one of {', '.join(SEARCH_STATUSES)}")
    _expect(behavior in BEHAVIORS, f"{where}.behavior", f"must be one of {', '.join(BEHAVIORS)}")
    count = given.get("count", 10)
    _expect(
        isinstance(count, int) and not isinstance(count, bool) and count >= 1,
        f"{where}.count",
        "must be a whole number of at least 1",
    )
    return {
        "id": _text_or_none(given.get("id"), f"{where}.id") or _search_id(webset_id, index),
        "object": "webset_search",
        "websetId": webset_id,
        "status": status,
        "query": given.get("query") or "companies in this webset's sources",
        "entity": given.get("entity", {"type": "company"}),
        "criteria": _list(given.get("criteria"), f"{where}.criteria"),
        "count": count,
        "behavior": behavior,
        "exclude": [
            _source(x, f"{where}.exclude[{i}]") for i, x in enumerate(_list(given.get("exclude"), f"{where}.exclude"))
        ],
        "scope": [
            _source(x, f"{where}.scope[{i}]", relationship=True)
            for i, x in enumerate(_list(given.get("scope"), f"{where}.scope"))
        ],
        "progress": given.get("progress") or {"found": 0, "analyzed": 0, "completion": 100, "timeLeft": None},
        "recall": given.get("recall"),
        "metadata": _metadata(given.get("metadata"), f"{where}.metadata"),
        "canceledAt": given.get("canceledAt"),
        "canceledReason": given.get("canceledReason"),
        "createdAt": given.get("createdAt", when),
        "updatedAt": given.get("updatedAt", when),
    }


def _imported(given: Any, where: str) -> dict[str, Any]:
    """An entry of `imports`: an import id, or (part of) an Import object."""
    if isinstance(given, str):
        given = {"id": given}
    _expect(isinstance(given, dict), where, "must be an import id or an Import object")
    _expect(isinstance(given.get("id"), str) and bool(given["id"]), f"{where}.id", "must be a non-empty string")
    return dict(given)


def complete(given: Any, when: str, where: str = "webset") -> dict[str, Any]:
    """A whole stored webset from a partial one; raise FixtureInvalid naming the field that cannot be used."""
    _expect(isinstance(given, dict), where, "must be an object")
    _known(given, _WEBSET_FIELDS, where)
    webset_id = _text_or_none(given.get("id"), f"{where}.id") or _id("webset_")
    status = given.get("status", "idle")
    _expect(status in WEBSET_STATUSES, f"{where}.status", f"must be one of {', '.join(WEBSET_STATUSES)}")
    created = given.get("createdAt", when)
    _expect(isinstance(created, str), f"{where}.createdAt", "must be an RFC 3339 date-time")
    searches = _list(given.get("searches"), f"{where}.searches")
    return {
        "id": webset_id,
        "object": "webset",
        "status": status,
        "dashboardUrl": given.get("dashboardUrl") or DASHBOARD + webset_id,
        "externalId": _text_or_none(given.get("externalId"), f"{where}.externalId"),
        "title": _text_or_none(given.get("title"), f"{where}.title"),
        "searches": [_search(s, webset_id, i, created, f"{where}.searches[{i}]") for i, s in enumerate(searches)],
        "imports": [
            _imported(x, f"{where}.imports[{i}]") for i, x in enumerate(_list(given.get("imports"), f"{where}.imports"))
        ],
        "excludes": [
            _source(x, f"{where}.excludes[{i}]")
            for i, x in enumerate(_list(given.get("excludes"), f"{where}.excludes"))
        ],
        "enrichments": _list(given.get("enrichments"), f"{where}.enrichments"),
        "monitors": _list(given.get("monitors"), f"{where}.monitors"),
        "metadata": _metadata(given.get("metadata"), f"{where}.metadata"),
        "createdAt": created,
        "updatedAt": given.get("updatedAt", created),
    }


def load_fixture(path: Path | str) -> list[Any]:
    """The websets of a fixture file: a JSON list, or an object holding one under `data` (a saved listing)
    or `websets`. Raise FixtureInvalid in one line naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FixtureInvalid(f"{path}: cannot read the websets fixture: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FixtureInvalid(f"{path}: the websets fixture is not UTF-8") from None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FixtureInvalid(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if isinstance(loaded, dict):
        loaded = loaded.get("data", loaded.get("websets"))
    if not isinstance(loaded, list):
        raise FixtureInvalid(f"{path}: the websets fixture must be a JSON list of websets (or hold one under 'data')")
    return loaded


def _cursor(webset_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": webset_id}).encode()).decode().rstrip("=")


class Websets:
    """The emulated websets, newest first; thread-safe. `current_import` gives an import's current
    Import object, or None when there is no such import."""

    def __init__(self, clock: Callable[[], float], current_import: Callable[[str], dict[str, Any] | None]) -> None:
        self._clock = clock
        self._current_import = current_import
        self._lock = threading.Lock()
        self._by_id: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []  # newest first

    def add(self, webset: dict[str, Any], where: str = "webset") -> dict[str, Any]:
        """Store a (partial) webset as the newest one; return it as the API shows it."""
        stored = complete(webset, isoformat(self._clock()), where)
        with self._lock:
            _expect(stored["id"] not in self._by_id, f"{where}.id", f"{stored['id']} is given twice")
            self._by_id[stored["id"]] = stored
            self._order.insert(0, stored["id"])
        return self._view(stored)

    def seed(self, websets: list[Any], source: str | None = None) -> None:
        """Store a fixture's websets (read from the file `source`), keeping its order as the listing's."""
        for i in reversed(range(len(websets))):
            self.add(websets[i], f"{source}: websets[{i}]" if source else f"websets[{i}]")

    def get(self, webset_id: str) -> dict[str, Any]:
        """The webset with this id, or else this externalId, as the API shows it."""
        with self._lock:
            stored = self._by_id.get(webset_id)
            if stored is None:
                stored = next((w for w in self._by_id.values() if w["externalId"] == webset_id), None)
        if stored is None:
            raise WebsetNotFound(webset_id)
        return self._view(stored)

    def page(self, limit: int, cursor: str | None) -> dict[str, Any]:
        """One page of the listing, `{data, hasMore, nextCursor}`, after the webset the cursor names."""
        with self._lock:
            start = 0 if cursor is None else self._after(cursor)
            ids = self._order[start : start + limit]
            has_more = start + limit < len(self._order)
            page = [self._by_id[i] for i in ids]
        return {
            "data": [self._view(w) for w in page],
            "hasMore": has_more,
            "nextCursor": _cursor(ids[-1]) if has_more else None,
        }

    def _after(self, cursor: str) -> int:
        try:
            after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
            return self._order.index(after) + 1
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise BadCursor(cursor) from None

    def _view(self, stored: dict[str, Any]) -> dict[str, Any]:
        imports = []
        for given in stored["imports"]:
            current = self._current_import(given["id"])
            imports.append(current if current is not None else _completed_import(given, stored["createdAt"]))
        return {**stored, "imports": imports}


def _completed_import(given: dict[str, Any], when: str) -> dict[str, Any]:
    """An Import object from what the fixture says of an import the emulator does not hold."""
    return {
        "id": given["id"],
        "object": "import",
        "status": "completed",
        "format": "csv",
        "entity": None,
        "title": "",
        "count": 0,
        "metadata": {},
        "failedReason": None,
        "failedAt": None,
        "failedMessage": None,
        "createdAt": when,
        "updatedAt": when,
        **given,
    }
