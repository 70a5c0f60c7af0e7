"""Waiting for processing through one poller that reads the listing: requests counted, a deleted import,
the stop event, the deadline; and a step that waits gives its place to the next."""

from __future__ import annotations

import threading

import pytest

from reconciler.apply.run import ApplyOptions, apply
from reconciler.apply.watch import PollPolicy, StillProcessing, Watcher
from reconciler.errors import ApiError
from reconciler.remote.client import ApiClient
from tests.apply.helpers import assert_converged, rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed

FAST = PollPolicy(first=0.02, factor=1.0, cap=0.02)


def _served(emulator, wanted, count: int = 1) -> threading.Event:
    """An event set once the emulator has answered `count` requests for which wanted(method, route)."""
    done = threading.Event()
    seen = [0]

    def hook(phase: str, method: str, route: str) -> None:
        if phase == "after" and wanted(method, route):
            seen[0] += 1
            if seen[0] >= count:
                done.set()

    emulator.on_request = hook
    return done


def _polls(emulator) -> list[str]:
    return [
        f"{e['method']} {e['path']}{'?cursor' if 'cursor' in e['query'] else ''}"
        for e in emulator.request_log
        if e["method"] == "GET"
    ]


class _Waiter(threading.Thread):
    def __init__(self, watcher: Watcher, item: dict, **options) -> None:
        super().__init__(daemon=True)
        self.watcher, self.item, self.options = watcher, item, options
        self.result: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            watch = self.watcher.watch(self.item["id"], self.item["createdAt"])
            self.result = self.watcher.wait(watch, **self.options)
        except BaseException as exc:
            self.error = exc


def _processing(emulator, n: int) -> list[dict]:
    return [emulator.store.get(seed(emulator, f"k{i}", title=f"t{i}")) for i in range(n)]


def test_many_waiting_imports_cost_one_page_per_poll_not_one_request_each(make_emulator, clock):
    emulator = make_emulator(clock=clock, processing_delay=30)
    for i in range(300):  # older imports of the account: the listing never needs to reach them
        seed(emulator, f"old{i}")
    clock.advance(3600)
    items = _processing(emulator, 60)
    polled = _served(emulator, lambda method, route: method == "GET", count=3)
    with ApiClient(emulator.base_url, API_KEY, max_rps=0) as client, Watcher(client, FAST) as watcher:
        waiters = [_Waiter(watcher, item, timeout=60) for item in items]
        for waiter in waiters:
            waiter.start()
        assert polled.wait(10)
        clock.advance(31)  # every import completes now
        for waiter in waiters:
            waiter.join(10)
    assert [w.result["status"] for w in waiters] == ["completed"] * 60
    polls = _polls(emulator)
    # Each poll read one page (the newest 200 hold every watched import), and none read an import by id.
    assert set(polls) == {"GET /websets/v0/imports"}
    assert len(polls) < 60 // 2


def test_a_watched_import_deleted_meanwhile_is_read_by_id_and_its_wait_ends(make_emulator, clock):
    emulator = make_emulator(clock=clock, processing_delay=30)
    gone, kept = _processing(emulator, 2)
    polled = _served(emulator, lambda method, route: method == "GET")
    with ApiClient(emulator.base_url, API_KEY, max_rps=0) as client, Watcher(client, FAST) as watcher:
        waiters = [_Waiter(watcher, item, timeout=60) for item in (gone, kept)]
        for waiter in waiters:
            waiter.start()
        assert polled.wait(10)
        emulator.store.delete(gone["id"])
        waiters[0].join(10)
        assert not waiters[0].is_alive()
        assert isinstance(waiters[0].error, ApiError) and waiters[0].error.status == 404
        clock.advance(31)
        waiters[1].join(10)
    assert waiters[1].result["status"] == "completed"
    assert f"GET /websets/v0/imports/{gone['id']}" in _polls(emulator)


def test_the_stop_event_ends_a_wait_once_the_import_was_seen_processing(make_emulator, clock):
    emulator = make_emulator(clock=clock, processing_delay=30)
    (item,) = _processing(emulator, 1)
    polled = _served(emulator, lambda method, route: method == "GET")
    stop = threading.Event()
    with ApiClient(emulator.base_url, API_KEY, max_rps=0) as client, Watcher(client, FAST) as watcher:
        waiter = _Waiter(watcher, item, timeout=600, stop=stop)
        waiter.start()
        assert polled.wait(10)
        stop.set()
        waiter.join(10)
    assert not waiter.is_alive() and isinstance(waiter.error, StillProcessing)
    assert _polls(emulator)[0] == f"GET /websets/v0/imports/{item['id']}"  # one import watched: a GET


def test_an_import_already_done_is_reported_even_when_stopping_or_out_of_time(make_emulator, clock):
    emulator = make_emulator(clock=clock, processing_delay=0)
    (done,) = _processing(emulator, 1)
    emulator.store.processing_delay = 30
    processing = emulator.store.get(seed(emulator, "late"))
    stop = threading.Event()
    stop.set()
    with ApiClient(emulator.base_url, API_KEY, max_rps=0) as client, Watcher(client, FAST) as watcher:
        assert watcher.wait_for(done["id"], done["createdAt"], timeout=0, stop=stop)["status"] == "completed"
        with pytest.raises(StillProcessing):
            watcher.wait_for(processing["id"], processing["createdAt"], timeout=0)


def test_a_step_waiting_for_processing_lets_the_next_step_send_its_requests(make_emulator, clock, tmp_path):
    """At --parallelism 1, the second create goes while the first import is still processing."""
    emulator = make_emulator(clock=clock, processing_delay=30)
    files = {"a": rows(1, "a"), "b": rows(1, "b")}
    manifest = write_files(tmp_path, files)
    both_uploaded = _served(emulator, lambda method, route: method == "PUT", count=2)
    done: list = []
    with ApiClient(emulator.base_url, API_KEY, max_rps=0) as client:
        options = ApplyOptions(parallelism=1, poll=FAST)
        run = threading.Thread(
            target=lambda: done.append(
                apply(
                    str(manifest),
                    client,
                    options,
                    progress=lambda key, message: None,
                    show_plan=lambda plan: None,
                    confirm=lambda plan: True,
                )
            ),
            daemon=True,
        )
        run.start()
        uploaded = both_uploaded.wait(10)
        clock.advance(31)
        run.join(10)
    assert uploaded, "the second create waited for the first import's processing"
    ((_, result),) = done
    assert sorted(result.done["create"]) == ["a", "b"]
    assert_converged(emulator, manifest, files)
