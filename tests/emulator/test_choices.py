"""Each answer the emulator can give where the published API leaves the behaviour open."""

from __future__ import annotations

import httpx
import pytest

from reconciler.emulator import EmulatorConfigError
from reconciler.emulator.choices import DECLARED_COUNTS, EXPIRED_UPLOADS, METADATA_UPDATES
from tests.emulator.helpers import IMPORTS, api, create_and_upload, create_body

CONTENT = b"url\nhttps://a.example\n"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("replace", {"b": "2", "c": ""}), ("merge", {"a": "1", "b": "2", "c": ""}), ("merge-unset", {"a": "1", "b": "2"})],
    ids=METADATA_UPDATES,
)
def test_a_patch_of_metadata_replaces_or_merges(make_emulator, choice, expected):
    client = api(make_emulator(metadata_update=choice))
    created = client.post(IMPORTS, json=create_body(metadata={"a": "1", "c": "3"})).json()
    answer = client.patch(f"{IMPORTS}/{created['id']}", json={"metadata": {"b": "2", "c": ""}}).json()
    assert answer["metadata"] == expected
    assert client.get(f"{IMPORTS}/{created['id']}").json()["metadata"] == expected
    # A title alone leaves the metadata as it is under every answer.
    assert client.patch(f"{IMPORTS}/{created['id']}", json={"title": "x"}).json()["metadata"] == expected


def test_under_merge_a_key_can_be_emptied_but_not_removed(make_emulator):
    client = api(make_emulator(metadata_update="merge"))
    created = client.post(IMPORTS, json=create_body(metadata={"a": "1", "b": "2"})).json()
    answer = client.patch(f"{IMPORTS}/{created['id']}", json={"metadata": {"a": ""}}).json()
    assert answer["metadata"] == {"a": "", "b": "2"}
    assert client.patch(f"{IMPORTS}/{created['id']}", json={"metadata": {}}).json()["metadata"] == answer["metadata"]


def _expire(make_emulator, clock, choice: str):
    client = api(make_emulator(clock=clock, upload_valid_for=60, expired_upload=choice))
    waiting = client.post(IMPORTS, json=create_body(CONTENT, title="waiting")).json()
    done = create_and_upload(client, CONTENT, title="done")
    clock.advance(61)
    return client, waiting, done


@pytest.mark.parametrize("choice", ["pending", "failed", "canceled"])
def test_a_pending_import_past_its_window_stays_listed_in_the_chosen_status(make_emulator, clock, choice):
    client, waiting, done = _expire(make_emulator, clock, choice)
    item = client.get(f"{IMPORTS}/{waiting['id']}").json()
    assert item["status"] == choice
    assert item["updatedAt"] == (waiting["createdAt"] if choice == "pending" else waiting["uploadValidUntil"])
    if choice == "failed":
        assert item["failedReason"] == "invalid_file_content"
        assert item["failedAt"] == waiting["uploadValidUntil"]
        assert "before the upload URL expired" in item["failedMessage"]
    else:
        assert (item["failedReason"], item["failedAt"], item["failedMessage"]) == (None, None, None)
    listed = {i["id"]: i["status"] for i in client.get(IMPORTS).json()["data"]}
    assert listed == {waiting["id"]: choice, done["id"]: "completed"}
    assert httpx.put(waiting["uploadUrl"], content=CONTENT).status_code == 403
    assert client.patch(f"{IMPORTS}/{waiting['id']}", json={"title": "t2"}).json()["status"] == choice
    assert client.delete(f"{IMPORTS}/{waiting['id']}").status_code == 200


def test_a_pending_import_past_its_window_is_deleted_when_so_chosen(make_emulator, clock):
    client, waiting, done = _expire(make_emulator, clock, "deleted")
    assert client.get(f"{IMPORTS}/{waiting['id']}").status_code == 404
    assert [i["id"] for i in client.get(IMPORTS).json()["data"]] == [done["id"]]
    for method in ("PATCH", "DELETE"):
        response = client.request(
            method, f"{IMPORTS}/{waiting['id']}", json={"title": "x"} if method == "PATCH" else None
        )
        assert response.status_code == 404
    assert httpx.put(waiting["uploadUrl"], content=CONTENT).status_code == 403


def test_an_import_inside_its_window_is_pending_under_every_choice(make_emulator, clock):
    for choice in EXPIRED_UPLOADS:
        client = api(make_emulator(clock=clock, upload_valid_for=60, expired_upload=choice))
        created = client.post(IMPORTS, json=create_body(CONTENT)).json()
        clock.advance(60)  # the last instant of the window
        assert client.get(f"{IMPORTS}/{created['id']}").json()["status"] == "pending", choice
        assert httpx.put(created["uploadUrl"], content=CONTENT).status_code == 200, choice


@pytest.mark.parametrize(
    ("choice", "status", "count"), [("correct", "completed", 2), ("keep", "completed", 5), ("reject", "failed", 2)]
)
def test_a_declared_count_that_differs_from_the_file(make_emulator, choice, status, count):
    client = api(make_emulator(declared_count=choice))
    content = b"url\nhttps://a.example\n\nhttps://b.example\n"
    created = create_and_upload(client, content, count=5)
    item = client.get(f"{IMPORTS}/{created['id']}").json()
    assert (item["status"], item["count"]) == (status, count)
    if choice == "reject":
        assert item["failedReason"] == "invalid_file_content"
        assert item["failedMessage"] == "the import declared count 5 but the file has 2 records"


@pytest.mark.parametrize("choice", DECLARED_COUNTS)
def test_a_declared_count_that_matches_completes_under_every_choice(make_emulator, choice):
    client = api(make_emulator(declared_count=choice))
    created = create_and_upload(client, b'url,notes\nhttps://a.example,"two\nlines"\n\nhttps://b.example,x\n', count=2)
    item = client.get(f"{IMPORTS}/{created['id']}").json()
    assert (item["status"], item["count"]) == ("completed", 2)


def test_an_unknown_choice_is_refused():
    from reconciler.emulator import Emulator

    for option in ("metadata_update", "expired_upload", "declared_count"):
        with pytest.raises(EmulatorConfigError, match=option):
            Emulator(**{option: "sometimes"})
