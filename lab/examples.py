"""``memlab examples`` and Home's "Try the examples": a few small runs that show what each memory looks like.

For a new user's empty store, in about two minutes on 2 cores: AriGraph (rules extractor) and RAG on the
same small cooking game and seed (a Compare pair), CLIN over 3 trials with its deterministic generator,
HiAgent, graph schemas rebinding its shipped schema to a recoloured room, and SAT on RoomRecall. The LLM
agents act with the lab's scripted model (``lab.benches.strong_model``), which reads only the prompt it is
sent and answers instantly: the examples show the memories and the instruments, not a model's skill.
Every run carries the label ``example`` and is deleted like any other; each opens in Explore at the step
whose memory changed most after the first (for a multi-trial run, in its last trial).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lab.core.records import RunConfig, Step
from lab.runner import execute
from lab.store import RunStore

LABEL = "example"
RULES = {"extractor": "rules", "outdated": "rules", "entities": "rules"}
COOKING = {"recipe": 1, "take": 1, "go": 1}


@dataclass(frozen=True)
class Example:
    """One example run: what it shows, and its config."""

    title: str
    config: RunConfig
    scripted: bool
    """Acts with the scripted model (an LLM agent)."""


def examples() -> list[Example]:
    """The examples, in the order they are recorded."""
    def text(agent: str, env: str, options: dict[str, Any], steps: int, **extra: Any) -> Example:
        return Example(extra.pop("title"), RunConfig(env_id=env, env_options=options, agent_id=agent,
                                                     llm="fake:scripted", max_steps=steps, probe_every=5,
                                                     probe_llm="none", label=LABEL, seed=1, **extra), True)

    forced = {"policy": "walkthrough+explore"}  # both memories see the same observations
    return [
        text("arigraph", "tw-cooking", COOKING, 20, agent_config=RULES, **forced,
             title="AriGraph (rules extractor) on a small cooking game: its triplet graph and episodic vertices"),
        text("rag", "tw-cooking", COOKING, 20, **forced,
             title="RAG on the same game, seed and trajectory: retrieved records (compare it with AriGraph)"),
        text("clin", "tw-coin", {"level": 5}, 8, trials=3, agent_config={"generator": "deterministic"},
             title="CLIN over 3 trials with the deterministic generator: learnings added, strengthened, dropped"),
        text("hiagent", "tw-coin", {"level": 5}, 10,
             title="HiAgent: working memory chunked by subgoals, finished ones summarised"),
        Example("Graph schemas rebinding the shipped 6x8 schema to a recoloured room, then planning",
                RunConfig(env_id="minigrid-aliased-room", env_options={"recolour_seed": 3}, agent_id="graph-schemas",
                          llm="none", max_steps=600, probe_every=20, label=LABEL, seed=1), False),
        Example("SAT on RoomRecall: place-centric slots and their attention",
                RunConfig(env_id="minigrid-room-recall", agent_id="sat", llm="none", max_steps=200, probe_every=20,
                          label=LABEL, seed=1), False),
    ]


def step_worth_seeing(steps: list[Step]) -> int:
    """The step whose memory changed most (in the last trial of a multi-trial run); the last step if none did."""
    last_trial = max((s.trial for s in steps), default=0)
    pool = [s for s in steps if s.trial == last_trial and (s.index > 0 or len(steps) == 1)]  # step 0 fills from empty

    def changes(step: Step) -> int:
        d = step.memory_diff
        if d is None:
            return 0
        return sum(len(getattr(d, name)) for name in ("nodes_added", "nodes_removed", "nodes_changed", "edges_added",
                                                       "edges_removed", "edges_changed", "records_added",
                                                       "records_removed", "records_changed"))
    best = max(pool, key=lambda s: (changes(s), -s.index), default=None)
    return best.index if best is not None and changes(best) else (steps[-1].index if steps else 0)


@dataclass(frozen=True)
class Recorded:
    """An example as stored: its run and the step it opens at."""

    title: str
    run_id: str
    step: int
    status: str


def record_examples(store: RunStore | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> list[Recorded]:
    """Record every example (``progress(done, total, title)`` before each); returns them as stored."""
    from lab.benches.strong_model import ScriptedStrongModel

    store = store or RunStore()
    todo, out = examples(), []
    for n, example in enumerate(todo):
        if progress:
            progress(n, len(todo), example.title)
        info = execute(example.config, store, chat_model=ScriptedStrongModel() if example.scripted else None)
        out.append(Recorded(example.title, info.run_id, step_worth_seeing(store.steps(info.run_id)), info.status))
    if progress:
        progress(len(todo), len(todo), "done")
    return out


def recorded_examples(store: RunStore) -> list[Recorded]:
    """The example runs already in the store (newest first), each with the step it opens at."""
    titles = {(e.config.agent_id, e.config.env_id): e.title for e in examples()}
    out = []
    for info in store.list_runs(limit=200, label=LABEL):
        title = titles.get((info.config.agent_id, info.config.env_id), info.config.agent_id)
        out.append(Recorded(title, info.run_id, step_worth_seeing(store.steps(info.run_id)), info.status))
    return out
