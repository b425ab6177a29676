"""The protocols agents speak: what the run loop gives them and what they give back.

The run loop is the only code that steps envs and writes the store (STYLE convention 10).
Agents receive an :class:`AgentContext` (LLM, rng, phase clock, cross-run memory) at
construction and return :class:`Action` objects; their memory exposes ``snapshot()``, and the
memory of every text agent also ``query(question)`` (:class:`QueryableMemory`, for the lab's probes);
a grid memory may state its ``current_belief()`` (:class:`BeliefMemory`, for the lab's grid probes).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Protocol, Self, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from lab.core.records import CrossRunEntry, MemoryEdit, MemorySnapshot

if TYPE_CHECKING:
    from lab.core.env import EnvKind, Observation
    from lab.core.llm.client import LLM


@runtime_checkable
class Memory(Protocol):
    """Every agent memory: one snapshot in the shared shape (graph / records / prompt text)."""

    def snapshot(self) -> MemorySnapshot:
        """The full current state; the run loop diffs consecutive snapshots."""
        ...


@runtime_checkable
class FactMemory(Memory, Protocol):
    """A memory whose items read as facts about the world (a semantic graph's triplets, OpenIE records...):
    the lab scores them against the env's ground truth (``lab.fidelity``: precision and recall)."""

    def fact_triplets(self) -> Iterable[tuple[str, str, str]]:
        """The memory's items as ``(subject, relation, object)`` statements, in the memory's own words (the
        scorer normalises names and relation synonyms). Each memory says here how its items map to facts;
        items that are not facts are left out. Side-effect free."""
        ...


@runtime_checkable
class QueryableMemory(Memory, Protocol):
    """A memory that can be asked a question: every text agent's memory (the lab's ground-truth probes)."""

    def query(self, question: str) -> str:
        """The text this memory would put into a prompt to answer ``question``.

        Retrieval memories retrieve with the question as the query; the others return their usual memory
        text. Side-effect free: it writes nothing (``snapshot()`` is the same before and after) and calls
        no LLM (embedding the question with a retrieval encoder is allowed).
        """
        ...


@runtime_checkable
class EditableMemory(Memory, Protocol):
    """A memory a fork can edit (``memlab fork --edit-file``): every agent's memory, each for its own kind."""

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """Apply one edit before step ``step`` acts; return the snapshot ids it touched.

        An operation the memory does not support, or an id it does not hold, raises
        :class:`~lab.core.errors.EditError` with one line saying what it does support, and changes nothing.
        What the edit removes stays in later snapshots marked removed at ``step`` where the memory keeps
        removed items (graph triplets, slots), and is gone where it does not."""
        ...


@dataclass
class Task:
    """What an agent is told at the start of a trial."""

    env_id: str
    env_kind: EnvKind
    objective: str
    trial: int = 0
    max_steps: int = 100
    action_names: list[str] = field(default_factory=list)
    """Fixed action set of grid envs; text envs give admissible commands per observation."""
    walkthrough_length: int | None = None
    """Length of the env's walkthrough when it has one (CLIN's early stop at 1.5x uses it); the
    walkthrough itself stays privileged."""


@dataclass
class Action:
    """An agent's decision."""

    command: str
    """The action as the agent chose it (possibly a macro such as ``go to kitchen``)."""
    thoughts: dict[str, Any] = field(default_factory=dict)
    """Plan, subgoal, rationale...: shown per step in the lab."""
    env_commands: list[str] | None = None
    """The env-level commands to play for this action; None means ``[command]``, ``[]`` plays nothing
    (a macro that failed, e.g. ``go to`` an unknown room: the agent answers itself, one agent step)."""
    stop: bool = False
    """End the trial with this step, playing nothing (CLIN's early stop, ``TASK_COMPLETE``)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Numbers stored in the step's ``metrics`` (namespaced: ``memory/precision``...) and charted by the lab."""


@dataclass
class Transition:
    """What came of an action."""

    observation: Observation
    """The agent's previous observation (the one it acted on)."""
    action: Action
    next_observation: Observation
    reward: float
    done: bool


@dataclass
class TrialOutcome:
    """The end of a trial, given to ``end_trial``."""

    trial: int
    steps: int
    score: float
    max_score: float | None
    won: bool
    lost: bool


class PhaseClock:
    """Accumulates seconds per phase; agents time their memory reads and writes with it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a block: ``with ctx.clock.phase("memory_read"): ...``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def take(self) -> dict[str, float]:
        """Return and reset the accumulated seconds."""
        out, self.seconds = self.seconds, {}
        return out


def canonical(provenance: dict[str, Any]) -> str:
    """The provenance as the text that entries are matched on (sorted keys, no spaces)."""
    return json.dumps(provenance, sort_keys=True, separators=(",", ":"))


@runtime_checkable
class CrossRunMemory(Protocol):
    """An agent's memory across runs (CLIN's meta-memory), kept by the lab in the run store.

    Bound to one run: ``record`` writes an entry owned by this run (deleted and exported with it);
    ``entries`` reads what *other* runs of the same agent recorded under exactly the same provenance.
    """

    readable: bool
    """False where the run cannot read other runs (a sweep worker, away from the store): ``entries`` is
    then empty, and what is recorded reaches the store with the run."""

    def record(self, key: str, provenance: dict[str, Any], data: dict[str, Any]) -> None:
        """Store this run's entry ``key``, replacing its previous version."""
        ...

    def entries(self, provenance: dict[str, Any]) -> list[CrossRunEntry]:
        """The entries of other runs of this agent recorded under ``provenance``, oldest run first."""
        ...


class LocalCrossRunMemory:
    """A :class:`CrossRunMemory` in a list: a detached run's (``readable=False``), or a test's."""

    def __init__(self, entries: Iterable[CrossRunEntry] = (), run_id: str = "",
                 readable: bool = True) -> None:
        self.run_id, self.readable = run_id, readable
        self.all: list[CrossRunEntry] = list(entries)
        """Every entry: the given ones of other runs, then this run's own."""

    @property
    def recorded(self) -> list[CrossRunEntry]:
        """The entries this run recorded."""
        return [e for e in self.all if e.run_id == self.run_id]

    def record(self, key: str, provenance: dict[str, Any], data: dict[str, Any]) -> None:
        entry = CrossRunEntry(run_id=self.run_id, key=key, provenance=provenance, data=data)
        self.all = [e for e in self.all if (e.run_id, e.key) != (self.run_id, key)] + [entry]

    def entries(self, provenance: dict[str, Any]) -> list[CrossRunEntry]:
        if not self.readable:
            return []
        wanted = canonical(provenance)
        return [e for e in self.all if e.run_id != self.run_id and canonical(e.provenance) == wanted]


@dataclass
class AgentContext:
    """What the run loop hands an agent at construction."""

    llm: LLM | None
    """The recording LLM client (None for agents that use no LLM)."""
    rng: np.random.Generator
    seed: int
    clock: PhaseClock = field(default_factory=PhaseClock)
    cross_run: CrossRunMemory | None = None
    """The run's memory across runs in the run store (None: none, e.g. an agent built outside a run)."""


@runtime_checkable
class Agent(Protocol):
    """The agent protocol."""

    id: ClassVar[str]

    @property
    def memory(self) -> Memory | None:
        """The agent's memory (None for memoryless agents)."""
        ...

    def reset(self, task: Task) -> None:
        """Start a trial. Memory that carries across trials survives this."""
        ...

    def act(self, observation: Observation) -> Action:
        """Choose an action."""
        ...

    def observe(self, transition: Transition) -> None:
        """Learn from what the action did (memory writes happen here or in ``act``)."""
        ...

    def end_trial(self, outcome: TrialOutcome) -> None:
        """A trial ended; cross-trial learning happens here."""
        ...


class AgentConfig(BaseModel):
    """Base of every agent's typed config: frozen, unknown keys are errors.

    Defaults come from the agent's paper; each field cites its source in a docstring.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    CONTEXT_SCALED: ClassVar[tuple[str, ...]] = ()
    """Prompt caps in characters, set for the embedded model's 8,192-token window: a run scales those the
    user left unset to its model's window (``lab.core.llm.context``)."""

    def fit_context(self, context_tokens: int) -> Self:
        """This config with the unset ``CONTEXT_SCALED`` caps scaled to a window of ``context_tokens``."""
        from lab.core.llm.context import scaled

        update = {name: scaled(getattr(self, name), context_tokens)
                  for name in self.CONTEXT_SCALED if name not in self.model_fields_set}
        return self.model_validate({**self.model_dump(), **update}) if update else self

    def sampling_table(self) -> dict[str, Any]:
        """The sampling settings per call purpose (``lab.core.llm.sampling.Sampling``), from the paper:
        the config's ``sampling`` field where it has one."""
        return dict(getattr(self, "sampling", None) or {})


@dataclass(frozen=True)
class PromptItem:
    """One memory item as it entered a recorded prompt: a triplet, an episode, a history pair, a learning."""

    key: str
    """Unique within the prompt (``triplet:2``)."""
    kind: str
    text: str


@dataclass(frozen=True)
class PromptSection:
    """Where a memory section's body sits in a prompt, the items it is made of and how they are joined."""

    message: int
    """Index of the message (in the prompt's messages) that holds the section."""
    start: int
    end: int
    """The body's span in that message's content."""
    items: tuple[PromptItem, ...]
    separator: str
    """What the agent joins the items with."""
    empty: str
    """What the agent writes when the section has no item."""
    prefix: str = ""
    suffix: str = ""
    """Text around the items that the agent writes only when there is at least one (a heading)."""


@dataclass(frozen=True)
class SplitPrompt:
    """A recorded decision prompt split into its memory items, so that it can be rebuilt from any subset of
    them as the agent's prompt builder would write it (``AgentSpec.prompt_items``; used by attribution)."""

    messages: tuple[tuple[str, str], ...]
    """(role, content) of every message, as recorded."""
    sections: tuple[PromptSection, ...]
    options: tuple[str, ...] = ()
    """The candidate actions the prompt itself lists (empty when it lists none)."""

    def items(self) -> list[PromptItem]:
        return [item for section in self.sections for item in section.items]

    @staticmethod
    def user_message(messages: list[tuple[str, str]], first: bool = False) -> tuple[int, str] | None:
        """(index, content) of the last user message (the first with ``first``); None when there is none."""
        users = [i for i, (role, _) in enumerate(messages) if role in ("user", "human")]
        if not users:
            return None
        index = users[0] if first else users[-1]
        return index, messages[index][1]

    def without(self, drop: set[str]) -> list[tuple[str, str]]:
        """The messages with the items keyed in ``drop`` left out of their sections."""
        contents = [content for _, content in self.messages]
        for section in sorted(self.sections, key=lambda s: (s.message, -s.start)):
            kept = [item.text for item in section.items if item.key not in drop]
            body = section.prefix + section.separator.join(kept) + section.suffix if kept else section.empty
            text = contents[section.message]
            contents[section.message] = text[: section.start] + body + text[section.end :]
        return [(role, content) for (role, _), content in zip(self.messages, contents)]


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent."""

    id: str
    description: str
    config: type[AgentConfig]
    factory: Callable[[AgentConfig, AgentContext], Agent]
    uses_llm: bool = False
    env_kinds: tuple[str, ...] = ("text", "grid")
    paper: str = ""
    default_env: str = "tw-coin"
    """The env the agent is built for, where it must run with default options on a fresh data dir (the
    Run page's first choice for it; tests/test_first_use.py walks the registry)."""
    prompt_items: Callable[[list[tuple[str, str]]], SplitPrompt | None] | None = None
    """Splits a recorded decision prompt (the ``act`` call's messages) into its memory items; None where
    the agent's prompts have no such items (attribution then says so)."""


@dataclass(frozen=True)
class Answer:
    """A question of the env's that a memory answered (RoomRecall's queries)."""

    index: int
    """The question's position among the trial's questions (``extra["query_index"]``), from 0."""
    family: str
    """The env's query family (RoomRecall: ``Q1``..``Q4``, ``QR``, ``navigate``)."""
    answer: str
    """The answer given, as the env's answer token (``red key``, ``room 3``)."""


@dataclass(frozen=True)
class Belief:
    """What a grid memory believes now: its decoded latent state, its plan, the answers it gave.

    Every part is optional: a memory fills in what it has (a CSCG the state and the plan, SAT its answers).
    """

    state: int | None = None
    """The decoded latent state now (a CSCG's MAP clone); None before the memory has a model."""
    model: str = ""
    """Names the model ``state`` belongs to; it changes whenever state ids change meaning (a new binding, a
    model learned again), so the lab forgets what it mapped them to."""
    cell: tuple[int, ...] | None = None
    """The true place the memory's own decode map gives ``state``, in the env's ``privileged["state"]``
    convention (a schema's clone-to-cell map from the room it was learned in); None when it has none."""
    plan: tuple[str, ...] | None = None
    """The planned actions from now to the goal, the one about to be played first; None: no plan."""
    answers: tuple[Answer, ...] = ()
    """Every question answered so far in the trial."""


@runtime_checkable
class BeliefMemory(Memory, Protocol):
    """A grid memory that states its belief (``lab.grid_probes`` scores it against the env's ground truth)."""

    def current_belief(self) -> Belief:
        """The belief the memory holds now (after ``act``: the one the action came from). Side-effect free:
        it writes nothing (``snapshot()`` is the same before and after) and computes nothing new."""
        ...
