"""State: persistence across restarts, concurrent processes on one data dir, and stable pagination."""

from __future__ import annotations

import threading

import httpx

from reconciler.emulator import Emulator
from reconciler.emulator.process import emulator_process
from tests.conftest import API_KEY
from tests.emulator.helpers import IMPORTS, api, create_and_upload, create_body


def _all_ids(client: httpx.Client, limit: int = 200) -> list[str]:
    ids, cursor = [], None
    while True:
        page = client.get(IMPORTS, params={"limit": limit, **({"cursor": cursor} if cursor else {})}).json()
        ids += [item["id"] for item in page["data"]]
        if not page["hasMore"]:
            return ids
        cursor = page["nextCursor"]


def test_state_survives_restart(make_emulator, tmp_path):
    data_dir = tmp_path / "state"
    first = make_emulator(data_dir=data_dir)
    client = api(first)
    done = create_and_upload(client, b"url\nhttps://a.example\n")
    pending = client.post(IMPORTS, json=create_body(title="waiting")).json()
    client.patch(f"{IMPORTS}/{done['id']}", json={"metadata": {"k": "v"}})
    cursor = client.get(IMPORTS, params={"limit": 1}).json()["nextCursor"]
    first.stop()

    second = make_emulator(data_dir=data_dir)
    client = api(second)
    assert _all_ids(client) == [pending["id"], done["id"]]
    restored = client.get(f"{IMPORTS}/{done['id']}").json()
    assert restored["status"] == "completed" and restored["metadata"] == {"k": "v"}
    assert second.store.uploaded_file(done["id"]) == b"url\nhttps://a.example\n"
    # An upload URL and a list cursor issued before the restart still work after it.
    upload_url = pending["uploadUrl"].replace(first.base_url, second.base_url)
    assert httpx.put(upload_url, content=b"url\nhttps://a.example\n").status_code == 200
    assert [i["id"] for i in client.get(IMPORTS, params={"cursor": cursor}).json()["data"]] == [done["id"]]


def test_concurrent_requests_in_one_emulator(emulator):
    client = api(emulator)
    errors: list[BaseException] = []

    def worker():
        try:
            with api(emulator) as own:
                for _ in range(10):
                    assert own.post(IMPORTS, json=create_body()).status_code == 201
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = _all_ids(client)
    assert len(ids) == 80 == len(set(ids))


def test_two_processes_share_a_data_dir(make_emulator, tmp_path):
    data_dir = tmp_path / "shared"
    local = make_emulator(data_dir=data_dir)
    with emulator_process("--data-dir", str(data_dir), "--api-key", API_KEY) as served:
        remote_url = served.base_url
        assert remote_url.startswith("http://127.0.0.1:")
        remote = httpx.Client(base_url=remote_url, headers={"x-api-key": API_KEY}, timeout=10)
        results: list[str] = []

        def worker(client):
            for _ in range(15):
                results.append(client.post(IMPORTS, json=create_body()).json()["id"])

        threads = [threading.Thread(target=worker, args=(c,)) for c in (api(local), remote, api(local), remote)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 60 == len(set(results))
        assert sorted(_all_ids(api(local))) == sorted(results) == sorted(_all_ids(remote))
        one = results[0]
        assert remote.patch(f"{IMPORTS}/{one}", json={"title": "from remote"}).status_code == 200
        assert api(local).get(f"{IMPORTS}/{one}").json()["title"] == "from remote"


def test_pagination_stable_under_concurrent_creates_and_deletes(emulator):
    client = api(emulator)
    stable = [client.post(IMPORTS, json=create_body(title=f"s{i}")).json()["id"] for i in range(30)]
    doomed = [client.post(IMPORTS, json=create_body(title=f"d{i}")).json()["id"] for i in range(10)]
    stable += [client.post(IMPORTS, json=create_body(title=f"s{i}")).json()["id"] for i in range(30, 40)]
    seen, cursor, page_no = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(IMPORTS, params=params).json()
        seen += [item["id"] for item in page["data"]]
        # Between pages: new imports arrive, and some not yet listed and some already listed go away.
        client.post(IMPORTS, json=create_body(title=f"new{page_no}"))
        if doomed:
            client.delete(f"{IMPORTS}/{doomed.pop()}")
        page_no += 1
        if not page["hasMore"]:
            break
        cursor = page["nextCursor"]
    for import_id in stable:
        assert seen.count(import_id) == 1, import_id
    assert len(seen) == len(set(seen))


def test_emulator_refuses_non_loopback_host():
    import pytest

    from reconciler.emulator import EmulatorConfigError

    with pytest.raises(EmulatorConfigError, match="loopback only"):
        Emulator(host="0.0.0.0")
