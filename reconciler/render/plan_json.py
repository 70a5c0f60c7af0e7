"""The plan as JSON (`plan --json`, and the body of a saved plan)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.digest import plan_digest
from reconciler.plan.model import Change, Plan

FORMAT_VERSION = "1"


def change_json(change: Change) -> dict[str, Any]:
    """One change as JSON (`$defs/change` of schemas/plan.schema.json)."""
    return {
        "key": change.key,
        "action": change.action.value,
        "reason": change.reason.value,
        "id": change.id,
        "before": change.before,
        "after": change.after,
        "changed_fields": list(change.changed_fields),
        "origin": change.origin.value if change.origin else None,
        "protected": change.protected,
        "moved_from": change.moved_from,
        "adopting": change.adopting,
    }


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict (schemas/plan.schema.json)."""
    return {
        "format_version": FORMAT_VERSION,
        "owner": plan.owner,
        "summary": plan.summary,
        "changes": [change_json(c) for c in plan.changes],
        "managed": plan.managed,
        "unmanaged": plan.unmanaged,
        "orphans": [{"key": o.key, "id": o.id, "title": o.title} for o in plan.orphans],
        "adopted": list(plan.adopted),
        "safe": plan.safe,
        "unsafe_reasons": list(plan.unsafe),
        "warnings": list(plan.warnings),
        "strays": [{"key": s.key, "id": s.id, "why": s.why} for s in plan.strays],
        "digest": plan_digest(plan),
        "references": [
            {"import_id": r.import_id, "webset_id": r.webset_id, "title": r.title, "how": r.how}
            for r in plan.references
        ],
        "references_unknown": plan.references_unknown,
        "refresh_only": plan.refresh_only,
    }


def render_json(plan: Plan) -> str:
    """The plan document, indented, with sorted keys so that it diffs cleanly."""
    return json.dumps(plan_document(plan), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
