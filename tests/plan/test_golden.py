"""Golden plans: each numbered folder holds a manifest, the remote state and maybe a lockfile; the plan
must render exactly as expected.txt, expected.md and expected.json. UPDATE_GOLDEN=1 rewrites them.

Optional files: targets.txt and excludes.txt (--target and --exclude patterns), replace.txt (--replace
keys), refresh-only (a --refresh-only plan), references.json (the websets that use an import).

In remote.json and websets.lock, `{{sha:PATH}}` stands for the sha256 of a scenario file, and each
remote import needs only the fields that matter (the rest take the defaults below).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from reconciler.lockfile import parse_lock
from reconciler.manifest.load import load_manifest
from reconciler.plan.drift import build_refresh_plan
from reconciler.plan.model import Reference, Selection
from reconciler.plan.planner import build_plan
from reconciler.remote.state import RemoteImport, parse_time
from reconciler.render.plan_json import render_json
from reconciler.render.plan_markdown import render_markdown
from reconciler.render.plan_text import render_text
from tests.conftest import load_schema

GOLDEN = Path(__file__).parent / "golden"
NOW = parse_time("2027-01-15T09:00:00Z")
DEFAULTS = {
    "object": "import",
    "status": "completed",
    "format": "csv",
    "entity": {"type": "company"},
    "title": "",
    "count": 2,
    "metadata": {},
    "failedReason": None,
    "failedAt": None,
    "failedMessage": None,
    "createdAt": "2027-01-15T08:30:00.000Z",
    "updatedAt": "2027-01-15T08:30:00.000Z",
}
PLAN_SCHEMA = jsonschema.Draft202012Validator(load_schema("plan.schema.json"))


def _expand(text: str, root: Path) -> str:
    return re.sub(r"\{\{sha:([^}]+)\}\}", lambda m: hashlib.sha256((root / m.group(1)).read_bytes()).hexdigest(), text)


def scenarios() -> list[str]:
    return sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def render_scenario(root: Path) -> dict[str, str]:
    manifest = load_manifest(root / "websets.yaml")
    remote_raw = json.loads(_expand((root / "remote.json").read_text(), root))
    remote = [RemoteImport.from_api({**DEFAULTS, **item}) for item in remote_raw]
    lock_file = root / "websets.lock"
    lock = parse_lock(_expand(lock_file.read_text(), root), "websets.lock") if lock_file.exists() else None
    targets, excludes, replacing = (
        tuple((root / name).read_text().split()) if (root / name).exists() else ()
        for name in ("targets.txt", "excludes.txt", "replace.txt")
    )
    selection = Selection(targets, excludes) if targets or excludes else None
    if (root / "refresh-only").exists():
        plan = build_refresh_plan(manifest, remote, lock, selection)
    else:
        plan = build_plan(manifest, remote, lock, now=NOW, targets=selection, replace_keys=frozenset(replacing))
    if (root / "references.json").exists():  # read from the websets listing by the command, not the planner
        found = json.loads((root / "references.json").read_text())
        plan = replace(plan, references=tuple(Reference(**r) for r in found))
    return {"expected.txt": render_text(plan), "expected.md": render_markdown(plan), "expected.json": render_json(plan)}


def test_there_are_golden_scenarios():
    assert len(scenarios()) >= 12


@pytest.mark.parametrize("name", scenarios())
def test_golden(name, monkeypatch):
    root = GOLDEN / name
    monkeypatch.chdir(root)  # paths in messages are relative to the scenario
    rendered = render_scenario(Path("."))
    PLAN_SCHEMA.validate(json.loads(rendered["expected.json"]))
    for file, text in rendered.items():
        if os.environ.get("UPDATE_GOLDEN"):
            (root / file).write_text(text)
        assert text == (root / file).read_text(), f"{name}/{file} differs; rerun with UPDATE_GOLDEN=1 and review"
