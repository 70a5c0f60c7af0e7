"""The terminal plan for adopt, move, forget, refresh, the replaces that adopt or move, and the websets a
change affects; on hand-built plans."""

from __future__ import annotations

from reconciler.plan.model import Reason, Reference
from reconciler.render.plan_text import render_text, summary_line
from tests.render import plans
from tests.render.plans import plan_of


def block(text: str, start: str) -> list[str]:
    """The lines of the change whose heading starts with `start`, up to the blank line after it."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    end = lines.index("", first)
    return lines[first:end]


def test_adopt_names_the_import_and_lists_what_changes_on_it_without_an_upload():
    text = render_text(plan_of(plans.adopt()))
    assert block(text, "  # customers") == [
        "  # customers will be adopted: the manifest's adopt block takes over this existing import",
        "  # origin: manifest",
        " <= adopt customers (imp_01jadopt)",
        '      title: "Customers (dashboard)" -> "Customers"',
        "      ownership stamps: added",
    ]
    assert "csv" not in text
    assert text.endswith("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 1 to adopt.\n")


def test_adopt_is_cyan_in_colour():
    text = render_text(plan_of(plans.adopt()), color=True)
    assert "\x1b[36m <= adopt customers (imp_01jadopt)" in text


def test_move_shows_both_keys_and_the_key_stamp_change():
    text = render_text(plan_of(plans.move()))
    assert block(text, "  # prospects") == [
        "  # prospects will be moved to prospects-emea: the manifest's moved block renames the key; "
        "the import keeps its id",
        "  # origin: manifest",
        "  ~ prospects -> prospects-emea (moved) (imp_p1)",
        '      key: "prospects" -> "prospects-emea"',
        '      title: "Prospects" -> "Prospects EMEA"',
    ]
    assert text.endswith(", 0 to delete, 1 to move.\n")


def test_forget_says_the_import_is_kept_and_shows_its_title():
    text = render_text(plan_of(plans.forget(protected=True)))
    assert block(text, "  # old-list") == [
        "  # old-list will be forgotten: the manifest's removed block stops managing it; the import is kept",
        "  # origin: manifest",
        "  # this import is protected",
        "  . forget old-list (imp_old)",
        "      the import is kept; the tool's ownership stamps are removed and it is no longer managed",
        '      title: "Old list"',
    ]
    assert text.endswith(", 0 to delete, 1 to forget.\n")


def test_refresh_shows_remote_edits_as_lockfile_to_remote():
    text = render_text(plan_of(plans.refresh_edit(), refresh_only=True))
    assert block(text, "  # people") == [
        "  # people will be refreshed in the lockfile: changed outside the tool since the lockfile was written",
        "  # origin: remote",
        "  ~ people (imp_pe)",
        '      metadata.team: "growth" -> "sales"',
        '      title: "People" -> "People (renamed in the dashboard)"',
    ]


def test_refresh_of_an_import_deleted_outside_the_tool_drops_it():
    text = render_text(plan_of(plans.refresh_gone(), refresh_only=True))
    assert block(text, "  # leads")[2:] == [
        "  - leads (imp_le)",
        "      deleted outside the tool; dropped from the lockfile",
    ]
    assert "leads will be dropped from the lockfile: deleted outside the tool" in text


def test_refresh_only_summary_counts_what_the_lockfile_records_or_says_it_matches():
    changed = render_text(plan_of(plans.refresh_edit(), plans.refresh_gone(), refresh_only=True))
    assert changed.endswith("\nRefresh: 2 change(s) to record in the lockfile; nothing remote changes.\n")
    assert "Plan:" not in changed
    assert render_text(plan_of(refresh_only=True)) == "No changes. The lockfile matches the remote.\n"


def test_a_replace_that_moves_names_the_old_key():
    text = render_text(plan_of(plans.replace(moved_from="accounts-old")))
    lines = block(text, "  # accounts")
    assert "-/+ accounts (imp_acc) (moved from accounts-old)" in lines
    assert '      key: "accounts-old" -> "accounts"' in lines


def test_a_replace_that_adopts_says_so_and_a_requested_replace_gives_its_reason():
    text = render_text(plan_of(plans.replace(reason=Reason.REPLACE_REQUESTED, adopting=True)))
    assert block(text, "  # accounts")[0] == (
        "  # accounts will be adopted, then replaced: a replace was requested with --replace"
    )
    plain = render_text(plan_of(plans.replace(reason=Reason.REPLACE_REQUESTED)))
    assert block(plain, "  # accounts")[0] == "  # accounts will be replaced: a replace was requested with --replace"


def test_websets_are_listed_under_each_replace_delete_and_forget_only():
    references = (
        Reference("imp_acc", "ws_1", "Outbound Q3", "source"),
        Reference("imp_acc", "ws_2", None, "search scope"),
        Reference("imp_st", "ws_3", "Churned", "exclusion"),
        Reference("imp_old", "ws_4", "Legacy", "search exclusion"),
        Reference("imp_pa", "ws_5", "Partners", "source"),  # an update keeps the id: nothing to say
    )
    changes = (plans.replace(), plans.delete(), plans.forget(), plans.update(), plans.adopt())
    text = render_text(plan_of(*changes, references=references))
    assert block(text, "  # accounts")[-2:] == [
        '      used by webset ws_1 "Outbound Q3" (source)',
        "      used by webset ws_2 (search scope)",
    ]
    assert block(text, "  # stale")[-1] == '      used by webset ws_3 "Churned" (exclusion)'
    assert block(text, "  # old-list")[-1] == '      used by webset ws_4 "Legacy" (search exclusion)'
    assert "ws_5" not in text
    assert text.count("used by") == 4


def test_websets_that_could_not_be_read_are_said_once_when_a_change_needs_them():
    why = "GET /websets/v0/websets answered 403"
    text = render_text(plan_of(plans.delete(), plans.forget(), references_unknown=why))
    assert text.count("could not be read") == 1
    assert f"could not be read ({why}); check them before applying." in text
    quiet = render_text(plan_of(plans.update(), plans.adopt(), references_unknown=why))
    assert "could not be read" not in quiet


def test_the_summary_keeps_its_shape_and_adds_only_the_new_counts_there_are():
    old_shape = plan_of(plans.create(), plans.update(), plans.replace(), plans.delete())
    assert summary_line(old_shape) == "Plan: 1 to create, 1 to update, 1 to replace, 1 to delete."
    every = plan_of(plans.adopt("a", "imp_a"), plans.adopt("b", "imp_b"), plans.move(), plans.forget(), plans.update())
    assert summary_line(every) == (
        "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 2 to adopt, 1 to move, 1 to forget."
    )
