"""The SDK environments, prepared once per session; a missing one fails its tests (never skips them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sdk.environments import SetupFailed, exa_js, newest_exa_py


@pytest.fixture(scope="session")
def newest_python() -> Path:
    try:
        return newest_exa_py()
    except SetupFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def js_dir() -> Path:
    try:
        return exa_js()
    except SetupFailed as exc:
        pytest.fail(str(exc))
