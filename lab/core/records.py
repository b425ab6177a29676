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
Policy = Literal["agent", "walkthrough", "walkthrough+explore"]
"""Who chooses the played actions: the agent, or a forced policy (the agent still runs its full ``act``)."""


class Record(BaseModel):
    """Base of all records: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class MemoryEdit(Record):
    """One typed operation on an agent's memory, applied by a fork (``memlab fork``) before a step.

    Items are named by their id in the memory's snapshot (a triplet's edge ``t3``, a record ``r7``, a learning,
    a chunk, a slot, a clone ``c12``). Each memory says which operations it supports on which items; any other
    is refused with a one-line error (:class:`~lab.core.errors.EditError`)."""

    op: Literal["remove", "add", "change"]
    id: str = ""
    """The item to remove or change (empty for ``add``)."""
    text: str = ""
    """``add``: the new item as the memory writes it (a triplet ``kitchen, has, fridge``, a record's text, a
    learning ``opening fridge SHOULD BE NECESSARY to find milk``); ``change``: the item's new text, if any."""
    attrs: dict[str, Any] = Field(default_factory=dict)
    """``change`` (and some ``add``): attributes to set, as the snapshot names them (``importance``,
    ``certainty``, ``summary``, ``observation``...)."""

    def describe(self) -> str:
        """One line: ``remove t3``, ``add 'kitchen, has, fridge'``, ``change r7 importance=9``."""
        parts = [self.op] + ([self.id] if self.id else []) + ([repr(self.text)] if self.text else [])
        parts += [f"{k}={v}" for k, v in sorted(self.attrs.items())]
        return " ".join(parts)


class ForkOrigin(Record):
    """Where a forked run came from: its parent, the step it parts at, and the memory edits applied there."""

    parent: str
    """The parent run's id."""
    step: int = Field(ge=0)
    """The fork's first ``step`` steps replay the parent's (same actions, same memory); the edits are applied
    before step ``step`` acts, and the run goes on live from there."""
    edits: list[MemoryEdit] = Field(default_factory=list)
    ablated: str = ""
    """The item a counterfactual set (``--ablate each-retrieved``) removed, for the set's table."""
    inherited: dict[int, list[MemoryEdit]] = Field(default_factory=dict)
    """Edits the parent's own prefix applied, by step (a fork of a fork replays them too)."""

    def edits_at(self) -> dict[int, list[MemoryEdit]]:
        """Every edit this run applies, by the step it is applied before."""
        return {**self.inherited, self.step: list(self.edits)}


class RunConfig(Record):
    """Everything needed to reproduce a run.

    Stored as JSON with ``NaN`` and ``Infinity`` written as such (Python's ``json`` and pydantic read
    them back), so an option set to infinity is not stored as ``null``.
    """

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

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
    llm_options: dict[str, float | int | None] = Field(default_factory=dict)
    """``--llm-opt`` overrides of the agent's sampling settings (``temperature``, ``act.temperature``...;
    None drops a setting) and ``context``, the model's declared window (``lab.core.llm.sampling``)."""
    sampling: dict[str, dict[str, float | int]] = Field(default_factory=dict)
    """Filled in by the run: what each call purpose sends (``*``: purposes not listed), after the overrides
    and the provider's rules. Empty for the embedded model (greedy, its own reply budget) and replays."""
    context_tokens: int | None = None
    """Filled in by the run: the model's context window, which sized the agent's prompt caps..."""
    context_source: str = ""
    """...and where the figure came from (``declared``, ``known``, or the fallback's reason)."""
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    """Seeds the env reset of every trial and the agent's random generator (a 64-bit SQLite integer)."""
    max_steps: int = Field(default=100, ge=1)
    """Agent steps per trial."""
    trials: int = Field(default=1, ge=1)
    """Trials of the same task; memory that carries across trials is snapshotted at each trial end."""
    snapshot_every: int = Field(default=10, ge=1)
    """A full memory snapshot every K steps (keyframes); diffs in between."""
    label: str = ""
    """Free text shown in run lists (a batch or sweep name)."""
    policy: Policy = "agent"
    """``agent``: the agent's actions are played. ``walkthrough``: the env's walkthrough is played in order
    whatever the agent chose; ``walkthrough+explore``: the walkthrough with seeded excursions (a move to a
    neighbouring room and back) between its steps. Forced runs of different agents see the same trajectory."""
    explore: float = Field(default=0.3, ge=0.0, le=1.0)
    """``walkthrough+explore``: the chance of an excursion before each walkthrough step."""
    probe_every: int = Field(default=5, ge=0)
    """Ground-truth probes of the memory (``lab.probes``) every K steps and at each trial end; 0: none.
    Probes are off the agent's clock and LLM budget (their LLM calls have the purpose ``probe``)."""
    probes_per_family: int = Field(default=2, ge=1)
    """Probes drawn per family at each probed step (seeded), among the facts that can be asked."""
    probe_llm: str = ""
    """The model that answers the probes: empty for the run's own LLM (none for an agent without one),
    ``none`` for evidence only (no answers), or a spec like ``llm`` (``embedded``: the batched scorer,
    whatever model the agent runs on)."""
    fork: ForkOrigin | None = None
    """Set on a forked run (``memlab fork``): its parent, step and memory edits."""


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


class LLMWait(Record):
    """A wait of the retry policy (``lab.core.llm.retry``) after a failed attempt of an LLM call."""

    attempt: int
    """The failed attempt it followed (1-based)."""
    error: str
    """That attempt's error, one line, keys redacted."""
    wait_s: float
    """Seconds waited before the next attempt."""
    retry_after: bool = False
    """The provider's ``Retry-After`` header set the wait (otherwise: the jittered exponential backoff)."""


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
    waits: list[LLMWait] = Field(default_factory=list)
    """The waits between attempts, in order (empty in traces written before waits were recorded)."""
    sampling: dict[str, Any] = Field(default_factory=dict)
    """What the call sent besides the messages: its sampling settings and stop sequences (empty for a
    score call, and in traces written before they were recorded)."""


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
    """The step on the agent's clock (probes excluded)."""
    probe_s: float = 0.0
    """Ground-truth checks of the memory: its fidelity after the act and the probes after the step (memory
    queries, evidence, LLM answers)."""


class Probe(Record):
    """A question with a known answer about the game, generated from its ground truth (``lab.probes``)."""

    family: str
    """``location``, ``contents``, ``state``, ``map``, ``inventory``, ``recipe``, ``changed``, ``unseen``."""
    key: str
    """Identifies the question across steps (``location:red apple``, ``map:north of:kitchen``)."""
    subject: str
    """The entity asked about (``inventory`` for the inventory family)."""
    relation: str = ""
    """The relation of the facts asked about: ``is in``, ``is on``, ``is``, ``is north of``, ``has exit``,
    ``requires``, ``to be`` (the true answers are their other ends)."""
    question: str
    true_answer: str
    """The answer, as shown (the immediate holder for a location; ``unknown`` for unseen controls)."""
    true_answers: list[str]
    """Every answer counted correct (a holder and its room; each item of a holder's contents...)."""
    candidates: list[str]
    """What the LLM chooses among: every room, holder, object or state of the game that fits, plus
    ``unknown``; they name the game's entities, not what was seen."""
    stale_answers: list[str] = Field(default_factory=list)
    """Answers that were true and seen earlier in the trial and are no longer true."""
    last_seen: int | None = None
    """The step of the trial (``Step.t``) at which the asked fact was last in view (None: never)."""


class ProbeResult(Probe):
    """A probe asked to a memory: what its text shows, and what the run's LLM answered from that text."""

    text: int = 0
    """Index of the memory's text for this question in :attr:`ProbeReport.texts`."""
    evidence: bool = False
    """A true answer can be read from the memory's text (``lab.evidence``; deterministic)."""
    evidence_spans: list[tuple[int, int]] = Field(default_factory=list)
    """Character spans of the text where it is read (for highlighting)."""
    stale: bool = False
    """The text also holds a stale answer (a fact that was true, was seen and no longer holds)."""
    stale_spans: list[tuple[int, int]] = Field(default_factory=list)
    answer: str | None = None
    """The LLM's answer, one of the candidates (None: no LLM in the run, or the call failed)."""
    answer_raw: str = ""
    """What a generating model wrote before it was matched to a candidate."""
    correct: bool | None = None
    """The answer is one of ``true_answers`` (None when there is no answer)."""
    error: str | None = None
    """Why there is no answer, when the LLM call failed."""


class ProbeReport(Record):
    """The probes of one step, asked after it (and after ``end_trial`` on a trial's last step)."""

    texts: list[str] = Field(default_factory=list)
    """The memory texts the probes were answered from, each once (retrieval memories: one per question)."""
    results: list[ProbeResult] = Field(default_factory=list)


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
    agent_action: str | None = None
    """Under a forced policy (``RunConfig.policy``): the agent's own choice, while ``action`` is what was
    played (their agreement is the metric ``policy/agree``); None under the agent's own policy."""
    forced: Literal["walkthrough", "explore"] | None = None
    """Under a forced policy: whether ``action`` came from the walkthrough or from an exploring excursion."""
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
    probes: ProbeReport | None = None
    """Ground-truth probes of the memory asked after this step (every ``probe_every`` steps and at trial
    ends); their per-family means are in ``metrics`` (``probe/<family>/evidence``, ``.../answer``)."""
    edits: list[MemoryEdit] = Field(default_factory=list)
    """A fork's memory edits, applied before this step acted (the fork's first live step); its
    ``memory_diff`` includes what they changed."""


class TrialResult(Record):
    """The outcome of one trial."""

    trial: int
    steps: int
    score: float
    max_score: float | None = None
    won: bool = False
    lost: bool = False


class ItemEffect(Record):
    """What leaving one memory item out of a decision prompt did to the choice (``lab.attribution``)."""

    key: str
    """The item's key in the prompt (``triplet:2.0``)."""
    kind: str
    text: str
    memory_id: str | None = None
    """The id of the memory item it came from (matched by content), when the snapshot holds it."""
    delta: float
    """Change in the log-probability of the chosen action (over the options) when the item is left out;
    negative: the item supported the choice."""
    choice: str
    """What the scorer picks without the item."""
    rank: int
    """1 for the item whose removal moves the chosen action's log-probability most, 2 next, ..."""


class Attribution(Record):
    """Each memory item of a recorded decision, left out in turn and the options scored again."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    step: int
    model: str
    """The scoring model (its LLM spec)."""
    purpose: str
    """The recorded call whose prompt was rebuilt (``act``)."""
    chosen: str
    """The option the agent chose at this step."""
    options: list[str]
    full_logprob: float
    """Log-probability of ``chosen`` over the options with every item in the prompt."""
    full_choice: str
    """The scorer's pick with every item (equals ``chosen`` when the scorer is the run's own model)."""
    none_logprob: float
    """... with no memory item at all."""
    none_choice: str
    items: list[ItemEffect] = Field(default_factory=list)


class Resumption(Record):
    """Where ``memlab resume`` continued a run (``lab.resume``), and what had ended it."""

    at_step: int
    """The first step played live again: the steps before it were rebuilt from their recorded replies."""
    after: RunStatus
    """The status the run had ended in (``error``, ``stopped``, ``interrupted``)."""
    message: str = ""
    """Why it had ended."""
    failed_step: Step | None = None
    """The step that had failed, with its LLM calls, kept here since the resumed run plays it again."""
    resumed_at: str = ""
    """When (UTC, ISO 8601)."""


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
    """The agent's LLM calls (probe calls are counted in ``probe_llm_calls``)."""
    tokens_in: int = 0
    tokens_out: int = 0
    probes: int = 0
    """Ground-truth probes asked."""
    probe_llm_calls: int = 0
    wall_s: float = 0.0
    """Seconds the run took, over all its sessions when it was resumed."""
    message: str = ""
    resumes: list[Resumption] = Field(default_factory=list)
    """Each time the run was resumed, in order (empty for a run made in one go)."""


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


class CrossRunEntry(Record):
    """One entry of an agent's memory across runs (CLIN: an episode's best trial, its meta-memory).

    It belongs to the run that recorded it: the store deletes it with that run, and the run's JSONL export
    carries it (one ``"type": "cross_run_memory"`` line each). A run reads only the entries that other runs
    of its agent recorded under the same ``provenance``.
    """

    schema_version: int = SCHEMA_VERSION
    run_id: str
    """The run that recorded it."""
    key: str
    """What it is about, unique within its run (CLIN: the episode key)."""
    provenance: dict[str, Any] = Field(default_factory=dict)
    """What produced it (CLIN: the LLM spec and the learning-relevant config); matched exactly."""
    data: dict[str, Any] = Field(default_factory=dict)
    """The agent's own content (CLIN: env id, objective, trial, score, learnings)."""
    updated_at: str = ""
