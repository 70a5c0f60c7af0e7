"""The result of an apply as Markdown (for a job summary or a comment on the merged pull request)."""

from __future__ import annotations

from reconciler.apply.executor import ApplyResult
from reconciler.plan.model import Plan
from reconciler.render.plan_markdown import render_markdown

MARKER = "<!-- websets-reconciler:apply -->"


def render_apply_markdown(plan: Plan, result: ApplyResult) -> str:
    lines = [MARKER, "### websets-reconciler apply", ""]
    if result.failures:
        lines.append(f"**Apply failed**: {len(result.failures)} action(s) failed; the progress made was saved.")
        lines += [f"- `{f.key}`: {f.op}: {f.message}" for f in result.failures]
        lines.append("")
    lines.append(f"**Apply {'finished with failures' if result.failures else 'complete'}: {result.summary()}**")
    if result.skipped:
        lines.append(
            f"**Interrupted**: not started: {', '.join(f'`{k}`' for k in sorted(result.skipped))}; "
            "apply again to finish."
        )
    if result.pending:
        lines.append(
            f"Still processing: {', '.join(f'`{k}`' for k in sorted(result.pending))}; the next apply finishes them."
        )
    plan_text = render_markdown(plan, title="Plan that was applied").split("\n", 1)[1]
    return "\n".join(lines) + "\n\n" + plan_text
