"""The manifest's `adopt`, `moved` and `removed` blocks and imports without csv: what loads, what each rule
refuses (one line at the field, every problem at once), and what `validate` says about them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.errors import ManifestInvalid
from reconciler.manifest import schema
from reconciler.manifest.load import load_manifest
from reconciler.manifest.yamlload import read_yaml
from tests.conftest import ROOT

HEAD = "version: 1\nowner: growth\ndefaults: {entity: {type: company}}\n"
URLS = "url,name\nhttps://a.example,A\nhttps://b.example,B\n"


def _write(root: Path, imports: str, blocks: str = "") -> Path:
    (root / "a.csv").write_text(URLS)
    manifest = root / "websets.yaml"
    manifest.write_text(HEAD + "imports:\n" + imports + blocks)
    return manifest


def _problems(manifest: Path) -> list[str]:
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(manifest)
    return [str(d).removeprefix(str(manifest.parent) + "/") for d in caught.value.diagnostics]


def test_the_three_blocks_load_with_chains_resolved_to_their_end(tmp_path):
    from reconciler.model import Adoption, Move, Removal

    manifest = _write(
        tmp_path,
        "  c: {csv: a.csv}\n  legacy: {title: Legacy list}\n",
        "adopt:\n  - {key: legacy, id: imp_01jabc}\n"
        "moved:\n  - {from: a, to: b}\n  - from: b\n    to: c\n"
        "removed:\n  - {key: old-list}\n",
    )
    loaded = load_manifest(manifest)
    assert loaded.adopt == {"legacy": Adoption("legacy", "imp_01jabc", 8)}
    assert loaded.moved == {"a": Move("a", "c", 10), "b": Move("b", "c", 11)}
    assert loaded.removed == {"old-list": Removal("old-list", 14)}
    assert sorted(loaded.imports) == ["c", "legacy"]


def test_a_manifest_without_blocks_has_them_empty(tmp_path):
    loaded = load_manifest(_write(tmp_path, "  c: {csv: a.csv}\n"))
    assert (loaded.adopt, loaded.moved, loaded.removed) == ({}, {}, {})


def test_an_import_without_csv_has_unmanaged_content_and_the_default_entity(tmp_path):
    manifest = _write(
        tmp_path,
        "  legacy: {title: Legacy list, metadata: {team: x}, protected: true}\n"
        "  papers: {entity: {type: research_paper}}\n",
    )
    loaded = load_manifest(manifest)
    legacy, papers = loaded.imports["legacy"], loaded.imports["papers"]
    assert legacy.csv is None and legacy.sha256 is None and legacy.identifier is None
    assert (legacy.title, legacy.entity.type, legacy.metadata, legacy.protected) == (
        "Legacy list",
        "company",
        {"team": "x"},
        True,
    )
    assert (papers.csv, papers.title, papers.entity.type, papers.line) == (None, "papers", "research_paper", 6)


def test_an_import_without_csv_still_needs_an_entity(tmp_path):
    manifest = tmp_path / "websets.yaml"
    manifest.write_text("version: 1\nowner: growth\nimports:\n  legacy: {title: Legacy}\n")
    assert _problems(manifest) == ["websets.yaml:4:3: imports.legacy: no entity: give one here or in defaults.entity"]


ONE = "  c: {csv: a.csv}\n"
# name -> (imports, blocks, the problems expected, sorted as validate prints them)
RULES: dict[str, tuple[str, str, list[str]]] = {
    "adopt-key-not-in-imports": (
        ONE,
        "adopt:\n  - {key: legacy, id: imp_1}\n",
        [
            "websets.yaml:7:11: adopt[0].key: 'legacy' is not in imports; add it there (without csv, its content "
            "stays unmanaged), or drop this entry"
        ],
    ),
    "adopt-same-key-twice": (
        ONE,
        "adopt:\n  - {key: c, id: imp_1}\n  - {key: c, id: imp_2}\n",
        ["websets.yaml:8:11: adopt[1].key: 'c' is already adopted by adopt[0]; a key adopts one import"],
    ),
    "adopt-same-id-twice": (
        ONE + "  d: {csv: a.csv}\n",
        "adopt:\n  - {key: c, id: imp_1}\n  - {key: d, id: imp_1}\n",
        ["websets.yaml:9:18: adopt[1].id: 'imp_1' is already adopted by adopt[0]; adopt it once"],
    ),
    "adopt-key-also-end-of-a-move": (
        ONE,
        "adopt:\n  - {key: c, id: imp_1}\nmoved:\n  - {from: a, to: b}\n  - {from: b, to: c}\n",
        [
            "websets.yaml:7:11: adopt[0].key: 'c' is also where moved[1] moves 'b'; a key's import comes from one "
            "place: keep the move or the adopt, not both"
        ],
    ),
    "moved-from-still-in-imports": (
        "  prospects: {csv: a.csv}\n  prospects-emea: {csv: a.csv}\n",
        "moved:\n  - {from: prospects, to: prospects-emea}\n",
        [
            "websets.yaml:8:12: moved[0].from: 'prospects' is still in imports; a moved key must leave imports",
        ],
    ),
    "moved-from-given-twice": (
        ONE + "  d: {csv: a.csv}\n",
        "moved:\n  - {from: a, to: c}\n  - {from: a, to: d}\n",
        ["websets.yaml:9:12: moved[1].from: 'a' is already moved by moved[0]; move each key once"],
    ),
    "moved-end-missing": (
        ONE,
        "moved:\n  - {from: x, to: y}\n",
        [
            "websets.yaml:7:19: moved[0].to: 'y' is not in imports; a move must end at a key of imports: add 'y' "
            "there, or move to a key that is"
        ],
    ),
    "moved-chain-end-missing-reported-once": (
        ONE,
        "moved:\n  - {from: a, to: b}\n  - {from: b, to: e}\n",
        [
            "websets.yaml:8:19: moved[1].to: 'e' is not in imports; a move must end at a key of imports: add 'e' "
            "there, or move to a key that is"
        ],
    ),
    "moved-cycle": (
        ONE,
        "moved:\n  - {from: b, to: a}\n  - {from: a, to: b}\n",
        ["websets.yaml:7:19: moved[0].to: 'b' -> 'a' -> 'b' is a cycle; a chain of moves must end at a key of imports"],
    ),
    "moved-to-itself": (
        ONE,
        "moved:\n  - {from: a, to: a}\n",
        ["websets.yaml:7:19: moved[0].to: 'a' -> 'a' is a cycle; a chain of moves must end at a key of imports"],
    ),
    "moved-two-chains-one-end": (
        ONE,
        "moved:\n  - {from: a, to: c}\n  - {from: b, to: c}\n",
        ["websets.yaml:8:19: moved[1].to: 'b' and 'a' (moved[0]) both move to 'c'; two imports cannot move to one key"],
    ),
    "moved-from-also-removed": (
        ONE,
        "moved:\n  - {from: a, to: c}\nremoved:\n  - {key: a}\n",
        ["websets.yaml:7:12: moved[0].from: 'a' is also in removed; a key is either moved or removed: drop one entry"],
    ),
    "removed-still-in-imports": (
        ONE,
        "removed:\n  - {key: c}\n",
        [
            "websets.yaml:7:11: removed[0].key: 'c' is still in imports; a removed key must leave imports (delete it there)"
        ],
    ),
    "removed-twice": (
        ONE,
        "removed:\n  - {key: old}\n  - {key: old}\n",
        ["websets.yaml:8:11: removed[1].key: 'old' is already removed by removed[0]; list each key once"],
    ),
    "id-with-a-space": (
        ONE,
        "adopt:\n  - {key: c, id: imp 1}\n",
        ["websets.yaml:7:18: adopt[0].id: 'imp 1' is not valid: an import id has no spaces or control characters"],
    ),
    "id-too-long": (
        ONE,
        "adopt:\n  - {key: c, id: " + "x" * 129 + "}\n",
        ["websets.yaml:7:18: adopt[0].id: must be at most 128 characters long (129 given)"],
    ),
    "key-outside-the-pattern": (
        ONE,
        "removed:\n  - {key: Old List}\n",
        [
            "websets.yaml:7:11: removed[0].key: 'Old List' is not valid: use 1 to 64 of a-z, 0-9, '_', '.', '-', "
            "starting with a-z or 0-9"
        ],
    ),
    "unknown-field-in-an-entry": (
        ONE,
        "moved:\n  - {from: a, too: c}\n",
        [
            "websets.yaml:7:5: moved[0]: missing required field 'to'",
            "websets.yaml:7:15: moved[0].too: unknown field; did you mean 'to'?",
        ],
    ),
    "block-not-a-list": (
        ONE,
        "removed: {key: old}\n",
        ["websets.yaml:6:10: removed: must be a list, not a mapping"],
    ),
}


SCHEMA_RULES = {
    "id-with-a-space",
    "id-too-long",
    "key-outside-the-pattern",
    "unknown-field-in-an-entry",
    "block-not-a-list",
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_is_one_line_at_its_field(name, tmp_path):
    imports, blocks, expected = RULES[name]
    assert _problems(_write(tmp_path, imports, blocks)) == expected
    # The compiled schema check must judge the blocks as jsonschema does, or its errors would go unexplained.
    document = read_yaml(HEAD + "imports:\n" + imports + blocks).value
    refused = any(True for _ in schema.validator("manifest").iter_errors(document))
    assert schema.conforms("manifest", document) is not refused
    assert refused is (name in SCHEMA_RULES)


def test_every_problem_of_every_block_is_reported_at_once(tmp_path):
    manifest = _write(
        tmp_path,
        ONE,
        "adopt:\n  - {key: nope, id: imp_1}\n"
        "moved:\n  - {from: c, to: c}\n  - {from: x, to: y}\n"
        "removed:\n  - {key: c}\n",
    )
    fields = [line.split(": ")[1] for line in _problems(manifest)]
    assert fields == ["adopt[0].key", "moved[0].from", "moved[0].from", "moved[0].to", "moved[1].to", "removed[0].key"]


def test_validate_exits_1_with_one_line_per_problem(tmp_path, monkeypatch):
    _write(tmp_path, ONE, "moved:\n  - {from: c, to: c}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "-f", "websets.yaml"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "websets.yaml:7:12: moved[0].from: 'c' is still in imports; a moved key must leave imports",
        "websets.yaml:7:19: moved[0].to: 'c' -> 'c' is a cycle; a chain of moves must end at a key of imports",
    ]
    assert result.stderr == "websets.yaml: 2 problem(s)\n"


def test_validate_counts_only_managed_content_and_describes_every_import(tmp_path, monkeypatch):
    _write(
        tmp_path,
        "  c: {csv: a.csv}\n  legacy: {title: Legacy list}\n",
        "adopt:\n  - {key: legacy, id: imp_1}\nmoved:\n  - {from: a, to: c}\nremoved:\n  - {key: old}\n",
    )
    monkeypatch.chdir(tmp_path)
    text = CliRunner().invoke(cli, ["validate", "-f", "websets.yaml"])
    assert (text.exit_code, text.stdout) == (
        0,
        "websets.yaml: valid: 2 imports (1 with content unmanaged), 2 records, 49 bytes, 1 to adopt, 1 moved, "
        "1 removed\n",
    )
    result = CliRunner().invoke(cli, ["validate", "-f", "websets.yaml", "--format", "json"])
    document = json.loads(result.stdout)
    assert result.exit_code == 0 and document["valid"] is True
    assert document["imports"]["legacy"] == {
        "title": "Legacy list",
        "entity": {"type": "company"},
        "protected": False,
        "metadata": {},
        "content": "unmanaged",
        "csv": None,
    }
    assert document["imports"]["c"]["content"] == "managed" and document["imports"]["c"]["csv"]["records"] == 2
    assert (document["adopt"], document["moved"], document["removed"]) == ({"legacy": "imp_1"}, {"a": "c"}, ["old"])


def test_the_schema_documents_every_field_of_the_blocks_and_its_copies_are_equal():
    shipped = (ROOT / "schemas" / "manifest.schema.json").read_bytes()
    assert shipped == (ROOT / "reconciler" / "schemas" / "manifest.schema.json").read_bytes()
    properties = json.loads(shipped)["properties"]
    for block in ("adopt", "moved", "removed"):
        assert properties[block]["description"] and properties[block]["items"]["description"]
        assert all(field["description"] for field in properties[block]["items"]["properties"].values())
    assert "unmanaged" in json.loads(shipped)["$defs"]["csv"]["description"]
