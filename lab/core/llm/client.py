"""The recording LLM client: every model call of every agent goes through here.

It wraps any langchain-core ``BaseChatModel``, retries failures by the policy of
:mod:`lab.core.llm.retry` (``Retry-After``, jittered backoff, a time budget per call), and records
each call (messages, response, tokens, latency, error, every wait) as an :class:`LLMCall` that the
run loop stores in the step. ``choose`` picks one of several options: by log-likelihood on
models that can score (the embedded model), by generation + matching on the others.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import random
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NoReturn, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from lab.core.errors import LabError, LLMError
from lab.core.llm.retry import BUDGET_VAR, RetryPolicy, http_status, retry_after_s, verdict
from lab.core.llm.sampling import FALLBACK, invoke_kwargs
from lab.core.llm.spec import split
from lab.core.records import LLMCall, LLMWait, Message

Messages = Sequence[BaseMessage | tuple[str, str]]

REDACTED = "[redacted]"
TOKEN_PATTERNS = (
    re.compile(r"(?i)(\bauthorization\b['\"]?\s*[:=]\s*['\"]?\s*(?:bearer|basic|token)?\s*)[^\s'\",}]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{8,}"),
)
"""Token shapes redacted wherever they appear: an Authorization header value, a bearer token, an
OpenAI/Anthropic-style ``sk-...`` key."""
MIN_SECRET_CHARS = 8
"""Environment values shorter than this are not treated as keys (they would redact ordinary words)."""


def secret_values() -> list[str]:
    """The values of the environment's ``*_API_KEY`` variables, longest first."""
    values = {value for name, value in os.environ.items()
              if name.upper().endswith("_API_KEY") and len(value) >= MIN_SECRET_CHARS}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with API keys removed: the environment's ``*_API_KEY`` values and token-shaped strings.

    Everything the lab stores or logs about a failure (call errors, run messages, launch logs) passes
    through here first, because providers echo keys and headers in their error bodies.
    """
    for value in secret_values():
        text = text.replace(value, REDACTED)
    for pattern in TOKEN_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def error_line(err: BaseException, limit: int = 500) -> str:
    """An error as stored: ``Type: message``, first line, keys redacted (before the cut: no half keys)."""
    text = redact(f"{type(err).__name__}: {err}")
    return (text.splitlines() or [""])[0][:limit]


def to_messages(messages: Messages) -> list[BaseMessage]:
    """Accept ``("system"|"user"|"assistant", text)`` pairs as well as langchain messages."""
    kinds = {"system": SystemMessage, "user": HumanMessage, "human": HumanMessage, "assistant": AIMessage}
    out: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, BaseMessage):
            out.append(message)
        else:
            role, content = message
            out.append(kinds[role](content=content))
    return out


def to_records(messages: list[BaseMessage]) -> list[Message]:
    """Messages as stored: role + text."""
    roles = {"human": "user", "ai": "assistant"}
    return [Message(role=roles.get(m.type, m.type), content=str(m.content)) for m in messages]


def estimate_tokens(text: str) -> int:
    """About four characters a token: used only when the provider reports no usage."""
    return math.ceil(len(text) / 4)


@dataclass
class Choice:
    """The outcome of :meth:`LLM.choose`."""

    option: str
    index: int
    scores: list[float] | None
    """Log-likelihoods (scoring models) or match similarities (generating models)."""
    raw: str = ""
    """The generated text, for generating models."""


def match_option(text: str, options: list[str]) -> tuple[int, float]:
    """Map generated text to the closest option: exact line match first, then string similarity."""
    lines = [line.strip(" \t\"'`.>-*").lower() for line in text.strip().splitlines() if line.strip()]
    lowered = [o.lower() for o in options]
    for line in lines:
        if line in lowered:
            return lowered.index(line), 1.0
    target = lines[0] if lines else ""
    ratios = [difflib.SequenceMatcher(None, target, o).ratio() for o in lowered]
    best = max(range(len(options)), key=ratios.__getitem__)
    return best, ratios[best]


class LLM:
    """A chat model plus a call log drained by the run loop after each step."""

    def __init__(self, model: BaseChatModel, spec: str, max_retries: int | None = None,
                 backoff_s: float | None = None, sleep: Callable[[float], None] | None = None, *,
                 policy: RetryPolicy | None = None, clock: Callable[[], float] | None = None,
                 rng: random.Random | None = None,
                 sampling: Mapping[str, Mapping[str, float | int]] | None = None) -> None:
        self.model = model
        self.spec = spec
        self.sampling = {purpose: dict(params) for purpose, params in (sampling or {}).items()}
        """What each call purpose sends (``RunConfig.sampling``; ``*`` for the others), already checked
        against the provider's rules by the run (``lab.core.llm.sampling.sent``)."""
        self.policy = policy or RetryPolicy.from_env(retries=max_retries, backoff_s=backoff_s)
        """How calls are retried (``lab.core.llm.retry``): the environment's, unless ``policy`` is given;
        ``max_retries`` and ``backoff_s`` override its ``retries`` and ``backoff_s``."""
        self.sleep = sleep
        """Waits between attempts (default ``time.sleep``; tests pass a fake clock)..."""
        self.clock = clock
        """...and this measures the retry budget (default ``time.monotonic``)."""
        self.rng = rng or random.Random()
        """Draws the backoff's jitter (its own generator: the run's seeded ones are not disturbed)."""
        self.calls: list[LLMCall] = []

    @property
    def name(self) -> str:
        """The model's name as recorded in calls."""
        for attr in ("model_name", "model"):
            value = getattr(self.model, attr, None)
            if isinstance(value, str) and value:
                return value
        return self.spec

    @property
    def can_score(self) -> bool:
        """Whether the model scores options by log-likelihood."""
        next_kind = getattr(self.model, "next_kind", None)
        if next_kind is not None:  # a replayed run answers the way the recorded run did
            return next_kind() == "score"
        return hasattr(self.model, "score_options")

    def take_calls(self) -> list[LLMCall]:
        """Return and clear the calls recorded since the last take."""
        out, self.calls = self.calls, []
        return out

    def _retrying(self, fn: Any, record: LLMCall) -> Any:
        """``fn()``, retried by the policy; each wait is recorded, and an ``LLMError`` ends the call."""
        clock, policy = self.clock or time.monotonic, self.policy
        started, latency_start = clock(), time.perf_counter()
        for attempt in itertools.count(1):
            record.attempts = attempt
            try:
                return fn()
            except LabError:  # our own errors (a diverged replay) are final
                raise
            except Exception as err:  # providers raise many types; each is recorded, then maybe retried
                record.error = error_line(err)
                record.retry_errors.append(record.error)
                kind = verdict(err)
                tried = f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                if kind == "final":
                    self._fail(record, latency_start, f"failed (HTTP {http_status(err)}, not retried)")
                if kind == "other" and attempt > policy.retries:
                    self._fail(record, latency_start, f"failed {tried}")
                hinted = retry_after_s(err) or 0.0  # zero or a date past: the server sets no wait
                told = hinted > 0
                wait = hinted if told else policy.backoff(attempt, self.rng)
                elapsed = clock() - started
                if elapsed + wait > policy.budget_s:
                    source = ", Retry-After" if told else ""
                    self._fail(record, latency_start, f"failed {tried} in {elapsed:.1f} s: the next wait "
                               f"({wait:.1f} s{source}) would overrun its retry budget of "
                               f"{policy.budget_s:g} s ({BUDGET_VAR})")
                record.waits.append(LLMWait(attempt=attempt, error=record.error, wait_s=wait,
                                            retry_after=told))
                (self.sleep or time.sleep)(wait)
        raise AssertionError("unreachable")

    def _fail(self, record: LLMCall, latency_start: float, how: str) -> NoReturn:
        """Record the failed call and end it with a one-line ``LLMError``."""
        record.latency_s = time.perf_counter() - latency_start
        self.calls.append(record)
        raise LLMError(f"LLM call '{record.purpose}' {how}: {record.error}") from None

    def params(self, purpose: str) -> dict[str, float | int]:
        """The sampling settings a call of ``purpose`` sends."""
        return dict(self.sampling.get(purpose, self.sampling.get(FALLBACK, {})))

    def chat(self, messages: Messages, purpose: str, stop: list[str] | None = None) -> str:
        """Generate a reply; the call is recorded whatever happens."""
        msgs = to_messages(messages)
        params = self.params(purpose)
        record = LLMCall(purpose=purpose, kind="chat", model=self.name, messages=to_records(msgs),
                         sampling={**params, **({"stop": list(stop)} if stop else {})})
        kwargs = invoke_kwargs(split(self.spec)[0], params)
        start = time.perf_counter()
        reply = self._retrying(lambda: self.model.invoke(msgs, stop=stop, **kwargs), record)
        record.latency_s = time.perf_counter() - start
        record.error = None
        record.response = reply.content if isinstance(reply.content, str) else str(reply.content)
        usage = getattr(reply, "usage_metadata", None) or {}
        record.tokens_in = usage.get("input_tokens") or estimate_tokens("".join(m.content for m in record.messages))
        record.tokens_out = usage.get("output_tokens") or estimate_tokens(record.response)
        self.calls.append(record)
        return record.response

    def choose(self, messages: Messages, options: list[str], purpose: str) -> Choice:
        """Pick one option: always a member of ``options`` (which must not be empty)."""
        if not options:
            raise ValueError("choose() needs at least one option")
        if self.can_score:
            return self._score(to_messages(messages), options, purpose)
        raw = self.chat(messages, purpose)
        index, similarity = match_option(raw, options)
        return Choice(option=options[index], index=index, scores=None, raw=raw)

    def _score(self, msgs: list[BaseMessage], options: list[str], purpose: str) -> Choice:
        record = LLMCall(purpose=purpose, kind="score", model=self.name, messages=to_records(msgs),
                         options=list(options))
        start = time.perf_counter()
        scores = self._retrying(lambda: list(self.model.score_options(msgs, options)), record)
        return self._scored(record, scores, time.perf_counter() - start)

    def _scored(self, record: LLMCall, scores: list[float], latency_s: float) -> Choice:
        """Complete and keep a score call's record; the choice it made."""
        options = record.options or []
        record.latency_s = latency_s
        record.error = None
        index = max(range(len(options)), key=scores.__getitem__)
        record.scores = [float(s) for s in scores]
        record.response = options[index]
        record.tokens_in = estimate_tokens("".join(m.content for m in record.messages))
        record.tokens_out = sum(estimate_tokens(o) for o in options)
        self.calls.append(record)
        return Choice(option=options[index], index=index, scores=record.scores)

    def choose_variants(self, prompts: list[Messages], options: list[str], purpose: str) -> list[Choice]:
        """:meth:`choose` for each of several prompts that share most of their text (attribution's
        leave-one-out prompts). A model with ``score_variants`` (the embedded one) scores them in one pass
        that reuses the shared prefix; each prompt is still recorded as its own call, with an equal share
        of the pass's latency. Other models are asked once per prompt."""
        if not options:
            raise ValueError("choose() needs at least one option")
        if not (self.can_score and hasattr(self.model, "score_variants")):
            return [self.choose(p, options, purpose) for p in prompts]
        msgs = [to_messages(p) for p in prompts]
        records = [LLMCall(purpose=purpose, kind="score", model=self.name, messages=to_records(m),
                           options=list(options)) for m in msgs]
        start = time.perf_counter()
        rows = self._retrying(lambda: self.model.score_variants(msgs, options), records[0])
        share = (time.perf_counter() - start) / max(1, len(prompts))
        for record in records[1:]:
            record.attempts = records[0].attempts
        return [self._scored(record, list(row), share) for record, row in zip(records, rows)]
