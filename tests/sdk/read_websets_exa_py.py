"""Read an emulator's websets with the installed exa-py (sync and async); print what came through as JSON.

Run by tests/sdk/test_websets.py with the pinned exa-py and, in a venv of its own, with the newest one:

    python tests/sdk/read_websets_exa_py.py BASE_URL API_KEY

exa-py parses each answer into its `Webset` model (a missing required field fails the script); the
references to imports come through as the model's fields (`searches[].scope`, `searches[].exclude`) and as
extra fields it keeps unparsed (`imports`, `excludes`). Needs only the standard library and exa-py.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys

from exa_py import AsyncExa, Exa


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"exa-py reading the emulator's websets: {what}")


def references(webset) -> dict:
    """What a webset says of the imports it uses, as exa-py hands it over."""
    extra = webset.model_extra or {}
    return {
        "id": webset.id,
        "title": webset.title,
        "dashboardUrl": webset.dashboard_url,
        "imports": [item["id"] for item in extra.get("imports", [])],
        "excludes": [[item["source"], item["id"]] for item in extra.get("excludes", [])],
        "scope": [[item.source, item.id] for search in webset.searches for item in search.scope or ()],
        "searchExclude": [[item.source, item.id] for search in webset.searches for item in search.exclude or ()],
    }


def read_sync(base_url: str, key: str) -> tuple[list[dict], list[str]]:
    websets = Exa(key, base_url=base_url).websets
    exercised = ["list", "get"]
    listed, cursor = [], None
    while True:
        page = websets.list(limit=1, cursor=cursor)
        listed += page.data
        if not page.has_more:
            check(page.next_cursor is None, "the last page has a next cursor")
            break
        cursor = page.next_cursor
    got = [websets.get(webset.id) for webset in listed]
    check([references(w) for w in got] == [references(w) for w in listed], "get differs from list")
    if hasattr(websets, "list_all"):
        every = [webset.id for webset in websets.list_all(limit=2)]
        exercised.append("list_all")
        check(every == [w.id for w in listed], f"list_all: {every}")
    return [references(w) for w in listed], exercised


async def read_async(base_url: str, key: str) -> list[dict]:
    websets = AsyncExa(key, api_base=base_url).websets
    page = await websets.list(limit=100)
    check(not page.has_more, "one page of 100 holds every webset")
    got = [await websets.get(webset.id) for webset in page.data]
    return [references(w) for w in got]


def main() -> None:
    base_url, key = sys.argv[1], sys.argv[2]
    listed, exercised = read_sync(base_url, key)
    check(asyncio.run(read_async(base_url, key)) == listed, "the async client read something else")
    exercised += ["async list", "async get"]
    report = {"version": importlib.metadata.version("exa-py"), "exercised": sorted(exercised), "websets": listed}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
