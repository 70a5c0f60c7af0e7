"""The JSON text of each import as the listing serves it, kept from one listing to the next.

An import's view is a function of its stored record and of which side of its turn (`Store.turn`) the
time is, so the text of each side is written once per version of the record. Entries are checked
against the stored text on every use: a record changed by any process (another emulator serving the
same data directory included) no longer matches, and is read again. Whole pages are kept too, until the
database changes. A listing then costs next to nothing: the emulator's own cost should not stand in
for the service's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Record = dict[str, Any]
Turn = tuple[float, bool]  # when, and whether the view has changed at that very moment


def is_past(turn: Turn, now: float) -> bool:
    """Whether `now` is past a turn."""
    when, at = turn
    return now >= when if at else now > when


class ViewCache:
    """The listed JSON of each import by id, and of whole pages; thread-safe (a race only writes the same
    text twice).

    Entries are tuples of strings and numbers, which the cycle collector stops tracking: ten thousand
    of them add nothing to its full collections (a dict per record would add tens of milliseconds).
    A page is kept for the database `version` it was read at, while the time stays on the same side of
    the turns of all its imports."""

    def __init__(
        self, turn: Callable[[Record], Turn], view_at: Callable[[Record, bool], dict[str, Any]], limit: int = 100_000
    ) -> None:
        self._turn = turn
        self._view_at = view_at
        # id -> (stored text, turn, text before the turn or None, text past it or None)
        self._entries: dict[str, tuple[str, Turn, str | None, str | None]] = {}
        self._limit = limit  # a bound on memory; past it the cache starts again empty
        self._version: object = None
        # (position, limit) -> (the page's text, and the times between which it holds, both excluded)
        self._pages: dict[tuple[int | None, int], tuple[str, float, float]] = {}

    def text(self, import_id: str, data: str, now: float, window: list[float] | None = None) -> str:
        """The JSON of the import stored as `data`, as of `now`; narrows `window` ([after, before]) to
        the times at which it holds."""
        entry = self._entries.get(import_id)
        record = None
        if entry is None or entry[0] != data:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            record = json.loads(data)
            entry = (data, self._turn(record), None, None)
        past = is_past(entry[1], now)
        if window is not None:
            when = entry[1][0]
            if past:
                window[0] = max(window[0], when)
            else:
                window[1] = min(window[1], when)
        text = entry[3] if past else entry[2]
        if text is None:
            text = json.dumps(self._view_at(json.loads(data) if record is None else record, past))
            entry = (*entry[:3], text) if past else (entry[0], entry[1], text, entry[3])
            self._entries[import_id] = entry
        return text

    def page(self, version: object, position: int | None, limit: int, now: float) -> str | None:
        """The page kept for this database version and time, if any."""
        if version != self._version:
            return None
        kept = self._pages.get((position, limit))
        if kept is None or not kept[1] < now < kept[2]:
            return None
        return kept[0]

    def keep_page(self, version: object, position: int | None, limit: int, text: str, window: list[float]) -> None:
        """Keep a page read at this database version, for the times in `window`."""
        if version != self._version:
            self._pages = {}
            self._version = version
        self._pages[(position, limit)] = (text, window[0], window[1])

    def forget(self, import_id: str) -> None:
        """Drop a deleted import's entry."""
        self._entries.pop(import_id, None)
