"""The emulator's state: imports, upload tokens, uploaded files and list cursors, kept in SQLite.

In memory by default; with a data directory the same schema lives in a file, so state survives a
restart and several emulator processes can serve one directory (SQLite's locking serialises writers;
`BEGIN IMMEDIATE` makes each read-modify-write atomic across processes).

Status is derived when an import is read, from the upload time and the processing delay recorded at
upload: nothing runs in the background, so a restart or a second process sees the same lifecycle. An
import past its upload window with no upload is answered as `Choices.expired_upload` says; when that is
`deleted`, it is removed the first time the store is used after its window closed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.emulator.choices import Choices
from reconciler.emulator.processing import Outcome, process_csv, settle_count
from reconciler.emulator.validation import MAX_LIMIT
from reconciler.emulator.views import ViewCache, is_past

_SCHEMA = """
CREATE TABLE IF NOT EXISTS imports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class NotFound(Exception):
    """No import has that id."""


class UploadRejected(Exception):
    """The upload host refuses the PUT; `status` is the HTTP status it answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BadCursor(Exception):
    """The cursor was not issued by this emulator."""


def isoformat(ts: float) -> str:
    """An RFC 3339 UTC timestamp with milliseconds, as the API writes them."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id(prefix: str, nbytes: int = 15) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(nbytes + 9))


class Store:
    """Thread-safe (and, on disk, process-safe) storage of emulated imports."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        clock: Callable[[], float],
        upload_valid_for: float = 3600.0,
        processing_delay: float = 0.5,
        choices: Choices | None = None,
    ) -> None:
        self.clock = clock
        self.choices = choices or Choices()
        self.upload_valid_for = upload_valid_for
        self.processing_delay = processing_delay
        self._lock = threading.RLock()
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / "emulator.sqlite3")
        self._db = sqlite3.connect(target, timeout=30.0, check_same_thread=False, isolation_level=None)
        if data_dir is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        with self._tx():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'cursor_secret'").fetchone()
            if row is None:
                secret = secrets.token_hex(32)
                self._db.execute("INSERT INTO meta VALUES ('cursor_secret', ?)", (secret,))
            else:
                secret = row[0]
        self._cursor_secret = secret.encode()
        self._views = ViewCache(self.turn, self.view_at)
        # Imports kept from an earlier run are written out now, before the first request, not by it: each
        # page of the listing at the largest size a client can ask for, and with them each import's view.
        seqs = [seq for (seq,) in self._db.execute("SELECT seq FROM imports ORDER BY seq DESC")]
        for before in [None, *seqs[MAX_LIMIT - 1 : -1 : MAX_LIMIT]]:
            self._page_text(MAX_LIMIT, before)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _load(self, db: sqlite3.Connection, import_id: str) -> dict[str, Any]:
        row = db.execute("SELECT data FROM imports WHERE id = ?", (import_id,)).fetchone()
        if row is None:
            raise NotFound(import_id)
        return json.loads(row[0])

    def _save(self, db: sqlite3.Connection, record: dict[str, Any]) -> None:
        db.execute("UPDATE imports SET data = ? WHERE id = ?", (json.dumps(record), record["id"]))

    def _sweep(self, db: sqlite3.Connection) -> None:
        """Remove imports whose upload window closed with no upload, when the service is taken to delete them."""
        if self.choices.expired_upload == "deleted":
            db.execute(
                "DELETE FROM imports WHERE json_extract(data, '$.uploaded_at') IS NULL"
                " AND json_extract(data, '$.upload_valid_until') < ?",
                (self.clock(),),
            )

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """The database for a read: a write transaction only when there may be expired imports to sweep."""
        if self.choices.expired_upload != "deleted":
            with self._lock:
                yield self._db
            return
        with self._tx() as db:
            self._sweep(db)
            yield db

    # -- the API's view of a record -------------------------------------------------------------

    def view(self, record: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        """The Import object for a stored record, with its status as of `now` (default: the clock's now)."""
        return self.view_at(record, self.past_turn(record, self.clock() if now is None else now))

    def turn(self, record: dict[str, Any]) -> tuple[float, bool]:
        """The one moment at which a record's view changes by itself, and whether the view has changed at
        that very moment: the end of its upload window while nothing is uploaded (it changes only after),
        else the end of its processing (it changes at it)."""
        uploaded = record.get("uploaded_at")
        if uploaded is None:
            return record["upload_valid_until"], False
        return uploaded + record["processing_delay"], True

    def past_turn(self, record: dict[str, Any], now: float) -> bool:
        """Whether `now` is past the record's turn."""
        return is_past(self.turn(record), now)

    def view_at(self, record: dict[str, Any], past_turn: bool) -> dict[str, Any]:
        """The Import object for a stored record on one side of its turn: it reads the time through
        `past_turn` alone, so each side's view can be kept until the record changes (`ViewCache`)."""
        status, count, updated = "pending", record["count"], record["updated_at"]
        reason = message = failed_at = None
        uploaded = record.get("uploaded_at")
        if uploaded is None:
            if past_turn and self.choices.expired_upload in ("failed", "canceled"):
                status, updated = self.choices.expired_upload, max(updated, record["upload_valid_until"])
                if status == "failed":
                    reason, failed_at = "invalid_file_content", isoformat(record["upload_valid_until"])
                    message = "no file was uploaded before the upload URL expired"
        elif not past_turn:
            status, updated = "processing", max(updated, uploaded)
        else:
            done_at = uploaded + record["processing_delay"]
            outcome = record["outcome"]
            status, count, updated = outcome["status"], outcome["count"], max(updated, done_at)
            if status == "failed":
                reason, message, failed_at = outcome["reason"], outcome["message"], isoformat(done_at)
        return {
            "id": record["id"],
            "object": "import",
            "status": status,
            "format": record["format"],
            "entity": record["entity"],
            "title": record["title"],
            "count": count,
            "metadata": record["metadata"],
            "failedReason": reason,
            "failedAt": failed_at,
            "failedMessage": message,
            "createdAt": isoformat(record["created_at"]),
            "updatedAt": isoformat(updated),
        }

    # -- operations -----------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        """Create an import from validated params; return (Import, upload token, uploadValidUntil)."""
        now = self.clock()
        record = {
            **params,
            "id": _new_id("import_"),
            "created_at": now,
            "updated_at": now,
            "upload_valid_until": now + self.upload_valid_for,
        }
        token = secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute(
                "INSERT INTO imports (id, token, data) VALUES (?, ?, ?)",
                (record["id"], token, json.dumps(record)),
            )
        return self.view(record), token, isoformat(record["upload_valid_until"])

    def get(self, import_id: str) -> dict[str, Any]:
        with self._read() as db:
            return self.view(self._load(db, import_id))

    def update(self, import_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self._tx() as db:
            self._sweep(db)
            record = self._load(db, import_id)
            if "metadata" in changes and self.choices.metadata_update != "replace":
                merged = {**record["metadata"], **changes["metadata"]}
                if self.choices.metadata_update == "merge-unset":
                    merged = {k: v for k, v in merged.items() if changes["metadata"].get(k) != ""}
                changes = {**changes, "metadata": merged}
            record.update(changes)
            record["updated_at"] = max(self.clock(), record["updated_at"])
            self._save(db, record)
        return self.view(record)

    def delete(self, import_id: str) -> dict[str, Any]:
        with self._tx() as db:
            self._sweep(db)
            record = self._load(db, import_id)
            db.execute("DELETE FROM imports WHERE id = ?", (import_id,))
            self._views.forget(import_id)
            db.execute("DELETE FROM files WHERE id = ?", (import_id,))
        return self.view(record)

    def upload(self, token: str, content: bytes) -> Outcome:
        """Accept the one PUT an upload token allows; raise UploadRejected otherwise."""
        with self._tx() as db:
            self._sweep(db)
            row = db.execute("SELECT data FROM imports WHERE token = ?", (token,)).fetchone()
            if row is None:
                raise UploadRejected(403, "AccessDenied", "the upload URL is not valid")
            record = json.loads(row[0])
            now = self.clock()
            if record.get("uploaded_at") is not None:
                raise UploadRejected(403, "AccessDenied", "the upload URL has already been used")
            if now > record["upload_valid_until"]:
                raise UploadRejected(403, "AccessDenied", "the upload URL has expired")
            if len(content) != record["size"]:
                raise UploadRejected(
                    400,
                    "IncompleteBody",
                    f"the body is {len(content)} bytes but the import declared size {record['size']}",
                )
            outcome = settle_count(
                process_csv(content, record["identifier"]), record["count"], self.choices.declared_count
            )
            record["uploaded_at"] = now
            record["processing_delay"] = self.processing_delay
            record["outcome"] = {
                "status": outcome.status,
                "count": outcome.count,
                "reason": outcome.reason,
                "message": outcome.message,
            }
            self._save(db, record)
            db.execute("INSERT OR REPLACE INTO files VALUES (?, ?)", (record["id"], content))
        return outcome

    def uploaded_file(self, import_id: str) -> bytes | None:
        """The bytes uploaded for an import, if any (for tests and inspection)."""
        with self._lock:
            row = self._db.execute("SELECT content FROM files WHERE id = ?", (import_id,)).fetchone()
        return None if row is None else bytes(row[0])

    # -- listing --------------------------------------------------------------------------------

    def _sign(self, seq: int) -> str:
        payload = base64.urlsafe_b64encode(json.dumps({"s": seq}).encode()).decode().rstrip("=")
        mac = hmac.new(self._cursor_secret, payload.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{payload}.{mac}"

    def _unsign(self, cursor: str) -> int:
        payload, _, mac = cursor.partition(".")
        expected = hmac.new(self._cursor_secret, payload.encode(), hashlib.sha256).hexdigest()[:24]
        # Compared as bytes: compare_digest refuses a str with non-ASCII characters by raising.
        if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise BadCursor(cursor)
        try:
            seq = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["s"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadCursor(cursor) from exc
        if not isinstance(seq, int):
            raise BadCursor(cursor)
        return seq

    def list(self, limit: int, cursor: str | None) -> dict[str, Any]:
        """One page, newest first, as `list_json` writes it."""
        return json.loads(self.list_json(limit, cursor))

    def list_json(self, limit: int, cursor: str | None) -> str:
        """One page, newest first, as the JSON text of the answer. The cursor is the position of the last
        import served, so imports created or deleted between pages never shift one that exists throughout."""
        return self._page_text(limit, self._unsign(cursor) if cursor else None)

    def _page_text(self, limit: int, before: int | None) -> str:
        with self._read() as db:
            # Changes made here, and (data_version) those other processes made to the same file.
            version = (db.total_changes, db.execute("PRAGMA data_version").fetchone()[0])
            now = self.clock()
            kept = self._views.page(version, before, limit, now)
            if kept is not None:
                return kept
            if before is None:
                rows = db.execute(
                    "SELECT seq, id, data FROM imports ORDER BY seq DESC LIMIT ?", (limit + 1,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT seq, id, data FROM imports WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                    (before, limit + 1),
                ).fetchall()
        has_more = len(rows) > limit
        page = rows[:limit]
        window = [-math.inf, math.inf]
        items = ", ".join(self._views.text(import_id, data, now, window) for _, import_id, data in page)
        next_cursor = json.dumps(self._sign(page[-1][0])) if has_more else "null"
        # Byte for byte what json.dumps writes for {"data": [...], "hasMore": ..., "nextCursor": ...}.
        text = f'{{"data": [{items}], "hasMore": {"true" if has_more else "false"}, "nextCursor": {next_cursor}}}'
        self._views.keep_page(version, before, limit, text, window)
        return text
