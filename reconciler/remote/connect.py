"""What a failed connection says about the address: a wrong one fails a run at once, in one line.

A connection refused, or a name that does not resolve, on the first request of a run means the base URL
is wrong (or the service is not there): retrying for half a minute would only delay the same answer.
Later in a run the same errors are passing trouble, and the client retries them.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx

from reconciler.errors import ConfigError, TransportError
from reconciler.redact import redact
from reconciler.remote.answers import is_loopback

_DNS_WORDS = (
    "name or service not known",
    "nodename nor servname",
    "name resolution",
    "getaddrinfo failed",
    "no address associated",
)
_REFUSED_WORDS = ("connection refused", "errno 111", "econnrefused")


class Unreachable(TransportError):
    """The first request of a run found no server at the base URL: nothing listens there, or its name
    does not resolve."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"GET {base_url}", reason)
        Exception.__init__(self, redact(f"cannot reach {base_url}: {reason}"))


def unreachable(exc: httpx.HTTPError) -> str | None:
    """Why a connection could not even start, when the address is plainly wrong: no one listens there,
    or the name does not resolve. None for anything else (a timeout, a reset), which a retry may cure."""
    if not isinstance(exc, httpx.ConnectError):
        return None
    causes: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(causes) < 10:
        causes.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "name not resolved (DNS)"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    text = " ".join(str(c) for c in causes).lower()
    if any(words in text for words in _DNS_WORDS):
        return "name not resolved (DNS)"
    if any(words in text for words in _REFUSED_WORDS):
        return "connection refused"
    return None


def check_base_url(base_url: str) -> str:
    """Refuse plain http:// except to a loopback address, so the key never crosses a network in clear."""
    shown = redact(repr(base_url))  # a password or token written into the URL stays out of the message
    if any(ord(c) < 32 or ord(c) == 127 for c in base_url):
        raise ConfigError(f"EXA_BASE_URL holds a control character (a line break?): {shown}")
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
    except ValueError:
        raise ConfigError(f"EXA_BASE_URL must be an http(s) URL, not {shown}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"EXA_BASE_URL must be an http(s) URL, not {shown}")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(f"EXA_BASE_URL {shown} uses plain http; only https, or http to a loopback address")
    return base_url.rstrip("/")
