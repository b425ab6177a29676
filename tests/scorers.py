"""Scoring chat models for tests: a reader whose dependence on memory is known in advance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class KeyedScorer(BaseChatModel):
    """Scores options as a reader who needs one memory item: ``favourite`` wins while ``needed`` is in the
    prompt; without it, ``fallback`` does. Every other option scores low."""

    needed: str
    favourite: str
    fallback: str
    seen: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "keyed-scorer"

    def score_options(self, messages: Sequence[BaseMessage], options: Sequence[str]) -> list[float]:
        text = "\n".join(str(m.content) for m in messages)
        self.seen.append(text)
        best = self.favourite if self.needed in text else self.fallback
        return [-0.5 if option == best else -3.0 for option in options]

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.favourite))])
