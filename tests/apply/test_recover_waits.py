"""Recovery waits for every create still processing at once, through one poller reading the listing."""

from __future__ import annotations

import threading
import time

from reconciler.apply.book import LockBook
from reconciler.apply.executor import PollPolicy
from reconciler.apply.recover import recover
from reconciler.lockfile import Lock, Operation
from reconciler.manifest.load import load_manifest
from reconciler.model import STAMP_OPERATION
from reconciler.remote.client import ApiClient
from reconciler.remote.state import read_remote
from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed

KEYS = "abc"


def test_interrupted_creates_still_processing_are_waited_for_together(make_emulator, clock, tmp_path):
    emulator = make_emulator(clock=clock, processing_delay=30)
    manifest = load_manifest(write_files(tmp_path, {k: rows(1, k) for k in KEYS}))
    made = {key: seed(emulator, key, content=rows(1, key), metadata={STAMP_OPERATION: f"op-{key}"}) for key in KEYS}
    journal = [Operation(f"op-{key}", key, "create", None, "0" * 64) for key in KEYS]
    book = LockBook(tmp_path / "websets.lock", Lock("growth", journal=tuple(journal)))
    polled = threading.Event()
    emulator.on_request = lambda phase, method, route: polled.set() if (phase, method) == ("after", "GET") else None
    notes: list[str] = []
    with ApiClient(emulator.base_url, API_KEY, max_rps=0) as client:
        remote = read_remote(client)
        polled.clear()
        outcome: list[bool] = []
        run = threading.Thread(
            target=lambda: outcome.append(
                recover(
                    client,
                    manifest,
                    remote,
                    book,
                    lambda key, message: notes.append(f"{key}: {message}"),
                    timeout=60,
                    poll=PollPolicy(first=0.02, factor=1.0, cap=0.02),
                    sleep=time.sleep,
                )
            ),
            daemon=True,
        )
        run.start()
        assert polled.wait(10)
        clock.advance(31)
        run.join(10)
    assert outcome == [False] and book.state.journal == ()
    assert notes == [f"{key}: interrupted create: {made[key]} completed" for key in KEYS]
    gets = [e["path"] for e in emulator.request_log if e["method"] == "GET"]
    assert len(gets) >= 2 and set(gets) == {"/websets/v0/imports"}  # listed, never one GET per import
