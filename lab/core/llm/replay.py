"""``replay:<run_id>``: answer each call with the response recorded in that run, in order.

Re-running a recorded episode with the same config and a replay model reproduces it
exactly, with no model at hand (the env and the agent are deterministic given the seed).
The calls of the lab's ground-truth probes (purpose ``probe``) are replayed apart: the
agent's replay skips them, and a run's probes get a replay of their own (``probes=True``).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from lab.core.errors import LLMError
from lab.core.records import LLMCall

PROBE_PURPOSE = "probe"
"""Calls made by the run loop's probes of the memory, not by the agent (``lab.probing``)."""


class ReplayChatModel(BaseChatModel):
    """Plays back the successful LLM calls of a recorded run, chat and score calls alike."""

    run_id: str
    model_name: str = "replay"
    _calls: list[LLMCall] = PrivateAttr(default_factory=list)
    _cursor: int = PrivateAttr(default=0)

    @classmethod
    def from_calls(cls, run_id: str, calls: list[LLMCall], probes: bool = False) -> ReplayChatModel:
        """A replay of these calls (failed attempts are skipped): the agent's, or (``probes``) the probes'."""
        model = cls(run_id=run_id)
        model._calls = [c for c in calls if c.error is None and (c.purpose == PROBE_PURPOSE) == probes]
        if model._calls:
            model.model_name = f"replay:{model._calls[0].model}"
        return model

    @classmethod
    def from_store(cls, run_id: str, store: Any, probes: bool = False) -> ReplayChatModel:
        """A replay of a run in ``store`` (a ``lab.store.RunStore``; ``RunNotFoundError`` if absent)."""
        calls = [call for step in store.steps(run_id) for call in step.llm_calls]
        return cls.from_calls(run_id, calls, probes)

    @property
    def _llm_type(self) -> str:
        return "lab-replay"

    @property
    def remaining(self) -> int:
        """Calls not yet replayed."""
        return len(self._calls) - self._cursor

    def next_kind(self) -> str | None:
        """``chat`` or ``score`` for the next recorded call, None when exhausted."""
        return self._calls[self._cursor].kind if self.remaining else None

    def _pop(self, kind: str) -> LLMCall:
        if not self.remaining:
            raise LLMError(f"replay of run {self.run_id} ran out of recorded calls "
                           f"({len(self._calls)} were recorded)")
        call = self._calls[self._cursor]
        if call.kind != kind:
            raise LLMError(f"replay of run {self.run_id} diverged at call {self._cursor}: "
                           f"recorded a {call.kind} call, asked for a {kind} call")
        self._cursor += 1
        return call

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        call = self._pop("chat")
        usage = {"input_tokens": call.tokens_in, "output_tokens": call.tokens_out,
                 "total_tokens": call.tokens_in + call.tokens_out}
        message = AIMessage(content=call.response, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def score_options(self, messages: list[BaseMessage], options: list[str]) -> list[float]:
        """The recorded scores; options that differ from the recording mean the run diverged."""
        call = self._pop("score")
        if call.options != list(options) or call.scores is None:
            raise LLMError(f"replay of run {self.run_id} diverged at call {self._cursor - 1}: "
                           "the options to score differ from the recorded ones")
        return list(call.scores)


class ResumeChatModel(BaseChatModel):
    """A run's recorded replies for its first calls, then a live model: ``memlab resume`` (``lab.resume``).

    The recorded prefix rebuilds the agent's state exactly (the same replies to the same prompts); once it
    is spent, every call goes to ``live``, which answers with its own settings."""

    recorded: ReplayChatModel
    live: BaseChatModel
    model_name: str = "resume"

    @property
    def _llm_type(self) -> str:
        return "lab-resume"

    def next_kind(self) -> str | None:
        """The recorded call's kind while the prefix lasts; then what the live model does."""
        if self.recorded.remaining:
            return self.recorded.next_kind()
        live_kind = getattr(self.live, "next_kind", None)
        if live_kind is not None:
            return live_kind()
        return "score" if hasattr(self.live, "score_options") else "chat"

    def score_options(self, messages: list[BaseMessage], options: list[str]) -> list[float]:
        """Recorded scores during the prefix, the live model's after it."""
        if self.recorded.remaining:
            return self.recorded.score_options(messages, options)
        return list(self.live.score_options(messages, options))  # type: ignore[attr-defined]

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.recorded.remaining:
            return self.recorded._generate(messages, stop, run_manager)
        return self.live._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
