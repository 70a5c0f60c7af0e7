"""Drive every imports method of the installed exa-py (sync and async) against an emulator; print a report.

Run by tests/sdk/test_exa_py.py with the pinned exa-py and, in a venv of its own, with the newest one:

    python tests/sdk/exercise_exa_py.py BASE_URL API_KEY

It needs only the standard library and exa-py (whatever venv runs it), checks each answer as it goes,
exits non-zero at the first surprise, and prints {"version", "exercised"} as JSON.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys

import requests
from exa_py import AsyncExa, Exa

# Three records: the quoted newline does not start one, and there is no blank line (the SDKs count those
# differently), so the declared count is the count the service parses.
CSV = 'url,name\nhttps://a.example,A\n"https://b.example","B\nsecond line"\nhttps://c.example,C\n'
PARAMS = {"format": "csv", "entity": {"type": "company"}, "csv": {"identifier": 0}}
exercised: set[str] = set()


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"exa-py against the emulator: {what}")


def called(name: str) -> None:
    exercised.add(name)


def expect_404(call, what: str) -> None:
    try:
        call()
    except ValueError as exc:
        check("404" in str(exc) and "not_found" in str(exc), f"{what}: {exc}")
    else:
        check(False, f"{what} did not fail")


def run_sync(base_url: str, key: str) -> None:
    imports = Exa(key, base_url=base_url).websets.imports

    uploaded = imports.create({**PARAMS, "title": "with data", "metadata": {"team": "a"}}, csv_data=CSV)
    called("create(csv_data)")
    check(uploaded.status in ("processing", "completed"), f"status after upload: {uploaded.status}")
    done = imports.wait_until_completed(uploaded.id, poll_interval=0, timeout=10)
    called("wait_until_completed")
    check((done.status, done.count, done.failed_reason) == ("completed", 3, None), f"completed: {done}")

    manual = imports.create({**PARAMS, "title": "by hand", "size": len(CSV.encode()), "count": 3})
    called("create")
    check(manual.status == "pending" and bool(manual.upload_valid_until), f"created: {manual}")
    put = requests.put(manual.upload_url, data=CSV.encode(), headers={"Content-Type": "text/csv"}, timeout=10)
    check(put.status_code == 200, f"upload: {put.status_code} {put.text}")

    got = imports.get(manual.id)
    called("get")
    check((got.id, got.title, got.entity.type) == (manual.id, "by hand", "company"), f"get: {got}")

    seen, cursor = [], None
    while True:
        page = imports.list(limit=1, cursor=cursor)
        called("list")
        seen += [item.id for item in page.data]
        if not page.has_more:
            check(page.next_cursor is None, "the last page has a next cursor")
            break
        cursor = page.next_cursor
    check(seen[:2] == [manual.id, uploaded.id], f"newest first, each once: {seen}")

    updated = imports.update(manual.id, {"title": "renamed", "metadata": {"team": "b"}})
    called("update")
    check((updated.title, updated.metadata) == ("renamed", {"team": "b"}), f"update: {updated}")

    if hasattr(imports, "list_all"):
        every = [item.id for item in imports.list_all(limit=1)]
        called("list_all")
        check(every == seen, f"list_all: {every} != {seen}")
        collected = [item.id for item in imports.get_all(limit=2)]
        called("get_all")
        check(collected == seen, f"get_all: {collected}")

    for item_id in (manual.id, uploaded.id):
        deleted = imports.delete(item_id)
        called("delete")
        check(deleted.id == item_id, f"delete answered {deleted.id}")
        expect_404(lambda item_id=item_id: imports.get(item_id), "a get after delete")

    try:
        imports.create({**PARAMS, "entity": {"type": "compnay"}, "size": 10, "count": 1})
    except ValueError as exc:
        check("400" in str(exc) and "entity.type" in str(exc), f"a bad create: {exc}")
    else:
        check(False, "a create with an unknown entity type succeeded")


async def run_async(base_url: str, key: str) -> None:
    imports = AsyncExa(key, api_base=base_url).websets.imports  # the async client names it api_base
    uploaded = await imports.create({**PARAMS, "title": "async"}, csv_data=CSV)
    called("async create(csv_data)")
    done = await imports.wait_until_completed(uploaded.id, poll_interval=0, timeout=10)
    called("async wait_until_completed")
    check((done.status, done.count) == ("completed", 3), f"async completed: {done}")
    manual = await imports.create({**PARAMS, "size": 10, "count": 1})
    called("async create")
    check(manual.status == "pending" and bool(manual.upload_url), f"async created: {manual}")
    check((await imports.get(manual.id)).id == manual.id, "async get")
    called("async get")
    page = await imports.list(limit=1)
    called("async list")
    check([i.id for i in page.data] == [manual.id] and page.has_more, f"async list: {page}")
    updated = await imports.update(manual.id, {"metadata": {"k": "v"}})
    called("async update")
    check(updated.metadata == {"k": "v"}, f"async update: {updated}")
    if hasattr(imports, "list_all"):
        every = [item.id async for item in imports.list_all(limit=1)]
        called("async list_all")
        check(every[:2] == [manual.id, uploaded.id], f"async list_all: {every}")
        check([i.id for i in await imports.get_all(limit=2)] == every, "async get_all")
        called("async get_all")
    for item_id in (manual.id, uploaded.id):
        check((await imports.delete(item_id)).id == item_id, "async delete")
        called("async delete")


def main() -> None:
    base_url, key = sys.argv[1], sys.argv[2]
    run_sync(base_url, key)
    asyncio.run(run_async(base_url, key))
    print(json.dumps({"version": importlib.metadata.version("exa-py"), "exercised": sorted(exercised)}))


if __name__ == "__main__":
    main()
