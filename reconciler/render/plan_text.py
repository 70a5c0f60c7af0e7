"""The plan as terminal text, Terraform-style: `+ create`, `~ update`, `-/+ replace`, `- delete`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from reconciler.model import Entity
from reconciler.plan.model import Action, Change, Plan, get_path

SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-", Action.NOOP: " "}
_COLOURS = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.REPLACE: "magenta", Action.DELETE: "red"}
_VERBS = {
    Action.CREATE: "created",
    Action.UPDATE: "updated in place",
    Action.REPLACE: "replaced",
    Action.DELETE: "deleted",
}


def value_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def entity_text(entity: dict[str, Any] | None) -> str:
    """`company`, or `custom (what it is)`."""
    if not entity:
        return "(none)"
    return str(Entity.from_api(entity))


def csv_summary(side: dict[str, Any] | None) -> str:
    """`6 records, 321 bytes, 4 columns` from a snapshot's csv (unknown parts say so)."""
    csv = (side or {}).get("csv") or {}

    def part(name: str, unit: str) -> str:
        value = csv.get(name)
        return f"{value:,} {unit}" if isinstance(value, int) else f"? {unit}"

    return f"{part('records', 'records')}, {part('size', 'bytes')}, {part('columns', 'columns')}"


def field_lines(change: Change) -> list[str]:
    """One `path: before -> after` line per changed field; for creates, what will be made."""
    if change.action is Action.CREATE:
        after = change.after or {}
        csv = after.get("csv", {})
        return [
            f"title:    {value_text(after.get('title'))}",
            f"entity:   {entity_text(after.get('entity'))}",
            f"csv:      {csv.get('path')} ({csv_summary(after)}; identifier {csv.get('identifier_name')!r})",
            f"metadata: {value_text(after.get('metadata'))}",
        ]
    if change.action is Action.DELETE:
        before = change.before or {}
        return [f"title:    {value_text(before.get('title'))}", f"csv:      {csv_summary(before)}"]
    lines = []
    for path in change.changed_fields:
        if path == "metadata.stamps":
            lines.append("ownership stamps: missing or altered -> restored")
        elif path == "status":
            failed = (change.before or {}).get("failed")
            detail = f" ({failed['reason']}: {failed['message']})" if failed else ""
            lines.append(f"status: {value_text((change.before or {}).get('status'))}{detail}")
        else:
            old, new = get_path(change.before, path), get_path(change.after, path)
            lines.append(f"{path}: {value_text(old)} -> {value_text(new)}")
    if change.action is Action.REPLACE:
        lines.append(f"csv: {csv_summary(change.before)} -> {csv_summary(change.after)}")
    return lines


def summary_line(plan: Plan) -> str:
    """`Plan: 2 to create, 1 to update, 1 to replace, 0 to delete.`"""
    s = plan.summary
    counts = f"{s['create']} to create, {s['update']} to update, {s['replace']} to replace, {s['delete']} to delete"
    if plan.strays:
        counts += f"; {len(plan.strays)} stray import(s) of yours to delete (see the warnings)"
    return f"Plan: {counts}."


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The whole plan; the last line is `Plan: ...` or `No changes.`"""
    style: Callable[..., str] = click.style if color else (lambda text, **_: text)
    out: list[str] = []
    for change in plan.actionable:
        symbol = SYMBOLS[change.action]
        colour = _COLOURS[change.action]
        ident = f" ({change.id})" if change.id else ""
        out.append(style(f"  # {change.key} will be {_VERBS[change.action]}: {change.reason.text}", bold=True))
        if change.origin and change.action is not Action.CREATE:
            out.append(
                f"  # origin: {change.origin.value}"
                + (" (conflict: the manifest wins)" if change.origin.value == "both" else "")
            )
        if change.protected and change.action.destructive:
            out.append(style("  # this import is protected", fg="red"))
        out.append(style(f"{symbol:>3} {change.key}{ident}", fg=colour))
        out += [f"      {line}" for line in field_lines(change)]
        out.append("")
    if plan.warnings:
        out.append("Warnings:")
        out += [f"  - {w}" for w in plan.warnings]
        out.append("")
    if plan.orphans:
        out.append("Orphans: managed imports whose key left the manifest (pruning is off, so they are kept):")
        out += [f"  - {o.key} ({o.id}) {value_text(o.title)}" for o in plan.orphans]
        out.append("  To delete them set safety.prune: true; to keep managing one, put its key back in the manifest.")
        out.append("")
    if plan.adopted:
        out.append(
            f"Lockfile: {len(plan.adopted)} import(s) found by their ownership stamps will be recorded: "
            + ", ".join(plan.adopted)
        )
    if plan.unmanaged:
        out.append(f"{plan.unmanaged} unmanaged import(s) not touched.")
    if plan.unsafe:
        out.append(style("This plan is UNSAFE:", fg="red", bold=True))
        out += [style(f"  - {u}", fg="red") for u in plan.unsafe]
        out.append("apply refuses it unless --force is given.")
    if plan.has_changes:
        out.append(summary_line(plan))
    else:
        out.append("No changes.")
    return "\n".join(out) + "\n"
