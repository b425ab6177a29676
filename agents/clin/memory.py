"""CLIN's memory: numbered causal abstractions, rewritten after every trial (CLIN, Majumder et al. 2023).

A learning is one of four forms (CLIN §"Memory"):
``X may be necessary to Y``, ``X should be necessary to Y``, ``X may not contribute to Y``,
``X does not contribute to Y``. It is kept as a structured :class:`Learning` (cause, relation,
certainty, effect, the trial that produced it) and rendered to text only for the prompt.
:class:`ClinMemory` holds the current list (which a new trial's list replaces wholesale, as in
CLIN), the per-trial records that the generator reads back (the last k), and what changed at the
last replacement: each learning is ``added``, ``kept``, ``strengthened`` (may -> should),
``weakened`` or ``seeded`` (from the meta-memory); replaced-away learnings stay in the snapshot as
``dropped`` with ``removed_step`` set, so the lab can show them faded. A seeded memory also keeps
the earlier episodes it came from (``kind="meta-source"`` records: run id, episode key, trial, score).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lab.core.memory import refuse, unknown
from lab.core.records import MemoryEdit, MemorySnapshot, MemRecord

Relation = Literal["necessary", "not_contribute"]
Certainty = Literal["may", "should"]
META_TRIAL = -1
"""The ``trial`` of a learning that came from the meta-memory."""

_NUMBERING = re.compile(r"^\s*(?:[-*•]+|\(?\d+[.):]|learning\s*\d+\s*[:.])\s*", re.IGNORECASE)
_NECESSARY = re.compile(
    r"^(?P<cause>.+?)\s+(?P<cert>may|should)\s+(?:also\s+)?be\s+necessary\s+(?:to|for)\s+"
    r"(?P<effect>.+)$",
    re.IGNORECASE,
)
_MAY_CONTRIBUTE = re.compile(
    r"^(?P<cause>.+?)\s+may\s+(?:be\s+)?contribute\s+to\s+(?P<effect>.+)$", re.IGNORECASE
)
_NOT_CONTRIBUTE = re.compile(
    r"^(?P<cause>.+?)\s+(?P<cert>may\s+not|does\s+not|should\s+not|doesn't)\s+"
    r"contribute\s+to\s+(?P<effect>.+)$",
    re.IGNORECASE,
)


def normalize(text: str) -> str:
    """Lower case, single spaces, no surrounding quotes or final punctuation (for keys).

    >>> normalize('  "Open  the Fridge." ')
    'open the fridge'
    """
    return " ".join(text.lower().split()).strip("\"'`*").rstrip(".;,!").strip("\"'`* ")


@dataclass(frozen=True)
class Learning:
    """One causal abstraction."""

    cause: str
    relation: Relation
    certainty: Certainty
    effect: str
    trial: int = 0
    """The trial that produced it (``META_TRIAL`` for the meta-memory)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across trials: (cause, relation, effect), normalised; certainty may change."""
        return normalize(self.cause), self.relation, normalize(self.effect)

    @property
    def record_id(self) -> str:
        """A stable id for snapshots."""
        return "learning-" + hashlib.sha1("|".join(self.key).encode()).hexdigest()[:10]

    def text(self) -> str:
        """The sentence, in one of the four forms.

        >>> Learning("open fridge", "necessary", "should", "take milk").text()
        'open fridge should be necessary to take milk'
        >>> Learning("look", "not_contribute", "should", "complete the task").text()
        'look does not contribute to complete the task'
        """
        if self.relation == "necessary":
            return f"{self.cause} {self.certainty} be necessary to {self.effect}"
        verb = "may not" if self.certainty == "may" else "does not"
        return f"{self.cause} {verb} contribute to {self.effect}"

    def with_certainty(self, certainty: Certainty, trial: int | None = None) -> Learning:
        """A copy with another certainty (and producing trial)."""
        return Learning(
            self.cause, self.relation, certainty, self.effect, self.trial if trial is None else trial
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Learning:
        """Back from :meth:`to_json`."""
        return cls(
            str(data["cause"]),
            data["relation"],
            data["certainty"],
            str(data["effect"]),
            int(data.get("trial", 0)),
        )


def parse_learning(line: str, trial: int = 0) -> Learning | None:
    """A learning from one line of model output, or None when the line has none of the forms.

    >>> parse_learning("2. Opening the fridge MAY BE NECESSARY to take the milk.").text()
    'Opening the fridge may be necessary to take the milk'
    >>> parse_learning("- examine cookbook does not contribute to eat meal").certainty
    'should'
    >>> parse_learning("Be careful with the stove.") is None
    True
    """
    text = _NUMBERING.sub("", line.strip()).replace("**", "").strip().rstrip(".;")
    for pattern, relation in ((_NECESSARY, "necessary"), (_NOT_CONTRIBUTE, "not_contribute")):
        match = pattern.match(text)
        if match:
            cert = match.group("cert").lower()
            certainty: Certainty = "may" if cert.startswith("may") else "should"
            return Learning(
                _clean(match.group("cause")), relation, certainty, _clean(match.group("effect")), trial
            )
    match = _MAY_CONTRIBUTE.match(text)  # "X MAY BE CONTRIBUTE to Y" (sic, in the released prompt)
    if match:
        return Learning(
            _clean(match.group("cause")), "necessary", "may", _clean(match.group("effect")), trial
        )
    return None


def _clean(text: str) -> str:
    return text.strip().strip("\"'`").strip()


def parse_learnings(text: str, trial: int = 0) -> list[Learning]:
    """Every parseable line of ``text``, duplicates (same key) removed, first kept."""
    out: dict[tuple[str, str, str], Learning] = {}
    for line in text.splitlines():
        learning = parse_learning(line, trial)
        if learning is not None and learning.key not in out:
            out[learning.key] = learning
    return list(out.values())


def render(learnings: list[Learning]) -> str:
    """The numbered list that enters the prompts (1-based; the ids the actor cites)."""
    return "\n".join(f"{i}. {learning.text()}" for i, learning in enumerate(learnings, 1))


def verbal_score(score: float) -> str:
    """CLIN's reward-to-text mapping, for a score on the 0-100 scale (-100: a critical mistake).

    >>> [verbal_score(s) for s in (-100, -5, 0, 20, 50, 90, 100)]  # doctest: +NORMALIZE_WHITESPACE
    ['a critical mistake ended the task', 'very poor', 'poor', 'moderate', 'very well',
     'nearly solved the task', 'solved the task']
    """
    if score <= -100:
        return "a critical mistake ended the task"
    bands = (
        (0, "very poor"),
        (20, "poor"),
        (50, "moderate"),
        (90, "very well"),
        (100, "nearly solved the task"),
    )
    for upper, words in bands:
        if score < upper:
            return words
    return "solved the task"


@dataclass
class TrialRecord:
    """What one trial left behind: its score and the learnings generated after it."""

    trial: int
    score: float
    """0-100 (100 x score / max_score), -100 when the game was lost."""
    steps: int
    won: bool
    learnings: list[Learning] = field(default_factory=list)
    generator: str = ""
    note: str = ""
    """How generation went (a parse failure and its fallback, for instance)."""

    @property
    def verbal(self) -> str:
        """The score in words."""
        return verbal_score(self.score)


class ClinMemory:
    """The current learnings, the per-trial records, and the changes of the last rewrite."""

    def __init__(self) -> None:
        self.learnings: list[Learning] = []
        self.status: dict[tuple[str, str, str], str] = {}
        self.since: dict[tuple[str, str, str], int] = {}
        """Step at which each current learning first appeared (for the lab's time scrubbing)."""
        self.dropped: dict[tuple[str, str, str], tuple[Learning, int, int]] = {}
        """Learnings replaced away: (learning, added step, removed step)."""
        self.trials: list[TrialRecord] = []
        self.used: list[int] = []
        """1-based ids of the learnings the actor said it used at this step."""
        self.prompt_text = ""
        self.sources: list[dict[str, Any]] = []
        """The earlier episodes the meta-memory seed came from (``meta.Source.note()`` each)."""

    def seed(self, learnings: list[Learning], step: int, sources: list[dict[str, Any]]) -> None:
        """Start an episode from the meta-memory (Gen-Env / Gen-Task trial 0) of ``sources``."""
        self.sources = list(sources)
        self.replace(learnings, step)
        self.status = {learning.key: "seeded" for learning in self.learnings}

    def replace(self, new: list[Learning], step: int) -> dict[str, int]:
        """Replace the learnings wholesale (CLIN's generator rewrites the list); return change counts."""
        before = {learning.key: learning for learning in self.learnings}
        rank = {"may": 0, "should": 1}
        status: dict[tuple[str, str, str], str] = {}
        for learning in new:
            old = before.get(learning.key)
            if old is None:
                status[learning.key] = "added"
                self.since[learning.key] = step
                self.dropped.pop(learning.key, None)
            else:
                delta = rank[learning.certainty] - rank[old.certainty]
                status[learning.key] = "strengthened" if delta > 0 else "weakened" if delta < 0 else "kept"
        kept = {learning.key for learning in new}
        for key, old in before.items():
            if key not in kept:
                self.dropped[key] = (old, self.since.pop(key, step), step)
        self.learnings, self.status = list(new), status
        self.prompt_text = render(self.learnings)
        counts = {
            name: sum(1 for s in status.values() if s == name)
            for name in ("added", "kept", "strengthened", "weakened")
        }
        counts["dropped"] = len(before.keys() - kept)
        return counts

    EDITS = ("remove a learning; add a learning (one of CLIN's sentence forms, 'X should be necessary to Y', "
             "'X does not contribute to Y'); change a learning's sentence or its certainty (may, should)")

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """A fork's edit (:class:`~lab.core.protocols.EditableMemory`): the learnings the next prompt lists
        change, and a removed or rewritten learning is listed as dropped at ``step``."""
        if set(edit.attrs) - {"certainty"} or edit.attrs.get("certainty", "may") not in ("may", "should"):
            raise refuse("clin", edit, self.EDITS)
        new = parse_learning(edit.text, len(self.trials)) if edit.text else None
        if edit.text and new is None:
            raise refuse("clin", edit, self.EDITS + f" ({edit.text!r} has none of the forms)")
        if edit.op == "add":
            if new is None:
                raise refuse("clin", edit, self.EDITS)
            if new.key not in {learning.key for learning in self.learnings}:
                self._put(len(self.learnings), new, step)
            return [new.record_id]
        index = next((i for i, learning in enumerate(self.learnings) if learning.record_id == edit.id), None)
        if index is None:
            raise unknown("clin", edit, [learning.record_id for learning in self.learnings])
        if new is not None and new.key != self.learnings[index].key and new.key in {x.key for x in self.learnings}:
            raise refuse("clin", edit, self.EDITS + " (it already holds that learning)")
        old = self.learnings.pop(index)
        status = self.status.pop(old.key, "kept")
        if edit.op == "change":
            new = new or old
            if "certainty" in edit.attrs:
                new = new.with_certainty(edit.attrs["certainty"])
            if new.key == old.key:
                self.learnings.insert(index, new)
                delta = (new.certainty == "should") - (old.certainty == "should")
                self.status[new.key] = "strengthened" if delta > 0 else "weakened" if delta < 0 else status
                self.prompt_text = render(self.learnings)
                return [old.record_id]
            self._put(index, new, step)
        self.dropped[old.key] = (old, self.since.pop(old.key, step), step)
        self.prompt_text = render(self.learnings)
        return [old.record_id] + ([new.record_id] if edit.op == "change" and new else [])

    def _put(self, index: int, learning: Learning, step: int) -> None:
        self.learnings.insert(index, learning)
        self.status[learning.key], self.since[learning.key] = "added", step
        self.dropped.pop(learning.key, None)
        self.prompt_text = render(self.learnings)

    def query(self, question: str) -> str:
        """The learnings as the actor's prompt lists them, whatever the question (CLIN does not retrieve)."""
        return render(self.learnings) or "(no learnings yet)"

    def last_k(self, k: int) -> list[TrialRecord]:
        """The last ``k`` trial records, oldest first."""
        return self.trials[-k:] if k > 0 else []

    def use(self, ids: list[int]) -> None:
        """Note which learnings (1-based ids) the actor cited at this step."""
        self.used = [i for i in ids if 1 <= i <= len(self.learnings)]

    @staticmethod
    def _trial_record(record: TrialRecord) -> MemRecord:
        attrs = {
            "trial": record.trial,
            "score": record.score,
            "verbal": record.verbal,
            "steps": record.steps,
            "won": record.won,
            "learnings": len(record.learnings),
            "generator": record.generator,
            "note": record.note,
        }
        text = (
            f"Trial {record.trial}: score {record.score:g} ({record.verbal}), "
            f"{len(record.learnings)} learnings"
        )
        return MemRecord(id=f"trial-{record.trial}", kind="trial", text=text, attrs=attrs)

    def snapshot(self) -> MemorySnapshot:
        """Learnings (current, then dropped ones with ``removed_step``), trial records, the prompt text."""
        records = [
            learning_record(learning, i, self.status.get(learning.key, "kept"), self.since.get(learning.key))
            for i, learning in enumerate(self.learnings, 1)
        ]
        records += [
            learning_record(learning, None, "dropped", added, removed)
            for learning, added, removed in self.dropped.values()
        ]
        records += [self._trial_record(record) for record in self.trials]
        records += [source_record(source) for source in self.sources]
        retrieved = [self.learnings[i - 1].record_id for i in self.used]
        return MemorySnapshot(records=records, prompt_text=self.prompt_text, retrieved=retrieved)


def learning_record(learning: Learning, number: int | None, status: str, added: int | None,
                    removed: int | None = None) -> MemRecord:
    """A learning as a snapshot record (``number``: its 1-based id in the prompt; None once dropped)."""
    attrs = {
        "number": number,
        "cause": learning.cause,
        "relation": learning.relation,
        "certainty": learning.certainty,
        "effect": learning.effect,
        "trial": learning.trial,
        "status": status,
        "source": "meta" if learning.trial == META_TRIAL else "trial",
    }
    return MemRecord(id=learning.record_id, kind="learning", text=learning.text(), attrs=attrs,
                     added_step=added, removed_step=removed)


def source_record(source: dict[str, Any]) -> MemRecord:
    """An earlier episode that seeded the meta-memory, as a snapshot record."""
    text = (
        f"Seeded from run {source['run_id']}, episode {source['episode']} ({source['env_id']}): "
        f"trial {source['trial']}, score {source['score']:g}, {source['learnings']} learnings"
    )
    return MemRecord(id=f"meta-source-{source['run_id']}-{source['episode']}", kind="meta-source", text=text,
                     attrs=dict(source))
