"""Reading which websets use an import: every kind of reference, across pages, through the client's own
request machinery; and when the websets cannot be read, no references and one line saying why."""

from __future__ import annotations

import httpx
import pytest

from reconciler.plan.model import Reference
from reconciler.remote.answers import webset_page_problem
from reconciler.remote.client import ApiClient, RetryPolicy
from reconciler.remote.websets import read_references, references_in
from tests.conftest import API_KEY
from tests.remote.helpers import KEY, client_with

WEBSETS = "/websets/v0/websets"


def _client(emulator) -> ApiClient:
    return ApiClient(emulator.base_url, API_KEY, sleep=lambda s: None, max_rps=0)


def _mock(*answers, attempts: int = 6) -> tuple[ApiClient, list[httpx.Request]]:
    """A client whose transport answers from `answers` in order (an exception is raised)."""
    client, seen, _ = client_with(answers, retry=RetryPolicy(attempts=attempts), max_rps=0)
    return client, seen


def _error(status: int, message: str) -> httpx.Response:
    body = {"error": {"type": "x", "code": "y", "message": message}, "requestId": "req_9"}
    return httpx.Response(status, json=body, headers={"X-Request-Id": "req_9"})


EVERY_WAY = [
    {
        "id": "webset_b",
        "title": "Prospects",
        "imports": ["import_a", "import_other"],
        "excludes": [{"source": "import", "id": "import_a"}, {"source": "webset", "id": "import_a"}],
        "searches": [
            {
                "scope": [{"source": "import", "id": "import_a"}, {"source": "webset", "id": "import_a"}],
                "exclude": [{"source": "import", "id": "import_c"}],
            },
            {"scope": [{"source": "import", "id": "import_a", "relationship": {"definition": "works at"}}]},
        ],
    },
    {"id": "webset_a", "title": None, "excludes": [{"source": "import", "id": "import_c"}]},
    {"id": "webset_unrelated", "title": "Other", "imports": ["import_other"]},
]


def test_each_kind_of_reference_is_found_once_and_sorted(make_emulator):
    emulator = make_emulator(websets=EVERY_WAY)
    with _client(emulator) as client:
        references, reason = read_references(client, {"import_a", "import_c", "import_unused"})
    assert reason is None
    assert references == [
        Reference("import_a", "webset_b", "Prospects", "exclusion"),
        Reference("import_a", "webset_b", "Prospects", "search scope"),  # two searches: once
        Reference("import_a", "webset_b", "Prospects", "source"),
        Reference("import_c", "webset_a", None, "exclusion"),
        Reference("import_c", "webset_b", "Prospects", "search exclusion"),
    ]


def test_references_are_read_across_every_page_with_the_largest_limit(make_emulator):
    websets = [{"id": f"webset_{i:03}", "title": f"W{i}"} for i in range(250)]
    websets[0]["imports"] = ["import_a"]
    websets[249]["excludes"] = [{"source": "import", "id": "import_a"}]
    emulator = make_emulator(websets=websets)
    with _client(emulator) as client:
        references, reason = read_references(client, {"import_a"})
    assert reason is None
    assert [(r.webset_id, r.how) for r in references] == [("webset_000", "source"), ("webset_249", "exclusion")]
    asked = [(e["path"], e["query"].get("limit"), "cursor" in e["query"]) for e in emulator.request_log]
    assert asked == [(WEBSETS, "100", False), (WEBSETS, "100", True), (WEBSETS, "100", True)]


def test_nothing_is_asked_when_no_import_is_in_question(make_emulator):
    emulator = make_emulator(websets=EVERY_WAY)
    with _client(emulator) as client:
        assert read_references(client, set()) == ([], None)
    assert emulator.request_log == []


def test_an_api_without_the_websets_listing_gives_a_reason_not_an_error():
    client, seen = _mock(_error(404, "no route for /websets/v0/websets"))
    with client:
        references, reason = read_references(client, {"import_a"})
    assert references == [] and len(seen) == 1  # a 404 is an answer, not retried
    assert reason is not None and "\n" not in reason
    assert reason.startswith("this API does not list websets (GET /websets/v0/websets: HTTP 404")


def test_a_key_that_may_not_read_websets_gives_a_reason_without_the_key():
    client, _ = _mock(_error(403, f"key {KEY} may not read websets"))
    with client:
        references, reason = read_references(client, {"import_a"})
    assert references == [] and reason is not None
    assert reason.startswith("the API key may not read websets (GET /websets/v0/websets: HTTP 403")
    assert KEY not in reason and "req_9" in reason


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"hasMore": False, "nextCursor": None}, "data: missing"),
        ({"data": [{"title": "no id"}], "hasMore": False, "nextCursor": None}, "data[0].id: missing"),
        (
            {"data": [{"id": "w", "imports": {"id": "i"}}], "hasMore": False, "nextCursor": None},
            "data[0].imports: not a list",
        ),
        (
            {"data": [{"id": "w", "excludes": [{"source": "import"}]}], "hasMore": False, "nextCursor": None},
            "data[0].excludes[0].id: missing",
        ),
        (
            {"data": [{"id": "w", "searches": [{"scope": ["import_a"]}]}], "hasMore": False, "nextCursor": None},
            "data[0].searches[0].scope[0]: not an object",
        ),
        (
            {"data": [{"id": "w", "title": 5}], "hasMore": False, "nextCursor": None},
            "data[0].title: not a string (int)",
        ),
        ({"data": [], "hasMore": "no", "nextCursor": None}, "hasMore: not a boolean"),
    ],
)
def test_a_malformed_answer_gives_a_reason_naming_the_field(body, problem):
    assert webset_page_problem(body) == problem
    client, _ = _mock(httpx.Response(200, json=body))
    with client:
        references, reason = read_references(client, {"import_a"})
    assert references == []
    assert reason == f"GET /websets/v0/websets: HTTP 200: unusable answer: {problem}"


def test_an_answer_that_is_not_json_gives_a_reason():
    client, _ = _mock(httpx.Response(200, text="<html>websets</html>"))
    with client:
        assert read_references(client, {"import_a"}) == (
            [],
            "GET /websets/v0/websets: HTTP 200: the answer is not JSON",
        )


def test_a_network_that_keeps_failing_gives_a_reason_after_the_retries():
    page = {"data": [{"id": "w", "imports": [{"id": "import_a"}]}], "hasMore": True, "nextCursor": "c1"}
    failures = [httpx.ReadTimeout("timed out")] * 2  # the websets get one retry, whatever the client's policy
    client, seen = _mock(httpx.Response(200, json=page), *failures, attempts=6)
    with client:
        references, reason = read_references(client, {"import_a"})
    assert references == [] and len(seen) == 3  # what was read before the failure is not half a truth
    assert reason == "GET /websets/v0/websets: no response: ReadTimeout"


def test_a_listing_whose_cursor_repeats_ends_with_a_reason():
    page = {"data": [{"id": "w"}], "hasMore": True, "nextCursor": "c1"}
    client, seen = _mock(*(httpx.Response(200, json=page) for _ in range(3)))
    with client:
        assert read_references(client, {"import_a"}) == ([], "the websets listing is inconsistent (a cursor repeated)")
    assert len(seen) == 2


def test_a_title_is_kept_on_one_line():
    websets = [{"id": "w", "title": "two\nlines\ud800", "imports": [{"id": "import_a"}]}]
    (reference,) = references_in(websets, {"import_a"})
    assert reference.title == "two lines\ufffd"


def test_a_websets_listing_that_never_answers_costs_two_short_waits_not_the_imports_retries():
    """The websets are a courtesy of the plan: a silent server gets one retry and the websets timeout,
    where an imports request would get six attempts of 30 s."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # read nothing, answer nothing
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    client = ApiClient(f"http://127.0.0.1:{port}", API_KEY, sleep=lambda s: None, max_rps=0, retry=RetryPolicy(base=0))
    client.websets_timeout = 0.2
    try:
        references, why = read_references(client, {"import_1"})
    finally:
        stop.set()
        thread.join(5)
        client.close()
        for conn in accepted:
            conn.close()
        server.close()
    assert references == [] and why is not None and "ReadTimeout" in why
    assert len(accepted) == 2
