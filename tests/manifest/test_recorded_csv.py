"""A CSV that the lockfile records byte for byte (its size and sha256) is hashed, not parsed again: its
records and columns come from the lockfile, its header alone is read to resolve the identifier. Anything
else is parsed in full, and `validate` parses every CSV whatever the lockfile says."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import cli
from reconciler.errors import ManifestInvalid
from reconciler.lockfile import Lock, LockEntry, write_lock
from reconciler.manifest import csvinspect
from reconciler.manifest.load import load_manifest
from reconciler.model import Entity
from tests.conftest import API_KEY
from tests.plan.helpers import seed

CSV = "url,website\nhttps://a.example,https://a.example\nhttps://b.example,https://b.example\n"
FORGED = 41  # a count no parse of CSV could give: seeing it proves the record was used


def entry(content: str, *, path: str = "data.csv", records: int = FORGED, identifier: int = 0) -> LockEntry:
    data = content.encode()
    sha256 = hashlib.sha256(data).hexdigest()
    return LockEntry("import_1", "a", Entity("company"), {}, False, path, sha256, len(data), records, 2, identifier)


def write_repo(root: Path, csv_spec: str = "data.csv", content: str = CSV) -> Path:
    (root / "data.csv").write_text(content)
    manifest = root / "websets.yaml"
    manifest.write_text(
        f"version: 1\nowner: growth\ndefaults: {{entity: {{type: company}}}}\nimports:\n  a: {{csv: {csv_spec}}}\n"
    )
    return manifest


def test_a_csv_recorded_byte_for_byte_is_hashed_not_parsed(tmp_path, monkeypatch):
    manifest = write_repo(tmp_path, "{path: data.csv, identifier: url}")
    asked = []

    def recorded(owner: str) -> dict[str, LockEntry]:
        asked.append(owner)
        return {"a": entry(CSV)}

    monkeypatch.setattr(csvinspect, "_HashingReader", None)  # the full pass cannot run
    csv = load_manifest(manifest, recorded=recorded).imports["a"].csv
    assert asked == ["growth"]
    assert (csv.records, csv.columns, csv.identifier, csv.identifier_name) == (FORGED, 2, 0, "url")
    assert (csv.sha256, csv.size) == (hashlib.sha256(CSV.encode()).hexdigest(), len(CSV))
    monkeypatch.undo()
    assert load_manifest(manifest).imports["a"].csv.records == 2  # without a record: parsed in full


def test_validate_parses_every_csv_whatever_the_lockfile_records(tmp_path):
    manifest = write_repo(tmp_path, "{path: data.csv, identifier: url}")
    write_lock(tmp_path / "websets.lock", Lock("growth", imports={"a": entry(CSV)}))
    result = CliRunner().invoke(cli, ["validate", "-f", str(manifest), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imports"]["a"]["csv"]["records"] == 2
    assert load_manifest(manifest, recorded=lambda owner: {}).imports["a"].csv.records == 2


def test_a_csv_that_changed_is_parsed_again(tmp_path):
    changed = CSV.replace("https://b.example,", "https://c.example,")  # the same size, other bytes
    manifest = write_repo(tmp_path, "{path: data.csv, identifier: url}", content=changed)
    assert len(changed) == len(CSV)
    csv = load_manifest(manifest, recorded=lambda owner: {"a": entry(CSV)}).imports["a"].csv
    assert csv.records == 2
    assert csv.sha256 == hashlib.sha256(changed.encode()).hexdigest()


def test_an_entry_for_another_path_or_key_is_not_used(tmp_path):
    manifest = write_repo(tmp_path, "{path: data.csv, identifier: url}")
    assert load_manifest(manifest, recorded=lambda owner: {"b": entry(CSV)}).imports["a"].csv.records == 2
    other = entry(CSV, path="./data.csv")
    assert load_manifest(manifest, recorded=lambda owner: {"a": other}).imports["a"].csv.records == 2


def test_an_identifier_that_now_names_another_column_is_parsed_again(tmp_path):
    manifest = write_repo(tmp_path, "{path: data.csv, identifier: website}")
    csv = load_manifest(manifest, recorded=lambda owner: {"a": entry(CSV, identifier=0)}).imports["a"].csv
    assert (csv.identifier, csv.identifier_name, csv.records) == (1, "website", 2)
    csv = load_manifest(manifest, recorded=lambda owner: {"a": entry(CSV, identifier=1)}).imports["a"].csv
    assert (csv.identifier, csv.identifier_name, csv.records) == (1, "website", FORGED)


def test_an_identifier_the_header_cannot_resolve_is_reported_as_ever(tmp_path):
    manifest = write_repo(tmp_path)  # no identifier: two columns name a URL
    with pytest.raises(ManifestInvalid) as raised:
        load_manifest(manifest, recorded=lambda owner: {"a": entry(CSV)})
    assert [d.message for d in raised.value.diagnostics] == [
        "several columns could be the identifier (url, website); set csv.identifier to one of them"
    ]


def test_a_header_not_ended_in_the_first_read_is_parsed_in_full(tmp_path, monkeypatch):
    manifest = write_repo(tmp_path, "{path: data.csv, identifier: url}")
    monkeypatch.setattr(csvinspect, "_READ_CHUNK", 8)
    assert load_manifest(manifest, recorded=lambda owner: {"a": entry(CSV)}).imports["a"].csv.records == 2
    monkeypatch.setattr(csvinspect, "_READ_CHUNK", 16)  # the header's line ends inside the first read
    assert load_manifest(manifest, recorded=lambda owner: {"a": entry(CSV)}).imports["a"].csv.records == FORGED


def test_a_folder_linked_outside_is_refused_though_the_file_is_recorded(tmp_path):
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "x.csv").write_text(CSV)
    os.symlink(outside, root / "data")
    write_repo(root)
    manifest = root / "websets.yaml"
    manifest.write_text(manifest.read_text().replace("csv: data.csv", "csv: {path: data/x.csv, identifier: url}"))
    with pytest.raises(ManifestInvalid) as raised:
        load_manifest(manifest, recorded=lambda owner: {"a": entry(CSV, path="data/x.csv")})
    assert [d.message for d in raised.value.diagnostics] == [
        "'data/x.csv' resolves outside the manifest's folder through a symbolic link"
    ]


def test_plan_reads_the_lockfile_before_the_csvs_yet_reports_the_manifests_errors_first(
    emulator, tmp_path, monkeypatch
):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    manifest = write_repo(tmp_path, "{path: data.csv, identifier: url}, title: T a")
    import_id = seed(emulator, "a", content=CSV)
    recorded = replace(entry(CSV), id=import_id, title="T a")
    write_lock(tmp_path / "websets.lock", Lock("growth", imports={"a": recorded}))
    result = CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--json"])
    assert result.exit_code == 0, result.output
    [change] = json.loads(result.stdout)["changes"]
    assert (change["action"], change["after"]["csv"]["records"]) == ("noop", FORGED)

    # A lockfile that cannot be read is named only once the manifest has no error of its own.
    (tmp_path / "websets.lock").write_text("{")
    manifest.write_text(manifest.read_text().replace("identifier: url", "identifier: nope"))
    result = CliRunner().invoke(cli, ["plan", "-f", str(manifest)])
    assert result.exit_code == 1
    assert "identifier column 'nope' is not in the header" in result.stderr
    assert "websets.lock" not in result.stderr
    manifest.write_text(manifest.read_text().replace("nope", "url"))
    result = CliRunner().invoke(cli, ["plan", "-f", str(manifest)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'websets.lock'}:1:2: the lockfile is corrupt")


FIELDS = st.one_of(
    st.sampled_from(["url", "website", "name", "https://a.example", "", " ", "é", '"q"', "a,b", "a\nb", "a\r\nb"]),
    st.text(max_size=6),
)
ROWS = st.lists(st.lists(FIELDS, min_size=1, max_size=4), min_size=1, max_size=6)


def _csv_text(rows: list[list[str]], newline: str, bom: bool, blank: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    for row in rows:
        writer.writerow(row)
        if blank:
            buffer.write(newline)
    return ("\ufeff" if bom else "") + buffer.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=ROWS,
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    blank=st.booleans(),
    chunk=st.sampled_from([1, 2, 3, 7, 64, 1 << 20]),
    spec=st.sampled_from([None, 0, 1, "url", "website", "name"]),
)
def test_a_recorded_file_gives_the_facts_a_full_pass_gives(
    tmp_path, monkeypatch, rows, newline, bom, blank, chunk, spec
):
    path = tmp_path / "data.csv"
    path.write_bytes(_csv_text(rows, newline, bom, blank).encode("utf-8", "surrogatepass"))
    full = csvinspect.inspect_csv(path, [spec])
    resolution = full.identifiers.get(spec)
    if full.problems or resolution is None or resolution.index is None or resolution.problems:
        return  # only a file that passed every check is ever recorded
    record = replace(entry(""), sha256=full.sha256, size=full.size, records=full.records, columns=len(full.header))
    record = replace(record, identifier=resolution.index)
    monkeypatch.setattr(csvinspect, "_READ_CHUNK", chunk)
    if chunk > full.size:  # the whole file comes in the first read: the header surely ends in it
        monkeypatch.setattr(csvinspect, "_HashingReader", None)  # so the full pass must not run
    again = csvinspect.inspect_csv(path, [spec], [record])
    monkeypatch.undo()
    assert again == full
