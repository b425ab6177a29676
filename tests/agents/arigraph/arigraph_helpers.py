"""Test helpers of the AriGraph tests: a tiny deterministic encoder and a prompt-reading scoring model."""

from __future__ import annotations

import re

import torch
from langchain_core.language_models.fake_chat_models import FakeListChatModel


class WordEncoder:
    """A tiny deterministic encoder: one dimension per known word, L2-normalised (unknown words ignored)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.words = {w: i for i, w in enumerate(vocabulary)}
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        out = torch.zeros((len(texts), len(self.words)))
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                if word in self.words:
                    out[row, self.words[word]] += 1.0
        return torch.nn.functional.normalize(out, dim=-1)


def unexplored(prompt: str) -> dict[str, str]:
    return {m[1]: m[2] for m in re.finditer(r"unexplored exits for ([^:\n]+): (\[[^\]]*\]|none)", prompt)}


def hunt_score(option: str, prompt: str) -> float:
    """A scripted player that only knows what the agent's prompt tells it (memory, exits, history)."""
    o = option.lower()
    if o.startswith(("take ", "unlock ")):
        return 6 if o.startswith("take") else 5
    if o.startswith("open "):
        return 4
    note = re.match(r"examine (note \d+)", o)
    if note and f"action taken: examine {note[1]}" not in prompt:
        return 3.5
    exits = unexplored(prompt)
    if o.startswith("go to "):
        room = o[6:]
        for key, locker in re.findall(r"((?:key \d+|golden key)), unlocks, ([a-z]+ locker)", prompt):
            if f"{locker}, is in, {room}" in prompt and f"{key}, is in, inventory" in prompt:
                return 3
        return 1 if exits.get(room, "none") != "none" else 0
    if o.startswith("go "):
        return 2 if any(o[3:] in v for v in exits.values()) else 0.5
    return 0


class PromptScorer(FakeListChatModel):
    """A scoring fake chat model (has ``score_options``) that plays the treasure hunt from its prompt."""

    prompts: list = []

    def score_options(self, messages, options):
        prompt = messages[-1].content.lower()
        self.prompts.append(prompt)
        return [hunt_score(o, prompt) for o in options]


class RoutingFake(FakeListChatModel):
    """A generating fake chat model that answers each AriGraph call by what its prompt asks for.

    ``replies`` maps a call kind (``entities``, ``extract``, ``refine``, ``gate``, ``plan``, ``act``,
    ``summary``, ``importance``, ``reflect``) to a list of replies used in turn (the last one repeats).
    """

    replies: dict = {}
    seen: list = []

    def kind(self, prompt: str) -> str:
        markers = [
            ("worth looking up", "entities"),
            ("Triplets:", "extract"),
            ("Replacements:", "refine"),
            ("True or False", "gate"),
            ("You are the planner", "plan"),
            ("Possible actions in the current situation", "act"),
            ("Your summary:", "summary"),
            ("how important", "importance"),
            ("Reflection:", "reflect"),
        ]
        return next((k for marker, k in markers if marker in prompt), "other")

    def _call(self, messages, stop=None, run_manager=None, **kwargs):
        prompt = "\n".join(str(m.content) for m in messages)
        kind = self.kind(prompt)
        self.seen.append((kind, prompt))
        queue = self.replies.get(kind, [""])
        index = sum(1 for k, _ in self.seen if k == kind) - 1
        return queue[min(index, len(queue) - 1)]
