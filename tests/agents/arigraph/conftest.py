"""Fixtures of the AriGraph tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def paper_home(games_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir shared by the session, so the generated games are built once."""
    monkeypatch.setenv("MEMLAB_HOME", str(games_home))
    return games_home


@pytest.fixture
def paper_store(paper_home: Path):
    """A run store in the session's data dir (next to the cached games)."""
    from lab.store import RunStore

    store = RunStore()
    yield store
    store.close()
