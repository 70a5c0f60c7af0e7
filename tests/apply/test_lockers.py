"""The state lock's backends: one suite every Locker passes (as Terraform tests each statemgr backend), then
what only the service lock does: leases, renewal, a lost create answer, and stopping writes once lost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.apply.locker import Held, Locker, force_unlock, lockers_for
from reconciler.apply.servicelock import ServiceLock
from reconciler.apply.statelock import StateLock
from reconciler.errors import ApiError, LockHeld, LockLost, ReconcilerError
from reconciler.model import STAMP_LOCK, STAMP_OWNER
from reconciler.remote.client import ApiClient, OutcomeUnknown, RetryPolicy
from reconciler.remote.state import read_remote
from tests.conftest import API_KEY


def _client(emulator) -> ApiClient:
    return ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None, retry=RetryPolicy(attempts=3, base=0))


@dataclass
class Contenders:
    """Two runs after one lock: two processes of one checkout (file), or two machines (service)."""

    first: Locker
    second: Locker


@pytest.fixture(params=["file", "service"])
def runs(request, tmp_path, emulator):
    if request.param == "file":
        lock = tmp_path / "websets.lock"
        yield Contenders(StateLock(lock), StateLock(lock))
        return
    clients = [_client(emulator), _client(emulator)]
    first, second = ServiceLock(clients[0], "growth"), ServiceLock(clients[1], "growth")
    yield Contenders(first, second)
    for locker in (first, second):
        if locker.lock_id:
            locker.release(locker.lock_id)
    for client in clients:
        client.close()


def _no_sleep(seconds: float) -> None:
    pass


# -- every backend ----------------------------------------------------------------------------------


def test_a_second_run_is_refused_naming_the_holder_and_the_id_to_force_unlock(runs):
    held = runs.first.acquire("apply", sleep=_no_sleep)
    with pytest.raises(LockHeld) as refused:
        runs.second.acquire("apply", sleep=_no_sleep)
    message = str(refused.value)
    assert f"`websets-reconciler force-unlock {held}`" in message
    assert "apply since" in message and "pid " in message
    assert refused.value.info["id"] == held


def test_a_released_lock_is_taken_by_the_next_run(runs):
    runs.first.release(runs.first.acquire("apply", sleep=_no_sleep))
    runs.second.release(runs.second.acquire("apply", sleep=_no_sleep))
    runs.first.acquire("apply", sleep=_no_sleep)


def test_releasing_with_another_id_lets_go_of_nothing(runs):
    runs.first.acquire("apply", sleep=_no_sleep)
    runs.first.release("0d6f5a0e-1c1b-4a57-9d1a-2b35d7f2c111")
    with pytest.raises(LockHeld):
        runs.second.acquire("apply", sleep=_no_sleep)


def test_a_lock_timeout_waits_for_the_holder_to_let_go(runs):
    held = runs.first.acquire("apply", sleep=_no_sleep)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the holder finishes while the second run waits
        waits.append(seconds)
        runs.first.release(held)

    taken = runs.second.acquire("apply", timeout=60, sleep=sleep)
    assert taken != held and waits
    with pytest.raises(LockHeld):
        runs.first.acquire("apply", sleep=_no_sleep)


def test_a_lock_timeout_gives_up_naming_the_holder(runs):
    held = runs.first.acquire("apply", sleep=_no_sleep)
    with pytest.raises(LockHeld) as refused:
        runs.second.acquire("apply", timeout=0.05, sleep=_no_sleep)
    assert held in str(refused.value)


def test_force_unlock_needs_the_holders_id_and_then_frees_the_lock(runs):
    held = runs.first.acquire("apply", sleep=_no_sleep)
    with pytest.raises(ReconcilerError):
        runs.second.force_unlock("9c7d1f3e-0000-4000-8000-000000000000")
    with pytest.raises(LockHeld):
        runs.second.acquire("apply", sleep=_no_sleep)
    runs.second.force_unlock(held)
    runs.second.acquire("apply", sleep=_no_sleep)


def test_check_passes_while_the_lock_is_held(runs):
    runs.first.acquire("apply", sleep=_no_sleep)
    runs.first.check()


# -- the service lock --------------------------------------------------------------------------------


@pytest.fixture
def service(emulator):
    clients: list[ApiClient] = []
    made: list[ServiceLock] = []

    def make(owner: str = "growth", client: ApiClient | None = None, **options) -> ServiceLock:
        if client is None:
            client = _client(emulator)
            clients.append(client)
        made.append(ServiceLock(client, owner, **options))
        return made[-1]

    yield make
    for locker in made:
        if locker.lock_id:
            locker.release(locker.lock_id)
    for client in clients:
        client.close()


def _claims(emulator) -> list[dict]:
    return [i for i in emulator.store.list(200, None)["data"] if STAMP_LOCK in i["metadata"]]


def test_a_crashed_holder_blocks_only_until_its_lease_expires(service, emulator, clock):
    crashed = service(lease=300)
    crashed.acquire("apply", sleep=_no_sleep)
    crashed._stop.set()  # it stops renewing, and never deletes its claim
    with pytest.raises(LockHeld, match="expires within 300 s of its last renewal"):
        service().acquire("apply", sleep=_no_sleep)
    clock.advance(299)
    with pytest.raises(LockHeld):
        service().acquire("apply", sleep=_no_sleep)
    clock.advance(2)
    service().acquire("apply", sleep=_no_sleep)


def test_a_renewing_holder_keeps_the_lock_past_its_first_lease(service, emulator, clock):
    holder = service(lease=300)
    holder.acquire("apply", sleep=_no_sleep)
    first_claim = _claims(emulator)[0]["id"]
    clock.advance(200)
    assert holder.renew()
    assert [c["id"] for c in _claims(emulator)] != [first_claim] and len(_claims(emulator)) == 1
    clock.advance(200)  # 400 s after the first claim, 200 s after the renewal
    with pytest.raises(LockHeld):
        service().acquire("apply", sleep=_no_sleep)


def test_a_renewal_keeps_the_old_claim_while_an_older_claimant_is_deciding(service, emulator, clock):
    holder = service(lease=300)
    holder.acquire("apply", sleep=_no_sleep)
    clock.advance(100)
    # Another run made its claim a moment ago, and has not listed yet: it must still see the old claim.
    deciding, _, _ = emulator.store.create(
        {
            "format": "csv",
            "size": 1,
            "count": 0,
            "title": "a claim",
            "entity": {"type": "company"},
            "metadata": {STAMP_OWNER: "growth", STAMP_LOCK: "another-run"},
        }
    )
    deciding = deciding["id"]
    clock.advance(1)
    before = [c["id"] for c in _claims(emulator) if c["metadata"][STAMP_LOCK] == holder.lock_id]
    assert not holder.renew()
    assert [c["id"] for c in _claims(emulator) if c["metadata"][STAMP_LOCK] == holder.lock_id] == before
    emulator.store.delete(deciding)  # it lost to the old claim, and let go
    assert holder.renew()


def test_a_holder_whose_claim_was_force_unlocked_stops_writing(service, emulator):
    holder = service()
    held = holder.acquire("apply", sleep=_no_sleep)
    service().force_unlock(held)
    assert not _claims(emulator)
    assert not holder.renew()
    with pytest.raises(LockLost, match="its claim is gone"):
        holder.check()


def test_writes_stop_once_the_lease_may_have_lapsed(service, emulator):
    now = [1000.0]
    client = _client(emulator)
    try:
        holder = service(client=client, lease=300, monotonic=lambda: now[0])
        holder.acquire("apply", sleep=_no_sleep)
        client.guard = holder.check
        now[0] += 200  # renewals failed meanwhile: the claim still has 100 s to live
        client.list_page()
        sent = len(emulator.request_log)
        now[0] += 60
        with pytest.raises(LockLost, match="last renewed 260 s ago"):
            client.delete("imp_anything")
        assert len(emulator.request_log) == sent  # the write never went out
        client.list_page()  # reading goes on: the run can still report
        client.guard = None
        holder.release(holder.lock_id)
    finally:
        client.close()


def test_a_claim_whose_create_answer_was_lost_is_found_and_used(service, emulator):
    class LosingClient(ApiClient):
        def create(self, body):
            super().create(body)
            raise OutcomeUnknown("POST /websets/v0/imports", "ReadTimeout")

    client = LosingClient(emulator.base_url, API_KEY, sleep=lambda s: None)
    try:
        holder = service(client=client)
        held = holder.acquire("apply", sleep=_no_sleep)
        assert [c["metadata"][STAMP_LOCK] for c in _claims(emulator)] == [held]
        holder.release(held)
        assert not _claims(emulator)
    finally:
        client.close()


def test_claims_of_other_owners_do_not_count(service):
    service(owner="finance").acquire("apply", sleep=_no_sleep)
    service(owner="growth").acquire("apply", sleep=_no_sleep)


def test_a_claim_is_never_an_import_to_plan(service, emulator):
    holder = service()
    holder.acquire("apply", sleep=_no_sleep)
    with _client(emulator) as client:
        assert read_remote(client) == []


def test_an_unlisted_claim_means_the_lock_cannot_work_here(service, emulator):
    class BlindClient(ApiClient):
        def list_page(self, cursor=None, limit=200):
            return {"data": [], "hasMore": False, "nextCursor": None}

    client = BlindClient(emulator.base_url, API_KEY, sleep=lambda s: None)
    try:
        with pytest.raises(ReconcilerError, match=r"did not list the state lock claim .* `lock: {backend: file}`"):
            service(client=client).acquire("apply", sleep=_no_sleep)
        assert not _claims(emulator)  # and the claim it made is gone
    finally:
        client.close()


# -- choosing and combining the backends --------------------------------------------------------------


def _manifest(tmp_path: Path, lock: str) -> str:
    path = tmp_path / "websets.yaml"
    path.write_text(f"version: 1\nowner: growth\n{lock}imports: {{}}\n")
    return str(path)


@pytest.mark.parametrize(
    ("lock", "names"),
    [
        ("", ["file", "service"]),
        ("lock: {backend: service, lease: 120}\n", ["file", "service"]),
        ("lock:\n  backend: file\n", ["file"]),
    ],
)
def test_the_manifest_chooses_the_backend_and_the_file_lock_is_always_held(tmp_path, emulator, lock, names):
    with _client(emulator) as client:
        lockers = lockers_for(_manifest(tmp_path, lock), client)
    assert [locker.name for locker in lockers] == names
    if "lease: 120" in lock:
        assert lockers[1].lease == 120


def test_held_locks_are_let_go_of_when_a_later_one_is_refused(tmp_path, service, emulator):
    service().acquire("apply", sleep=_no_sleep)  # another machine holds the service lock
    with _client(emulator) as client:
        held = Held(lockers_for(_manifest(tmp_path, ""), client))
        with pytest.raises(LockHeld):
            held.acquire("apply", sleep=_no_sleep)
        assert not (tmp_path / "websets.lock.held").exists()


def test_force_unlock_finds_the_backend_that_holds_the_id(tmp_path, service, emulator):
    held = service().acquire("apply", sleep=_no_sleep)
    with _client(emulator) as client:
        lockers = lockers_for(_manifest(tmp_path, ""), client)
        assert force_unlock(lockers, held) == "the service (owner 'growth')"
        with pytest.raises(ReconcilerError, match=r"no state lock is held.*no state lock claim with id"):
            force_unlock(lockers, held)


def test_an_apply_sweeps_the_claims_crashed_runs_left(service, emulator, clock, tmp_path, monkeypatch):
    crashed = service()
    crashed.acquire("apply", sleep=_no_sleep)
    crashed._stop.set()  # killed: it never lets go of its claim
    left = _claims(emulator)[0]["id"]
    clock.advance(3600)  # long expired, and older than any lock's own look at the listing reaches
    manifest = _manifest(tmp_path, "")
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    from click.testing import CliRunner

    from reconciler.cli import cli

    result = CliRunner().invoke(cli, ["apply", "-f", manifest, "--auto-approve"])
    assert result.exit_code == 0, result.output
    assert left not in {i["id"] for i in emulator.store.list(200, None)["data"]}
    assert not _claims(emulator)


def test_the_command_line_is_refused_by_another_machines_lock_and_force_unlock_frees_it(
    service, emulator, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from reconciler.cli import cli

    held = service().acquire("apply", sleep=_no_sleep)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("url\nhttps://a.example\n")
    manifest = tmp_path / "websets.yaml"
    manifest.write_text(
        "version: 1\nowner: growth\nimports:\n  a: {title: A, entity: {type: company}, csv: data/a.csv}\n"
    )
    monkeypatch.setenv("EXA_API_KEY", API_KEY)
    monkeypatch.setenv("EXA_BASE_URL", emulator.base_url)
    monkeypatch.setattr("reconciler.apply.servicelock.TIE_RETRIES", 0)  # the fake clock makes every claim a tie
    refused = CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve"])
    assert refused.exit_code == 1
    [line] = refused.output.splitlines()
    assert line.startswith("Error: the state lock of owner 'growth' on the service is held by ")
    assert line.endswith(f"`websets-reconciler force-unlock {held}`")
    assert [i["title"] for i in emulator.store.list(200, None)["data"] if STAMP_LOCK not in i["metadata"]] == []
    unlocked = CliRunner().invoke(cli, ["force-unlock", "-f", str(manifest), held])
    assert (
        unlocked.exit_code == 0
        and unlocked.output == f"Removed the state lock {held} (the service (owner 'growth')).\n"
    )
    applied = CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--auto-approve"])
    assert applied.exit_code == 0, applied.output


def test_the_quick_reading_of_the_manifest_agrees_with_the_full_load_without_a_lease(tmp_path):
    from reconciler.manifest.head import read_head
    from reconciler.model import LockSettings

    assert read_head(_manifest(tmp_path, "")) == ("growth", LockSettings())
    assert read_head(_manifest(tmp_path, "lock: {backend: file}\n")) == ("growth", LockSettings("file", 300.0))
    assert read_head(_manifest(tmp_path, "lock:\n  lease: 120\n")) == ("growth", LockSettings("service", 120.0))


def test_a_write_is_checked_again_before_each_retry():
    from tests.remote.helpers import client_with

    client, seen, _ = client_with([httpx.Response(429, json={"error": "slow down"})])
    calls = []

    def guard() -> None:  # the lease lapses while the retry waits
        calls.append(len(seen))
        if len(calls) > 1:
            raise LockLost("the state lock on the service was lost (test)")

    client.guard = guard
    with pytest.raises(LockLost):
        client.delete("imp_x")
    assert len(seen) == 1 and calls == [0, 1]  # the retry was never sent


def test_a_claim_whose_listing_failed_is_deleted(service, emulator):
    class FailingList(ApiClient):
        def list_page(self, cursor=None, limit=200):
            raise ApiError("GET /websets/v0/imports", 500, "down", None)

    client = FailingList(emulator.base_url, API_KEY, sleep=lambda s: None)
    try:
        with pytest.raises(ApiError):
            service(client=client).acquire("apply", sleep=_no_sleep)
        assert not _claims(emulator)  # it would have blocked every run for a lease
    finally:
        client.close()


def test_a_lock_section_the_full_load_reads_otherwise_stops_the_run(tmp_path, emulator):
    from reconciler.model import LockSettings

    with _client(emulator) as client:
        held = Held(lockers_for(_manifest(tmp_path, "lock: {backend: file}\n"), client))
        held.check_owner("growth", LockSettings("file"))
        with pytest.raises(ReconcilerError, match="lock section reads two ways"):
            held.check_owner("growth", LockSettings("service"))
