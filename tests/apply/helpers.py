"""Driving apply in-process and checking the invariants: one import per key, none unowned."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from reconciler.apply.executor import PollPolicy
from reconciler.apply.run import ApplyOptions, apply
from reconciler.lockfile import parse_lock
from reconciler.model import STAMP_KEY, STAMP_OWNER
from reconciler.remote.client import ApiClient, RetryPolicy
from tests.conftest import API_KEY

NO_WAIT_POLL = PollPolicy(first=0.001, factor=1.0, cap=0.001)


def write_files(
    root: Path,
    imports: dict[str, str],
    *,
    prune: bool = True,
    titles: dict[str, str] | None = None,
    lock: str = "file",
) -> Path:
    """A manifest with one import per key, each with its own CSV content. Its state lock is the file
    beside the lockfile unless `lock` says "service": the requests these tests count, fail or cut short
    are the imports' own (the service lock has tests of its own, tests/apply/test_lockers.py)."""
    (root / "data").mkdir(exist_ok=True)
    lines = ["version: 1", "owner: growth", "defaults: {entity: {type: company}}"]
    lines.append(f"safety: {{prune: {str(prune).lower()}, max_delete_percent: 100, max_replace_percent: 100}}")
    lines.append("imports:")
    for key, content in sorted(imports.items()):
        (root / "data" / f"{key}.csv").write_text(content)
        title = (titles or {}).get(key, f"Title {key}")
        lines.append(f"  {key}: {{title: {title}, csv: data/{key}.csv}}")
    if not imports:
        lines.append("  {}")
    lines.append(f"lock: {{backend: {lock}}}")
    manifest = root / "websets.yaml"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def rows(n: int, tag: str = "") -> str:
    return "url,name\n" + "".join(f"https://{tag}{i}.example,N{i}\n" for i in range(n))


def apply_once(emulator, manifest: Path, *, client_timeout: float = 30.0, **options):
    options.setdefault("poll", NO_WAIT_POLL)
    client = ApiClient(
        emulator.base_url, API_KEY, sleep=lambda s: None, retry=RetryPolicy(attempts=4, base=0), timeout=client_timeout
    )
    try:
        return apply(
            str(manifest),
            client,
            ApplyOptions(**options),
            progress=lambda key, msg: None,
            show_plan=lambda plan: None,
            confirm=lambda plan: True,
            sleep=lambda s: None,
        )
    finally:
        client.close()


def assert_converged(emulator, manifest: Path, expected: dict[str, str]) -> None:
    """Exactly one completed import per manifest key, holding its CSV; nothing of ours without a key;
    and a valid lockfile that records each of them."""
    imports = emulator.store.list(200, None)["data"]
    ours = [i for i in imports if i["metadata"].get(STAMP_OWNER) == "growth"]
    keys = Counter(i["metadata"].get(STAMP_KEY) for i in ours)
    assert keys == Counter(list(expected)), f"imports per key: {dict(keys)}"
    for item in ours:
        key = item["metadata"][STAMP_KEY]
        assert item["status"] == "completed", item
        assert emulator.store.uploaded_file(item["id"]) == expected[key].encode()
    lock = parse_lock((manifest.parent / "websets.lock").read_text(), "websets.lock")
    assert not lock.journal
    assert {k: e.id for k, e in lock.imports.items()} == {i["metadata"][STAMP_KEY]: i["id"] for i in ours}
    json.loads((manifest.parent / "websets.lock").read_text())


def assert_no_secrets(emulator, texts: list[str]) -> None:
    """No text holds the API key, an upload URL, or any upload token the emulator handed out."""
    tokens = [e["body"]["uploadUrl"].rsplit("/", 1)[1] for e in emulator.request_log if e.get("kind") == "create"]
    assert tokens, "the emulator handed out no upload URL: nothing was checked"
    for text in texts:
        assert API_KEY not in text
        assert "/uploads/" not in text
        assert not any(token in text for token in tokens)
