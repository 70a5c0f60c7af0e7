"""Generated input for the manifest loader and the lockfile reader: every input gives either a result the tool
can write back (UTF-8 strings, finite numbers, bounded nesting) or an error of the tool's own, in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import ReconcilerError
from reconciler.lockfile import parse_lock
from reconciler.manifest.load import load_manifest
from reconciler.manifest.yamlload import YamlError, load_yaml

FUZZ = settings(
    max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Pieces of YAML syntax, odd characters and hostile values; the generated text strings them together.
HOSTILE = [
    '"\\ud800"',
    '"x\\udc00"',
    "\ud800",
    ".nan",
    ".inf",
    "-.inf",
    "1.0e+400",
    '"growth\\n"',
    "[" * 70 + "]" * 70,
    "[" * 5_000,
    "- " * 70 + "x",
    "{a: " * 70,
    "&a [1, 2]",
    "*a",
    "*nowhere",
    "<<: {}",
    "!!python/object:os.system {}",
    "!!binary aGk=",
    "!!binary ***",
    "!!timestamp 2024-13-45",
    "!!set {a}",
    "0x_",
    "~",
    "\x00",
    "\x85",
    "\u2028",
    "\ufeff",
    "é😀",
]
FRAGMENTS = [
    *HOSTILE,
    "version: 1\n",
    "owner: growth\n",
    "imports:\n",
    "  a:\n",
    "    csv: data.csv\n",
    "    entity: {type: company}\n",
    "    title: ",
    "&b ",
    "*b",
    "? ",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    '"',
    "'",
    "\\",
    "#",
    "|\n",
    ">\n",
    "\t",
    "\n",
    "  ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
]
YAMLISH = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=30).map("".join)

VALID = {
    "owner": "growth",
    "key": "customers",
    "title": "ACME",
    "type": "company",
    "percent": "30",
    "metadata": "{team: growth}",
}
MANIFEST = (
    "version: 1\nowner: {owner}\nsafety: {{max_delete_percent: {percent}}}\nimports:\n  {key}:\n    csv: data.csv\n"
    "    title: {title}\n    entity: {{type: {type}}}\n    metadata: {metadata}\n"
)
# A valid manifest with one field replaced by something hostile.
MUTATED_MANIFESTS = st.builds(
    lambda field, value: MANIFEST.format(**(VALID | {field: value})),
    st.sampled_from(sorted(VALID)),
    st.one_of(st.sampled_from(HOSTILE), YAMLISH),
)

LOCK = {
    "version": 1,
    "owner": "growth",
    "lineage": "l-1",
    "serial": 2,
    "imports": {
        "a": {
            "id": "import_1",
            "title": "ACME",
            "entity": {"type": "custom", "description": "open-source repositories"},
            "metadata": {"team": "growth"},
            "protected": False,
            "csv": {"path": "data.csv", "sha256": "0" * 64, "size": 10, "records": 1, "columns": 2, "identifier": 0},
        }
    },
    "journal": [{"operation": "op-1", "key": "a", "action": "create", "replaces": None, "sha256": "1" * 64}],
}
JSON_HOSTILE = [
    "NaN",
    "-Infinity",
    "1e400",
    '"\\ud800"',
    '"a\\n"',
    '"' + "0" * 64 + '\\n"',
    "[" * 70 + "]" * 70,
    "[" * 5_000,
    "null",
    "{}",
    "[]",
    "-1",
    "1.5",
    "true",
    '""',
    "99999999999999999999999",
]


def _leaves(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [path, *(p for k, v in value.items() for p in _leaves(v, (*path, k)))]
    if isinstance(value, list):
        return [path, *(p for i, v in enumerate(value) for p in _leaves(v, (*path, i)))]
    return [path]


LOCK_PATHS = _leaves(LOCK)


def _replaced(path: tuple, text: str) -> str:
    """The valid lockfile's JSON with the value at `path` replaced by raw JSON text."""
    marker = "@@HOLE@@"
    document = json.loads(json.dumps(LOCK))
    if not path:
        return text
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = marker
    return json.dumps(document, indent=2).replace(json.dumps(marker), text)


MUTATED_LOCKS = st.one_of(
    st.builds(_replaced, st.sampled_from(LOCK_PATHS), st.one_of(st.sampled_from(JSON_HOSTILE), st.text(max_size=6))),
    st.builds(
        lambda cut, insert: (text := json.dumps(LOCK, indent=2))[:cut] + insert + text[cut:],
        st.integers(0, len(json.dumps(LOCK, indent=2))),
        st.sampled_from(["<<<<<<< HEAD\n", "=======\n", "\ufeff", "\\", '"', "}", "[", ",", "\ud800", "\n"]),
    ),
    st.text(max_size=40),
)


def assert_writable(value: Any, depth: int = 0) -> None:
    """What the tool would write back as UTF-8 JSON: encodable strings, finite numbers, bounded nesting."""
    assert depth <= 64
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_writable(key, depth + 1)
            assert_writable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            assert_writable(item, depth + 1)


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message
    message.encode("utf-8")


@FUZZ
@given(st.one_of(YAMLISH, MUTATED_MANIFESTS))
def test_the_yaml_loader_reads_or_refuses_in_one_line(text):
    try:
        value, positions = load_yaml(text)
    except YamlError as exc:
        assert exc.position.line >= 1 and exc.position.column >= 1
        assert_one_line(str(exc))
        return
    assert_writable(value)
    assert all(p.line >= 1 for p in positions.values.values())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "data.csv").write_text("url,name\nhttps://a.example,A\n")
    return root


@FUZZ
@given(text=st.one_of(MUTATED_MANIFESTS, YAMLISH))
def test_the_manifest_loader_gives_a_writable_manifest_or_its_own_error(folder, text):
    path = folder / "websets.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        manifest = load_manifest(path)
    except ReconcilerError as exc:
        for line in str(exc).splitlines():
            assert_one_line(line)
        return
    assert_writable(manifest.owner)
    for item in manifest.imports.values():
        assert_writable([item.key, item.title, item.entity.type, item.entity.description or "", item.metadata])


@FUZZ
@given(MUTATED_LOCKS)
def test_the_lockfile_reader_gives_a_writable_lock_or_its_own_error(text):
    try:
        lock = parse_lock(text, "websets.lock")
    except ReconcilerError as exc:
        assert_one_line(str(exc))
        return
    written = lock.to_json()
    written.encode("utf-8")
    assert parse_lock(written, "websets.lock") == lock
