"""The official SDKs read the emulator's websets unchanged: exa-py (pinned and newest) parses each list and
get answer into its Webset model, and the references to imports come through (exa-py keeps `imports` and
`excludes` as extra fields); exa-js reaches the same routes and hands over the same references."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import API_KEY
from tests.sdk.environments import node
from tests.sdk.test_exa_py import NEWEST, PINNED

SCRIPT = Path(__file__).with_name("read_websets_exa_py.py")
SEEDED = [
    {
        "id": "webset_prospects",
        "title": "Prospects",
        "imports": ["import_source"],
        "excludes": [{"source": "import", "id": "import_excluded"}, {"source": "webset", "id": "webset_old"}],
        "searches": [
            {
                "query": "fintechs hiring in Berlin",
                "scope": [{"source": "import", "id": "import_scope", "relationship": {"definition": "works at"}}],
                "exclude": [{"source": "import", "id": "import_search_excluded"}],
            }
        ],
    },
    {"id": "webset_bare", "title": None},
    {"id": "webset_third", "title": "Third", "externalId": "crm-3", "imports": [{"id": "import_gone", "title": "old"}]},
]
EXPECTED = [
    {
        "id": "webset_prospects",
        "title": "Prospects",
        "dashboardUrl": "https://websets.exa.ai/websets/webset_prospects",
        "imports": ["import_source"],
        "excludes": [["import", "import_excluded"], ["webset", "webset_old"]],
        "scope": [["import", "import_scope"]],
        "searchExclude": [["import", "import_search_excluded"]],
    },
    {
        "id": "webset_bare",
        "title": None,
        "dashboardUrl": "https://websets.exa.ai/websets/webset_bare",
        "imports": [],
        "excludes": [],
        "scope": [],
        "searchExclude": [],
    },
    {
        "id": "webset_third",
        "title": "Third",
        "dashboardUrl": "https://websets.exa.ai/websets/webset_third",
        "imports": ["import_gone"],
        "excludes": [],
        "scope": [],
        "searchExclude": [],
    },
]


def _report(command: list[str], cwd: Path | None = None) -> dict:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _served_every_route(emulator) -> None:
    log = emulator.request_log
    assert {(e["method"], e["path"].count("/")) for e in log} == {("GET", 3), ("GET", 4)}  # list and get
    assert all(e["status"] == 200 for e in log), log


def test_the_pinned_exa_py_parses_the_websets_and_keeps_their_references(make_emulator):
    emulator = make_emulator(websets=SEEDED)
    report = _report([sys.executable, str(SCRIPT), emulator.base_url, API_KEY])
    assert report == {
        "version": PINNED,
        "exercised": ["async get", "async list", "get", "list", "list_all"],
        "websets": EXPECTED,
    }
    _served_every_route(emulator)


def test_the_newest_exa_py_parses_the_websets_and_keeps_their_references(make_emulator, newest_python):
    emulator = make_emulator(websets=SEEDED)
    report = _report([str(newest_python), str(SCRIPT), emulator.base_url, API_KEY])
    assert report == {
        "version": NEWEST,
        "exercised": ["async get", "async list", "get", "list", "list_all"],
        "websets": EXPECTED,
    }
    _served_every_route(emulator)


def test_exa_js_reads_the_websets_and_their_references(make_emulator, js_dir):
    emulator = make_emulator(websets=SEEDED)
    report = _report([node(), "websets.mjs", emulator.base_url, API_KEY], cwd=js_dir)
    pinned = json.loads((js_dir / "package.json").read_text())["dependencies"]["exa-js"]
    assert report == {"version": pinned, "exercised": ["get", "list", "listAll"], "websets": EXPECTED}
    _served_every_route(emulator)
