"""Per-trial memory generation: the deterministic generator and the LLM generator's prompt.

The LLM path follows CLIN's ``summarize_trace_for_preconditions_sTsW`` structure: the current trace
with its final reward in words, the learnings of the last k trials each with its reward, and (Gen-Env)
the meta-memory, within a token budget that drops, in order, the meta-memory, the oldest trial
records, observations past their first sentence, then trace words.

The deterministic generator needs no LLM. It does credit assignment over the trace:

* an action followed by a score increase ``may be necessary to complete the task``, and the
  rewarded action before it ``may be necessary to`` it (the chain of milestones);
* an action played ``fruitless_repeats`` times or more without ever being followed by a score
  increase ``may not contribute to complete the task``; the action that lost the game
  ``does not contribute``;
* a learning of the previous memory that the trace confirms again goes from may to should
  (does not); one the trace contradicts (a "does not contribute" action that scored) is dropped;
  the others are kept unchanged, so learnings of untried actions survive a bad trial.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agents.clin import prompts
from agents.clin.memory import Learning, TrialRecord, render, verbal_score
from lab.core.llm.client import estimate_tokens
from lab.core.prompts import render as fill

GOAL = "complete the task"
"""The effect of the learnings about the task itself."""


@dataclass
class TraceStep:
    """One step of a trial as the generator sees it."""

    action: str
    observation: str
    reward: float
    rationale: str = ""
    reply: str = ""
    """The actor's whole reply (``ids $$$ rationale ### action``), replayed to it as its own turn."""


def normalized_score(score: float, max_score: float | None, lost: bool) -> float:
    """CLIN's 0-100 score: 100 x score / max_score, -100 when the game was lost (reference §9).

    >>> normalized_score(2, 4, False), normalized_score(1, 4, True), normalized_score(3, None, False)
    (50.0, -100.0, 3.0)
    """
    if lost:
        return -100.0
    return 100.0 * score / max_score if max_score else float(score)


class DeterministicGenerator:
    """Learnings from a trace by credit assignment; no LLM (see the module docstring)."""

    def __init__(self, fruitless_repeats: int = 2, max_learnings: int = 30) -> None:
        self.fruitless_repeats = fruitless_repeats
        self.max_learnings = max_learnings

    def generate(
        self, trace: list[TraceStep], previous: list[Learning], trial: int, lost: bool
    ) -> list[Learning]:
        """The new memory: this trial's evidence merged into the previous memory."""
        found = self.evidence(trace, trial, lost)
        prior = {learning.key: learning for learning in previous}
        scored = {step.action.lower() for step in trace if step.reward > 0}
        out: dict[tuple[str, str, str], Learning] = {}
        for learning in found:
            old = prior.get(learning.key)
            out[learning.key] = learning.with_certainty("should", trial) if old else learning
        for learning in previous:
            contradicted = learning.relation == "not_contribute" and learning.cause.lower() in scored
            if learning.key not in out and not contradicted:
                out[learning.key] = learning
        return list(out.values())[: self.max_learnings]

    def evidence(self, trace: list[TraceStep], trial: int, lost: bool) -> list[Learning]:
        """What this trace alone shows, in trace order."""
        rewarded = [step.action for step in trace if step.reward > 0]
        found: list[Learning] = []
        for i, action in enumerate(rewarded):
            found.append(Learning(action, "necessary", "may", GOAL, trial))
            if i + 1 < len(rewarded) and rewarded[i + 1].lower() != action.lower():
                found.append(Learning(action, "necessary", "may", rewarded[i + 1], trial))
        scored = {a.lower() for a in rewarded}
        counts = Counter(step.action.lower() for step in trace)
        first_spelling = {step.action.lower(): step.action for step in reversed(trace)}
        for action, n in counts.items():
            if n >= self.fruitless_repeats and action not in scored:
                found.append(Learning(first_spelling[action], "not_contribute", "may", GOAL, trial))
        if lost and trace:
            found.append(Learning(trace[-1].action, "not_contribute", "should", GOAL, trial))
        return _dedupe(found)


def _dedupe(learnings: list[Learning]) -> list[Learning]:
    out: dict[tuple[str, str, str], Learning] = {}
    for learning in learnings:
        old = out.get(learning.key)
        if old is None or (old.certainty == "may" and learning.certainty == "should"):
            out[learning.key] = learning
    return list(out.values())


# --------------------------------------------------------------------------- LLM generator prompt
def first_sentence(text: str) -> str:
    """The first sentence of an observation (the third budget cut).

    >>> first_sentence("You open the fridge. It is empty.")
    'You open the fridge.'
    """
    flat = " ".join(text.split())
    for i, char in enumerate(flat):
        if char in ".!?" and (i + 1 == len(flat) or flat[i + 1] == " "):
            return flat[: i + 1]
    return flat


def trace_text(objective: str, trace: list[TraceStep], score: float, short: bool = False) -> str:
    """The CURRENT TRACE block: task, action/observation lines, ``REWARD_FINAL`` with its words."""
    lines = [f"Task: {objective}"]
    for step in trace:
        observation = first_sentence(step.observation) if short else " ".join(step.observation.split())
        lines += [f"Action: {step.action}", f"Observation: {observation}"]
    lines.append(f"REWARD_FINAL: {score:g}. This means: {verbal_score(score)}")
    return "\n".join(lines)


def record_text(objective: str, record: TrialRecord) -> str:
    """One PREVIOUS LEARNINGS record: task, trial number, learnings, reward."""
    return fill(
        prompts.GENERATOR_RECORD,
        objective=objective,
        trial=record.trial,
        learnings=render(record.learnings) or "(none)",
        score=f"{record.score:g}",
        verbal=record.verbal,
    )


def generation_messages(
    objective: str,
    trace: list[TraceStep],
    score: float,
    records: list[TrialRecord],
    meta: list[Learning],
    budget_tokens: int,
) -> list[tuple[str, str]]:
    """The generator's messages, cut to ``budget_tokens`` in CLIN's order.

    Dropped first: the meta-memory, then the oldest records, then observations past their first
    sentence, then the oldest trace words.
    """
    instruction = prompts.GENERATOR_INSTRUCTION
    budget = budget_tokens - estimate_tokens(prompts.GENERATOR_SYSTEM + instruction)
    records, short = list(records), False
    while True:
        previous = "\n\n".join(record_text(objective, r) for r in records) or "(no previous trials)"
        if meta:
            previous = "META LEARNINGS:\n" + render(meta) + "\n\n" + previous
        previous = "PREVIOUS LEARNINGS:\n" + previous
        current = "CURRENT TRACE:\n" + trace_text(objective, trace, score, short)
        if estimate_tokens(previous + current) <= budget:
            break
        if meta:
            meta = []
        elif records:
            records = records[1:]
        elif not short:
            short = True
        else:
            current = "CURRENT TRACE:\n" + _cut_words(
                current.partition("\n")[2], max(budget - estimate_tokens(previous) - 4, 0)
            )
            break
    return [
        ("system", prompts.GENERATOR_SYSTEM),
        ("user", instruction),
        ("user", previous),
        ("user", current),
    ]


def _cut_words(text: str, tokens: int) -> str:
    """Keep the last words of ``text`` that fit ``tokens`` (the final REWARD line survives)."""
    words = text.split(" ")
    kept: list[str] = []
    for word in reversed(words):
        if estimate_tokens(" ".join([word, *kept])) > tokens:
            break
        kept.insert(0, word)
    return " ".join(kept)


def generalize(memories: list[list[Learning]], limit: int = 20) -> list[Learning]:
    """Meta-memory without an LLM: learnings shared by several episodes first, certainty by frequency.

    A learning found in two or more episodes becomes ``should``; one seen once stays ``may``
    (``not contribute`` learnings included: they are weaker evidence across games).
    """
    seen: dict[tuple[str, str, str], Learning] = {}
    count: Counter[tuple[str, str, str]] = Counter()
    for memory in memories:
        for learning in {item.key: item for item in memory}.values():
            seen.setdefault(learning.key, learning)
            count[learning.key] += 1
    order = sorted(seen, key=lambda k: (-count[k], seen[k].relation != "necessary"))
    return [
        Learning(seen[k].cause, seen[k].relation, "should" if count[k] >= 2 else "may", seen[k].effect, -1)
        for k in order[:limit]
    ]
