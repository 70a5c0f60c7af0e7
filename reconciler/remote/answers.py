"""What the API's answers must hold before the tool relies on them.

Each check returns the first problem as `field.path: what is wrong`, or None. They are hand-written
and cheap on purpose: a listing of 10,000 imports is checked item by item inside the plan's time budget.
No check ever quotes a value it refuses, since a value may be a credential (an upload URL).
"""

from __future__ import annotations

import email.utils
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.redact import redact

if TYPE_CHECKING:  # answers are read without importing the HTTP stack, which a plan loads lazily
    import httpx

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)?")
_OPTIONAL_TEXT = ("title", "failedReason", "failedMessage")


def parse_time(value: str | None) -> float | None:
    """An RFC 3339 timestamp as epoch seconds (any number of fraction digits; no offset means UTC)."""
    if not value:
        return None
    try:  # the fast path, taken by the API's own format: checking 10,000 imports must stay cheap
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    except ValueError:
        pass
    else:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    date, clock, fraction, zone = match.groups()
    fraction = "." + fraction[:6].ljust(6, "0") if fraction else ""
    zone = "+00:00" if zone in (None, "Z", "z") else zone
    return datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}").timestamp()


def is_loopback(host: str) -> bool:
    """Whether a URL's host names this machine's loopback interface."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _kind(value: Any) -> str:
    return "missing" if value is None else f"not a string ({type(value).__name__})"


def import_problem(item: Any, where: str = "") -> str | None:
    """The first reason `item` is not a usable Import (id, status, dates, metadata of strings, ...)."""
    if type(item) is not dict:
        return f"{where or 'the answer'}: not an object"
    problem = _field_problem(item)
    return None if problem is None else f"{where}.{problem}" if where else problem


def _field_problem(item: dict[str, Any]) -> str | None:
    for name in ("id", "status", "updatedAt"):
        value = item.get(name)
        if type(value) is not str or not value:
            return f"{name}: {_kind(value) if value != '' else 'empty'}"
    created = item.get("createdAt")
    if type(created) is not str:
        return f"createdAt: {_kind(created)}"
    try:
        datetime.fromisoformat(created)  # Python 3.11 reads the API's format directly, and fast
    except ValueError:
        try:
            parse_time(created)
        except ValueError:
            return "createdAt: not an RFC 3339 date-time"
    for name in _OPTIONAL_TEXT:
        value = item.get(name)
        if value is not None and type(value) is not str:
            return f"{name}: {_kind(value)}"
    count = item.get("count")
    if count is not None and type(count) is not int and (type(count) is not float or not math.isfinite(count)):
        return "count: not a number"
    entity = item.get("entity")
    if entity is not None:
        if type(entity) is not dict or type(entity.get("type")) is not str:
            return "entity: not an object with a string type"
        if entity.get("description") is not None and type(entity["description"]) is not str:
            return f"entity.description: {_kind(entity['description'])}"
    metadata = item.get("metadata")
    if metadata is not None:
        if type(metadata) is not dict:
            return "metadata: not a mapping of strings"
        for key, value in metadata.items():
            if type(value) is not str:
                return f"metadata.{key}: {_kind(value)}"
    return None


def page_problem(page: Any) -> str | None:
    """The first reason `page` is not a usable list answer: `{data: [Import], hasMore, nextCursor}`."""
    return _list_problem(page, import_problem)


def _list_problem(page: Any, item_problem: Callable[[Any, str], str | None]) -> str | None:
    """The first reason `page` is not a usable list answer: `{data: [item], hasMore, nextCursor}`."""
    if type(page) is not dict:
        return "the answer: not an object"
    data = page.get("data")
    if type(data) is not list:
        return "data: missing" if data is None else "data: not a list"
    if type(page.get("hasMore")) is not bool:
        return "hasMore: missing" if page.get("hasMore") is None else "hasMore: not a boolean"
    cursor = page.get("nextCursor")
    if cursor is not None and type(cursor) is not str:
        return f"nextCursor: {_kind(cursor)}"
    for i, item in enumerate(data):
        problem = item_problem(item, f"data[{i}]")
        if problem is not None:
            return problem
    return None


def _refs_problem(refs: Any, where: str) -> str | None:
    """Why a webset's list of `{source, id}` (or Import) entries cannot be read; missing or null is none."""
    if refs is None:
        return None
    if type(refs) is not list:
        return f"{where}: not a list"
    for i, ref in enumerate(refs):
        if type(ref) is not dict:
            return f"{where}[{i}]: not an object"
        if type(ref.get("id")) is not str or not ref["id"]:
            return f"{where}[{i}].id: {_kind(ref.get('id')) if ref.get('id') != '' else 'empty'}"
        if "source" in ref and type(ref["source"]) is not str:
            return f"{where}[{i}].source: {_kind(ref['source'])}"
    return None


def webset_problem(item: Any, where: str = "") -> str | None:
    """The first reason `item` is not a Webset whose references to imports can be read: an id, a title
    that is text or null, and `imports`, `excludes` and each search's `scope` and `exclude` (any of them
    may be missing) lists of objects with an id."""
    where = where or "the answer"
    if type(item) is not dict:
        return f"{where}: not an object"
    if type(item.get("id")) is not str or not item["id"]:
        return f"{where}.id: {_kind(item.get('id')) if item.get('id') != '' else 'empty'}"
    if item.get("title") is not None and type(item["title"]) is not str:
        return f"{where}.title: {_kind(item['title'])}"
    for name in ("imports", "excludes"):
        if (problem := _refs_problem(item.get(name), f"{where}.{name}")) is not None:
            return problem
    searches = item.get("searches")
    if searches is not None and type(searches) is not list:
        return f"{where}.searches: not a list"
    for i, search in enumerate(searches or ()):
        if type(search) is not dict:
            return f"{where}.searches[{i}]: not an object"
        for name in ("scope", "exclude"):
            if (problem := _refs_problem(search.get(name), f"{where}.searches[{i}].{name}")) is not None:
                return problem
    return None


def webset_page_problem(page: Any) -> str | None:
    """The first reason `page` is not a usable websets list answer: `{data: [Webset], hasMore, nextCursor}`."""
    return _list_problem(page, webset_problem)


def upload_url_problem(url: Any) -> str | None:
    """Why `url` cannot be PUT to: the key's rule, https or http to loopback, applies to uploads too."""
    if type(url) is not str or not url:
        return f"uploadUrl: {_kind(url) if url != '' else 'empty'}"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or not host or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
        return "uploadUrl is not an https URL (or http to a loopback address)"
    return None


def create_problem(answer: Any) -> str | None:
    """The first reason a create answer is unusable: an Import plus a usable upload URL and its expiry."""
    problem = import_problem(answer)
    if problem is not None:
        return problem
    problem = upload_url_problem(answer.get("uploadUrl"))
    if problem is not None:
        return problem
    until = answer.get("uploadValidUntil")
    if until is not None:
        try:
            if type(until) is not str or parse_time(until) is None:
                raise ValueError(until)
        except ValueError:
            return "uploadValidUntil: not an RFC 3339 date-time"
    return None


# -- error answers ----------------------------------------------------------------------------


def retry_after(response: httpx.Response, now: float) -> float | None:
    """Seconds the answer asks to wait (Retry-After, in seconds or as a date), None when it does not say."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def error_message(response: httpx.Response) -> str:
    """A one-line message from any error body: the API's JSON shapes, or text, or the reason phrase.
    Secrets are removed before the text is shortened, so no cut can leave part of one behind."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return redact(" ".join(str(error["message"]).split()))
        if isinstance(body.get("message"), str):
            return redact(" ".join(body["message"].split()))
        if isinstance(error, str):
            return redact(" ".join(error.split()))
    text = redact(" ".join(response.text.split()))[:200] if response.content else ""
    return text or response.reason_phrase or "no message"


def request_id(response: httpx.Response) -> str | None:
    """The id the API (or the upload host) gave the request, for a support ticket."""
    return response.headers.get("X-Request-Id") or response.headers.get("x-amz-request-id")
