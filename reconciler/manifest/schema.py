"""The packaged JSON Schemas, and their errors turned into one-line, well-placed messages.

A document is first checked by a validator compiled to Python code (fastjsonschema), which is fast on
ten thousand imports and cheap to import. Only when it refuses the document does the full `jsonschema`
validator run: it is the authority on what is valid, and it explains each error, so what users read
is the same as ever. The compiled check is never more lenient than jsonschema (a test holds the two to
agreement on every document of the test corpus); where it is stricter, jsonschema has the last word.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped with the package (`manifest`, `lockfile`, `plan`)."""
    text = resources.files("reconciler.schemas").joinpath(f"{name}.schema.json").read_text()
    return json.loads(text)


def _names() -> list[str]:
    folder = resources.files("reconciler.schemas")
    return sorted(f.name.removesuffix(".schema.json") for f in folder.iterdir() if f.name.endswith(".schema.json"))


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator of a packaged schema, in which `$ref`s to the other packaged schemas resolve."""
    import jsonschema
    from referencing import Registry, Resource

    packaged = ((schema(n)["$id"], Resource.from_contents(schema(n))) for n in _names())
    registry: Registry = Registry().with_resources(packaged)
    return jsonschema.Draft202012Validator(schema(name), registry=registry)


@cache
def _compiled(name: str) -> Callable[[Any], Any]:
    # Compiling costs about 10 ms a schema, so it is done once per process, and only for a schema in use.
    import fastjsonschema

    by_id = {schema(n)["$id"]: schema(n) for n in _names()}
    # use_default=False: the compiled code would otherwise write the schema's defaults into the document.
    return fastjsonschema.compile(schema(name), handlers={"https": by_id.__getitem__}, use_default=False)


def conforms(name: str, document: Any) -> bool:
    """Whether the compiled validator accepts the document; False also when it cannot judge it."""
    try:
        _compiled(name)(document)
    except Exception:  # a refusal, or a value the compiled code was not written for: jsonschema decides
        return False
    return True


def first_error(name: str, document: Any) -> str | None:
    """The first violation of a packaged schema, by path, as `field.path: message` on one line; None if valid."""
    if conforms(name, document):
        return None
    errors = sorted(validator(name).iter_errors(document), key=lambda e: [(type(p) is int, p) for p in e.path])
    if not errors:
        return None
    first = errors[0]
    path = ".".join(str(p) for p in first.absolute_path) or "(top level)"
    message = first.message if len(first.message) <= 200 else first.message[:200] + "..."
    return f"{path}: {message}"


def describe(value: Any) -> str:
    """How a YAML value reads in a message: its kind, and the value itself when short."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    kind = {int: "number", float: "number"}.get(type(value), type(value).__name__)
    return f"the {kind} {value}"


def _expected(types: str | list[str]) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in ([types] if isinstance(types, str) else types)]
    return " or ".join(names)


def did_you_mean(word: str, choices: list[str]) -> str:
    """'; did you mean 'x'?' when one choice is close, else the list of choices."""
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (expected one of: {', '.join(choices)})"


KEY_PATTERN = "^[a-z0-9][a-z0-9_.-]{0,63}$(?!\\n)"  # keys and owner; the manifest's only other pattern is an id's

Issue = tuple[tuple[Any, ...], bool, str]  # (path, at_key, message)


def schema_issues(document: Any) -> Iterator[Issue]:
    """Every schema violation as (path, whether to point at the key, message)."""
    if conforms("manifest", document):
        return
    for error in validator("manifest").iter_errors(document):
        yield from _translate(error)


def _translate(error: jsonschema.ValidationError) -> Iterator[Issue]:
    path = tuple(error.absolute_path)
    kind, value, spec = error.validator, error.instance, error.validator_value
    if "propertyNames" in error.schema_path:
        # jsonschema reports a bad key as the instance, at the path of its mapping.
        rule = "use 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9"
        if kind in ("minLength", "maxLength"):
            rule = f"keys are {error.schema.get('minLength', 1)} to {error.schema.get('maxLength')} characters long"
        yield (*path, value), True, f"invalid key {value!r}: {rule}"
    elif kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for extra in sorted(set(value) - set(allowed), key=str):
            yield (*path, extra), True, "unknown field" + did_you_mean(extra, allowed)
    elif kind == "required":
        for missing in spec:
            if isinstance(value, dict) and missing not in value:
                why = (
                    " (a custom entity needs a description of 2 to 200 characters)" if missing == "description" else ""
                )
                yield path, False, f"missing required field {missing!r}{why}"
    elif kind == "type":
        scalar = value is not None and not isinstance(value, (dict, list, str))
        hint = f' (quote it to make it a string: "{value}")' if spec == "string" and scalar else ""
        yield path, False, f"must be {_expected(spec)}, not {describe(value)}{hint}"
    elif kind == "enum":
        choices = [str(choice) for choice in spec]
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        yield path, False, f"{value!r} is not one of {', '.join(choices)}{hint}"
    elif kind == "const":
        yield path, False, f"must be {spec!r}, not {describe(value)}"
    elif kind == "pattern" and spec != KEY_PATTERN:
        yield path, False, f"{value!r} is not valid: an import id has no spaces or control characters"
    elif kind == "pattern":
        yield path, False, f"{value!r} is not valid: use 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9"
    elif kind in ("minLength", "maxLength"):
        bound = "at least" if kind == "minLength" else "at most"
        yield path, False, f"must be {bound} {spec} characters long ({len(value)} given)"
    elif kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        yield path, False, f"must be {bound} {spec}, not {value}"
    elif kind == "not" and isinstance(spec, dict) and spec.get("required"):
        for field in spec["required"]:
            note = "only a custom entity takes a description" if field == "description" else "not allowed here"
            yield (*path, field), True, f"unknown field; {note}"
    else:
        yield path, False, error.message
