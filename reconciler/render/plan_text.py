"""The plan as terminal text, Terraform-style: `+ create`, `~ update`, `-/+ replace`, `- delete`,
`<= adopt`, `~ a -> b (moved)`, `. forget`, and, in a --refresh-only plan, what the lockfile will record."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from reconciler.model import Entity
from reconciler.plan.model import Action, Change, Plan, Reason, Reference, get_path

SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.ADOPT: "<=",
    Action.MOVE: "~",
    Action.FORGET: ".",
    Action.REFRESH: "~",
    Action.NOOP: " ",
}
_COLOURS = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.ADOPT: "cyan",
    Action.MOVE: "yellow",
    Action.FORGET: "blue",
    Action.REFRESH: "yellow",
}
_VERBS = {
    Action.CREATE: "created",
    Action.UPDATE: "updated in place",
    Action.REPLACE: "replaced",
    Action.DELETE: "deleted",
    Action.ADOPT: "adopted",
    Action.FORGET: "forgotten",
    Action.REFRESH: "refreshed in the lockfile",
}
# The counts the summary line always shows, then those it shows only when non-zero.
_ALWAYS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)
_WHEN_ANY = (Action.ADOPT, Action.MOVE, Action.FORGET)
FORGET_NOTE = "the import is kept; the tool's ownership stamps are removed and it is no longer managed"


def value_text(value: Any) -> str:
    """A value as JSON (`"a title"`, `{"k": "v"}`), or `(none)`."""
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


def remote_deleted(change: Change) -> bool:
    """A refresh of an import that was deleted, or stamped with another owner, outside the tool: the
    lockfile drops it."""
    return change.action is Action.REFRESH and change.after is None


def symbol(change: Change) -> str:
    """The change's mark: `-` for an import the lockfile drops (see remote_deleted), else its action's."""
    return "-" if remote_deleted(change) else SYMBOLS[change.action]


def label(change: Change) -> str:
    """The key (`old -> new (moved)` for a move), the id, and `(moved from old)` for a replace that moves."""
    ident = f" ({change.id})" if change.id else ""
    if change.action is Action.MOVE and change.moved_from:
        return f"{change.moved_from} -> {change.key} (moved){ident}"
    if change.moved_from:
        return f"{change.key}{ident} (moved from {change.moved_from})"
    return f"{change.key}{ident}"


def heading(change: Change) -> str:
    """The `  # KEY will be ...: reason` line."""
    if change.action is Action.MOVE:
        what = (
            f"{change.moved_from} will be moved to {change.key}" if change.moved_from else f"{change.key} will be moved"
        )
    elif change.action is Action.REPLACE and change.adopting:
        what = f"{change.key} will be adopted, then replaced"
    elif remote_deleted(change):
        what = f"{change.key} will be dropped from the lockfile"
    else:
        what = f"{change.key} will be {_VERBS[change.action]}"
    return f"  # {what}: {change.reason.text}"


def _changed_lines(change: Change) -> list[str]:
    lines = []
    for path in change.changed_fields:
        if path == "metadata.stamps":
            adding = change.action is Action.ADOPT
            lines.append("ownership stamps: added" if adding else "ownership stamps: missing or altered -> restored")
        elif path == "key" and change.moved_from:
            # A change's sides carry no key: the old one is where the import moved from.
            lines.append(f"key: {value_text(change.moved_from)} -> {value_text(change.key)}")
        elif path == "status":
            failed = (change.before or {}).get("failed")
            detail = f" ({failed['reason']}: {failed['message']})" if failed else ""
            lines.append(f"status: {value_text((change.before or {}).get('status'))}{detail}")
        else:
            old, new = get_path(change.before, path), get_path(change.after, path)
            lines.append(f"{path}: {value_text(old)} -> {value_text(new)}")
    return lines


def field_lines(change: Change) -> list[str]:
    """One `path: before -> after` line per changed field; for creates, what will be made."""
    if change.action is Action.CREATE:
        after = change.after or {}
        csv = after.get("csv") or {}
        return [
            f"title:    {value_text(after.get('title'))}",
            f"entity:   {entity_text(after.get('entity'))}",
            f"csv:      {csv.get('path')} ({csv_summary(after)}; identifier {csv.get('identifier_name')!r})",
            f"metadata: {value_text(after.get('metadata'))}",
        ]
    if change.action is Action.DELETE:
        before = change.before or {}
        return [f"title:    {value_text(before.get('title'))}", f"csv:      {csv_summary(before)}"]
    if change.action is Action.FORGET:
        return [FORGET_NOTE, f"title: {value_text((change.before or {}).get('title'))}"]
    if remote_deleted(change):
        gone = "deleted outside the tool" if change.reason is Reason.REMOTE_DELETED else change.reason.text
        return [f"{gone}; dropped from the lockfile"]
    lines = _changed_lines(change)
    if change.action is Action.REPLACE:
        lines.append(f"csv: {csv_summary(change.before)} -> {csv_summary(change.after)}")
    return lines


def reference_text(ref: Reference) -> str:
    """`webset ws_1 "Title" (source)`."""
    title = f" {value_text(ref.title)}" if ref.title else ""
    return f"webset {ref.webset_id}{title} ({ref.how})"


def reference_lines(plan: Plan, change: Change) -> list[str]:
    """`used by webset ...`, one per webset that uses an import the change replaces, deletes or forgets."""
    if not change.action.breaks_references:
        return []
    return [f"used by {reference_text(r)}" for r in plan.references_to(change.id)]


def references_unknown_line(plan: Plan) -> str | None:
    """The one line saying the websets could not be read, when a change needed them."""
    if plan.references_unknown is None or not any(c.action.breaks_references for c in plan.actionable):
        return None
    return (
        "The websets that use the imports replaced, deleted or forgotten could not be read "
        f"({plan.references_unknown}); check them before applying."
    )


def summary_line(plan: Plan) -> str:
    """`Plan: 2 to create, 1 to update, 1 to replace, 0 to delete.` (`, 1 to adopt` and the like when
    there are any); for a --refresh-only plan, `Refresh: N change(s) to record in the lockfile; ...`."""
    if plan.refresh_only:
        if not plan.actionable:
            return "No changes. The lockfile matches the remote."
        return f"Refresh: {len(plan.actionable)} change(s) to record in the lockfile; nothing remote changes."
    s = plan.summary
    counts = ", ".join(f"{s[a.value]} to {a.value}" for a in _ALWAYS)
    counts += "".join(f", {s[a.value]} to {a.value}" for a in _WHEN_ANY if s[a.value])
    if plan.strays:
        counts += f"; {len(plan.strays)} stray import(s) of yours to delete (see the warnings)"
    return f"Plan: {counts}."


def _change_block(plan: Plan, change: Change, style: Callable[..., str]) -> list[str]:
    out = [style(heading(change), bold=True)]
    if change.origin and change.action is not Action.CREATE:
        out.append(
            f"  # origin: {change.origin.value}"
            + (" (conflict: the manifest wins)" if change.origin.value == "both" else "")
        )
    if change.protected and change.action.guarded:
        out.append(style("  # this import is protected", fg="red"))
    verb = {Action.ADOPT: "adopt ", Action.FORGET: "forget "}.get(change.action, "")
    colour = "red" if remote_deleted(change) else _COLOURS[change.action]
    out.append(style(f"{symbol(change):>3} {verb}{label(change)}", fg=colour))
    out += [f"      {line}" for line in (*field_lines(change), *reference_lines(plan, change))]
    out.append("")
    return out


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The whole plan; the last line is `Plan: ...` or `No changes.` (`Refresh: ...` for --refresh-only)."""
    style: Callable[..., str] = click.style if color else (lambda text, **_: text)
    out: list[str] = []
    for change in plan.actionable:
        out += _change_block(plan, change, style)
    unknown = references_unknown_line(plan)
    if unknown:
        out += [style(unknown, fg="yellow"), ""]
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
    if plan.has_changes or plan.refresh_only:
        out.append(summary_line(plan))
    else:
        out.append("No changes.")
    return "\n".join(out) + "\n"
