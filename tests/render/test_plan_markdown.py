"""The pull request comment for adopt, move, forget and refresh, and its callout of the websets that a
replace, delete or forget affects; on hand-built plans."""

from __future__ import annotations

from reconciler.plan.model import Reason, Reference
from reconciler.render.plan_markdown import MAX_CHARS, render_markdown
from tests.render import plans
from tests.render.plans import plan_of, refs


def row(text: str, cell: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("| ") and f" | {cell} | " in line)


def warning(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("> [!WARNING]")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith(">"))
    return lines[start:end]


def test_each_new_action_has_its_own_row_and_details():
    text = render_markdown(plan_of(plans.adopt(), plans.move(), plans.forget()))
    assert row(text, "`customers`").startswith("| 🔵 | `customers` | adopt | the manifest's adopt block")
    assert row(text, "`prospects` → `prospects-emea`").startswith("| 🔀 | `prospects` → `prospects-emea` | move |")
    assert row(text, "`old-list`").startswith("| ⚪ | `old-list` | forget |")
    assert "! customers (imp_01jadopt): adopt\n!     title: " in text
    assert "!     ownership stamps: added" in text
    assert '! prospects -> prospects-emea (moved) (imp_p1): move\n!     key: "prospects" -> "prospects-emea"' in text
    assert "**Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 1 to adopt, 1 to move, 1 to forget.**" in text


def test_refresh_only_plan_has_its_own_summary_and_rows():
    text = render_markdown(plan_of(plans.refresh_edit(), plans.refresh_gone(), refresh_only=True))
    assert "**Refresh: 2 change(s) to record in the lockfile; nothing remote changes.**" in text
    assert row(text, "`people`").startswith("| 🔄 | `people` | refresh | changed outside the tool")
    assert row(text, "`leads`").startswith("| 🔄 | `leads` | refresh | deleted outside the tool")
    assert "- leads (imp_le): refresh\n-     deleted outside the tool; dropped from the lockfile" in text
    assert "[!WARNING]" not in text
    empty = render_markdown(plan_of(refresh_only=True))
    assert "**No changes.** The lockfile matches the remote." in empty


def test_the_warning_calls_out_the_websets_each_replace_delete_and_forget_affects():
    references = (
        Reference("imp_acc", "ws_1", "Outbound Q3", "source"),
        Reference("imp_acc", "ws_2", None, "search scope"),
        Reference("imp_st", "ws_3", "Churned | lost", "exclusion"),
        Reference("imp_old", "ws_4", "Legacy", "source"),
    )
    text = render_markdown(plan_of(plans.replace(), plans.delete(), plans.forget(), references=references))
    callout = warning(text)
    assert callout[1] == "> Destructive changes, and imports this tool stops managing:"
    replace = next(line for line in callout if "**replace** `accounts`" in line)
    assert replace.endswith(
        ' ⚠️ used by 2 websets: `ws_1` "Outbound Q3" (source), `ws_2` (search scope); '
        "they break when it is deleted: point them at the new id."
    )
    delete = next(line for line in callout if "**delete** `stale`" in line)
    assert delete.endswith(' ⚠️ used by 1 webset: `ws_3` "Churned \\| lost" (exclusion); they lose this import.')
    forget = next(line for line in callout if "**forget** `old-list`" in line)
    assert forget.startswith("> - ⚪ **forget** `old-list` (`imp_old`): the manifest's removed block stops managing")
    assert forget.endswith("they keep the import, which this tool no longer manages.")


def test_a_forget_alone_is_called_out_but_not_as_destructive():
    callout = warning(render_markdown(plan_of(plans.forget(protected=True))))
    assert callout[1] == "> Imports this tool stops managing:"
    assert callout[-1].endswith("⚠️ protected.")


def test_a_replace_that_adopts_or_moves_says_so_in_the_callout():
    adopting = render_markdown(plan_of(plans.replace(reason=Reason.REPLACE_REQUESTED, adopting=True)))
    assert "> - 🟣 **adopt, then replace** `accounts` (`imp_acc`): a replace was requested with --replace." in adopting
    assert row(adopting, "`accounts`").startswith("| 🟣 | `accounts` | adopt, then replace |")
    moving = render_markdown(plan_of(plans.replace(moved_from="accounts-old")))
    assert "> - 🟣 **replace** `accounts` (moved from `accounts-old`) (`imp_acc`):" in moving


def test_websets_that_could_not_be_read_are_said_in_the_warning():
    why = "GET /websets/v0/websets answered 403"
    text = render_markdown(plan_of(plans.delete(), references_unknown=why))
    assert warning(text)[-1] == (
        "> ⚠️ The websets that use the imports replaced, deleted or forgotten could not be read "
        f"({why}); check them before applying."
    )
    assert "could not be read" not in render_markdown(plan_of(plans.update(), references_unknown=why))


def test_one_import_used_by_many_websets_names_ten_and_counts_the_rest():
    text = render_markdown(plan_of(plans.delete(), references=refs("imp_st", 2500)))
    line = next(line for line in warning(text) if "**delete** `stale`" in line)
    assert "used by 2,500 websets: " in line
    assert line.count("`ws_imp_st_") == 10
    assert "and 2,490 more; they lose this import." in line


def test_the_size_cap_holds_with_many_references():
    deletes = [plans.delete(f"k{i:04d}", f"imp_{i:04d}") for i in range(1500)]
    references = tuple(r for i in range(1500) for r in refs(f"imp_{i:04d}", 12, title="A long webset title " * 4))
    plan = plan_of(*deletes, references=references, references_unknown=None)
    text = render_markdown(plan)
    assert len(text) <= MAX_CHARS
    assert "**Plan: 0 to create, 0 to update, 0 to replace, 1500 to delete.**" in text
    assert "> [!WARNING]" in text and "⚠️ used by 12 websets" in text
    assert "not shown; the full plan is in the JSON artifact" in text
    assert text.rstrip().endswith("</details>")
