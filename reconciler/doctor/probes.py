"""The probes of open questions: a wrong key, a PATCH of metadata, an upload of the wrong length.

A probe's refusal is what it observes, so an error answer becomes its row; a request that got no answer
at all is not an observation of the service and ends the run as the usual error.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from reconciler.doctor.rows import PATCH, UPLOAD, WRONG_KEY, Row
from reconciler.errors import ApiError, TransportError
from reconciler.model import CsvFile
from reconciler.remote.client import ApiClient

# The throwaway declares DECLARED; the upload probe sends LONGER, a valid CSV of another length.
DECLARED = b"url\nhttps://example.com/\n"
LONGER = b"url\nhttps://example.com/\nhttps://example.org/\n"

# Created with KEPT and EMPTIED, the throwaway is sent SENT: each of the three behaviours the tool copes
# with leaves a different mapping (EMPTIED sent empty tells a merge from a merge that unsets).
KEPT, EMPTIED, ADDED = "doctor-kept", "doctor-emptied", "doctor-added"
SENT = {EMPTIED: "", ADDED: "1"}
DESCRIBED = {
    "replace": "the metadata sent replaces what was stored",
    "merge": "keys not sent are kept, a key sent empty is kept empty",
    "merge-unset": "keys not sent are kept, a key sent empty is removed",
}


def wrong_key_row(stranger: ApiClient) -> Row:
    """A listing with an obviously wrong key is refused with 401 or 403."""
    try:
        stranger.list_page(limit=1)
    except TransportError:
        raise
    except ApiError as exc:
        if exc.status in (401, 403):
            return Row(WRONG_KEY, f"refused: HTTP {exc.status}", True)
        return Row(WRONG_KEY, f"answered HTTP {exc.status}: {exc.detail}", False)
    return Row(WRONG_KEY, "accepted: a listing with a wrong key answered 200", False)


def outcomes(stored: dict[str, str], sent: dict[str, str]) -> dict[str, dict[str, str]]:
    """The metadata each behaviour leaves after `sent` is PATCHed onto `stored`."""
    merged = {**stored, **sent}
    return {
        "replace": dict(sent),
        "merge": merged,
        "merge-unset": {key: value for key, value in merged.items() if value != ""},
    }


def _shown(metadata: Any) -> str:
    return json.dumps(metadata, sort_keys=True)


def patch_row(client: ApiClient, created: dict[str, Any]) -> Row:
    """A PATCH of metadata does one of the three things the tool copes with, and a GET agrees with its answer."""
    stored = dict(created.get("metadata") or {})
    try:
        answer = client.update(created["id"], {"metadata": SENT})
    except TransportError:
        raise
    except ApiError as exc:
        return Row(PATCH, f"refused: HTTP {exc.status}: {exc.detail}", False)
    seen = answer.get("metadata") or {}
    name = next((name for name, left in outcomes(stored, SENT).items() if left == seen), None)
    if name is None:
        observed = f"none of the three: {_shown(SENT)} sent onto {_shown(stored)} left {_shown(seen)}"
        return Row(PATCH, observed, False)
    shown = client.get(created["id"])
    if (shown.get("metadata") or {}) != seen or shown.get("title") != answer.get("title"):
        observed = f"{name} by its answer, but a GET then showed {_shown(shown.get('metadata') or {})}"
        return Row(PATCH, observed, False)
    return Row(PATCH, f"{name}: {DESCRIBED[name]}; a GET shows the same", True)


def upload_row(client: ApiClient, created: dict[str, Any]) -> tuple[Row, bool]:
    """PUT a body whose length is not the declared size, through the client's own upload (no key, the URL
    never shown). An observation: the tool always sends exactly the declared bytes. Also says whether the
    upload may have landed (then the throwaway is no longer pending)."""
    with tempfile.TemporaryDirectory(prefix="websets-doctor-") as folder:
        path = Path(folder) / "probe.csv"
        path.write_bytes(LONGER)
        csv = CsvFile(
            path=path.name,
            display="the doctor's probe CSV",
            absolute=str(path),
            identifier=0,
            identifier_name="url",
            sha256=hashlib.sha256(LONGER).hexdigest(),
            size=len(LONGER),
            records=LONGER.count(b"\n") - 1,
            columns=1,
        )
        try:
            client.upload(created["uploadUrl"], csv, created["id"], valid_until=created.get("uploadValidUntil"))
        except TransportError as exc:
            return Row(UPLOAD, f"no answer ({exc.detail}): unknown", True, relied_on=False), True
        except ApiError as exc:
            return Row(UPLOAD, f"refused: HTTP {exc.status}: {exc.detail}", True, relied_on=False), False
    observed = f"accepted: {len(LONGER)} bytes for a declared size of {len(DECLARED)}"
    return Row(UPLOAD, observed, True, relied_on=False), True
