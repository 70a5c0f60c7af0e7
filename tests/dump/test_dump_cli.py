"""`dump` through the CLI against the emulator: which imports it takes, their keys, the file it writes."""

from __future__ import annotations

import pytest

from reconciler.manifest.load import load_manifest
from reconciler.manifest.schema import first_error
from reconciler.model import is_key
from tests.conftest import API_KEY
from tests.dump.helpers import document, invoke, seed_raw
from tests.plan.helpers import seed

CLASHING = ["Customers", "customers", "CUSTOMERS!", "Customers 2", "customers-2", "  Customers  ", "Café", "Cafe"]


@pytest.fixture(autouse=True)
def _account(emulator, monkeypatch):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)


def test_thirty_dashboard_imports_with_clashing_titles_get_thirty_unique_keys_in_a_valid_manifest(emulator, tmp_path):
    ids = {
        seed(emulator, "x", title=CLASHING[i % len(CLASHING)], stamped=False, metadata={"source": f"s{i}"}): i
        for i in range(30)
    }
    out = tmp_path / "adopted.yaml"
    result = invoke("--owner", "growth", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Dumped 30 imports to" in result.stderr
    text = out.read_text()
    doc = document(text)
    assert first_error("manifest", doc) is None
    assert doc["owner"] == "growth"
    keys = list(doc["imports"])
    assert len(set(keys)) == 30 and all(is_key(k) for k in keys)
    assert {"customers", "customers-2", "customers-3", "cafe", "cafe-2"} <= set(keys)
    assert sorted(a["key"] for a in doc["adopt"]) == sorted(keys)
    assert {a["id"] for a in doc["adopt"]} == set(ids)
    for entry in doc["adopt"]:
        seeded = ids[entry["id"]]
        item = doc["imports"][entry["key"]]
        assert item == {
            "title": CLASHING[seeded % len(CLASHING)],
            "entity": {"type": "company"},
            "metadata": {"source": f"s{seeded}"},
        }
    assert {(e["method"], e["path"]) for e in emulator.request_log} == {("GET", "/websets/v0/imports")}
    # The same account dumps to the same text.
    again = invoke("--owner", "growth")
    assert again.stdout == text


def test_the_manifest_loader_reads_the_dump_back(emulator, clock, tmp_path):
    first = seed(emulator, "x", title="Customers", stamped=False, metadata={"team": "growth"})
    clock.advance(1)  # the older of two clashing titles keeps the plain key
    second = seed(emulator, "x", title="customers", stamped=False)
    out = tmp_path / "websets.yaml"
    assert invoke("--owner", "growth", "--out", str(out)).exit_code == 0
    manifest = load_manifest(out)
    assert manifest.owner == "growth"
    assert {k: (i.title, i.csv, str(i.entity), i.metadata) for k, i in manifest.imports.items()} == {
        "customers": ("Customers", None, "company", {"team": "growth"}),
        "customers-2": ("customers", None, "company", {}),
    }
    assert {k: a.id for k, a in manifest.adopt.items()} == {"customers": first, "customers-2": second}


def test_all_adds_this_owners_imports_under_their_key_stamps_and_never_another_owners(emulator):
    mine = seed(emulator, "crm", owner="growth", title="Anything")
    seed(emulator, "theirs", owner="sales", title="crm")
    dashboard = seed(emulator, "x", title="CRM", stamped=False)
    result = invoke("--owner", "growth")
    assert result.exit_code == 0, result.output
    assert {a["id"]: a["key"] for a in document(result.stdout)["adopt"]} == {dashboard: "crm"}
    assert "1 import of owner growth not included (--all includes them)" in result.stderr
    result = invoke("--owner", "growth", "--all")
    doc = document(result.stdout)
    assert {a["id"]: a["key"] for a in doc["adopt"]} == {mine: "crm", dashboard: "crm-2"}
    assert doc["imports"]["crm"] == {"title": "Anything", "entity": {"type": "company"}}  # stamps removed
    assert first_error("manifest", doc) is None


def test_match_keeps_the_titles_the_expression_finds_and_a_bad_expression_is_one_line(emulator):
    emea = seed(emulator, "x", title="Leads EMEA", stamped=False)
    seed(emulator, "x", title="Leads APAC", stamped=False)
    result = invoke("--owner", "growth", "--match", "EMEA$")
    assert [a["id"] for a in document(result.stdout)["adopt"]] == [emea]
    sent = len(emulator.request_log)
    result = invoke("--owner", "growth", "--match", "(unclosed")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: --match '(unclosed': not a valid regular expression")
    assert len(result.stderr.splitlines()) == 1
    assert len(emulator.request_log) == sent  # refused before reading the remote


def test_imports_that_cannot_be_adopted_are_left_out_and_counted(emulator):
    kept = seed(emulator, "x", title="Done", stamped=False)
    seed(emulator, "x", title="Waiting", stamped=False, upload=False)
    seed(emulator, "x", title="Broken", stamped=False, content="url\n")  # a header and no records: failed
    seed_raw(emulator, title="Output of a webset", entity={"type": "company"}, fmt="webset")
    seed_raw(emulator, title="No entity", entity=None)
    # The API does not limit a metadata key's length; the manifest takes at most 256 characters.
    seed_raw(emulator, title="Long key", entity={"type": "company"}, metadata={"k" * 300: "v"})
    emulator.store.processing_delay = 3600.0  # the emulator's clock stands still: these stay processing
    seed(emulator, "x", title="Busy 1", stamped=False)
    seed(emulator, "x", title="Busy 2", stamped=False)
    result = invoke("--owner", "growth")
    assert result.exit_code == 0, result.output
    assert [a["id"] for a in document(result.stdout)["adopt"]] == [kept]
    assert result.stderr.splitlines()[0] == (
        "7 imports left out: 1 still pending, 2 still processing, 1 failed, 1 without an entity, "
        "1 made by a webset, 1 with an entity or metadata a manifest cannot hold"
    )


def test_titles_yaml_would_misread_survive_the_round_trip(emulator, tmp_path):
    titles = ["yes", "null", "1.0", "# not a comment", "a: b", "- item", "~", "0x10", "'quoted\"", "line\nbreak"]
    titles += ["next\x85line", "\ufeffbom", "Ünïcode ✓", "2024-01-01", "*alias", "!tag", "@at"]
    ids = {seed(emulator, "x", title=t, stamped=False, metadata={t: t, "yes": "no"}): t for t in titles}
    out = tmp_path / "websets.yaml"
    assert invoke("--owner", "growth", "--out", str(out)).exit_code == 0
    doc = document(out.read_text())
    assert first_error("manifest", doc) is None
    read_back = {a["id"]: doc["imports"][a["key"]] for a in doc["adopt"]}
    assert {i: (e["title"], e["metadata"]) for i, e in read_back.items()} == {
        i: (t, {t: t, "yes": "no"}) for i, t in ids.items()
    }
    assert {k: i.title for k, i in load_manifest(out).imports.items()} == {a["key"]: ids[a["id"]] for a in doc["adopt"]}


def test_out_never_overwrites_a_file_unless_forced(emulator, tmp_path):
    seed(emulator, "x", title="Customers", stamped=False)
    out = tmp_path / "websets.yaml"
    out.write_text("keep me\n")
    result = invoke("--owner", "growth", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == f"Error: --out {out}: the file exists; pass --force to overwrite it\n"
    assert out.read_text() == "keep me\n"
    assert emulator.request_log == []  # refused before reading the remote
    result = invoke("--owner", "growth", "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert document(out.read_text())["imports"]["customers"]["title"] == "Customers"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["websets.yaml"]  # no temp file left beside it


def test_the_owner_comes_from_the_manifest_out_names(emulator, tmp_path):
    seed(emulator, "x", title="Customers", stamped=False)
    out = tmp_path / "websets.yaml"
    out.write_text("version: 1\nowner: sales\nimports: {}\n")
    result = invoke("--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert document(out.read_text())["owner"] == "sales"


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        ("version: 1\nimports: {}\n", "owner: no valid owner to dump for"),
        ("version: 1\nowner: Sales Team\nimports: {}\n", ":2: owner: no valid owner to dump for"),
        ("version: 1\nowner: [a\n", ": cannot read its owner: YAML syntax error"),
    ],
    ids=["missing", "invalid", "not-yaml"],
)
def test_an_out_manifest_without_a_usable_owner_is_one_line(emulator, tmp_path, existing, message):
    out = tmp_path / "websets.yaml"
    out.write_text(existing)
    result = invoke("--out", str(out), "--force")
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"Error: {out}") and message in result.stderr
    assert out.read_text() == existing
    assert emulator.request_log == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Error: --owner: give the manifest's owner (or --out naming a manifest, whose owner is used)"),
        (
            ["--out", "new.yaml"],
            "Error: --owner: give the manifest's owner (or --out naming a manifest, whose owner is used)",
        ),
        (
            ["--owner", "Growth Team"],
            "Error: --owner 'Growth Team': not a valid owner: use 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9",
        ),
        (["--owner", "growth", "--force"], "Error: --force: only with --out, to overwrite the file it names"),
    ],
    ids=["no-owner", "out-not-there", "bad-owner", "force-alone"],
)
def test_usage_errors_are_one_line(emulator, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", message + "\n")
    assert list(tmp_path.iterdir()) == []
    assert emulator.request_log == []


def test_an_account_with_nothing_to_adopt_gives_an_empty_valid_manifest(emulator):
    seed(emulator, "a", owner="sales")
    result = invoke("--owner", "growth")
    assert result.exit_code == 0, result.output
    doc = document(result.stdout)
    assert doc == {"version": 1, "owner": "growth", "imports": {}}
    assert first_error("manifest", doc) is None
    assert result.stderr == "Dumped 0 imports above\n"
