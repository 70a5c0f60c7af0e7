"""Loading the valid example, the validate output formats, and the CSV inspector's semantics."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.cli import cli
from reconciler.errors import ManifestInvalid
from reconciler.manifest import csvinspect, load
from reconciler.manifest.csvinspect import inspect_csv
from reconciler.manifest.load import load_manifest
from reconciler.manifest.yamlload import YamlError, load_yaml
from tests.conftest import ROOT, load_schema

EXAMPLE = ROOT / "examples" / "websets.yaml"


def test_example_loads_with_facts():
    manifest = load_manifest(EXAMPLE)
    assert manifest.owner == "growth-team"
    assert sorted(manifest.imports) == [
        "champions",
        "customers",
        "ml-papers",
        "oss-repos",
        "press-coverage",
        "prospects-emea",
    ]
    assert {i.entity.type for i in manifest.imports.values()} == {
        "company",
        "person",
        "article",
        "research_paper",
        "custom",
    }
    customers = manifest.imports["customers"]
    data = (ROOT / "examples/data/customers.csv").read_bytes()
    assert customers.csv.sha256 == hashlib.sha256(data).hexdigest()
    assert customers.csv.size == len(data)
    assert customers.csv.records == 6  # "Tailspin Toys, Inc." is quoted: one record
    assert (customers.csv.identifier, customers.csv.identifier_name) == (1, "website")
    assert customers.protected is True
    assert customers.metadata == {"contact": "growth-ops@example.com", "source": "crm", "team": "growth"}
    assert manifest.imports["ml-papers"].csv.identifier_name == "url"  # given as index 2
    assert manifest.imports["prospects-emea"].csv.identifier_name == "domain"  # inferred
    assert manifest.safety.prune is True and manifest.safety.min_managed_for_percent == 4


def test_title_defaults_to_key_and_protected_to_defaults(tmp_path):
    (tmp_path / "a.csv").write_text("url\nhttps://a.example\n")
    (tmp_path / "websets.yaml").write_text(
        "version: 1\nowner: o\ndefaults: {entity: {type: person}, protected: true}\n"
        "imports:\n  people: {csv: a.csv}\n  other: {csv: a.csv, protected: false, title: Other}\n"
    )
    manifest = load_manifest(tmp_path / "websets.yaml")
    assert manifest.imports["people"].title == "people" and manifest.imports["people"].protected is True
    assert manifest.imports["other"].protected is False


def test_each_csv_is_read_once(tmp_path, monkeypatch):
    (tmp_path / "a.csv").write_text("url,website\nhttps://a.example,https://b.example\n")
    (tmp_path / "websets.yaml").write_text(
        "version: 1\nowner: o\ndefaults: {entity: {type: company}}\nimports:\n"
        "  one: {csv: {path: a.csv, identifier: url}}\n"
        "  two: {csv: {path: ./a.csv, identifier: website}}\n"
        "  three: {csv: {path: a.csv, identifier: 0}}\n"
    )
    calls = []
    real = csvinspect.inspect_csv
    monkeypatch.setattr(load, "inspect_csv", lambda path, specs: calls.append(path) or real(path, specs))
    manifest = load_manifest(tmp_path / "websets.yaml")
    assert len(calls) == 1
    assert [manifest.imports[k].csv.identifier for k in ("one", "two", "three")] == [0, 1, 0]


def test_all_errors_reported_together_in_order(tmp_path):
    (tmp_path / "websets.yaml").write_text(
        "version: 1\nowner: o\nimports:\n"
        "  b: {csv: missing.csv, entity: {type: company}}\n"
        "  a: {csv: /abs.csv, entity: {type: person}, colour: red}\n"
    )
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(tmp_path / "websets.yaml")
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 1)[0].rsplit(":", 2)[-2] for line in lines] == ["4", "5"]
    assert "missing.csv' does not exist" in lines[0]
    assert "colour: unknown field" in lines[1]


def test_validate_json_and_github(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("websets.yaml").write_text("version: 1\nowner: o\nimports:\n  a: {csv: 'x,y.csv', entity: {type: company}}\n")
    result = CliRunner().invoke(cli, ["validate", "--format", "json"])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert body["errors"] == [
        {
            "file": "websets.yaml",
            "line": 4,
            "column": 12,
            "path": "imports.a.csv",
            "message": "'x,y.csv' does not exist",
        }
    ]
    github = CliRunner().invoke(cli, ["validate", "--format", "github"])
    assert github.stdout.splitlines() == [
        "::error file=websets.yaml,line=4,col=12::imports.a.csv: 'x,y.csv' does not exist"
    ]
    Path("x,y.csv").write_text("url\nhttps://a.example\n")
    ok = CliRunner().invoke(cli, ["validate", "--format", "json"])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["imports"]["a"]["csv"]["records"] == 1


def test_validate_text_success(monkeypatch):
    monkeypatch.chdir(ROOT / "examples")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0
    assert result.stdout.startswith("websets.yaml: valid: 6 imports, 22 records")


def test_invalid_manifest_in_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "websets.yaml").write_text("version: 1\nowner: o\nimports: {a: {csv: nope.csv}}\n")
    for command in (["validate"], ["validate", "--format", "github"]):
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", *command, "-f", str(tmp_path / "websets.yaml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stdout + result.stderr


def test_missing_manifest(tmp_path):
    result = CliRunner().invoke(cli, ["validate", "-f", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert result.stdout.strip() == f"{tmp_path / 'nope.yaml'}: no such file"


@pytest.mark.parametrize("name", ["manifest", "lockfile", "plan", "saved-plan"])
def test_published_schemas_are_the_packaged_ones(name):
    packaged = json.loads((ROOT / f"reconciler/schemas/{name}.schema.json").read_text())
    assert packaged == load_schema(f"{name}.schema.json")
    jsonschema.Draft202012Validator.check_schema(packaged)


def test_schema_copies_match_and_example_validates():
    packaged = json.loads((ROOT / "reconciler/schemas/manifest.schema.json").read_text())
    assert packaged == load_schema("manifest.schema.json")
    document = yaml.safe_load(EXAMPLE.read_text())
    jsonschema.Draft202012Validator(packaged).validate(document)
    assert EXAMPLE.read_text().startswith("# yaml-language-server: $schema=../schemas/manifest.schema.json")


@pytest.mark.parametrize(
    ("content", "records"),
    [
        (b'url,n\nhttps://a,"x\ny"\nhttps://b,z\n', 2),
        (b"\xef\xbb\xbfurl\r\nhttps://a\r\n", 1),
        (b"\n\nurl\n\nhttps://a\n\n", 1),
    ],
)
def test_inspect_counts_records_like_csv_module(tmp_path, content, records):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    facts = inspect_csv(path)
    assert facts.records == records and facts.problems == ()
    assert facts.sha256 == hashlib.sha256(content).hexdigest() and facts.size == len(content)


def test_inspect_reports_first_problems_then_counts(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("url\n" + "".join("\n" if i % 2 else '""\n' for i in range(20)))
    resolution = inspect_csv(path).identifiers[None]
    messages = [(p.line, p.message) for p in resolution.problems]
    assert len(messages) == 6
    assert messages[0] == (2, "record has no value in identifier column 'url'")
    assert messages[-1][1] == "... and 5 more records without an identifier"


def test_inspect_hashes_whole_file_even_after_an_error(tmp_path):
    content = b"url\n" + b"https://a.example\n" * 100_000 + b'"unterminated\n'
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    facts = inspect_csv(path)
    assert facts.sha256 == hashlib.sha256(content).hexdigest()
    assert facts.problems[0].line == 100_002


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"ab:- \n{}[],&*!|>'\"#%@`?\t1.", "<<", "imports", "csv", "&a ", "*a"])).map("".join))
def test_arbitrary_yaml_never_crashes_the_loader(text):
    try:
        load_yaml(text)
    except YamlError as exc:
        assert exc.position.line >= 1 and str(exc) and "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_manifest_is_valid_or_a_clean_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("m") / "websets.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_manifest(path)
    except ManifestInvalid as exc:
        assert exc.diagnostics and all(d.message and "\n" not in d.message for d in exc.diagnostics)


@pytest.mark.parametrize("written", ["2", "2.0"])
def test_an_identifier_index_written_as_a_whole_float_names_that_column(tmp_path, written):
    (tmp_path / "data.csv").write_text("name,website,notes\nAcme,https://acme.example,https://notes.example/1\n")
    (tmp_path / "websets.yaml").write_text(
        "version: 1\nowner: growth\nimports:\n"
        f"  c:\n    csv: {{path: data.csv, identifier: {written}}}\n    entity: {{type: company}}\n"
    )
    assert load_manifest(tmp_path / "websets.yaml").imports["c"].csv.identifier == 2
