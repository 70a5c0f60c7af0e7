"""A plan's digest: what `apply --expect-digest` checks, so that a merge applies the plan that was reviewed.

It covers what apply would do and to what: each change's key, action, reason, import id, both sides and the
fields it changes, the stray imports apply deletes, and whether the plan only refreshes the lockfile. It
leaves out what only informs (warnings, counts, the websets that use an import), so the same changes against
the same remote give the same digest on any machine. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.plan.model import Plan

DIGEST_VERSION = "1"  # changes when what the digest covers changes


def _covered(plan: Plan) -> dict[str, Any]:
    return {
        "version": DIGEST_VERSION,
        "owner": plan.owner,
        "refresh_only": plan.refresh_only,
        "changes": [
            {
                "key": c.key,
                "action": c.action.value,
                "reason": c.reason.value,
                "id": c.id,
                "before": c.before,
                "after": c.after,
                "changed_fields": list(c.changed_fields),
                "moved_from": c.moved_from,
                "adopting": c.adopting,
                "protected": c.protected,
            }
            for c in plan.actionable
        ],
        "strays": sorted([s.key, s.id] for s in plan.strays),
    }


def plan_digest(plan: Plan) -> str:
    """The sha256 (hex) of the plan's changes, written canonically."""
    text = json.dumps(_covered(plan), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
