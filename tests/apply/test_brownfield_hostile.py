"""Remote text and user input that would break the brownfield commands: a lone surrogate in an entity,
Markdown and terminal controls in websets, an empty title, and options that would be dropped or split a line."""

from __future__ import annotations

import json

import pytest

from reconciler.plan.model import Action, Change, Plan, Reason, Reference
from reconciler.remote.state import RemoteImport
from reconciler.render.plan_markdown import render_markdown
from tests.apply.helpers import rows
from tests.apply.test_brownfield import _assert_no_changes, _cli, _managed, _write
from tests.dump.helpers import seed_raw


@pytest.fixture
def run(emulator, monkeypatch):
    monkeypatch.setenv("WEBSETS_MAX_RPS", "0")
    return lambda *args: _cli(emulator, monkeypatch, *args)


def test_a_lone_surrogate_in_an_entity_description_is_read_as_a_replacement_character():
    item = {
        "id": "import_1", "status": "completed", "title": "t", "count": 1, "metadata": {},
        "entity": {"type": "custom", "description": "ab\ud800"},
        "createdAt": "2030-01-01T00:00:00Z", "updatedAt": "2030-01-01T00:00:00Z",
    }  # fmt: skip
    entity = RemoteImport.from_api(item).entity
    assert entity is not None and entity.description == "ab\ufffd"
    entity.description.encode("utf-8")


def test_dump_of_an_import_with_a_lone_surrogate_in_its_entity_adopts_and_converges(run, emulator, tmp_path):
    seed_raw(emulator, title="Odd", entity={"type": "custom", "description": "ab\ud800"})
    manifest = tmp_path / "websets.yaml"
    assert run("dump", "--owner", "growth", "--out", str(manifest)).exit_code == 0
    assert run("validate", "-f", str(manifest)).exit_code == 0
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0 and plan.output.splitlines()[-1].endswith("1 to adopt."), plan.output


def test_an_empty_title_is_dumped_as_empty_and_adopted_without_a_rename(run, emulator, tmp_path):
    made = seed_raw(emulator, title="", entity={"type": "company"})
    manifest = tmp_path / "websets.yaml"
    assert run("dump", "--owner", "growth", "--out", str(manifest)).exit_code == 0
    plan = run("plan", "-f", str(manifest))
    assert plan.exit_code == 0 and "title:" not in plan.output, plan.output
    assert run("apply", "-f", str(manifest), "--auto-approve").exit_code == 0
    assert emulator.store.get(made)["title"] == ""
    _assert_no_changes(run, manifest)


def _forget_plan(webset_id: str, title: str) -> Plan:
    change = Change("old", Action.FORGET, Reason.KEY_FORGOTTEN, "import_1", {"title": "t", "metadata": {}}, None)
    return Plan("growth", (change,), 1, 0, references=(Reference("import_1", webset_id, title, "source"),))


def test_remote_text_in_the_pr_comment_cannot_mention_link_embed_or_break_out_of_its_code_span():
    hostile = "@octo-org/team ![p](https://evil.example/p.png) [click](https://phish) **b** <img>"
    markdown = render_markdown(_forget_plan("webset_`@evil", hostile))
    line = next(line for line in markdown.splitlines() if "used by" in line)
    assert "@octo-org" not in line.replace("\\@octo-org", "")
    assert "![p]" not in line and "[click]" not in line and "**b**" not in line and "<img>" not in line
    assert "`` webset_`@evil ``" in line


def test_a_webset_id_holding_controls_stays_on_one_line_of_the_text_plan(make_emulator, monkeypatch, tmp_path):
    emulator = make_emulator()

    def run(*args):
        return _cli(emulator, monkeypatch, *args)

    manifest, ids = _managed(run, tmp_path, ["a"])
    emulator.websets.add({"id": "webset_\x1b[2J\nFAKE: Plan: 0 to create", "title": "W", "imports": [ids["a"]]})
    plan = run("plan", "-f", str(manifest), "--replace", "a")
    assert plan.exit_code == 0, plan.output
    assert "\x1b" not in plan.output and not any(line.startswith("FAKE") for line in plan.output.splitlines())
    assert "used by webset webset_\\x1b[2J\\nFAKE: Plan: 0 to create" in plan.output


@pytest.mark.parametrize("selection", [["--exclude", "a"], ["--target", "b"]])
def test_a_replace_that_the_selection_leaves_out_is_an_error_not_dropped(run, emulator, tmp_path, selection):
    manifest, _ = _managed(run, tmp_path, ["a", "b"])
    result = run("plan", "-f", str(manifest), "--replace", "a", *selection)
    assert result.exit_code == 1
    assert result.output == "Error: --replace a: --target/--exclude leave this key out of the plan\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["plan", "--target", "x\ny"],
            "Error: --target 'x\\ny': no such key in the manifest, the lockfile or the remote",
        ),
        (["plan", "--replace", "x\ny"], "Error: --replace 'x\\ny': no such key in the manifest"),
        (["dump", "--owner", "growth", "--match", "a{99999999999}"], "Error: --match 'a{99999999999}': not a valid"),
        (["dump", "--owner", "growth", "--out", ""], "Error: --out: give a file name"),
    ],
)
def test_odd_option_values_are_one_line_errors(run, emulator, tmp_path, args, message):
    manifest = _write(tmp_path, "  a: {csv: data/a.csv}\n", "", {"a.csv": rows(1)})
    if args[0] == "plan":
        args = [*args, "-f", str(manifest)]
    result = run(*args)
    assert result.exit_code == 1
    assert len(result.output.splitlines()) == 1 and result.output.startswith(message), result.output
    json.dumps(result.output)
