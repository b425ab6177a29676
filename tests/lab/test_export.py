"""Exports of real stored runs: JSONL round trip and import errors, ATIF v1.4, Minari, HTML report, CLI."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

from lab.core.errors import ConfigError
from lab.export import FORMATS, export_bytes, export_run, import_file, import_jsonl, jsonl_lines
from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore
from lab.views.demo import record_demo
from tests.conftest import memlab

GRID = "minigrid:MiniGrid-Empty-5x5-v0"


@pytest.fixture
def llm_run(store: RunStore) -> str:
    """The full-history agent with a fake chat model: 2 trials of 4 steps, LLM calls, record memory."""
    model = FakeListChatModel(responses=["forward", "left", "<b>right</b>"])
    return execute(RunConfig(env_id=GRID, agent_id="full-history", llm="fake:x", max_steps=4, trials=2,
                             snapshot_every=3), store, chat_model=model).run_id


def header_without_update(line: str) -> dict:
    data = json.loads(line)
    data["run"].pop("updated_at")
    return data


def test_import_of_an_export_equals_the_original_run(store: RunStore, tmp_path: Path, llm_run: str) -> None:
    demo = record_demo(store, n_steps=25, episode_every=2)
    for run_id in (llm_run, demo):
        path = tmp_path / f"{run_id}.jsonl"
        export_run(store, run_id, "jsonl", path)
        other = RunStore(tmp_path / f"other-{run_id}.sqlite")
        assert import_file(other, path) == run_id
        original, again = list(jsonl_lines(store, run_id)), list(jsonl_lines(other, run_id))
        assert again[1:] == original[1:]
        assert header_without_update(again[0]) == header_without_update(original[0])
        n = store.get_run(run_id).n_steps
        for index in (0, n // 2, n - 1):
            assert other.memory_at(run_id, index) == store.memory_at(run_id, index)
        assert other.series(run_id) == store.series(run_id)


def good_lines(store: RunStore, run_id: str) -> list[str]:
    return list(jsonl_lines(store, run_id))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda ls: ls[:2] + ["{not json"] + ls[3:], "line 3: not valid JSON"),
    (lambda ls: ['{"event": "login", "user": "x"}', *ls[1:]], "line 1: not a memlab trace header"),
    (lambda ls: [ls[0], ls[2], *ls[3:]], "line 2: step index 1, expected 0"),
    (lambda ls: ls[:-1], "the header says 4 steps but the file has 3"),
    (lambda ls: [ls[0], ls[1].replace('"action"', '"acton"'), *ls[2:]],
     "line 2: step: field 'action': Field required"),
    (lambda ls: [ls[0].replace('"schema_version": 1', '"schema_version": 99', 1), *ls[1:]],
     "line 1: schema version 99 is newer"),
    (lambda ls: [], "the file is empty"),
    (lambda ls: [ls[0], "[1, 2]", *ls[2:]], "line 2: expected a JSON object, got list"),
])
def test_a_malformed_or_foreign_trace_names_the_line_and_imports_nothing(store: RunStore, tmp_path: Path,
                                                                          edit, message: str) -> None:
    run_id = execute(RunConfig(env_id=GRID, agent_id="random", max_steps=4), store).run_id
    lines = good_lines(store, run_id)
    other = RunStore(tmp_path / "other.sqlite")
    with pytest.raises(ConfigError, match=re.escape(message)):
        import_jsonl(other, edit(lines))
    assert other.list_runs() == []


def test_importing_a_run_twice_is_refused(store: RunStore) -> None:
    run_id = execute(RunConfig(env_id=GRID, agent_id="random", max_steps=3), store).run_id
    with pytest.raises(ConfigError, match="already in the store"):
        import_jsonl(store, good_lines(store, run_id))


def test_atif_export_follows_the_v1_4_schema(store: RunStore, tmp_path: Path, llm_run: str) -> None:
    export_run(store, llm_run, "atif", tmp_path / "run.json")
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["schema_version"] == "ATIF-v1.4" and doc["session_id"] == llm_run
    assert doc["agent"]["name"] == "full-history" and isinstance(doc["agent"]["version"], str)
    steps = doc["steps"]
    assert [s["step_id"] for s in steps] == list(range(1, len(steps) + 1))
    assert [s["source"] for s in steps] == (["user"] + ["agent"] * 4) * 2  # a user step opens each trial
    stored = store.steps(llm_run)
    for atif, step in zip([s for s in steps if s["source"] == "agent"], stored):
        call = atif["tool_calls"][0]
        assert call["function_name"] == "env.step" and call["arguments"]["command"] == step.action
        assert atif["observation"]["results"][0]["source_call_id"] == call["tool_call_id"]
        assert atif["message"] == step.llm_calls[-1].response
        assert atif["metrics"]["prompt_tokens"] == sum(c.tokens_in for c in step.llm_calls) > 0
        messages = [m.model_dump() for m in step.llm_calls[0].messages]
        assert atif["extra"]["llm_calls"][0]["messages"] == messages
    for user in (s for s in steps if s["source"] == "user"):
        assert not {"tool_calls", "metrics", "model_name", "reasoning_content"} & set(user)
    total = sum(s.get("metrics", {}).get("prompt_tokens", 0) for s in steps)
    assert doc["final_metrics"]["total_prompt_tokens"] == total == store.get_run(llm_run).summary.tokens_in


def test_minari_export_reloads_with_minari(store: RunStore, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    minari = pytest.importorskip("minari")
    run_id = execute(RunConfig(env_id=GRID, agent_id="random", seed=2, max_steps=6, trials=2), store).run_id
    assert export_run(store, run_id, "minari", tmp_path / "datasets") == 2
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    dataset = minari.load_dataset(f"memlab/MiniGrid-Empty-5x5-v0/{run_id}-v0")
    steps = store.steps(run_id)
    assert dataset.total_episodes == 2 and dataset.total_steps == len(steps)
    names = ["left", "right", "forward", "pickup", "drop", "toggle", "done"]
    episodes = list(dataset.iterate_episodes())
    assert [names[a] for e in episodes for a in e.actions] == [s.action for s in steps]
    assert [float(r) for e in episodes for r in e.rewards] == pytest.approx([s.reward for s in steps])
    assert episodes[0].observations["image"].shape[0] == len(episodes[0].actions) + 1
    assert episodes[0].observations["mission"][0] == "get to the green goal square"


def test_minari_export_refuses_a_text_run(store: RunStore, tmp_path: Path) -> None:
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    with pytest.raises(ConfigError, match="needs a MiniGrid"):
        export_run(store, run_id, "minari", tmp_path / "d")


def test_html_report_is_self_contained_and_escapes_model_text(store: RunStore, tmp_path: Path,
                                                              llm_run: str) -> None:
    export_run(store, llm_run, "html", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<b>right</b>" not in page and "\\u003cb\\u003eright\\u003c/b\\u003e" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing loaded from elsewhere
    raw = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(raw)
    assert [s["action"] for s in data["steps"]] == [s.action for s in store.steps(llm_run)]
    assert len(data["frames"]) == len(data["steps"])
    assert data["frames"][0].startswith("data:image/png;base64,")
    records = data["memory"]["records"]
    assert len(records) == 8  # 4 history entries per trial
    assert all(v[-1]["t"] is not None for v in list(records.values())[:4])  # trial 0's cleared at trial 1


def test_export_bytes_zips_several_runs(store: RunStore) -> None:
    configs = [RunConfig(env_id=GRID, agent_id="random", seed=s, max_steps=2) for s in (0, 1)]
    ids = [execute(config, store).run_id for config in configs]
    name, payload = export_bytes(store, ids[:1], "atif")
    assert name == f"{ids[0]}.atif.json" and json.loads(payload)["session_id"] == ids[0]
    name, payload = export_bytes(store, ids, "jsonl")
    archive = zipfile.ZipFile(__import__("io").BytesIO(payload))
    assert name.endswith(".zip") and sorted(archive.namelist()) == sorted(f"{i}.jsonl" for i in ids)
    with pytest.raises(ConfigError, match="unknown export format 'csv'"):
        export_run(store, ids[0], "csv", Path("x"))
    assert FORMATS == ("jsonl", "minari", "atif", "html")


def test_cli_export_and_import(home: Path, tmp_path: Path) -> None:
    from lab.cli import app

    run_id = execute(RunConfig(env_id=GRID, agent_id="random", max_steps=3), RunStore()).run_id
    out = memlab("export", run_id, "--format", "atif", "-o", str(tmp_path / "a.json"), home=home)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "a.json").read_text())["session_id"] == run_id
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "header", "run": {}}\n')
    result = CliRunner().invoke(app, ["import", str(bad)], env={**os.environ, "MEMLAB_HOME": str(home)})
    assert result.exit_code == 2 and "line 1: run header: field 'run_id'" in result.output
    exported = tmp_path / "run.jsonl"
    export_run(RunStore(), run_id, "jsonl", exported)
    RunStore().delete_run(run_id)
    result = CliRunner().invoke(app, ["import", str(exported)], env={**os.environ, "MEMLAB_HOME": str(home)})
    assert result.exit_code == 0 and result.output.strip().splitlines()[-1] == run_id


def test_html_report_escapes_script_injected_into_an_observation(store: RunStore, tmp_path: Path) -> None:
    """A game or model that prints markup cannot run code in the report."""
    from lab.core.records import ObservationRecord, RunSummary, Step

    evil = "</script><script>alert('pwned')</script><img src=x onerror=alert(1)>"
    steps = [Step(index=0, t=0, observation=ObservationRecord(text=f"You see {evil}"), action=evil,
                  feedback=evil, thoughts={"plan": evil}, trial_end=True)]
    run_id = store.add_run(RunConfig(env_id="tw-coin", agent_id="random", label=evil), {}, steps,
                           RunSummary(status="finished", steps=1, message=evil))
    export_run(store, run_id, "html", tmp_path / "evil.html")
    page = (tmp_path / "evil.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    raw = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(raw)["steps"][0]["action"] == evil  # the text survives, escaped
