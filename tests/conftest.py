"""Shared test fixtures.

Tests without the ``integration`` marker are pure-code tests and get the
``unit`` marker automatically, so ``pytest -m unit`` and ``pytest -m integration``
split the suite cleanly. Real public data lives in ``../shared/data`` beside the
project and is read from there, never copied.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.harness import spb_backtest, spb_feed, stack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


#: the session fixtures of the integration tests and the chaos suite (imported above),
#: registered here once so that a session running both starts the stack and simulates
#: the feed once
__all__ = ["spb_backtest", "spb_feed", "stack"]


def _needs_services(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) is not None for m in ("integration", "chaos"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not _needs_services(item):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _settings_from_defaults(request: pytest.FixtureRequest,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests see the default settings, whatever BERTHWATCH_* the environment (or the
    integration tests' stack fixture) has set."""
    if not _needs_services(request.node):
        for name in list(os.environ):
            if name.startswith("BERTHWATCH_"):
                monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real public data (read-only); fails loudly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data folder not found beside the project: {SHARED_DATA}")
    return SHARED_DATA
