"""Every registered agent runs on its own default env with its default options on a fresh data dir: nothing
it needs (a generated game, a schema, trained weights) may be missing on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from agents.registry import specs
from lab.benches.strong_model import ScriptedStrongModel
from lab.core.protocols import AgentSpec
from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunStore]:
    """One data dir for the walk, empty at its start (games generated in it are reused within the walk)."""
    home = tmp_path_factory.mktemp("first-use")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEMLAB_HOME", str(home))
        store = RunStore()
        assert not (Path(home) / "schemas").exists() and not (Path(home) / "games").exists()
        yield store
        store.close()


@pytest.mark.parametrize("spec", list(specs().values()), ids=lambda s: s.id)
def test_every_agent_runs_on_its_default_env_with_default_options(fresh: RunStore, spec: AgentSpec) -> None:
    assert spec.default_env and any(k in spec.env_kinds for k in ("text", "grid"))
    config = RunConfig(env_id=spec.default_env, agent_id=spec.id, llm="fake:scripted" if spec.uses_llm else "none",
                       max_steps=2, probe_every=0)
    info = execute(config, fresh, chat_model=ScriptedStrongModel() if spec.uses_llm else None)
    assert info.status == "finished", info.message
    assert info.n_steps >= 1 and all(s.action or s.done for s in fresh.steps(info.run_id))
