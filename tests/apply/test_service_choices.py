"""Where the published API leaves the service's behaviour open, the tool converges (or says plainly why
not) under every answer the emulator can give: a PATCH's metadata replaced or merged; a pending import
past its upload window kept pending, failed, canceled or deleted; a declared count corrected, kept or
rejected. Each scenario runs the real tool against the real emulator."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from exa_py import Exa
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.cli import cli
from reconciler.emulator import FaultConfig, Rate
from reconciler.emulator.choices import DECLARED_COUNTS, EXPIRED_UPLOADS, METADATA_UPDATES
from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.processing import process_csv
from reconciler.lockfile import parse_lock
from reconciler.manifest.csvinspect import inspect_csv
from reconciler.model import STAMP_KEY, user_metadata
from tests.apply.helpers import apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY, FakeClock


def _cli(emulator, monkeypatch, *args: str):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    return CliRunner().invoke(cli, list(args))


def _manifest(root, title: str, metadata: str):
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "a.csv").write_text(rows(2, "a"))
    manifest = root / "websets.yaml"
    manifest.write_text(
        "version: 1\nowner: growth\ndefaults: {entity: {type: company}}\nimports:\n"
        f"  a: {{title: {title}, csv: data/a.csv, metadata: {metadata}}}\n"
    )
    return manifest


def _remote_metadata(emulator) -> dict[str, str]:
    [item] = emulator.store.list(200, None)["data"]
    return user_metadata(item["metadata"])


# -- a PATCH's metadata: replaced or merged --------------------------------------------------------


@pytest.mark.parametrize("choice", METADATA_UPDATES)
def test_a_title_change_converges_whether_metadata_is_replaced_or_merged(make_emulator, tmp_path, monkeypatch, choice):
    emulator = make_emulator(metadata_update=choice)
    manifest = _manifest(tmp_path, "First", "{source: crm}")
    assert _cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    _manifest(tmp_path, "Second", "{source: crm, tier: gold}")
    result = _cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve")
    assert result.exit_code == 0, result.output
    assert _cli(emulator, monkeypatch, "plan", "-f", str(manifest), "--detailed-exitcode").exit_code == 0
    assert _remote_metadata(emulator) == {"source": "crm", "tier": "gold"}
    assert_converged(emulator, manifest, {"a": rows(2, "a")})


@pytest.mark.parametrize("choice", ["replace", "merge-unset"])
def test_a_key_removed_from_the_manifest_is_removed_where_the_service_allows(
    make_emulator, tmp_path, monkeypatch, choice
):
    emulator = make_emulator(metadata_update=choice)
    manifest = _manifest(tmp_path, "First", "{source: crm, tier: gold}")
    assert _cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    _manifest(tmp_path, "First", "{source: crm}")
    result = _cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve")
    assert result.exit_code == 0, result.output
    assert _remote_metadata(emulator) == {"source": "crm"}
    assert _cli(emulator, monkeypatch, "plan", "-f", str(manifest), "--detailed-exitcode").exit_code == 0
    assert_converged(emulator, manifest, {"a": rows(2, "a")})


def _failure_line(result, key: str = "a") -> str:
    """The failure, as apply lists it: one line."""
    said = [line for line in result.output.splitlines() if line.startswith(f"  - {key}: update: ")]
    assert len(said) == 1 and result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return said[0]


def test_a_key_removed_under_a_merge_that_keeps_empty_values_fails_in_one_line_that_says_how_to_converge(
    make_emulator, tmp_path, monkeypatch
):
    emulator = make_emulator(metadata_update="merge")
    manifest = _manifest(tmp_path, "First", "{source: crm, tier: gold}")
    assert _cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve").exit_code == 0

    _manifest(tmp_path, "First", "{source: crm}")
    said = _failure_line(_cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve"))
    assert "the service merges metadata into what it holds and keeps a key sent empty" in said
    assert "the key 'tier' cannot be removed from import_" in said
    assert said.endswith('in place (it is now ""); to converge, set it to "" in the manifest')
    assert _remote_metadata(emulator) == {"source": "crm", "tier": ""}
    assert _cli(emulator, monkeypatch, "plan", "-f", str(manifest), "--detailed-exitcode").exit_code == 2

    # Following the advice converges.
    _manifest(tmp_path, "First", '{source: crm, tier: ""}')
    result = _cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve")
    assert result.exit_code == 0, result.output
    assert _remote_metadata(emulator) == {"source": "crm", "tier": ""}
    assert _cli(emulator, monkeypatch, "plan", "-f", str(manifest), "--detailed-exitcode").exit_code == 0
    assert_converged(emulator, manifest, {"a": rows(2, "a")})


def test_an_empty_value_under_a_merge_that_unsets_empty_values_fails_in_one_line_that_says_how_to_converge(
    make_emulator, tmp_path, monkeypatch
):
    emulator = make_emulator(metadata_update="merge-unset")
    manifest = _manifest(tmp_path, "First", "{source: crm}")
    assert _cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve").exit_code == 0

    _manifest(tmp_path, "First", '{source: crm, tier: ""}')
    said = _failure_line(_cli(emulator, monkeypatch, "apply", "-f", str(manifest), "--auto-approve"))
    assert said.endswith(
        "the service removes a metadata key sent with an empty value, so the key 'tier' cannot hold \"\"; "
        "remove it from the manifest"
    )
    _manifest(tmp_path, "First", "{source: crm}")
    assert _cli(emulator, monkeypatch, "plan", "-f", str(manifest), "--detailed-exitcode").exit_code == 0
    assert_converged(emulator, manifest, {"a": rows(2, "a")})


# -- a pending import past its upload window --------------------------------------------------------


@pytest.mark.parametrize("lockfile", ["kept", "lost"])
@pytest.mark.parametrize("choice", EXPIRED_UPLOADS)
def test_an_import_whose_upload_never_happened_is_replaced_under_every_expiry(
    make_emulator, tmp_path, choice, lockfile
):
    """Uploads and deletes fail, so b's imports are left without their CSV; two hours later (the lockfile
    kept, with its journal, or lost, so that only the stamps tell) the next apply converges."""
    clock = FakeClock(time.time() - 7200)
    emulator = make_emulator(clock=clock, expired_upload=choice)
    files = {"a": rows(2, "a")}
    manifest = write_files(tmp_path, files)
    apply_once(emulator, manifest)
    files["b"] = rows(3, "b")
    write_files(tmp_path, files)
    emulator.faults = FaultInjector(FaultConfig(errors=Rate(1.0, frozenset({"PUT", "DELETE"}))))
    _, result = apply_once(emulator, manifest)
    assert [f.key for f in result.failures] == ["b"]
    stranded = [i for i in emulator.store.list(200, None)["data"] if i["metadata"][STAMP_KEY] == "b"]
    assert stranded and {i["status"] for i in stranded} == {"pending"}

    emulator.faults = FaultInjector(FaultConfig())
    clock.advance(7200)
    statuses = {i["status"] for i in emulator.store.list(200, None)["data"] if i["metadata"][STAMP_KEY] == "b"}
    assert statuses == (set() if choice == "deleted" else {choice})
    if lockfile == "lost":
        (tmp_path / "websets.lock").unlink()
    _, result = apply_once(emulator, manifest)
    assert not result.failures, result.failures
    assert_converged(emulator, manifest, files)
    _, again = apply_once(emulator, manifest)
    assert not any(again.done.values()), again.done


# -- a declared count that differs from the file ----------------------------------------------------

# A quoted newline (one record, two lines) and blank lines (no record): exa-js counts 4, exa-py 3.
TRICKY = 'url,notes\nhttps://a.example,"two\nlines"\n\nhttps://b.example,x\n'


@pytest.mark.parametrize("choice", DECLARED_COUNTS)
def test_the_tool_declares_the_count_the_service_parses_so_every_choice_converges(make_emulator, tmp_path, choice):
    emulator = make_emulator(declared_count=choice)
    files = {"a": TRICKY, "b": rows(3, "b")}
    manifest = write_files(tmp_path, files)
    _, result = apply_once(emulator, manifest)
    assert not result.failures, result.failures
    assert_converged(emulator, manifest, files)
    counts = {i["metadata"][STAMP_KEY]: i["count"] for i in emulator.store.list(200, None)["data"]}
    assert counts == {"a": 2, "b": 3}
    lock = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock")
    assert {k: e.records for k, e in lock.imports.items()} == counts


@pytest.mark.parametrize(
    ("choice", "status", "count"), [("correct", "completed", 2), ("keep", "completed", 3), ("reject", "failed", 2)]
)
def test_exa_py_counts_a_blank_line_as_a_record(make_emulator, choice, status, count):
    """What the SDKs' disagreement means in practice: exa-py declares 3 for TRICKY's 2 records."""
    emulator = make_emulator(declared_count=choice)
    imports = Exa(API_KEY, base_url=emulator.base_url).websets.imports
    params = {"format": "csv", "entity": {"type": "company"}, "csv": {"identifier": 0}}
    created = imports.create(params, csv_data=TRICKY)
    done = imports.wait_until_completed(created.id, poll_interval=0, timeout=5)
    assert (done.status, done.count) == (status, count)
    if choice == "reject":
        assert done.failed_message == "the import declared count 3 but the file has 2 records"


_cells = st.text(alphabet=st.sampled_from('ab,"\n\r '), max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_cells, min_size=2, max_size=2), min_size=1, max_size=6), st.booleans())
def test_the_tool_and_the_emulator_count_the_same_records(tmp_path_factory, records, blank_lines):
    """Any file both accept has one record count: Python csv's, blank lines skipped."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # so that a field holding \r or \n is quoted
    writer.writerow(["url", "notes"])
    for record in records:
        writer.writerow([f"https://{len(record[0])}.example", record[1]])
        if blank_lines:
            out.write("\n")
    path = tmp_path_factory.mktemp("csv") / "a.csv"
    path.write_bytes(out.getvalue().encode())
    facts = inspect_csv(path)
    outcome = process_csv(out.getvalue().encode(), 0)
    assert outcome.status == "completed"
    assert facts.records == outcome.count == len(records)
