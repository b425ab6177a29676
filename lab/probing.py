"""Asking an agent's memory the probes of a step: its text, the evidence in it, and the run's LLM answer.

For each probe (``lab.probes``) the memory is queried with the question (``QueryableMemory.query``: no
write, no call of the agent's LLM); two answers are stored:

* ``evidence``: whether a true answer can be read from the returned text (``lab.evidence``), and whether a
  stale one can (``stale``);
* ``answer``: the run's LLM chooses among the candidates, given only that text and the question. A model
  that scores (the embedded one) scores every candidate in one batched pass (``LLM.choose``); another model
  answers freely and its answer is matched to a candidate (:func:`match_answer`).

The probes run on a client of their own (``probe_llm``), so their calls, recorded with the purpose
``probe``, are off the agent's LLM budget and never replayed into the agent; a failed call leaves the
probe without an answer (its ``error`` says why) and the run goes on.

Metrics of a probed step, each a mean over that step's probes of the family:
``probe/<family>/evidence``, ``probe/<family>/answer`` (answered probes only), ``probe/<family>/count``,
``probe/changed/stale`` and ``probe/unseen/abstain`` (the LLM answered ``unknown``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from lab.core.env import Observation
from lab.core.errors import LLMError
from lab.core.llm import LLM, build, match_option
from lab.core.llm.replay import PROBE_PURPOSE, ReplayChatModel
from lab.core.llm.sampling import Sampling
from lab.core.prompts import render
from lab.core.protocols import Memory, QueryableMemory
from lab.core.records import Probe, ProbeReport, ProbeResult, RunConfig
from lab.evidence import Reader, Reading, read
from lab.probes import UNKNOWN, ProbeGenerator

PURPOSE = PROBE_PURPOSE
PROBE_SAMPLING = Sampling(temperature=0.0)
"""The probes' reader answers at temperature 0: one reading of the memory, not a sample (lab choice)."""
MAX_TEXT_CHARS = 24_000
"""The memory text shown to the LLM keeps its last this-many characters (about 6k tokens: the embedded
model's context is 8k)."""
SYSTEM = "You answer questions about a text game using only the memory notes you are given."
USER = """Memory notes:
{memory}

Question: {question}
Answer with the name only. If the notes do not say, answer: unknown."""
ABSTAIN = re.compile(r"\b(?:unknown|not known|don't know|do not know|not sure|no information|cannot tell|"
                     r"can't tell|not mentioned|does not say|doesn't say)\b")


ECHOED = tuple(line.strip().lower() for line in USER.splitlines() if line.strip() and "{" not in line)
"""Lines of the prompt a model may echo before its answer (never read as the answer)."""
HEADING = re.compile(r"^(?:question|memory notes)\s*:", re.IGNORECASE)
LABEL = re.compile(r"^(?:final\s+)?answer\s*:", re.IGNORECASE | re.MULTILINE)


def answer_part(raw: str) -> str:
    r"""The part of a free reply that answers: markdown dropped, echoed prompt lines and headings dropped, and
    the text after the last line-initial ``Answer:`` label when there is one.

    >>> answer_part("Sure! Based on the notes:\n\n**Answer:** the *fridge*")
    'the fridge'
    >>> answer_part("Question: Where is the apple?\nAnswer with the name only. If the notes do not say, "
    ...             "answer: unknown.\nfridge")
    'fridge'
    """
    lines = [" ".join(re.sub(r"[*_`#>|]", " ", line).split()) for line in raw.splitlines()]
    kept = [line for line in lines if line and line.lower() not in ECHOED and not HEADING.match(line)]
    text = "\n".join(kept)
    labels = list(LABEL.finditer(text))
    return text[labels[-1].end():].strip() if labels else text


def match_answer(raw: str, candidates: list[str]) -> str:
    """A free answer as a candidate (read from :func:`answer_part`): exact, else an abstention, else the
    longest candidate it names, else the closest by string similarity.

    >>> match_answer("The apple is in the fridge.", ["fridge", "kitchen", "unknown"])
    'fridge'
    >>> match_answer("I don't know.", ["fridge", "unknown"])
    'unknown'
    """
    raw = answer_part(raw) or raw
    text = " ".join(raw.lower().split()).strip(" .\"'`")
    exact = {c.lower(): c for c in candidates}
    if text in exact:
        return exact[text]
    if UNKNOWN in exact and ABSTAIN.search(text):
        return exact[UNKNOWN]
    named = [c for c in candidates
             if c != UNKNOWN and re.search(rf"(?<![a-z0-9]){re.escape(c.lower())}(?![a-z0-9])", text)]
    if named:
        return max(named, key=lambda c: (len(c), -text.find(c.lower())))
    return candidates[match_option(raw, candidates)[0]]


def probe_llm(config: RunConfig, llm: LLM | None, store: Any = None) -> LLM | None:
    """The probes' own LLM client (None: no answers, evidence only).

    ``RunConfig.probe_llm`` names it; when empty it is the run's model (None when the agent has none), copied
    so that a stateful model (a fake's reply cursor) is not shared with the agent. A replay gets the recorded
    probe calls only (``store``: the run store holding them); when there are none (a run recorded without
    probes, or no store), probes get no answers."""
    spec = config.probe_llm or (config.llm if llm is not None else "none")
    if config.probe_every == 0 or spec == "none":
        return None
    if spec.startswith("replay:"):
        if store is None:
            return None
        model = ReplayChatModel.from_store(spec.partition(":")[2].strip(), store, probes=True)
        if not model.remaining:
            return None
    elif config.probe_llm:
        model = build(spec, store)
    else:
        model = llm.model.model_copy()  # type: ignore[union-attr]
    return LLM(model, spec, sampling=config.sampling)


def memory_text(memory: Memory | None, question: str) -> str:
    """What a memory gives for a question: its ``query``, or (a memory without one) its last prompt text."""
    if memory is None:
        return ""
    if isinstance(memory, QueryableMemory):
        return memory.query(question)
    return memory.snapshot().prompt_text


class Prober:
    """The probes of a run: a generator per trial, the schedule, the questions and the answers."""

    def __init__(self, config: RunConfig, llm: LLM | None, kind: str = "text") -> None:
        self.every, self.per_family, self.seed = config.probe_every, config.probes_per_family, config.seed
        self.llm, self.text = llm, kind == "text"
        """Text probes need TextWorld's facts: a grid env's ``facts`` (RoomRecall's) are not asked about."""
        self.generator = ProbeGenerator(self.seed, self.per_family)
        self.trial = 0

    @property
    def on(self) -> bool:
        """Whether the run probes at all."""
        return self.every > 0

    def start_trial(self, trial: int) -> None:
        """Forget what was seen: each trial is tracked from its start."""
        self.generator, self.trial = ProbeGenerator(self.seed, self.per_family), trial

    def see(self, obs: Observation) -> None:
        """The observation the agent acts on (once per step, in order)."""
        facts = obs.privileged.get("facts")
        if self.on and self.text and facts is not None:
            self.generator.see(facts, obs.text)

    def due(self, t: int, ended: bool) -> bool:
        """Probes after step ``t`` of a trial: every ``probe_every`` steps and at the trial's end."""
        return self.on and ((t + 1) % self.every == 0 or ended)

    def ask(self, memory: Memory | None, obs: Observation, nxt: Observation, t: int
            ) -> tuple[ProbeReport | None, dict[str, float]]:
        """The step's probes asked to ``memory`` (None and no metrics when the env gives no facts)."""
        now, after = obs.privileged.get("facts"), nxt.privileged.get("facts")
        if not self.text or now is None or after is None:
            return None, {}
        probes = self.generator.probes(now, after, nxt.text, (self.trial, t))
        world = self.generator.world
        reader = Reader(frozenset(world.objects | world.rooms | world.holders | world.doors),
                        frozenset(world.rooms | world.holders | {"inventory"}))
        report, readings = ProbeReport(), {}
        for probe in probes:
            text = memory_text(memory, probe.question)
            if text not in readings:
                readings[text] = (len(report.texts), read(text))
                report.texts.append(text)
            index, reading = readings[text]
            report.results.append(self.result(probe, index, text, reading, reader))
        return report, metrics(report.results)

    def result(self, probe: Probe, index: int, text: str, reading: Reading, reader: Reader) -> ProbeResult:
        """One probe: evidence from the text, then the LLM's answer from the same text."""
        found = reader.evidence(probe, reading)
        answer, raw, error = self.answer(probe, text)
        return ProbeResult(**probe.model_dump(), text=index, evidence=found.evidence,
                           evidence_spans=found.evidence_spans, stale=found.stale,
                           stale_spans=found.stale_spans, answer=answer, answer_raw=raw, error=error,
                           correct=None if answer is None else answer in probe.true_answers)

    def answer(self, probe: Probe, text: str) -> tuple[str | None, str, str | None]:
        """(answer, generated text, error) from the run's LLM, given only ``text`` and the question."""
        if self.llm is None:
            return None, "", None
        memory = text[-MAX_TEXT_CHARS:].strip() or "(empty)"
        messages = [("system", SYSTEM), ("user", render(USER, memory=memory, question=probe.question))]
        try:
            if self.llm.can_score:
                return self.llm.choose(messages, probe.candidates, purpose=PURPOSE).option, "", None
            raw = self.llm.chat(messages, purpose=PURPOSE)
        except LLMError as err:
            return None, "", str(err)
        return match_answer(raw, probe.candidates), raw, None


def metrics(results: list[ProbeResult]) -> dict[str, float]:
    """Per-family means of a step's probes (see the module docstring)."""
    by_family: dict[str, list[ProbeResult]] = defaultdict(list)
    for r in results:
        by_family[r.family].append(r)
    out: dict[str, float] = {}
    for family, rs in sorted(by_family.items()):
        out[f"probe/{family}/count"] = float(len(rs))
        out[f"probe/{family}/evidence"] = sum(r.evidence for r in rs) / len(rs)
        answered = [r for r in rs if r.correct is not None]
        if answered:
            out[f"probe/{family}/answer"] = sum(bool(r.correct) for r in answered) / len(answered)
        if family == "changed":
            out["probe/changed/stale"] = sum(r.stale for r in rs) / len(rs)
        if family == "unseen" and answered:
            out["probe/unseen/abstain"] = sum(r.answer == UNKNOWN for r in answered) / len(answered)
    return out


SUMMARY = ("count", "evidence", "answered", "answer", "stale", "abstain")
"""The columns of :func:`summary`, after ``family``."""


def summary(results: Iterable[ProbeResult]) -> list[dict[str, Any]]:
    """Per family over many probes (a run's), then ``all``: probes asked, the share with evidence in the
    memory's text, how many were answered and the share answered right, the share whose text holds a stale
    answer, and the share of answered ones answered ``unknown``. Shares are None where nothing counts."""
    by_family: dict[str, list[ProbeResult]] = defaultdict(list)
    for r in results:
        by_family[r.family].append(r)
    rows = [_summary_row(family, rs) for family, rs in sorted(by_family.items())]
    if rows:
        rows.append(_summary_row("all", [r for rs in by_family.values() for r in rs]))
    return rows


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _summary_row(family: str, results: list[ProbeResult]) -> dict[str, Any]:
    answered = [r for r in results if r.correct is not None]
    return {"family": family, "count": len(results), "evidence": _share([r.evidence for r in results]),
            "answered": len(answered), "answer": _share([bool(r.correct) for r in answered]),
            "stale": _share([r.stale for r in results]), "abstain": _share([r.answer == UNKNOWN for r in answered])}
