"""The retry policy of LLM calls: which failures to retry, how long to wait, and when to give up.

A provider's bad hour (rate limits, overload, server errors, timeouts, dropped connections) must not end a
long run, so *transient* failures are retried until a per-call time budget is spent; a ``Retry-After``
(or ``retry-after-ms``) header on the error's HTTP response sets the wait, otherwise it is an exponential
backoff with jitter, capped per wait. A client error (HTTP 400, 401, 403, 404, 422...) is final: waiting does
not fix a bad request or a bad key. Any other failure (an unreadable reply, a local model's exception) is
retried a few times only, since it rarely passes by waiting. The status, the headers and the kind of failure
are read from the error or from those it was raised from, whatever the SDK (``.status_code``,
``.response.headers``, langchain-core's ``is_retryable``, network error classes).

The settings come from the environment, like the request timeout (``lab.core.llm.spec``):

- ``MEMLAB_LLM_RETRY_BUDGET`` (900 s): the most a call may spend, from its first attempt, before a wait that
  would run past it ends the call with an ``LLMError`` instead;
- ``MEMLAB_LLM_BACKOFF`` (1 s): the first backoff wait, doubling after each failed attempt;
- ``MEMLAB_LLM_MAX_WAIT`` (60 s): the cap on one backoff wait (a ``Retry-After`` is honoured as given);
- ``MEMLAB_LLM_RETRIES`` (3): retries of failures that are neither transient nor final.
"""

from __future__ import annotations

import math
import os
import random
import re
import time
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any, Iterator, Literal

from lab.core.errors import ConfigError

BUDGET_VAR, BACKOFF_VAR, MAX_WAIT_VAR, RETRIES_VAR = (
    "MEMLAB_LLM_RETRY_BUDGET", "MEMLAB_LLM_BACKOFF", "MEMLAB_LLM_MAX_WAIT", "MEMLAB_LLM_RETRIES")
DEFAULT_BUDGET_S, DEFAULT_BACKOFF_S, DEFAULT_MAX_WAIT_S, DEFAULT_RETRIES = 900.0, 1.0, 60.0, 3

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
"""Client-error statuses that pass by waiting (timeout, conflict, too early, rate limit), like every 5xx."""
TRANSIENT_NAME = re.compile(r"Timeout|Connect|Network|Transport|RateLimit|Overloaded|Unavailable")
"""Exception class names (anywhere in the MRO) of network failures: httpx's, the provider SDKs', requests'."""

Verdict = Literal["transient", "final", "other"]


def env_number(name: str, default: float) -> float:
    """A non-negative number from the environment; a ``ConfigError`` names a bad value."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value >= 0:
        raise ConfigError(f"{name} must be a non-negative number, not {raw!r}")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How one LLM call is retried (see the module docstring)."""

    budget_s: float = DEFAULT_BUDGET_S
    backoff_s: float = DEFAULT_BACKOFF_S
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    retries: int = DEFAULT_RETRIES
    """Retries after the first attempt of failures that are neither transient nor final."""
    jitter: float = 0.5
    """The fraction of each backoff wait drawn at random (``0.5``: between half and all of it)."""

    @classmethod
    def from_env(cls, **overrides: Any) -> RetryPolicy:
        """The policy the environment sets; ``None`` overrides are ignored."""
        policy = cls(budget_s=env_number(BUDGET_VAR, DEFAULT_BUDGET_S),
                     backoff_s=env_number(BACKOFF_VAR, DEFAULT_BACKOFF_S),
                     max_wait_s=env_number(MAX_WAIT_VAR, DEFAULT_MAX_WAIT_S),
                     retries=int(env_number(RETRIES_VAR, DEFAULT_RETRIES)))
        return replace(policy, **{k: v for k, v in overrides.items() if v is not None})

    def backoff(self, failures: int, rng: random.Random) -> float:
        """The wait after failed attempt ``failures``: doubling from ``backoff_s``, capped, jittered."""
        delay = min(self.max_wait_s, self.backoff_s * 2.0 ** min(failures - 1, 64))
        return delay * (1.0 - self.jitter * rng.random())


def chain(err: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from or while handling (``__cause__``, and ``__context__`` unless
    ``raise ... from None`` hid it), once each."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        context = None if current.__suppress_context__ else current.__context__
        todo += [e for e in (current.__cause__, context) if e is not None]


def http_status(err: BaseException) -> int | None:
    """The HTTP status of the response behind an error (``.status_code`` or ``.response.status_code``)."""
    for current in chain(err):
        for holder in (current, getattr(current, "response", None)):
            status = getattr(holder, "status_code", None)
            if isinstance(status, int) and not isinstance(status, bool):
                return status
    return None


def header(headers: Any, name: str) -> str | None:
    """A header's value, matched case-insensitively in any mapping-like headers object."""
    try:
        items = list(headers.items())
    except (AttributeError, TypeError):
        return None
    return next((str(value) for key, value in items if str(key).lower() == name), None)


def retry_after_s(err: BaseException, now: float | None = None) -> float | None:
    """Seconds the provider asked to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP
    date (relative to ``now``, epoch seconds); None when no response in the error's chain says so."""
    for current in chain(err):
        response = getattr(current, "response", None)
        headers = getattr(response, "headers", None) or getattr(current, "headers", None)
        if headers is None:
            continue
        for name, per_second in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
            try:
                seconds = float(header(headers, name) or "nan") / per_second
            except ValueError:
                continue
            if math.isfinite(seconds):
                return seconds
        try:
            when = parsedate_to_datetime(header(headers, "retry-after") or "")
        except (TypeError, ValueError, IndexError):
            continue
        return when.timestamp() - (time.time() if now is None else now)
    return None


def verdict(err: BaseException) -> Verdict:
    """``transient`` (retried within the budget), ``final`` (not retried), ``other`` (retried a few times)."""
    status = http_status(err)
    if status is not None and (status >= 500 or status in RETRYABLE_STATUS):
        return "transient"
    if status is not None and 400 <= status < 500:
        return "final"
    for current in chain(err):
        retryable = getattr(current, "is_retryable", None)  # langchain-core's ModelError family says it
        if isinstance(retryable, bool):
            return "transient" if retryable else "final"
        if isinstance(current, (ConnectionError, TimeoutError)):
            return "transient"
        if any(TRANSIENT_NAME.search(cls.__name__) for cls in type(current).__mro__):
            return "transient"
    return "other"
