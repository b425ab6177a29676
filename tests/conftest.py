"""Shared fixtures: every test gets its own data dir (a real SQLite store in tmp).

The session writes only to temporary dirs: the embedded model's converted weights go to a
session-wide model cache in tmp (``MEMLAB_MODEL_CACHE``, inherited by every subprocess), and
Hypothesis keeps no example database. Two Hypothesis profiles: ``ci`` (the default: derandomized,
so a failure reproduces, and sized so the property tests run well over 1,000 examples in all) and
``explore`` (random draws, ``--hypothesis-profile=explore``) to hunt for new failures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any torch import (see lab/__init__.py)

PROFILE = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
settings.register_profile("ci", derandomize=True, max_examples=100, **PROFILE)
settings.register_profile("explore", max_examples=100, **PROFILE)
settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's model cache: the embedded model is converted once per session, in tmp."""
    path = tmp_path_factory.mktemp("memlab-models")
    before = os.environ.get("MEMLAB_MODEL_CACHE")
    os.environ["MEMLAB_MODEL_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("MEMLAB_MODEL_CACHE", None)
    else:
        os.environ["MEMLAB_MODEL_CACHE"] = before


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MEMLAB_HOME."""
    monkeypatch.setenv("MEMLAB_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def store(home: Path):
    """A run store in the fresh data dir."""
    from lab.store import RunStore

    s = RunStore()
    yield s
    s.close()


@pytest.fixture(scope="session")
def games_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir shared by the session so generated games are made once."""
    return tmp_path_factory.mktemp("memlab-games")


@pytest.fixture
def games_store(games_home: Path, monkeypatch: pytest.MonkeyPatch):
    """A run store in the session's shared data dir (generated games are made once, runs add up)."""
    from lab.store import RunStore

    monkeypatch.setenv("MEMLAB_HOME", str(games_home))
    s = RunStore()
    yield s
    s.close()


PAGE_TIMEOUT = 60
"""Seconds an AppTest run of a page may take."""


def page(name: str, opened: tuple[str, ...] = (), **params: str) -> AppTest:
    """A Streamlit page (``pages/<name>.py``) with query parameters set, run once by AppTest; the on-demand
    expanders keyed ``opened`` (``lab.ui.on_demand``) start open, as if the user had opened them."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"))
    for key, value in params.items():
        at.query_params[key] = value
    for key in opened:
        at.session_state[key] = True
    return at.run(timeout=PAGE_TIMEOUT)


def memlab(
    *args: str, home: Path, timeout: float = 240, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, as a person would."""
    env = {**os.environ, "MEMLAB_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)
