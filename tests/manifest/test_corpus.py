"""The corpus of invalid manifests and CSVs: each gives exact file:line:col messages, exit 1, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli

URLS = "url,name\nhttps://a.example,A\nhttps://b.example,B\n"


def manifest(imports: str, head: str = "version: 1\nowner: growth\n") -> str:
    return head + "imports:\n" + imports


ONE = "  customers:\n    csv: data.csv\n    entity: {type: company}\n"

# name -> (files, expected lines). Files map a relative path to text or bytes; "websets.yaml" is validated.
CASES: dict[str, tuple[dict[str, str | bytes], list[str]]] = {
    "syntax-unclosed-flow": (
        {"websets.yaml": manifest("  customers: {csv: data.csv\n"), "data.csv": URLS},
        ["websets.yaml:5:1: YAML syntax error: expected ',' or '}', but got '<stream end>'"],
    ),
    "syntax-tab-indent": (
        {"websets.yaml": "version: 1\nowner: growth\nimports:\n\tcustomers: {}\n", "data.csv": URLS},
        ["websets.yaml:4:1: YAML syntax error: found character '\\t' that cannot start any token"],
    ),
    "duplicate-import-key": (
        {"websets.yaml": manifest(ONE + ONE), "data.csv": URLS},
        ["websets.yaml:7:3: imports.customers: duplicate key 'customers' (first defined at line 4)"],
    ),
    "duplicate-field": (
        {"websets.yaml": manifest("  customers:\n    csv: data.csv\n    csv: other.csv\n"), "data.csv": URLS},
        ["websets.yaml:6:5: imports.customers.csv: duplicate key 'csv' (first defined at line 5)"],
    ),
    "not-a-mapping": (
        {"websets.yaml": "- version: 1\n"},
        ["websets.yaml:1:1: the manifest must be a mapping with version, owner and imports"],
    ),
    "empty-file": (
        {"websets.yaml": "# nothing yet\n"},
        ["websets.yaml:1:1: the manifest must be a mapping with version, owner and imports"],
    ),
    "wrong-version": (
        {"websets.yaml": manifest(ONE, head="version: 2\nowner: growth\n"), "data.csv": URLS},
        ["websets.yaml:1:10: version: must be 1, not the number 2"],
    ),
    "missing-owner": (
        {"websets.yaml": manifest(ONE, head="version: 1\n"), "data.csv": URLS},
        ["websets.yaml:1:1: missing required field 'owner'"],
    ),
    "bad-owner": (
        {"websets.yaml": manifest(ONE, head="version: 1\nowner: Growth Team\n"), "data.csv": URLS},
        [
            "websets.yaml:2:8: owner: 'Growth Team' is not valid: use 1 to 64 of a-z, 0-9, '_', '.', '-', "
            "starting with a-z or 0-9"
        ],
    ),
    "unknown-top-level-field": (
        {"websets.yaml": manifest(ONE) + "defualts: {}\n", "data.csv": URLS},
        ["websets.yaml:7:1: defualts: unknown field; did you mean 'defaults'?"],
    ),
    "unknown-import-field": (
        {"websets.yaml": manifest(ONE + "    titel: Customers\n"), "data.csv": URLS},
        ["websets.yaml:7:5: imports.customers.titel: unknown field; did you mean 'title'?"],
    ),
    "title-wrong-type": (
        {"websets.yaml": manifest(ONE + "    title: [a, b]\n"), "data.csv": URLS},
        ["websets.yaml:7:12: imports.customers.title: must be a string, not a list"],
    ),
    "imports-null": (
        {"websets.yaml": "version: 1\nowner: growth\nimports:\n"},
        ["websets.yaml:3:9: imports: must be a mapping, not empty (null)"],
    ),
    "bad-entity": (
        {"websets.yaml": manifest("  customers:\n    csv: data.csv\n    entity: {type: compnay}\n"), "data.csv": URLS},
        [
            "websets.yaml:6:20: imports.customers.entity.type: 'compnay' is not one of company, person, article, "
            "research_paper, custom; did you mean 'company'?"
        ],
    ),
    "custom-without-description": (
        {"websets.yaml": manifest("  repos:\n    csv: data.csv\n    entity: {type: custom}\n"), "data.csv": URLS},
        [
            "websets.yaml:6:13: imports.repos.entity: missing required field 'description' (a custom entity needs "
            "a description of 2 to 200 characters)"
        ],
    ),
    "custom-description-too-short": (
        {
            "websets.yaml": manifest("  repos:\n    csv: data.csv\n    entity: {type: custom, description: x}\n"),
            "data.csv": URLS,
        },
        ["websets.yaml:6:41: imports.repos.entity.description: must be at least 2 characters long (1 given)"],
    ),
    "description-on-company": (
        {
            "websets.yaml": manifest("  c:\n    csv: data.csv\n    entity: {type: company, description: big ones}\n"),
            "data.csv": URLS,
        },
        ["websets.yaml:6:29: imports.c.entity.description: unknown field; only a custom entity takes a description"],
    ),
    "metadata-value-too-long": (
        {"websets.yaml": manifest(ONE + "    metadata: {note: " + "x" * 1001 + "}\n"), "data.csv": URLS},
        ["websets.yaml:7:22: imports.customers.metadata.note: must be at most 1000 characters long (1001 given)"],
    ),
    "metadata-value-number": (
        {"websets.yaml": manifest(ONE + "    metadata: {year: 2024}\n"), "data.csv": URLS},
        [
            "websets.yaml:7:22: imports.customers.metadata.year: must be a string, not the number 2024 (quote it "
            'to make it a string: "2024")'
        ],
    ),
    "reserved-metadata-key": (
        {"websets.yaml": manifest(ONE + "    metadata: {websets-reconciler/owner: me}\n"), "data.csv": URLS},
        [
            "websets.yaml:7:16: imports.customers.metadata.websets-reconciler/owner: metadata keys beginning with "
            "'websets-reconciler/' are reserved for the tool"
        ],
    ),
    "reserved-metadata-key-in-defaults-any-case": (
        {
            "websets.yaml": "version: 1\nowner: growth\ndefaults:\n  metadata: {Websets-Reconciler/Key: k}\n"
            + "imports:\n"
            + ONE,
            "data.csv": URLS,
        },
        [
            "websets.yaml:4:14: defaults.metadata.Websets-Reconciler/Key: metadata keys beginning with "
            "'Websets-Reconciler/' are reserved for the tool"
        ],
    ),
    "bad-import-key": (
        {
            "websets.yaml": manifest("  Customers 2024:\n    csv: data.csv\n    entity: {type: company}\n"),
            "data.csv": URLS,
        },
        [
            "websets.yaml:4:3: imports.Customers 2024: invalid key 'Customers 2024': use 1 to 64 of a-z, 0-9, '_', "
            "'.', '-', starting with a-z or 0-9"
        ],
    ),
    "non-string-key": (
        {"websets.yaml": manifest(ONE + "    metadata:\n      2024: budget\n"), "data.csv": URLS},
        ["websets.yaml:8:7: imports.customers.metadata.2024: keys must be strings; quote 2024"],
    ),
    "absolute-path": (
        {"websets.yaml": manifest("  c:\n    csv: /etc/passwd\n    entity: {type: company}\n")},
        ["websets.yaml:5:10: imports.c.csv: '/etc/passwd' is absolute; give a path relative to the manifest's folder"],
    ),
    "dotdot-path": (
        {"websets.yaml": manifest("  c:\n    csv: {path: ../secrets.csv}\n    entity: {type: company}\n")},
        [
            "websets.yaml:5:17: imports.c.csv.path: '../secrets.csv' leaves the manifest's folder; CSV files must be inside it"
        ],
    ),
    "symlink-out": (
        {"websets.yaml": manifest("  c:\n    csv: data.csv\n    entity: {type: company}\n"), "data.csv": "->OUTSIDE"},
        ["websets.yaml:5:10: imports.c.csv: 'data.csv' resolves outside the manifest's folder through a symbolic link"],
    ),
    "missing-file": (
        {"websets.yaml": manifest("  c:\n    csv: data/missing.csv\n    entity: {type: company}\n")},
        ["websets.yaml:5:10: imports.c.csv: 'data/missing.csv' does not exist"],
    ),
    "directory-not-file": (
        {"websets.yaml": manifest("  c:\n    csv: data\n    entity: {type: company}\n"), "data/x.csv": URLS},
        ["websets.yaml:5:10: imports.c.csv: 'data' is not a regular file (a directory)"],
    ),
    "missing-identifier-column": (
        {
            "websets.yaml": manifest(
                "  c:\n    csv: {path: data.csv, identifier: webiste}\n    entity: {type: company}\n"
            ),
            "data.csv": URLS,
        },
        ["data.csv:1: imports.c.csv: identifier column 'webiste' is not in the header (url, name)"],
    ),
    "identifier-index-out-of-range": (
        {
            "websets.yaml": manifest("  c:\n    csv: {path: data.csv, identifier: 5}\n    entity: {type: company}\n"),
            "data.csv": URLS,
        },
        ["data.csv:1: imports.c.csv: identifier column 5 does not exist: the header has 2 columns"],
    ),
    "identifier-negative": (
        {
            "websets.yaml": manifest("  c:\n    csv: {path: data.csv, identifier: -1}\n    entity: {type: company}\n"),
            "data.csv": URLS,
        },
        ["websets.yaml:5:39: imports.c.csv.identifier: must be at least 0, not -1"],
    ),
    "ambiguous-identifier": (
        {"websets.yaml": manifest(ONE), "data.csv": "url,website\nhttps://a.example,https://b.example\n"},
        [
            "data.csv:1: imports.customers.csv: several columns could be the identifier (url, website); set "
            "csv.identifier to one of them"
        ],
    ),
    "no-url-column": (
        {"websets.yaml": manifest(ONE), "data.csv": "name,city\nA,Paris\n"},
        [
            "data.csv:1: imports.customers.csv: no column of the header (name, city) names a URL; set csv.identifier "
            "to the column that holds each record's URL"
        ],
    ),
    "empty-identifier-cell": (
        {"websets.yaml": manifest(ONE), "data.csv": "url,name\nhttps://a.example,A\n  ,B\n"},
        ["data.csv:3: imports.customers.csv: record has no value in identifier column 'url'"],
    ),
    "non-utf8": (
        {"websets.yaml": manifest(ONE), "data.csv": b"url,name\nhttps://a.example,Caf\xe9\n"},
        ["data.csv:2: imports.customers.csv: the file is not valid UTF-8 (byte 30)"],
    ),
    "over-50-million-bytes": (
        {"websets.yaml": manifest(ONE), "data.csv": "SPARSE:50000001"},
        ["websets.yaml:5:10: imports.customers.csv: data.csv: the file is 50,000,001 bytes; the limit is 50,000,000"],
    ),
    "zero-records": (
        {"websets.yaml": manifest(ONE), "data.csv": "url,name\n\n"},
        ["data.csv:1: imports.customers.csv: the file has a header but no records"],
    ),
    "empty-csv": (
        {"websets.yaml": manifest(ONE), "data.csv": ""},
        [
            "websets.yaml:5:10: imports.customers.csv: data.csv: the file is empty: it needs a header and at least one "
            "record"
        ],
    ),
    "ragged-row": (
        {"websets.yaml": manifest(ONE), "data.csv": "url,name\nhttps://a.example,A,extra\n"},
        ["data.csv:2: imports.customers.csv: record has 3 fields; the header has 2"],
    ),
    "unterminated-quote": (
        {"websets.yaml": manifest(ONE), "data.csv": 'url,name\nhttps://a.example,"A\n'},
        ["data.csv:2: imports.customers.csv: the file is not valid CSV: unexpected end of data"],
    ),
    "no-entity": (
        {"websets.yaml": manifest("  c:\n    csv: data.csv\n"), "data.csv": URLS},
        ["websets.yaml:4:3: imports.c: no entity: give one here or in defaults.entity"],
    ),
    "safety-percent-over-100": (
        {"websets.yaml": manifest(ONE) + "safety: {max_delete_percent: 150}\n", "data.csv": URLS},
        ["websets.yaml:7:30: safety.max_delete_percent: must be at most 100, not 150"],
    ),
    "csv-object-without-path": (
        {"websets.yaml": manifest("  c:\n    csv: {identifier: url}\n    entity: {type: company}\n"), "data.csv": URLS},
        ["websets.yaml:5:10: imports.c.csv: missing required field 'path'"],
    ),
    "recursive-alias": (
        {"websets.yaml": "version: 1\nowner: growth\nimports: &x\n  a: *x\n"},
        ["websets.yaml:3:10: imports.a: a recursive alias refers to itself"],
    ),
    "two-documents": (
        {"websets.yaml": manifest(ONE) + "---\nversion: 1\n", "data.csv": URLS},
        ["websets.yaml:8:1: the file holds more than one YAML document"],
    ),
    "python-tag": (
        {"websets.yaml": manifest("  c: !!python/object:os.system {}\n")},
        ["websets.yaml:4:6: imports.c: unsupported YAML tag tag:yaml.org,2002:python/object:os.system"],
    ),
}


def _write(root: Path, files: dict[str, str | bytes], outside: Path) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if content == "->OUTSIDE":
            outside.write_text(URLS)
            os.symlink(outside, target)
        elif isinstance(content, str) and content.startswith("SPARSE:"):
            with open(target, "wb") as f:
                f.truncate(int(content.split(":")[1]))
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid(name, tmp_path, monkeypatch):
    files, expected = CASES[name]
    root = tmp_path / "repo"
    root.mkdir()
    _write(root, files, tmp_path / "outside.csv")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["validate", "-f", "websets.yaml"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout.splitlines() == expected
