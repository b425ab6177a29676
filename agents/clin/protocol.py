"""CLIN's actor protocol: parsing ``ids $$$ rationale ### action``, grounding, early stops.

Grounding [C:model_utils.py ``get_best_matched_action_using_sent_transformer``]: an action that is
an admissible command is taken as is; otherwise its nearest admissible command by sentence-embedding
cosine (all-MiniLM-L6-v2 here, ``bert-base-nli-mean-tokens`` in CLIN) is taken when the similarity
exceeds the threshold, or on the last try. TextWorld lists a handful of admissible commands, so
CLIN's word-overlap prefilter (top 1000 candidates) is not needed. ScienceWorld's ``focus`` and
"Ambiguous request" branches have no TextWorld counterpart and are left out.

Completion (``TASK_COMPLETE``, or "task complete" / "successfully completed") counts only in the action
part, after ``###``, or as the whole reply: a rationale that talks about completing the task ("this gets
the task completed", "Task complete? Not yet.") does not end the trial.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

import torch

from lab.core.protocols import Action

COMPLETE = re.compile(r"task[_ ]complete|successfully completed", re.IGNORECASE)
IDS_PREFIX = re.compile(r"^.*?learning\s*ids?(?:\s*\(s\))?\s*:?", re.IGNORECASE | re.DOTALL)
ACTION_LABEL = re.compile(r"^[\s*_`>#]*(?:(?:next|selected|my)\s+)?action\s*[*_]*\s*:", re.IGNORECASE)
"""A leading "Action:" label, as models echo it after ``###``."""
STOP_COMMAND = "(end trial)"
"""The command recorded for a step where the agent ends the trial."""


class Encoder(Protocol):
    """What grounding needs from :class:`lab.core.policy.encoder.SentenceEncoder`."""

    def similarity_matrix(self, a: list[str], b: list[str]) -> torch.Tensor:
        """Cosine similarities (len(a), len(b))."""
        ...


@dataclass
class Reply:
    """A parsed actor reply."""

    ids: list[int]
    """Learning ids the actor says it used (1-based)."""
    rationale: str
    action: str | None
    """None when the reply does not follow the protocol."""
    complete: bool = False
    """The actor declared the task complete: ``TASK_COMPLETE`` as the action, or as the whole reply."""


def normalize_action(text: str) -> str:
    """CLIN's clean-up of the action part: lower case, no '.', no 'i would like to', first line only.

    >>> normalize_action("I would like to Open the Fridge.")
    'open the fridge'

    An echoed label ("Action:", "**Next action:**") is dropped too: grounding reads "action: go east" as
    0.76 similar to "go east", under the 0.9 threshold, so each such reply cost a retry.

    >>> normalize_action("**Action:** go east"), normalize_action("Next action: `take coin`")
    ('go east', 'take coin')
    """
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = line.lower().replace(".", "").replace("i would like to", "")
    line = ACTION_LABEL.sub("", line)
    return " ".join(line.split()).strip("\"'`*> ")


def parse_reply(text: str) -> Reply:
    """Split ``I used learning id(s): 1, 3 $$$ rationale ### action``.

    Only the action part (or a reply that is nothing but ``TASK_COMPLETE``) can declare completion.

    >>> parse_reply("I used learning id(s): 1, 3 $$$ The milk is in the fridge. ### open fridge")
    Reply(ids=[1, 3], rationale='The milk is in the fridge.', action='open fridge', complete=False)
    >>> parse_reply("none $$$ This gets the task completed. ### take milk").action
    'take milk'
    >>> [parse_reply(r).complete for r in ("none $$$ I ate it. ### TASK_COMPLETE", "TASK_COMPLETE")]
    [True, True]
    >>> parse_reply("open fridge").action is None
    True
    """
    if "###" not in text:
        whole = COMPLETE.fullmatch(normalize_action(text)) is not None
        return Reply(ids=[], rationale="" if whole else text.strip(), action=None, complete=whole)
    head, _, tail = text.partition("###")
    ids_part, sep, rationale = head.partition("$$$")
    if not sep:
        ids_part, rationale = "", head
    ids_text = IDS_PREFIX.sub("", ids_part)
    ids = [int(n) for n in re.findall(r"\d+", ids_text)]
    rationale = " ".join(rationale.split())
    action = normalize_action(tail.split("###")[0])
    if COMPLETE.search(action):
        return Reply(ids=ids, rationale=rationale, action=None, complete=True)
    return Reply(ids=ids, rationale=rationale, action=action or None)


@dataclass
class Grounded:
    """A generated action mapped to an admissible command."""

    command: str
    similarity: float
    exact: bool


def ground(action: str, candidates: list[str], encoder: Encoder | None) -> Grounded:
    """The admissible command for ``action``: exact match first, else the nearest by cosine similarity.

    With no candidates the action is taken as it is (CLIN accepts it when the list is empty).
    """
    if not candidates:
        return Grounded(action, 1.0, True)
    lowered = [c.lower() for c in candidates]
    if action.lower() in lowered:
        return Grounded(candidates[lowered.index(action.lower())], 1.0, True)
    if encoder is None:
        raise ValueError("grounding a non-exact action needs a sentence encoder")
    sims = encoder.similarity_matrix([action], list(candidates))[0]  # (len(candidates),)
    best = int(torch.argmax(sims))
    return Grounded(candidates[best], float(sims[best]), False)


def early_stop_reason(
    recent: list[str], steps: int, walkthrough_length: int | None, identical_limit: int, factor: float
) -> str | None:
    """Why the trial should end now, or None [C:clin_agent.py].

    >>> early_stop_reason(["look"] * 5, 5, None, 5, 1.5)
    '5 identical actions in a row'
    >>> early_stop_reason(["a", "b"], 9, 6, 5, 1.5)
    '9 steps reached 1.5 x the walkthrough length (6)'
    >>> early_stop_reason(["a", "b"], 8, 6, 5, 1.5) is None
    True
    """
    tail = [a.lower() for a in recent[-identical_limit:]]
    if len(tail) == identical_limit and len(set(tail)) == 1:
        return f"{identical_limit} identical actions in a row"
    if walkthrough_length and steps >= math.ceil(factor * walkthrough_length):
        return f"{steps} steps reached {factor:g} x the walkthrough length ({walkthrough_length})"
    return None


def stop_action(reason: str, thoughts: dict[str, object]) -> Action:
    """An action that ends the trial (the run loop plays nothing for it), with the reason recorded."""
    return Action(command=STOP_COMMAND, thoughts={**thoughts, "end_trial": reason}, stop=True)
