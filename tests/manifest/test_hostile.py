"""Hostile or broken manifests and CSVs: one line per problem naming the file, line and field, exit 1, no
traceback; every problem of the file at once; files that are not regular refused before they are read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.errors import Diagnostic
from reconciler.manifest.yamlload import YamlError, load_yaml

URLS = "url,name\nhttps://a.example,A\nhttps://b.example,B\n"
HEAD = "version: 1\nowner: growth\n"
ONE = "  customers:\n    csv: data.csv\n    entity: {type: company}\n"
TOO_DEEP = "lists and mappings are nested more than 64 levels deep here"
# A child process whose memory is bounded, so that a reader that never stops fails instead of swapping.
BOUNDED_CLI = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    "from reconciler.cli import main; sys.argv[0] = 'websets-reconciler'; main()"
)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "data.csv").write_text(URLS)
    monkeypatch.chdir(root)
    return root


def validate() -> list[str]:
    """`validate` in the current folder: the lines it printed, once it is known to have failed cleanly."""
    result = CliRunner().invoke(cli, ["validate", "-f", "websets.yaml"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.stdout.splitlines()


def validate_in_a_process(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BOUNDED_CLI, "validate", "-f", "websets.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + "imports: {}\nx: " + "[" * 30_000 + "]" * 30_000 + "\n", f"websets.yaml:4:67: {TOO_DEEP}"),
        ("- " * 30_000 + "x\n", f"websets.yaml:1:129: {TOO_DEEP}"),
        (
            HEAD + "imports:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 100)),
            f"websets.yaml:67:129: {TOO_DEEP}",
        ),
    ],
    ids=["flow", "block-sequences", "block-mappings"],
)
def test_deep_nesting_is_refused_where_it_passes_the_limit(repo, text, expected):
    (repo / "websets.yaml").write_text(text)
    assert validate() == [expected]


def test_nesting_is_read_up_to_the_limit_and_refused_past_it():
    value, _ = load_yaml("a: " + "[" * 63 + "]" * 63)  # the mapping and 63 lists: 64 levels
    lists, item = 0, value["a"]
    while isinstance(item, list):
        lists, item = lists + 1, item[0] if item else None
    assert lists == 63
    with pytest.raises(YamlError) as caught:
        load_yaml("a: " + "[" * 64 + "]" * 64)
    assert (caught.value.position.line, caught.value.position.column, str(caught.value)) == (1, 67, TOO_DEEP)


def test_an_alias_cannot_carry_nesting_past_the_limit():
    text = "a: &deep " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*deep" + "]" * 30 + "\n"
    with pytest.raises(YamlError) as caught:
        load_yaml(text)
    assert (caught.value.position.line, caught.value.position.column, str(caught.value)) == (2, 34, TOO_DEEP)


def test_a_manifest_over_the_size_limit_is_refused_unread(repo):
    with open(repo / "websets.yaml", "wb") as f:
        f.truncate(16_000_001)
    assert validate() == ["websets.yaml: the file is 16,000,001 bytes; the limit is 16,000,000"]


def test_a_key_or_owner_ending_in_a_newline_is_refused(repo):
    (repo / "websets.yaml").write_text(
        'version: 1\nowner: "growth\\n"\nimports:\n  "customers\\n":\n    csv: data.csv\n    entity: {type: company}\n'
    )
    rule = "use 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9"
    assert validate() == [
        f"websets.yaml:2:8: owner: 'growth\\n' is not valid: {rule}",
        f"websets.yaml:4:3: imports.customers\\n: invalid key 'customers\\n': {rule}",
    ]


@pytest.mark.parametrize(
    ("value", "column"), [(".nan", 30), (".NaN", 30), (".inf", 30), ("-.inf", 30), ("1.0e+400", 30)]
)
def test_numbers_that_are_not_finite_are_refused(repo, value, column):
    (repo / "websets.yaml").write_text(HEAD + "imports:\n" + ONE + f"safety: {{max_delete_percent: {value}}}\n")
    assert validate() == [
        f"websets.yaml:7:{column}: safety.max_delete_percent: {value!r} is not a finite number; write a number"
    ]


def test_a_number_that_is_not_finite_is_refused_anywhere(repo):
    (repo / "websets.yaml").write_text(HEAD + "imports:\n" + ONE + "    metadata: {score: .inf}\n")
    assert validate() == [
        "websets.yaml:7:23: imports.customers.metadata.score: '.inf' is not a finite number; write a number"
    ]


def test_lone_surrogates_are_refused_where_they_are_written(repo):
    (repo / "websets.yaml").write_text(
        HEAD
        + "imports:\n"
        + ONE
        + '    title: "ACME \\ud800"\n  "\\udc00x": {csv: data.csv, entity: {type: company}}\n'
    )
    assert validate() == [
        "websets.yaml:7:12: imports.customers.title: the string holds the lone surrogate \\ud800, which is not valid "
        "Unicode",
        "websets.yaml:8:3: imports.\\udc00x: the string holds the lone surrogate \\udc00, which is not valid Unicode",
    ]


def test_a_manifest_that_is_a_symlink_loop_is_one_line(repo):
    os.symlink("other.yaml", repo / "websets.yaml")
    os.symlink("websets.yaml", repo / "other.yaml")
    assert validate() == ["websets.yaml: cannot read the manifest: a loop of symbolic links"]


def test_a_csv_that_is_a_symlink_loop_is_one_line(repo):
    (repo / "data.csv").unlink()
    os.symlink("data.csv", repo / "data.csv")
    (repo / "websets.yaml").write_text(HEAD + "imports:\n" + ONE)
    assert validate() == ["websets.yaml:5:10: imports.customers.csv: 'data.csv' is a loop of symbolic links"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_a_manifest_that_is_not_a_regular_file_is_refused_at_once(repo, kind):
    target = repo / "websets.yaml"
    expected = {
        "fifo": "websets.yaml: not a regular file (a FIFO)",
        "dev-zero": "websets.yaml: not a regular file (a character device)",
        "directory": "websets.yaml: not a regular file (a directory)",
    }[kind]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        os.symlink("/dev/zero", target)
    else:
        target.mkdir()
    result = validate_in_a_process(repo)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [expected]
    assert result.stderr == "websets.yaml: 1 problem(s)\n"


def test_a_csv_that_is_a_fifo_is_refused(repo):
    (repo / "data.csv").unlink()
    os.mkfifo(repo / "data.csv")
    (repo / "websets.yaml").write_text(HEAD + "imports:\n" + ONE)
    assert validate() == ["websets.yaml:5:10: imports.customers.csv: 'data.csv' is not a regular file (a FIFO)"]


def test_csv_inspection_refuses_a_fifo_without_waiting_for_a_writer(tmp_path):
    """The manifest's check of the path and the inspection's open are two moments; the open checks again."""
    os.mkfifo(tmp_path / "data.csv")
    code = (
        "from reconciler.manifest.csvinspect import inspect_csv; import sys; print(inspect_csv(sys.argv[1]).problems)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "data.csv")], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "(CsvProblem(line=0, message='not a regular file (a FIFO)'),)", result.stderr


def test_symbolic_links_inside_the_folder_keep_working(repo):
    (repo / "manifests").mkdir()
    (repo / "csv").mkdir()
    (repo / "csv" / "real.csv").write_text(URLS)
    (repo / "data.csv").unlink()
    os.symlink("csv/real.csv", repo / "data.csv")
    (repo / "manifests" / "main.yaml").write_text(HEAD + "imports:\n" + ONE)
    os.symlink("manifests/main.yaml", repo / "websets.yaml")
    result = CliRunner().invoke(cli, ["validate", "-f", "websets.yaml"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "websets.yaml: valid: 1 imports, 2 records, 49 bytes\n"


def test_a_duplicate_key_does_not_hide_the_other_problems(repo):
    (repo / "websets.yaml").write_text(
        "version: 1\nowner: Growth\nimports:\n"
        + ONE
        + "    colour: red\n"
        + ONE
        + "  other:\n    csv: missing.csv\n    entity: {type: company}\n"
    )
    assert validate() == [
        "websets.yaml:2:8: owner: 'Growth' is not valid: use 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9",
        "websets.yaml:7:5: imports.customers.colour: unknown field (expected one of: csv, entity, metadata, protected, title)",
        "websets.yaml:8:3: imports.customers: duplicate key 'customers' (first defined at line 4)",
        "websets.yaml:12:10: imports.other.csv: 'missing.csv' does not exist",
    ]


def test_the_first_value_of_a_duplicate_key_is_kept_and_the_rest_read():
    from reconciler.manifest.yamlload import read_yaml

    loaded = read_yaml("a:\n  title: First\n  title: [second]\nb: {c: 1, c: 2, d: 3}\n")
    assert loaded.value == {"a": {"title": "First"}, "b": {"c": 1, "d": 3}}
    assert [(p.position.line, p.position.column, p.path, str(p)) for p in loaded.problems] == [
        (3, 3, ("a", "title"), "duplicate key 'title' (first defined at line 2)"),
        (4, 11, ("b", "c"), "duplicate key 'c' (first defined at line 4)"),
    ]
    assert loaded.positions.of_value(("a", "title")).line == 2


@pytest.mark.parametrize(("written", "meant"), [("persn", "person"), ("research-paper", "research_paper")])
def test_an_unknown_entity_type_suggests_the_closest(repo, written, meant):
    (repo / "websets.yaml").write_text(HEAD + f"imports:\n  c:\n    csv: data.csv\n    entity: {{type: {written}}}\n")
    assert validate() == [
        f"websets.yaml:6:20: imports.c.entity.type: {written!r} is not one of company, person, article, "
        f"research_paper, custom; did you mean {meant!r}?"
    ]


@pytest.mark.parametrize(("separator", "kind"), [(";", "semicolon"), ("\t", "tab")])
def test_a_csv_split_by_another_delimiter_says_so(repo, separator, kind):
    (repo / "data.csv").write_text(f"url{separator}name\nhttps://a.example{separator}A\n")
    (repo / "websets.yaml").write_text(HEAD + "imports:\n" + ONE)
    header = repr(f"url{separator}name")
    assert validate() == [
        f"data.csv:1: imports.customers.csv: the file looks {kind}-delimited (its header is one column, {header}); "
        "CSV files must be comma-separated"
    ]


def test_a_missing_manifest_says_no_such_file(repo):
    assert validate() == ["websets.yaml: no such file"]
    github = CliRunner().invoke(cli, ["validate", "-f", "websets.yaml", "--format", "github"])
    assert github.stdout == "::error file=websets.yaml::no such file\n"


def test_a_diagnostic_of_the_whole_file_has_no_line():
    assert str(Diagnostic("websets.yaml", 0, 0, "", "no such file")) == "websets.yaml: no such file"
    assert str(Diagnostic("data.csv", 3, 0, "imports.a.csv", "m")) == "data.csv:3: imports.a.csv: m"
    assert str(Diagnostic("websets.yaml", 3, 7, "", "m")) == "websets.yaml:3:7: m"


def test_keys_and_csv_headers_holding_newlines_stay_on_one_line(repo):
    (repo / "data.csv").write_text('"url\nx",name\nhttps://a.example,A\n')
    (repo / "websets.yaml").write_text(
        HEAD + "imports:\n  a:\n    csv: {path: data.csv, identifier: nope}\n    entity: {type: company}\n"
        '  b: {csv: data.csv, entity: {type: company}, metadata: {"x\\ty": 1}}\n'
    )
    assert validate() == [
        "data.csv:2: imports.a.csv: identifier column 'nope' is not in the header (url\\nx, name)",
        'websets.yaml:7:66: imports.b.metadata.x\\ty: must be a string, not the number 1 (quote it to make it a string: "1")',
    ]
