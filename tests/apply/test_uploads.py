"""Uploads against the emulator: retried through faults without a second import, and never of bytes
other than those the plan hashed."""

from __future__ import annotations

import json
import threading
from collections import Counter

from click.testing import CliRunner

from reconciler.apply.run import ApplyOptions, apply
from reconciler.cli import cli
from reconciler.emulator import FaultConfig, Rate
from reconciler.model import STAMP_KEY
from reconciler.remote.client import ApiClient, RetryPolicy
from tests.apply.helpers import NO_WAIT_POLL, assert_converged, rows, write_files
from tests.conftest import API_KEY

PUT = frozenset({"PUT"})


def test_upload_faults_are_retried_and_one_run_converges(make_emulator, tmp_path):
    # 429 with Retry-After, 502 and 504 are met with a fake upload host in tests/remote/test_upload.py.
    faults = FaultConfig(seed=3, errors=Rate(0.4, PUT), lose=Rate(0.25, PUT))
    emulator = make_emulator(faults=faults)
    files = {k: rows(3, k) for k in "abcdefgh"}
    manifest = write_files(tmp_path, files)
    client = ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None, retry=RetryPolicy(attempts=8, base=0))
    with client:
        _, result = apply(
            str(manifest),
            client,
            ApplyOptions(parallelism=1, poll=NO_WAIT_POLL),
            progress=lambda key, message: None,
            show_plan=lambda plan: None,
            confirm=lambda plan: True,
            sleep=lambda s: None,
        )
    assert not result.failures and sorted(result.done["create"]) == sorted(files)
    assert_converged(emulator, manifest, files)
    puts = [e for e in emulator.request_log if e["method"] == "PUT"]
    assert {e["fault"] for e in puts} >= {"error500", "error503", "lose"}
    assert any(e["status"] == 403 for e in puts)  # a retry after a lost answer found the upload had landed
    # Every key needed exactly one import: no upload was given up and recreated.
    assert Counter(e["method"] for e in emulator.request_log)["POST"] == len(files)


def test_a_csv_edited_between_plan_and_upload_fails_its_key_and_leaves_nothing_half_uploaded(
    make_emulator, tmp_path, monkeypatch
):
    emulator = make_emulator()
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    files = {"a": rows(2, "a"), "b": rows(2, "b")}
    manifest = write_files(tmp_path, files)
    assert CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve"]).exit_code == 0
    old = {i["metadata"][STAMP_KEY]: i["id"] for i in emulator.store.list(200, None)["data"]}

    # a is replaced by a file large enough to be streamed in several chunks; c is new.
    files["a"] = rows(60_000, "a2")
    files["c"] = rows(3, "c")
    write_files(tmp_path, files)
    edited = {"a": files["a"].replace("a2", "a3", 1), "c": files["c"].replace("c", "C", 1)}  # same sizes
    accepted: list[int] = []
    upload = emulator.store.upload

    def spying_upload(token, content):
        accepted.append(len(content))
        return upload(token, content)

    once = threading.Lock()

    def edit_after_planning(phase, method, route):
        # Both files change once, when the first create arrives: after the plan, before any upload.
        if phase == "before" and method == "POST":
            with once:
                for key, content in edited.items():
                    (tmp_path / "data" / f"{key}.csv").write_text(content)
                files.update(edited)
                edited.clear()

    emulator.store.upload = spying_upload
    emulator.on_request = edit_after_planning
    result = CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve", "--json"])
    emulator.on_request = None
    emulator.store.upload = upload

    assert result.exit_code == 1
    failures = {f["key"]: f for f in json.loads(result.stdout)["failures"]}
    assert sorted(failures) == ["a", "c"]
    for key, failure in failures.items():
        assert failure["op"] == "upload"
        assert failure["message"].startswith(str(tmp_path / "data" / f"{key}.csv"))
        assert "changed since it was planned (sha256 " in failure["message"]
        assert failure["message"].endswith("; plan again")
    assert accepted == []  # the upload host never received a whole body
    remaining = {i["metadata"][STAMP_KEY]: i["id"] for i in emulator.store.list(200, None)["data"]}
    assert remaining == old  # the new imports were deleted; a's old import keeps serving

    again = CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve"])
    assert again.exit_code == 0, again.output
    assert_converged(emulator, manifest, files)
