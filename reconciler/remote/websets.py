"""Which websets use an import: read from the websets listing, for the plan to show under each replace,
delete and forget.

A webset refers to an import by its id in four places: as a source (`imports[].id`), an exclusion
(`excludes[]`), a search scope (`searches[].scope[]`) and a search exclusion (`searches[].exclude[]`).
Knowing them is a courtesy, not a condition of the plan: an API without the listing, a key that may not
read websets, an answer that cannot be read or a network that fails all give no references and a
one-line reason, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from reconciler.errors import ApiError, RemoteStateError
from reconciler.plan.model import Reference
from reconciler.redact import redact
from reconciler.remote.state import Unfollowable, pages

PAGE_SIZE = 100  # the most the Websets listing gives in one page
MAX_PAGES = 10_000  # a cursor loop that never ends is caught long before this


class WebsetLister(Protocol):
    def list_websets_page(self, cursor: str | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]: ...


def _websets(client: WebsetLister) -> Iterator[dict[str, Any]]:
    """Every webset, page by page; raise RemoteStateError when the cursors cannot be followed."""
    try:
        for page in pages(lambda cursor: client.list_websets_page(cursor, PAGE_SIZE), MAX_PAGES):
            yield from page["data"]
    except Unfollowable as exc:
        raise RemoteStateError(f"the websets listing is inconsistent ({exc})") from None


def _uses(webset: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(import id, how) for each place the webset names an import."""
    for item in webset.get("imports") or ():
        yield item["id"], "source"
    for item in webset.get("excludes") or ():
        if item.get("source") == "import":
            yield item["id"], "exclusion"
    for search in webset.get("searches") or ():
        for item in search.get("scope") or ():
            if item.get("source") == "import":
                yield item["id"], "search scope"
        for item in search.get("exclude") or ():
            if item.get("source") == "import":
                yield item["id"], "search exclusion"


def _title(value: str | None) -> str | None:
    """A title that can be written as UTF-8 on one line: a lone surrogate becomes U+FFFD, and line
    breaks become spaces."""
    if value is None:
        return None
    if not value.isascii():
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return " ".join(value.splitlines()) if "\n" in value or "\r" in value else value


def _shown_id(value: str) -> str:
    """A webset id as it can be shown on one line of a terminal: controls (a newline, an escape sequence) are
    written as escapes. The service makes the ids; this holds only against an answer that is not its own."""
    return value if value.isprintable() else repr(value)[1:-1]


def references_in(websets: Iterable[dict[str, Any]], import_ids: set[str]) -> list[Reference]:
    """The references to `import_ids` in these websets (checked by `answers.webset_problem`), each webset
    and import once per way of use, sorted by (import id, webset id, how)."""
    found: dict[tuple[str, str, str], Reference] = {}
    for webset in websets:
        for import_id, how in _uses(webset):
            if import_id in import_ids:
                key = (import_id, webset["id"], how)
                webset_id = _shown_id(webset["id"])
                found.setdefault(key, Reference(import_id, webset_id, _title(webset.get("title")), how))
    return [found[key] for key in sorted(found)]


def _reason(exc: ApiError | RemoteStateError) -> str:
    if isinstance(exc, ApiError) and exc.status == 404:
        reason = f"this API does not list websets ({exc})"
    elif isinstance(exc, ApiError) and exc.status in (401, 403):
        reason = f"the API key may not read websets ({exc})"
    else:
        reason = str(exc)
    return redact(" ".join(reason.split()))


def read_references(client: WebsetLister, import_ids: set[str]) -> tuple[list[Reference], str | None]:
    """Every reference a webset makes to one of `import_ids`, and None; or no references and the one-line
    reason the websets could not be read. Asks nothing when `import_ids` is empty."""
    if not import_ids:
        return [], None
    try:
        return references_in(_websets(client), import_ids), None
    except (ApiError, RemoteStateError) as exc:
        return [], _reason(exc)
