"""Saved plans (`plan --out`): the plan plus everything it was built on, for a stale-plan check."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.errors import ReconcilerError
from reconciler.files import write_atomically
from reconciler.plan.model import Basis, Plan
from reconciler.render.plan_json import FORMAT_VERSION, plan_document

KIND = "websets-reconciler/saved-plan"


class PlanFileError(ReconcilerError):
    """A saved plan that cannot be read."""


def saved_plan(plan: Plan, manifest_path: str, targets: frozenset[str] | None) -> dict[str, Any]:
    return {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "manifest": manifest_path,
        "targets": sorted(targets) if targets is not None else None,
        "basis": asdict(plan.basis),
        "plan": plan_document(plan),
    }


def write_saved_plan(
    path: str | os.PathLike[str], plan: Plan, manifest_path: str, targets: frozenset[str] | None
) -> None:
    text = json.dumps(saved_plan(plan, manifest_path, targets), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        write_atomically(Path(path), text)
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan: {exc.strerror}") from None


def read_saved_plan(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Basis]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFileError(f"{path}: not a readable saved plan: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PlanFileError(f"{path}: not a websets-reconciler saved plan")
    if data.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(f"{path}: plan format {data.get('format_version')!r} is not {FORMAT_VERSION!r}")
    try:
        basis = Basis(**data["basis"])
    except (KeyError, TypeError) as exc:
        raise PlanFileError(f"{path}: the saved plan's basis is malformed ({exc})") from None
    return data, basis
