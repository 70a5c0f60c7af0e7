"""The emulator's read-only websets: seeded from a fixture (partial websets are completed), listed page by
page and got by id in the published Webset shape, under the imports' key, faults and rate limit."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from types import SimpleNamespace

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource

from reconciler.emulator import Emulator, EmulatorConfigError, FaultConfig, Rate
from reconciler.emulator import faults as faults_module
from reconciler.emulator.process import emulator_process
from tests.conftest import API_KEY, load_schema
from tests.emulator.helpers import IMPORTS, WEBSETS, api, create_and_upload

_WEBSET_SCHEMA = load_schema("exa-webset.schema.json")
_REGISTRY = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema))
    for schema in (_WEBSET_SCHEMA, load_schema("exa-import.schema.json"))
)


def webset_validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = {key: value for key, value in _WEBSET_SCHEMA.items() if key != "oneOf"}
    schema["$ref"] = f"#/$defs/{definition}"
    return jsonschema.Draft202012Validator(schema, registry=_REGISTRY, format_checker=jsonschema.FormatChecker())


_VALIDATORS = {"webset": webset_validator("Webset"), "websets": webset_validator("ListWebsetsResponse")}


def assert_websets_match_schema(emulator) -> int:
    """Every websets answer the emulator sent validates against schemas/exa-webset.schema.json; returns
    how many were checked."""
    checked = 0
    for entry in emulator.request_log:
        if entry.get("kind") in _VALIDATORS:
            errors = [e.message for e in _VALIDATORS[entry["kind"]].iter_errors(entry["body"])]
            assert not errors, f"{entry['method']} {entry['path']} -> {entry['body']}: {errors}"
            checked += 1
    return checked


@pytest.fixture
def seeded(make_emulator, clock):
    """Start an emulator seeded with websets; every websets answer it sent is checked at teardown."""
    started = []

    def make(websets=(), **options):
        emulator = make_emulator(clock=clock, websets=websets, **options)
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        assert_websets_match_schema(emulator)


EVERY_KIND = {
    "id": "webset_every",
    "title": "Uses it every way",
    "imports": ["import_src"],
    "excludes": [{"source": "import", "id": "import_excl"}, {"source": "webset", "id": "webset_other"}],
    "searches": [
        {
            "query": "fintechs hiring",
            "scope": [{"source": "import", "id": "import_scope", "relationship": {"definition": "works at"}}],
            "exclude": [{"source": "import", "id": "import_sexcl"}],
        }
    ],
}


def test_a_partial_webset_is_completed_to_the_published_shape(seeded):
    emulator = seeded([EVERY_KIND, {"title": "Bare"}])
    client = api(emulator)
    got = client.get(f"{WEBSETS}/webset_every").json()
    assert (got["id"], got["object"], got["status"], got["title"]) == (
        "webset_every",
        "webset",
        "idle",
        "Uses it every way",
    )
    assert got["externalId"] is None and got["metadata"] == {} and got["enrichments"] == got["monitors"] == []
    assert got["dashboardUrl"].endswith("/webset_every")
    assert [i["id"] for i in got["imports"]] == ["import_src"] and got["imports"][0]["object"] == "import"
    assert got["excludes"] == EVERY_KIND["excludes"]
    (search,) = got["searches"]
    assert (search["object"], search["websetId"], search["query"]) == (
        "webset_search",
        "webset_every",
        "fintechs hiring",
    )
    assert search["scope"] == [
        {"source": "import", "id": "import_scope", "relationship": {"definition": "works at", "limit": 1}}
    ]
    assert search["exclude"] == [{"source": "import", "id": "import_sexcl"}]
    bare = client.get(WEBSETS).json()["data"][1]
    assert bare["title"] == "Bare" and bare["id"].startswith("webset_")
    assert (bare["imports"], bare["excludes"], bare["searches"]) == ([], [], [])
    assert assert_websets_match_schema(emulator) == 2


def test_the_listing_pages_in_the_fixture_order_with_cursors(seeded):
    ids = [f"webset_{i:02}" for i in range(30)]
    emulator = seeded([{"id": i} for i in ids])
    client = api(emulator)
    first = client.get(WEBSETS).json()  # the default page holds 25
    assert [w["id"] for w in first["data"]] == ids[:25] and first["hasMore"] is True
    rest = client.get(WEBSETS, params={"cursor": first["nextCursor"]}).json()
    assert [w["id"] for w in rest["data"]] == ids[25:]
    assert (rest["hasMore"], rest["nextCursor"]) == (False, None)
    everything = client.get(WEBSETS, params={"limit": 100}).json()
    assert [w["id"] for w in everything["data"]] == ids and everything["hasMore"] is False
    emulator.websets.add({"id": "webset_new"})  # added later: the newest
    assert client.get(WEBSETS, params={"limit": 1}).json()["data"][0]["id"] == "webset_new"
    # A cursor names the last webset served, so it still follows on after one is added in front.
    assert [w["id"] for w in client.get(WEBSETS, params={"cursor": first["nextCursor"]}).json()["data"]] == ids[25:]


def _forged(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({"limit": "0"}, "limit", "invalid_parameter"),
        ({"limit": "101"}, "limit", "invalid_parameter"),
        ({"limit": "ten"}, "limit", "invalid_parameter"),
        ({"cursor": ""}, "cursor", "invalid_parameter"),
        ({"cursor": "not-a-cursor"}, "cursor", "invalid_cursor"),
        ({"cursor": _forged("webset_nowhere")}, "cursor", "invalid_cursor"),
        ({"page": "2"}, "page", "invalid_parameter"),
    ],
)
def test_a_bad_limit_or_cursor_is_a_400_naming_the_field(seeded, query, field, code):
    response = api(seeded([{"id": "webset_a"}])).get(WEBSETS, params=query)
    assert response.status_code == 400
    body = response.json()
    assert (body["error"]["code"], body["error"]["detail"]["field"]) == (code, field)
    assert body["requestId"] == response.headers["X-Request-Id"]


def test_get_answers_one_webset_by_id_or_external_id_and_an_unknown_one_is_a_404(seeded):
    client = api(seeded([{"id": "webset_a", "title": "A"}, {"id": "webset_b", "externalId": "crm-7"}]))
    assert client.get(f"{WEBSETS}/webset_a").json()["title"] == "A"
    assert client.get(f"{WEBSETS}/crm-7").json()["id"] == "webset_b"
    missing = client.get(f"{WEBSETS}/webset_nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "type": "not_found_error",
        "code": "not_found",
        "message": "webset webset_nope not found",
    }
    assert client.get(f"{WEBSETS}/webset_a/items").status_code == 404  # no deeper routes


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "PUT", "OPTIONS", "HEAD"])
@pytest.mark.parametrize("path", [WEBSETS, f"{WEBSETS}/webset_a"])
def test_every_other_method_is_a_405_that_allows_only_get(seeded, method, path):
    emulator = seeded([{"id": "webset_a"}])
    response = api(emulator).request(method, path, json={"title": "x"} if method in ("POST", "PATCH") else None)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    if method == "HEAD":
        assert response.content == b""
    else:
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert [w["title"] for w in api(emulator).get(WEBSETS).json()["data"]] == [None]  # nothing changed


def test_the_websets_routes_need_the_key(seeded):
    emulator = seeded([{"id": "webset_a"}])
    for key in (None, "wrong-key"):
        for path in (WEBSETS, f"{WEBSETS}/webset_a"):
            response = api(emulator, key=key).get(path)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_a_webset_shows_the_current_object_of_each_import_it_names(seeded):
    emulator = seeded()
    client = api(emulator)
    made = create_and_upload(client, title="customers")
    emulator.websets.add({"id": "webset_a", "imports": [made["id"], {"id": "import_elsewhere", "title": "kept"}]})
    shown = client.get(f"{WEBSETS}/webset_a").json()["imports"]
    assert shown[0] == client.get(f"{IMPORTS}/{made['id']}").json()
    assert shown[0]["status"] == "completed" and shown[0]["title"] == "customers"
    assert (shown[1]["id"], shown[1]["title"], shown[1]["object"]) == ("import_elsewhere", "kept", "import")
    client.patch(f"{IMPORTS}/{made['id']}", json={"title": "renamed"})
    assert client.get(WEBSETS).json()["data"][0]["imports"][0]["title"] == "renamed"
    client.delete(f"{IMPORTS}/{made['id']}")
    # A deleted import is still named by the webset: the reference is what a plan has to show.
    assert client.get(f"{WEBSETS}/webset_a").json()["imports"][0]["id"] == made["id"]


def test_faults_and_the_rate_limit_meet_the_websets_routes_too(seeded, monkeypatch):
    throttled = api(seeded([{"id": "webset_a"}], faults=FaultConfig(throttle=Rate(1.0), retry_after=7)))
    for path in (WEBSETS, f"{WEBSETS}/webset_a"):
        response = throttled.get(path)
        assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    failing = api(seeded([{"id": "webset_a"}], faults=FaultConfig(errors=Rate(1.0, frozenset({"GET"})))))
    assert failing.get(WEBSETS).status_code in (500, 503)
    monkeypatch.setattr(faults_module, "time", SimpleNamespace(monotonic=lambda: 1000.0))  # one second for all
    limited = api(seeded([{"id": "webset_a"}], faults=FaultConfig(rps_limit=2)))
    statuses = [limited.get(IMPORTS).status_code, limited.get(WEBSETS).status_code, limited.get(WEBSETS).status_code]
    assert statuses == [200, 200, 429]  # one budget for the imports and the websets


@pytest.mark.parametrize(
    ("websets", "message"),
    [
        ([{"id": 3}], "websets[0].id: must be a string or null"),
        ([{"id": "w"}, {"id": "w"}], "websets[0].id: w is given twice"),
        ([{"exclude": []}], "websets[0].exclude: unknown field"),
        (
            [{"excludes": [{"source": "file", "id": "x"}]}],
            "websets[0].excludes[0].source: must be 'import' or 'webset'",
        ),
        (
            [{"searches": [{"scope": [{"source": "import"}]}]}],
            "websets[0].searches[0].scope[0].id: must be a non-empty string",
        ),
        ([{"imports": [7]}], "websets[0].imports[0]: must be an import id or an Import object"),
        ([{"status": "done"}], "websets[0].status: must be one of idle, pending, running, paused"),
    ],
)
def test_a_fixture_webset_that_cannot_be_served_is_refused_naming_the_field(websets, message):
    with pytest.raises(EmulatorConfigError) as refused:
        Emulator(websets=websets)
    assert str(refused.value).startswith(message)


def test_the_emulator_command_serves_a_fixture_file(tmp_path):
    fixture = tmp_path / "websets.json"
    fixture.write_text(json.dumps({"data": [EVERY_KIND, {"id": "webset_b", "title": "B"}]}))
    headers = {"x-api-key": API_KEY}
    with emulator_process("--api-key", API_KEY, "--websets", str(fixture)) as served:
        page = httpx.get(served.base_url + WEBSETS, params={"limit": 1}, headers=headers).json()
        assert [w["id"] for w in page["data"]] == ["webset_every"] and page["hasMore"] is True
        second = httpx.get(served.base_url + WEBSETS, params={"cursor": page["nextCursor"]}, headers=headers).json()
        assert [w["title"] for w in second["data"]] == ["B"]
        got = httpx.get(f"{served.base_url}{WEBSETS}/webset_every", headers=headers).json()
        assert got["searches"][0]["scope"][0]["id"] == "import_scope"
    # Another emulator seeded from the same file answers a cursor of the first, and with the same search ids.
    with emulator_process("--api-key", API_KEY, "--websets", str(fixture)) as again:
        follow = httpx.get(again.base_url + WEBSETS, params={"cursor": page["nextCursor"]}, headers=headers).json()
        assert [w["title"] for w in follow["data"]] == ["B"]
        searches = httpx.get(f"{again.base_url}{WEBSETS}/webset_every", headers=headers).json()["searches"]
        assert [s["id"] for s in searches] == [s["id"] for s in got["searches"]]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read the websets fixture"),
        ("[{", ":1:3: not valid JSON"),
        ('{"websets": 3}', "must be a JSON list of websets"),
        ('[{"id": "w", "title": 5}]', "websets[0].title: must be a string or null"),
    ],
)
def test_the_emulator_command_refuses_a_bad_fixture_in_one_line(tmp_path, content, needle):
    fixture = tmp_path / "websets.json"
    if content is not None:
        fixture.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", "--websets", str(fixture)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert str(fixture) in result.stderr and needle in result.stderr
