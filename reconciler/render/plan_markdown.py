"""The plan as Markdown for a pull request comment: summary first, destructive actions called out,
details folded, and never more than 60,000 characters (each section truncates with a note)."""

from __future__ import annotations

from reconciler.plan.model import Action, Plan
from reconciler.render.plan_text import csv_summary, field_lines, summary_line

MARKER = "<!-- websets-reconciler:plan -->"
MAX_CHARS = 60_000
_EMOJI = {Action.CREATE: "🟢", Action.UPDATE: "🟡", Action.REPLACE: "🟣", Action.DELETE: "🔴"}


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _fit(lines: list[str], budget: int, what: str) -> list[str]:
    """Keep whole lines within `budget` characters, ending with a note of what was cut."""
    kept, used = [], 0
    for i, line in enumerate(lines):
        if used + len(line) + 1 > budget - 120:
            kept.append(
                f"_... {len(lines) - i} more line(s) of {what} not shown; the full plan is in the JSON artifact._"
            )
            return kept
        kept.append(line)
        used += len(line) + 1
    return kept


def render_markdown(plan: Plan, *, title: str = "websets-reconciler plan", max_chars: int = MAX_CHARS) -> str:
    head = [MARKER, f"### {title}", ""]
    if plan.has_changes:
        head.append(f"**{summary_line(plan)}**")
    else:
        head.append("**No changes.** The remote matches the manifest.")
    if plan.unsafe:
        head += ["", "> [!CAUTION]", "> **This plan is unsafe**; apply refuses it unless `--force` is given:"]
        head += [f"> - {_escape(u)}" for u in plan.unsafe]

    destructive = []
    for c in plan.actionable:
        if not c.action.destructive:
            continue
        if c.action is Action.REPLACE:
            destructive.append(
                f"- 🟣 **replace** `{c.key}` (`{c.id}`): {c.reason.text}. CSV {csv_summary(c.before)} → "
                f"{csv_summary(c.after)}. The import gets a **new id**: websets that use `{c.id}` must follow it."
            )
        else:
            destructive.append(f"- 🔴 **delete** `{c.key}` (`{c.id}`): {c.reason.text}.")
        if c.protected:
            destructive[-1] += " ⚠️ protected."
    if destructive:
        destructive = ["", "> [!WARNING]", "> Destructive changes:", ">", *(f"> {line}" for line in destructive)]

    table = []
    if plan.actionable:
        table = ["", "| | key | action | reason | origin |", "| --- | --- | --- | --- | --- |"]
        for c in plan.actionable:
            origin = c.origin.value if c.origin else ""
            table.append(
                f"| {_EMOJI[c.action]} | `{_escape(c.key)}` | {c.action.value} | {_escape(c.reason.text)} | {origin} |"
            )

    details = []
    if plan.actionable:
        details = ["", "<details><summary>Details</summary>", "", "```diff"]
        for c in plan.actionable:
            sign = {"create": "+", "delete": "-", "update": "!", "replace": "!"}[c.action.value]
            details.append(f"{sign} {c.key}" + (f" ({c.id})" if c.id else "") + f": {c.action.value}")
            details += [f"{sign}     {line}" for line in field_lines(c)]
        details += ["```", "", "</details>"]

    notes = []
    if plan.warnings:
        notes += ["", "**Warnings**", *(f"- {_escape(w)}" for w in plan.warnings)]
    if plan.orphans:
        notes += ["", "**Orphans** (key removed, pruning off: kept)"]
        notes += [f"- `{o.key}` (`{o.id}`) {_escape(o.title)}" for o in plan.orphans]
    tail = []
    if plan.unmanaged:
        tail.append(f"{plan.unmanaged} unmanaged import(s) not touched.")
    if tail:
        tail = ["", *tail]

    sections = [head, destructive, table, notes, details, tail]
    # Give each section what it needs, largest last, so a huge details block is cut before the summary.
    budget = max_chars - 200
    fitted: list[list[str]] = [[] for _ in sections]
    for index in sorted(range(len(sections)), key=lambda i: len("\n".join(sections[i]))):
        remaining = len([i for i in range(len(sections)) if not fitted[i] and sections[i]])
        share = budget // max(remaining, 1)
        size = len("\n".join(sections[index]))
        fitted[index] = sections[index] if size <= share else _fit(sections[index], share, "this section")
        budget -= len("\n".join(fitted[index])) + 1
    if fitted[4] and fitted[4][-1] != "</details>":
        fitted[4] += ["```", "", "</details>"]
    return "\n".join(line for section in fitted for line in section) + "\n"
