"""The JSON plan for the new actions, held to schemas/plan.schema.json, and a saved plan that gives back
the changes it was made from."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from reconciler.manifest import schema
from reconciler.plan.model import Reason, Reference
from reconciler.planfile import PlanFileError, read_saved_plan, saved_changes, write_saved_plan
from reconciler.render.plan_json import plan_document, render_json
from tests.conftest import load_schema
from tests.render import plans
from tests.render.plans import plan_of

PLAN_SCHEMA = jsonschema.Draft202012Validator(load_schema("plan.schema.json"))


def every_change():
    return (
        plans.create(),
        plans.update(),
        plans.replace(moved_from="accounts-old"),
        plans.replace("customers-2", "imp_c2", reason=Reason.REPLACE_REQUESTED, adopting=True),
        plans.delete(),
        plans.adopt(),
        plans.move(),
        plans.forget(protected=True),
    )


def valid(document) -> bool:
    """Both validators agree, and say whether the document is a valid plan."""
    verdict = PLAN_SCHEMA.is_valid(document)
    assert schema.conforms("plan", document) == verdict
    return verdict


def change_of(document, key):
    return next(c for c in document["changes"] if c["key"] == key)


def test_every_action_is_written_with_its_new_fields_and_validates():
    references = (Reference("imp_st", "ws_1", "Churned", "exclusion"), Reference("imp_old", "ws_2", None, "source"))
    document = json.loads(render_json(plan_of(*every_change(), references=references, references_unknown=None)))
    assert valid(document)
    assert {c["action"] for c in document["changes"]} == {
        "create",
        "update",
        "replace",
        "delete",
        "adopt",
        "move",
        "forget",
    }
    assert change_of(document, "prospects-emea")["moved_from"] == "prospects"
    assert change_of(document, "accounts")["moved_from"] == "accounts-old"
    assert change_of(document, "customers-2")["adopting"] is True
    assert change_of(document, "customers")["adopting"] is False
    assert change_of(document, "customers")["moved_from"] is None
    assert document["summary"] == {
        "create": 1,
        "update": 1,
        "replace": 2,
        "delete": 1,
        "adopt": 1,
        "move": 1,
        "forget": 1,
        "refresh": 0,
        "noop": 0,
    }
    assert document["references"] == [
        {"import_id": "imp_st", "webset_id": "ws_1", "title": "Churned", "how": "exclusion"},
        {"import_id": "imp_old", "webset_id": "ws_2", "title": None, "how": "source"},
    ]
    assert document["references_unknown"] is None
    assert document["refresh_only"] is False


def test_a_refresh_only_plan_validates_and_says_so():
    why = "the websets could not be listed"
    plan = plan_of(plans.refresh_edit(), plans.refresh_gone(), refresh_only=True, references_unknown=why)
    document = plan_document(plan)
    assert valid(document)
    assert document["refresh_only"] is True
    assert document["references_unknown"] == why
    assert document["summary"]["refresh"] == 2
    assert [c["action"] for c in document["changes"]] == ["refresh", "refresh"]
    assert change_of(document, "leads")["after"] is None


def _broken(edit):
    document = plan_document(plan_of(*every_change(), plans.refresh_edit()))
    edit(document)
    return document


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: change_of(d, "prospects-emea").update(moved_from=None), id="move-without-its-old-key"),
        pytest.param(lambda d: change_of(d, "old-list").update(after={}), id="forget-with-an-after-side"),
        pytest.param(lambda d: change_of(d, "customers").update(before=None), id="adopt-without-the-remote"),
        pytest.param(lambda d: change_of(d, "customers").update(adopting=True), id="adopting-on-an-adopt"),
        pytest.param(lambda d: change_of(d, "customers").pop("adopting"), id="a-change-written-before-adopting"),
        pytest.param(lambda d: change_of(d, "customers").pop("moved_from"), id="a-change-written-before-moves"),
        pytest.param(lambda d: d["summary"].pop("forget"), id="summary-missing-an-action"),
        pytest.param(lambda d: d.pop("references"), id="no-references"),
        pytest.param(lambda d: d.pop("refresh_only"), id="no-refresh-only"),
        pytest.param(lambda d: d["references"].append({"import_id": "i", "webset_id": "w"}), id="reference-half-told"),
        pytest.param(lambda d: change_of(d, "people").update(reason="remote_gone"), id="unknown-reason"),
    ],
)
def test_the_schema_refuses_a_plan_that_breaks_the_new_rules(edit):
    assert valid(_broken(lambda d: None))
    assert not valid(_broken(edit))


def test_a_saved_plan_gives_back_moves_and_adoptions(tmp_path):
    plan = plan_of(*every_change(), references=(Reference("imp_st", "ws_1", "Churned", "exclusion"),))
    path = tmp_path / "plan.json"
    write_saved_plan(path, plan, "websets.yaml", None)
    saved, _ = read_saved_plan(path)
    assert saved_changes(saved) == plan.changes


def test_a_saved_plan_without_the_new_change_fields_is_refused_as_malformed(tmp_path):
    path = tmp_path / "plan.json"
    write_saved_plan(path, plan_of(plans.move()), "websets.yaml", None)
    saved = json.loads(path.read_text())
    older = copy.deepcopy(saved)
    del older["plan"]["changes"][0]["moved_from"]
    path.write_text(json.dumps(older))
    with pytest.raises(PlanFileError, match=r"the saved plan is malformed: .*moved_from"):
        read_saved_plan(path)
