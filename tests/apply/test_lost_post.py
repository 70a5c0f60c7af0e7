"""A create whose answer was lost is looked for in the newest page of the listing, not in all of it."""

from __future__ import annotations

import time

from reconciler.emulator import FaultConfig, Rate
from reconciler.emulator.faults import FaultInjector
from reconciler.model import STAMP_OPERATION
from reconciler.remote.client import ApiClient
from reconciler.remote.state import find_stamped
from tests.apply.helpers import apply_once, assert_converged, rows, write_files
from tests.conftest import API_KEY
from tests.plan.helpers import seed

OLD_IMPORTS = 1000  # five pages of the account's history


class _Counting:
    def __init__(self, client: ApiClient) -> None:
        self.client, self.pages = client, 0

    def list_page(self, cursor=None, limit=200):
        self.pages += 1
        return self.client.list_page(cursor, limit)


def _big_account(make_emulator, **options):
    """An emulator on the real clock holding OLD_IMPORTS imports made an hour ago."""
    emulator = make_emulator(**options)
    emulator.store.clock = lambda: time.time() - 3600
    for i in range(OLD_IMPORTS):
        seed(emulator, f"old{i}", owner="other-team")
    emulator.store.clock = time.time
    return emulator


def test_the_search_for_a_stamp_reads_one_page_of_a_big_account(make_emulator):
    emulator = _big_account(make_emulator)
    sent = time.time()
    made = seed(emulator, "a", metadata={STAMP_OPERATION: "op-made"})
    # The server's clock may run behind ours: an import it dates two minutes before we sent is still found.
    emulator.store.clock = lambda: time.time() - 120
    skewed = seed(emulator, "b", metadata={STAMP_OPERATION: "op-skewed"})
    emulator.store.clock = time.time
    with ApiClient(emulator.base_url, API_KEY, max_rps=0) as client:
        for operation, expected in (("op-made", made), ("op-skewed", skewed), ("op-never-made", None)):
            counting = _Counting(client)
            found = find_stamped(counting, operation, sent)
            assert (found.id if found else None, counting.pages) == (expected, 1)


def _seed_losing_the_first_post_only() -> int:
    for candidate in range(1000):
        faults = FaultInjector(FaultConfig(seed=candidate, lose=Rate(0.5, frozenset({"POST"}))))
        decisions = [faults.decide("POST", "/websets/v0/imports").action for _ in range(3)]
        if decisions == ["lose", None, None]:
            return candidate
    raise AssertionError("no seed loses only the first POST")


def test_an_apply_whose_post_answer_is_lost_searches_one_page(make_emulator, tmp_path):
    faults = FaultConfig(seed=_seed_losing_the_first_post_only(), lose=Rate(0.5, frozenset({"POST"})))
    emulator = _big_account(make_emulator, faults=faults)
    files = {"a": rows(2, "a")}
    manifest = write_files(tmp_path, files)
    _, result = apply_once(emulator, manifest)
    assert not result.failures and result.done["create"] == ["a"]
    assert_converged(emulator, manifest, files)
    log = emulator.request_log
    lost = next(i for i, e in enumerate(log) if e["method"] == "POST")
    assert log[lost]["fault"] == "lose"
    after = [e for e in log[lost + 1 :] if (e["method"], e["path"]) == ("GET", "/websets/v0/imports")]
    assert len(after) == 1 and "cursor" not in after[0]["query"]  # the newest page, nothing more
