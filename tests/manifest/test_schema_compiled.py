"""The compiled schema check judges every document as jsonschema does: each manifest, lockfile and plan of the
test corpus, and every variant of the valid ones with one value, key or field changed. It never accepts what
jsonschema refuses, nor refuses what it accepts, and a valid document is never handed to jsonschema."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.files import load_json_strictly
from reconciler.manifest import schema
from reconciler.manifest.yamlload import YamlError, read_yaml
from tests import test_bad_state_files
from tests.manifest import test_corpus, test_fuzz

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
GOLDEN = TESTS / "plan" / "golden"

# Values that sit on the edges of the schemas' types and bounds.
ODD_VALUES = [None, True, False, 0, -1, 1, 1.0, 1.5, 2**64, float("-0"), "", "x", "a\n", "A B", "0" * 64, [], {}]
ODD_KEYS = ["zz", "", "Bad Key", "a\n", "-a", "a" * 65, 1]


def _yaml_documents(texts: list[str]) -> list[Any]:
    documents = []
    for text in texts:
        try:
            documents.append(read_yaml(text).value)
        except YamlError:
            continue
    return documents


def _json_documents(texts: list[str]) -> list[Any]:
    documents = []
    for text in texts:
        try:
            documents.append(load_json_strictly(text))
        except ValueError:
            continue
    return documents


def manifests() -> list[Any]:
    texts = [(ROOT / "examples" / "websets.yaml").read_text()]
    texts += [path.read_text() for path in sorted(GOLDEN.glob("*/websets.yaml"))]
    texts += [
        files["websets.yaml"] for files, _ in test_corpus.CASES.values() if isinstance(files.get("websets.yaml"), str)
    ]
    texts += [
        test_fuzz.MANIFEST.format(**(test_fuzz.VALID | {field: value}))
        for field in sorted(test_fuzz.VALID)
        for value in test_fuzz.HOSTILE
    ]
    return _yaml_documents(texts)


def lockfiles() -> list[Any]:
    texts = [path.read_text() for path in sorted(GOLDEN.glob("*/websets.lock"))]
    texts += [text for text, _ in test_bad_state_files.LOCKFILES.values()]
    texts += [json.dumps(test_fuzz.LOCK), json.dumps(test_bad_state_files.lockfile())]
    return _json_documents(texts)


def plans() -> list[Any]:
    return _json_documents([path.read_text() for path in sorted(GOLDEN.glob("*/expected.json"))])


def saved_plans() -> list[Any]:
    basis = {"lock_lineage": None, "lock_serial": None, "remote": {}, "csv": {"a": "0" * 64}}
    head = {"kind": "websets-reconciler/saved-plan", "format_version": "1", "tool_version": "0.1.0"}
    return [{**head, "manifest": "websets.yaml", "targets": None, "basis": basis, "plan": plan} for plan in plans()[:3]]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def variants(document: Any) -> Iterator[Any]:
    """The document with one value replaced, one key renamed or dropped, or one field added, in turn."""
    for path in _paths(document):
        for value in ODD_VALUES:
            if not path:
                yield value
                continue
            changed = copy.deepcopy(document)
            _at(changed, path[:-1])[path[-1]] = value
            yield changed
        node = _at(document, path)
        if isinstance(node, dict):
            for key in ODD_KEYS:
                added = copy.deepcopy(document)
                _at(added, path)[key] = "x"
                yield added
            for key in node:
                dropped = copy.deepcopy(document)
                del _at(dropped, path)[key]
                yield dropped
                renamed = copy.deepcopy(document)
                parent = _at(renamed, path)
                parent["Renamed Key"] = parent.pop(key)
                yield renamed


def jsonschema_accepts(name: str, document: Any) -> bool:
    return next(iter(schema.validator(name).iter_errors(document)), None) is None


CORPORA = {"manifest": manifests, "lockfile": lockfiles, "plan": plans, "saved-plan": saved_plans}


def documents(name: str) -> list[Any]:
    """The corpus of a schema and the variants of its valid documents, each once."""
    originals = CORPORA[name]()
    valid = sorted((d for d in originals if jsonschema_accepts(name, d)), key=lambda d: len(repr(d)))
    if name in ("plan", "saved-plan"):
        valid = valid[:1]  # thousands of variants each: the smallest already varies every field of the schema
    distinct: dict[str, Any] = {}
    for document in [*originals, *(variant for v in valid for variant in variants(v))]:
        distinct.setdefault(repr(document), document)
    return list(distinct.values())


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_the_compiled_check_agrees_with_jsonschema_on_the_corpus_and_its_variants(name):
    checked = documents(name)
    verdicts = [jsonschema_accepts(name, d) for d in checked]
    disagree = [d for d, valid in zip(checked, verdicts, strict=True) if schema.conforms(name, d) != valid]
    assert len(checked) > 500 and True in verdicts and False in verdicts  # both kinds are put to the test
    assert disagree == [], [repr(d)[:300] for d in disagree[:5]]


def test_a_valid_document_never_reaches_jsonschema(monkeypatch):
    def refuse(name: str) -> None:
        raise AssertionError(f"jsonschema was used for a valid {name}")

    monkeypatch.setattr(schema, "validator", refuse)
    for name, corpus in sorted(CORPORA.items()):
        for document in corpus():
            if schema.conforms(name, document):
                assert schema.first_error(name, document) is None
    example = read_yaml((ROOT / "examples" / "websets.yaml").read_text()).value
    assert list(schema.schema_issues(example)) == []


def test_an_invalid_document_is_explained_by_jsonschema():
    document = {"version": 1, "owner": "Growth Team", "imports": {}}
    assert not schema.conforms("manifest", document)
    assert (
        schema.first_error("manifest", document)
        == "owner: 'Growth Team' does not match '^[a-z0-9][a-z0-9_.-]{0,63}$(?!\\\\n)'"
    )
    issues = list(schema.schema_issues(document))
    assert issues == [
        (
            ("owner",),
            False,
            "'Growth Team' is not valid: use 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9",
        )
    ]


def test_the_compiled_check_leaves_the_document_as_it_was():
    lock = copy.deepcopy(test_fuzz.LOCK)
    assert "abandoned" not in lock["journal"][0]
    before = copy.deepcopy(lock)
    assert schema.conforms("lockfile", lock)
    assert lock == before  # the schema's default (abandoned: false) is not written into it
