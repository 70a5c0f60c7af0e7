"""An import whose upload never happened is never taken as in sync, and a create given up on is cleaned up."""

from __future__ import annotations

import threading

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.emulator import FaultConfig, Rate
from reconciler.emulator.faults import FaultInjector, Latency
from reconciler.lockfile import parse_lock
from reconciler.model import STAMP_KEY
from tests.apply.helpers import apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY


def _plan(emulator, manifest, monkeypatch):
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    return CliRunner().invoke(cli, ["plan", "-f", str(manifest), "--detailed-exitcode"])


def _heal(emulator) -> None:
    emulator.faults = FaultInjector(FaultConfig())


def test_a_create_answered_after_the_client_gave_up_is_cleaned_up(make_emulator, tmp_path, monkeypatch):
    """Each POST is answered after the client's timeout: the imports appear late, with no CSV."""
    emulator = make_emulator(faults=FaultConfig(latency=Latency(600.0, methods=frozenset({"POST"}))))
    served = threading.Semaphore(0)
    emulator.on_request = lambda phase, method, route: (
        served.release() if (phase, method) == ("after", "POST") else None
    )
    files = {"a": rows(2, "a")}
    manifest = write_files(tmp_path, files)

    _, result = apply_once(emulator, manifest, client_timeout=0.2)
    assert [f.key for f in result.failures] == ["a"]
    for _ in range(3):  # every late create has landed, pending, stamped as ours
        assert served.acquire(timeout=10)
    emulator.on_request = None
    stray = [i for i in emulator.store.list(200, None)["data"] if i["metadata"].get(STAMP_KEY) == "a"]
    assert len(stray) == 3 and {i["status"] for i in stray} == {"pending"}
    journal = parse_lock((tmp_path / "websets.lock").read_text(), "websets.lock").journal
    assert len(journal) == 3 and all(op.abandoned for op in journal)

    _heal(emulator)
    planned = _plan(emulator, manifest, monkeypatch)
    assert planned.exit_code == 2 and "No changes." not in planned.output
    # The next apply deletes the three before it plans, so none of them stands for the key.
    assert planned.output.count("made by a create that was given up on (pending)") == 3
    assert "+ a" in planned.output

    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, files)
    assert _plan(emulator, manifest, monkeypatch).exit_code == 0


def test_a_lost_create_whose_delete_fails_is_cleaned_up_by_the_next_apply(make_emulator, tmp_path, monkeypatch):
    faults = FaultConfig(seed=3, lose=Rate(0.5, frozenset({"POST"})), errors=Rate(1.0, frozenset({"DELETE"})))
    emulator = make_emulator(faults=faults)
    files = {k: rows(2, k) for k in "abcd"}
    manifest = write_files(tmp_path, files)
    apply_once(emulator, manifest)
    ours = emulator.store.list(200, None)["data"]
    assert any(i["status"] == "pending" for i in ours), "the seed must leave an import without its CSV"

    _heal(emulator)
    apply_once(emulator, manifest)
    assert_converged(emulator, manifest, files)
    for item in emulator.store.list(200, None)["data"]:
        key = item["metadata"][STAMP_KEY]
        assert item["count"] == 2, f"{key}: {item['count']} records"
    assert _plan(emulator, manifest, monkeypatch).exit_code == 0
