"""The plan as Markdown for a pull request comment: summary first, destructive actions (and the websets
they break) called out, details folded, and never more than 60,000 characters (each section truncates
with a note)."""

from __future__ import annotations

from reconciler.plan.digest import plan_digest
from reconciler.plan.model import Action, Change, Plan, Reference
from reconciler.render.plan_text import (
    csv_summary,
    field_lines,
    label,
    references_unknown_line,
    remote_deleted,
    summary_line,
    value_text,
)

MARKER = "<!-- websets-reconciler:plan -->"
DIGEST_MARKER = "<!-- websets-reconciler:digest="  # followed by the digest and ` -->`, for scripts to read
MAX_CHARS = 60_000
_EMOJI = {
    Action.CREATE: "🟢",
    Action.UPDATE: "🟡",
    Action.REPLACE: "🟣",
    Action.DELETE: "🔴",
    Action.ADOPT: "🔵",
    Action.MOVE: "🔀",
    Action.FORGET: "⚪",
    Action.REFRESH: "🔄",
}
_SIGNS = {Action.CREATE: "+", Action.DELETE: "-"}  # the rest change an import that stays: `!`
# Websets named in one callout line; the rest are counted (every one is in the JSON plan).
MAX_REFERENCES_SHOWN = 10
_BROKEN = {
    Action.REPLACE: "they break when it is deleted: point them at the new id",
    Action.DELETE: "they lose this import",
    Action.FORGET: "they keep the import, which this tool no longer manages",
}


# Markdown that remote text could use to ping, link, embed or format: each is shown as itself.
_MARKUP = str.maketrans({c: "\\" + c for c in "\\`*_[]!@~|#"} | {"<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "})


def _escape(text: str) -> str:
    """Text shown as it is: no mention, link, image, emphasis or HTML, and on one line."""
    return text.translate(_MARKUP)


def _code(text: str) -> str:
    """Text in a code span, whatever backticks it holds (the fence is longer than any run of them)."""
    text = text.replace("\n", " ").replace("\r", " ").replace("|", "\\|")
    ticks = 1
    while "`" * ticks in text:
        ticks += 1
    fence = "`" * ticks
    return f"{fence} {text} {fence}" if ticks > 1 or text.startswith(" ") else f"{fence}{text}{fence}"


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


def _reference(ref: Reference) -> str:
    title = f" {_escape(value_text(ref.title))}" if ref.title else ""
    return f"{_code(ref.webset_id)}{title} ({_escape(ref.how)})"


def _used_by(plan: Plan, change: Change) -> str:
    """` ⚠️ used by 2 websets: ...; they lose this import.`, or nothing when no webset uses it."""
    refs = plan.references_to(change.id)
    if not refs:
        return ""
    shown = ", ".join(_reference(r) for r in refs[:MAX_REFERENCES_SHOWN])
    more = f" and {len(refs) - MAX_REFERENCES_SHOWN:,} more" if len(refs) > MAX_REFERENCES_SHOWN else ""
    count = f"{len(refs):,} webset{'s' if len(refs) > 1 else ''}"
    return f" ⚠️ used by {count}: {shown}{more}; {_BROKEN[change.action]}."


def _callout(plan: Plan, c: Change) -> str:
    ident = _code(c.id or "")
    if c.action is Action.REPLACE:
        verb = "adopt, then replace" if c.adopting else "replace"
        moved = f" (moved from `{c.moved_from}`)" if c.moved_from else ""
        line = (
            f"- 🟣 **{verb}** `{c.key}`{moved} ({ident}): {c.reason.text}. CSV {csv_summary(c.before)} → "
            f"{csv_summary(c.after)}. The import gets a **new id**: websets that use {ident} must follow it."
        )
    elif c.action is Action.DELETE:
        line = f"- 🔴 **delete** `{c.key}` ({ident}): {c.reason.text}."
    else:
        line = f"- ⚪ **forget** `{c.key}` ({ident}): {c.reason.text}."
    if c.protected:
        line += " ⚠️ protected."
    return line + _used_by(plan, c)


def _warning_section(plan: Plan) -> list[str]:
    """Destructive changes and forgets, each with the websets it affects."""
    called = [c for c in plan.actionable if c.action.breaks_references]
    if not called:
        return []
    destructive = any(c.action.destructive for c in called)
    forgets = any(c.action is Action.FORGET for c in called)
    what = "Destructive changes" if destructive else ""
    if forgets:
        what = f"{what}, and imports this tool stops managing" if what else "Imports this tool stops managing"
    lines = ["", "> [!WARNING]", f"> {what}:", ">", *(f"> {_callout(plan, c)}" for c in called)]
    unknown = references_unknown_line(plan)
    if unknown:
        lines += [">", f"> ⚠️ {_escape(unknown)}"]
    return lines


def _key_cell(c: Change) -> str:
    if c.moved_from:
        return f"`{_escape(c.moved_from)}` → `{_escape(c.key)}`"
    return f"`{_escape(c.key)}`"


def _details_sign(c: Change) -> str:
    return "-" if remote_deleted(c) else _SIGNS.get(c.action, "!")


def render_markdown(
    plan: Plan, *, title: str = "websets-reconciler plan", max_chars: int = MAX_CHARS, reviewable: bool = True
) -> str:
    """The plan as a pull request comment of at most `max_chars` characters. Only a `reviewable` one
    carries the hidden markers by which scripts find the plan comment and the digest that was reviewed."""
    head = [MARKER, f"### {title}", ""] if reviewable else [f"### {title}", ""]
    if plan.refresh_only and not plan.actionable:
        head.append("**No changes.** The lockfile matches the remote.")
    elif plan.has_changes or plan.refresh_only:
        head.append(f"**{summary_line(plan)}**")
    else:
        head.append("**No changes.** The remote matches the manifest.")
    if plan.has_changes:
        digest = plan_digest(plan)
        marker = [f"{DIGEST_MARKER}{digest} -->"] if reviewable else []
        head += ["", *marker, f"Plan digest: `{digest}` (`apply --expect-digest` checks it)"]
    if plan.unsafe:
        head += ["", "> [!CAUTION]", "> **This plan is unsafe**; apply refuses it unless `--force` is given:"]
        head += [f"> - {_escape(u)}" for u in plan.unsafe]

    destructive = _warning_section(plan)

    table = []
    if plan.actionable:
        table = ["", "| | key | action | reason | origin |", "| --- | --- | --- | --- | --- |"]
        for c in plan.actionable:
            origin = c.origin.value if c.origin else ""
            action = "adopt, then replace" if c.action is Action.REPLACE and c.adopting else c.action.value
            table.append(f"| {_EMOJI[c.action]} | {_key_cell(c)} | {action} | {_escape(c.reason.text)} | {origin} |")

    details = []
    if plan.actionable:
        details = ["", "<details><summary>Details</summary>", "", "```diff"]
        for c in plan.actionable:
            sign = _details_sign(c)
            details.append(f"{sign} {label(c)}: {c.action.value}")
            details += [f"{sign}     {line}" for line in field_lines(c)]
        details += ["```", "", "</details>"]

    notes = []
    if plan.warnings:
        notes += ["", "**Warnings**", *(f"- {_escape(w)}" for w in plan.warnings)]
    if plan.orphans:
        notes += ["", "**Orphans** (key removed, pruning off: kept)"]
        notes += [f"- `{o.key}` ({_code(o.id)}) {_escape(o.title)}" for o in plan.orphans]
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
