"""Trace records: pydantic models with a schema version (no pickles anywhere).

A run is a :class:`RunConfig` (everything needed to reproduce it), a list of :class:`Step`
records written as they happen, and a :class:`RunSummary`. Memory is stored per step as a
:class:`MemoryDiff` against the previous step, plus a full :class:`MemorySnapshot` every
``snapshot_every`` steps and at each trial end (keyframes), so any step can be rebuilt
from the nearest keyframe without reading the whole run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
"""Version of every record below; bump on any incompatible change and add an upgrader."""

RunStatus = Literal["running", "finished", "stopped", "error", "interrupted"]


class Record(BaseModel):
    """Base of all records: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class RunConfig(Record):
    """Everything needed to reproduce a run."""

    schema_version: int = SCHEMA_VERSION
    env_id: str
    """Registered env id (``tw-cooking``, ``minigrid:MiniGrid-FourRooms-v0``)."""
    env_options: dict[str, Any] = Field(default_factory=dict)
    """Validated options of the env family (level, seed of the game, path...)."""
    agent_id: str
    agent_config: dict[str, Any] = Field(default_factory=dict)
    """The agent's full validated config (defaults included), so the run records its hyperparameters."""
    llm: str = "embedded"
    """LLM spec string: ``embedded``, ``openai:<model>``, ``ollama:<model>``, ``replay:<run_id>``..."""
    seed: int = 0
    """Seeds the env reset of every trial and the agent's random generator."""
    max_steps: int = Field(default=100, ge=1)
    """Agent steps per trial."""
    trials: int = Field(default=1, ge=1)
    """Trials of the same task; memory that carries across trials is snapshotted at each trial end."""
    snapshot_every: int = Field(default=10, ge=1)
    """A full memory snapshot every K steps (keyframes); diffs in between."""
    label: str = ""
    """Free text shown in run lists (a batch or sweep name)."""


class ObservationRecord(Record):
    """What the agent saw (ground truth excluded; images are re-rendered, never stored)."""

    text: str
    feedback: str = ""
    admissible: list[str] = Field(default_factory=list)
    objective: str = ""
    room: str | None = None
    description: str | None = None
    inventory: str | None = None
    direction: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class Message(Record):
    """One chat message as the model saw it."""

    role: str
    content: str


class LLMCall(Record):
    """One call to a language model, enough to audit and replay it."""

    purpose: str
    """What the call is for (``act``, ``plan``, ``extract``...)."""
    kind: Literal["chat", "score"] = "chat"
    """``chat``: free generation; ``score``: choice among ``options`` by log-likelihood."""
    model: str
    messages: list[Message]
    response: str = ""
    """Generated text, or the chosen option for ``score`` calls."""
    options: list[str] | None = None
    scores: list[float] | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    attempts: int = 1
    error: str | None = None
    """Why the call failed in the end (None when it succeeded, possibly after retries)."""
    retry_errors: list[str] = Field(default_factory=list)
    """The error of each failed attempt, in order (timeouts, rate limits, server errors...)."""


class MemNode(Record):
    """A node of a memory graph."""

    id: str
    kind: str
    """``room``, ``object``, ``episodic``, ``clone``... (the UI colours by kind)."""
    label: str
    attrs: dict[str, Any] = Field(default_factory=dict)
    added_step: int | None = None
    removed_step: int | None = None


class MemEdge(Record):
    """A (directed) edge of a memory graph."""

    id: str
    source: str
    target: str
    kind: str
    """``spatial``, ``semantic``, ``episodic``, ``transition``..."""
    label: str = ""
    attrs: dict[str, Any] = Field(default_factory=dict)
    added_step: int | None = None
    removed_step: int | None = None


class MemRecord(Record):
    """A row of a record memory: an episodic entry, a chunk, a learning, a slot."""

    id: str
    kind: str
    text: str
    attrs: dict[str, Any] = Field(default_factory=dict)
    added_step: int | None = None
    removed_step: int | None = None


class MemorySnapshot(Record):
    """The full state of an agent's memory, in the shape every memory exposes."""

    nodes: list[MemNode] = Field(default_factory=list)
    edges: list[MemEdge] = Field(default_factory=list)
    records: list[MemRecord] = Field(default_factory=list)
    prompt_text: str = ""
    """The memory text that entered the prompt at this step."""
    retrieved: list[str] = Field(default_factory=list)
    """Ids of the nodes, edges and records retrieved at this step (highlighted in the UI)."""


class MemoryDiff(Record):
    """Changes from one snapshot to the next; changed items carry their new value."""

    nodes_added: list[MemNode] = Field(default_factory=list)
    nodes_removed: list[str] = Field(default_factory=list)
    nodes_changed: list[MemNode] = Field(default_factory=list)
    edges_added: list[MemEdge] = Field(default_factory=list)
    edges_removed: list[str] = Field(default_factory=list)
    edges_changed: list[MemEdge] = Field(default_factory=list)
    records_added: list[MemRecord] = Field(default_factory=list)
    records_removed: list[str] = Field(default_factory=list)
    records_changed: list[MemRecord] = Field(default_factory=list)
    prompt_text: str | None = None
    """The new prompt text, or None when unchanged."""
    retrieved: list[str] | None = None
    """The new retrieved ids, or None when unchanged."""


class Timings(Record):
    """Seconds spent per phase of one step."""

    env_s: float = 0.0
    memory_read_s: float = 0.0
    memory_write_s: float = 0.0
    llm_s: float = 0.0
    agent_s: float = 0.0
    """The agent's whole act + observe (includes memory and LLM time)."""
    total_s: float = 0.0


class Step(Record):
    """One agent step: the observation acted on, the action, and what came of it."""

    schema_version: int = SCHEMA_VERSION
    index: int
    """Position in the run, 0-based across trials."""
    trial: int = 0
    t: int
    """Step within the trial, 0-based."""
    observation: ObservationRecord
    action: str
    env_actions: list[str] = Field(default_factory=list)
    """The env-level actions the action expanded to (a ``go to`` macro is several)."""
    feedback: str = ""
    """The env's reply to the action (the next observation's text)."""
    reward: float = 0.0
    score: float = 0.0
    max_score: float | None = None
    done: bool = False
    won: bool = False
    lost: bool = False
    thoughts: dict[str, Any] = Field(default_factory=dict)
    """Free-form agent reasoning: plan, subgoal, rationale, ..."""
    llm_calls: list[LLMCall] = Field(default_factory=list)
    memory_diff: MemoryDiff | None = None
    memory_snapshot: MemorySnapshot | None = None
    """Full snapshot after this step, on keyframes only."""
    memory_size: dict[str, int] = Field(default_factory=dict)
    """``nodes``, ``edges``, ``records`` counted after this step (cheap timeline)."""
    facts: list[str] | None = None
    """Ground-truth facts after the step (TextWorld), for memory-fidelity metrics; never shown to agents."""
    metrics: dict[str, float] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    trial_end: bool = False
    """True on the last step of a trial."""


class TrialResult(Record):
    """The outcome of one trial."""

    trial: int
    steps: int
    score: float
    max_score: float | None = None
    won: bool = False
    lost: bool = False


class RunSummary(Record):
    """What a finished (or stopped, or failed) run came to."""

    schema_version: int = SCHEMA_VERSION
    status: RunStatus
    steps: int = 0
    env_steps: int = 0
    trials: list[TrialResult] = Field(default_factory=list)
    score: float = 0.0
    """Score of the last trial."""
    max_score: float | None = None
    normalized_score: float | None = None
    won: bool = False
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    wall_s: float = 0.0
    message: str = ""


class RunInfo(Record):
    """A run as the store lists it (no steps)."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    created_at: str
    updated_at: str
    status: RunStatus
    config: RunConfig
    summary: RunSummary | None = None
    n_steps: int = 0
    versions: dict[str, str] = Field(default_factory=dict)
    """Package versions and ``git_sha`` at launch."""
    message: str = ""
