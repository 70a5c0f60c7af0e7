"""Request validation for the emulated Imports API, as the public OpenAPI spec states it.

Every failure is a `RequestInvalid` naming the field path, so the 400 body says exactly what is wrong.
"""

from __future__ import annotations

from typing import Any

ENTITY_TYPES = ("company", "person", "article", "research_paper", "custom")
MAX_SIZE_BYTES = 50_000_000
MAX_METADATA_VALUE = 1000
MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT = 1, 200, 25

_CREATE_FIELDS = ("size", "count", "title", "format", "metadata", "entity", "csv")
_CREATE_REQUIRED = ("size", "count", "format", "entity")
_UPDATE_FIELDS = ("title", "metadata")


class RequestInvalid(Exception):
    """A request that the API answers with 400; `field` is the dotted path of the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def _whole_number(value: Any, field: str, *, minimum: int, maximum: int | None = None) -> int:
    # The spec types size and count as `number`; the SDK sends them as floats (e.g. 123.0). JSON's 1e400
    # reads as infinity and a long integer does not fit a float: neither may reach int() or float().
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestInvalid(field, "must be a whole number")
    number = value
    if number < minimum:
        raise RequestInvalid(field, f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise RequestInvalid(field, f"must be at most {maximum}")
    return number


def _reject_unknown(body: dict[str, Any], allowed: tuple[str, ...], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise RequestInvalid(f"{prefix}{key}", f"unknown field (allowed: {', '.join(allowed)})")


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestInvalid(field, "must be an object" if field else "the request body must be a JSON object")
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise RequestInvalid(field, "must be a string")
    return value


def _metadata(value: Any) -> dict[str, str]:
    metadata = _object(value, "metadata")
    for key, item in metadata.items():
        if not isinstance(item, str):
            raise RequestInvalid(f"metadata.{key}", "must be a string")
        if len(item) > MAX_METADATA_VALUE:
            raise RequestInvalid(f"metadata.{key}", f"must be at most {MAX_METADATA_VALUE} characters")
    return dict(metadata)


def _entity(value: Any) -> dict[str, str]:
    entity = _object(value, "entity")
    kind = entity.get("type")
    if kind not in ENTITY_TYPES:
        raise RequestInvalid("entity.type", f"must be one of {', '.join(ENTITY_TYPES)}")
    if kind != "custom":
        _reject_unknown(entity, ("type",), "entity.")
        return {"type": kind}
    _reject_unknown(entity, ("type", "description"), "entity.")
    description = entity.get("description")
    if not isinstance(description, str) or not 2 <= len(description) <= 200:
        raise RequestInvalid("entity.description", "a custom entity needs a description of 2 to 200 characters")
    return {"type": "custom", "description": description}


def validate_create(body: Any) -> dict[str, Any]:
    """Check a create body and return it normalised (whole numbers as int, defaults filled)."""
    body = _object(body, "")
    _reject_unknown(body, _CREATE_FIELDS)
    for field in _CREATE_REQUIRED:
        if field not in body:
            raise RequestInvalid(field, "is required")
    if body["format"] != "csv":
        raise RequestInvalid("format", "must be 'csv'")
    identifier = None
    if "csv" in body:
        csv_params = _object(body["csv"], "csv")
        _reject_unknown(csv_params, ("identifier",), "csv.")
        if "identifier" in csv_params:
            identifier = _whole_number(csv_params["identifier"], "csv.identifier", minimum=0)
    return {
        "format": "csv",
        "size": _whole_number(body["size"], "size", minimum=1, maximum=MAX_SIZE_BYTES),
        "count": _whole_number(body["count"], "count", minimum=0),
        "title": _string(body["title"], "title") if "title" in body else "",
        "metadata": _metadata(body["metadata"]) if "metadata" in body else {},
        "entity": _entity(body["entity"]),
        "identifier": identifier,
    }


def validate_update(body: Any) -> dict[str, Any]:
    """Check a PATCH body; the result holds only the fields that were given."""
    body = _object(body, "")
    _reject_unknown(body, _UPDATE_FIELDS)
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = _string(body["title"], "title")
    if "metadata" in body:
        changes["metadata"] = _metadata(body["metadata"])
    return changes


def validate_list_query(query: dict[str, list[str]], maximum: int = MAX_LIMIT) -> tuple[int, str | None]:
    """Check the list query string (`maximum`: the largest limit the listing takes); return (limit, cursor)."""
    for key in query:
        if key not in ("limit", "cursor"):
            raise RequestInvalid(key, "unknown query parameter (allowed: cursor, limit)")
    limit = DEFAULT_LIMIT
    if "limit" in query:
        raw = query["limit"][-1]
        try:
            value = float(raw)
        except ValueError:
            raise RequestInvalid("limit", "must be a number") from None
        limit = _whole_number(value, "limit", minimum=MIN_LIMIT, maximum=maximum)
    cursor = None
    if "cursor" in query:
        cursor = query["cursor"][-1]
        if not cursor:
            raise RequestInvalid("cursor", "must not be empty")
    return limit, cursor
