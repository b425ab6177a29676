"""Streamlit AppTest for each page, against a real store with real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lab.records import RunConfig
from lab.runner import execute
from lab.store import RunStore

from tests.conftest import ROOT

PAGES = ROOT / "pages"


@pytest.fixture
def recorded(home: Path) -> str:
    """One finished MiniGrid run in a fresh store."""
    return execute(RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="random", max_steps=12),
                   RunStore()).run_id


def test_home_lists_recent_runs(recorded: str) -> None:
    at = AppTest.from_file(str(PAGES / "home.py")).run(timeout=60)
    assert not at.exception
    assert "Memory Agent Lab" in at.title[0].value
    assert recorded in at.dataframe[0].value["run"].tolist()


def test_home_without_runs_says_so(home: Path) -> None:
    at = AppTest.from_file(str(PAGES / "home.py")).run(timeout=60)
    assert not at.exception and "No runs yet" in at.info[0].value


def test_run_page_shows_a_run_and_its_steps(recorded: str) -> None:
    at = AppTest.from_file(str(PAGES / "run.py"))
    at.query_params["run"] = recorded
    at.run(timeout=60)
    assert not at.exception
    assert any(m.label == "status" and m.value == "finished" for m in at.metric)
    assert any(m.label == "steps" and m.value == "12" for m in at.metric)
    assert at.dataframe[-1].value["action"].tolist() == [s.action for s in RunStore().steps(recorded)]


def test_run_page_form_rejects_bad_values_and_starts_nothing(recorded: str) -> None:
    at = AppTest.from_file(str(PAGES / "run.py")).run(timeout=60)
    at.selectbox[0].select("tw-coin")
    at.run(timeout=60)
    at.text_input[-1].set_value("0-x")  # seeds
    at.button[0].click().run(timeout=60)
    assert not at.exception
    assert any("seeds" in e.value for e in at.error)
    assert len(RunStore().list_runs()) == 1


def test_run_page_launches_a_background_run(recorded: str) -> None:
    import time

    at = AppTest.from_file(str(PAGES / "run.py")).run(timeout=60)
    at.selectbox[0].select("minigrid:<ID>").run(timeout=60)
    at.number_input[-2].set_value(5)  # max steps
    at.button[0].click().run(timeout=60)
    assert not at.exception, at.exception
    assert any("started 1 run" in s.value for s in at.success)
    store = RunStore()
    new = [r for r in store.list_runs() if r.run_id != recorded][0]
    deadline = time.time() + 90
    while store.get_run(new.run_id).status == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert store.get_run(new.run_id).status == "finished"
    assert store.get_run(new.run_id).n_steps == 5, store.get_run(new.run_id).config
