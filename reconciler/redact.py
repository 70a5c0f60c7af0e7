"""Keeping secrets out of every message: the API key, upload URLs, and credentials written into URLs.

Text from the API or the upload host may echo what it was sent, so every message built from it goes
through `redact` before anyone sees it. Two kinds of rule apply:

- the registry: exact strings the client has handled and knows to be secret (the API key, each upload
  URL and its token, path and query values, the base URL's password), registered as they arrive;
- generic rules for what was never registered: `user:password@` in any URL, the query string of any
  URL, and S3's signing parameters wherever they stand.

The registry is process-wide, because a message may be rendered far from the client that saw the secret.
"""

from __future__ import annotations

import contextlib
import re
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

MARK = "[redacted]"
MIN_SECRET = 6  # shorter strings are no credential, and replacing them everywhere would garble messages
_MIN_PART = 16  # a piece of a query value (e.g. the access key id inside X-Amz-Credential)

_lock = threading.Lock()
_secrets: set[str] = set()
# Longest first, so a URL is replaced whole before its token; rebuilt when a message needs it, not on
# every registration (an apply registers a few strings per create, and few messages need cleaning).
_ordered: tuple[str, ...] | None = ()

_USERINFO = re.compile(r"(?<=://)[^\s/?#@'\"<>]+@")
_BARE_USERINFO = re.compile(r"(?<![\w/])[^\s/?#@:'\"<>]+:[^\s/?#@'\"<>]+@(?=[\w\[])")
# A query ends before trailing punctuation, so "…?[redacted]: connection refused" keeps its colon.
_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>]*)\?(?:[^\s#'\"<>]*[^\s#'\"<>:;,.)])?")
_SIGNING = re.compile(r"(?i)\b(X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId)=[^&\s'\"<>]+")


def register(*values: str | None) -> None:
    """Treat each value (and its percent-decoded form) as a secret from now on."""
    global _ordered
    fresh = set()
    for value in values:
        if value and len(value) >= MIN_SECRET:
            fresh.add(value)
            fresh.add(unquote(value))
    fresh = {v for v in fresh if len(v) >= MIN_SECRET}
    with _lock:
        if not fresh <= _secrets:
            _secrets.update(fresh)
            _ordered = None


def _by_length() -> tuple[str, ...]:
    global _ordered
    with _lock:
        if _ordered is None:
            _ordered = tuple(sorted(_secrets, key=len, reverse=True))
        return _ordered


def register_url(url: str) -> None:
    """Register an upload URL: the whole URL, its path and last path segment, its query and each value."""
    try:
        parts = urlsplit(url)
    except ValueError:
        register(url)
        return
    values = [url, parts.path, parts.path.rsplit("/", 1)[-1], parts.query, parts.password]
    for _, value in parse_qsl(parts.query, keep_blank_values=False):
        values.append(value)
        values += [piece for piece in value.split("/") if len(piece) >= _MIN_PART]
    register(*values)


def register_userinfo(url: str) -> None:
    """Register the password written into a URL (`https://user:password@host`), if any."""
    with contextlib.suppress(ValueError):
        register(urlsplit(url).password)


def redact(text: str) -> str:
    """`text` with every registered secret and every URL credential or query string replaced."""
    for secret in _by_length():
        if secret in text:
            text = text.replace(secret, MARK)
    if "@" in text:
        text = _BARE_USERINFO.sub(MARK + "@", _USERINFO.sub(MARK + "@", text))
    if "?" in text:
        text = _QUERY.sub(lambda m: f"{m.group(1)}?{MARK}", text)
    if "=" in text:
        text = _SIGNING.sub(lambda m: f"{m.group(1)}={MARK}", text)
    return text
