"""Shared fixtures: an in-process emulator whose every response body is checked against the API schema."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from reconciler.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-key"

# The emulator has no rate limit unless a test gives it one, so the commands run unpaced (their children
# too); the tests of pacing choose their rate explicitly.
os.environ.setdefault("WEBSETS_MAX_RPS", "0")


def load_schema(name: str) -> dict:
    return json.loads((ROOT / "schemas" / name).read_text())


_API_SCHEMA = load_schema("exa-import.schema.json")
_KIND_TO_DEF = {
    "import": "Import",
    "create": "CreateImportResponse",
    "list": "ListImportsResponse",
    "error": "ErrorBody",
}


def api_validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = {**_API_SCHEMA, "$ref": f"#/$defs/{definition}"}
    schema.pop("oneOf")
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


_VALIDATORS = {kind: api_validator(name) for kind, name in _KIND_TO_DEF.items()}


def assert_bodies_match_schema(emu: Emulator) -> None:
    """Every JSON body the emulator sent validates against schemas/exa-import.schema.json."""
    if not emu.record_bodies:
        return
    for entry in emu.request_log:
        kind = entry.get("kind")
        if kind in _VALIDATORS:
            errors = [e.message for e in _VALIDATORS[kind].iter_errors(entry["body"])]
            assert not errors, f"{entry['method']} {entry['path']} -> {entry['body']}: {errors}"
        elif kind == "upload":
            assert entry["body"] is None


class FakeClock:
    """A settable clock for upload expiry and processing delays, so no test sleeps."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_emulator(tmp_path: Path) -> Iterator:
    """Start emulators with chosen options; all are stopped, and their bodies checked, at teardown."""
    started: list[Emulator] = []

    def make(**options) -> Emulator:
        options.setdefault("api_key", API_KEY)
        options.setdefault("processing_delay", 0.0)
        options.setdefault("record_bodies", True)
        emu = Emulator(**options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()
    for emu in started:
        assert_bodies_match_schema(emu)


@pytest.fixture
def emulator(make_emulator, clock: FakeClock) -> Emulator:
    return make_emulator(clock=clock)
