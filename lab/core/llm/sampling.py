"""Sampling settings per call purpose: the paper's values, the user's overrides, what a provider takes.

Every LLM call names its purpose (``extract``, ``plan``, ``act``...). An agent's typed config carries the
sampling settings its paper ran with, per purpose (its ``sampling`` field, each entry cited); ``*`` is the
fallback for purposes it does not list. The user overrides them with ``--llm-opt`` (or the Run form's
"LLM options"): ``temperature=0`` sets every purpose, ``act.temperature=1`` one purpose, and
``temperature=none`` stops sending the parameter (for models that refuse it).

:func:`sent` turns the table into what each purpose actually sends, after the provider's rules; the run
header keeps that (``RunConfig.sampling``) and each call records its own (``LLMCall.sampling``). The
embedded model and a replay take no sampling settings: the first decodes greedily with its own reply
budget, the second answers with the recorded replies.

>>> table = apply({"*": Sampling(), "act": Sampling(temperature=0.2)}, parse_options(["temperature=0"]))
>>> table["act"].params(), table["*"].params()
({'temperature': 0.0}, {'temperature': 0.0})
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.core.errors import ConfigError

FALLBACK = "*"
"""The table entry used by purposes that have none of their own."""
KEYS = ("temperature", "top_p", "max_tokens")
"""The sampling settings the lab sends, by their OpenAI names."""
CONTEXT_KEY = "context"
"""``--llm-opt context=N`` declares the model's context window in tokens (``lab.core.llm.context``)."""
UNSAMPLED = ("embedded", "replay")
"""Providers that take no sampling settings (greedy decoding; recorded replies)."""


class Sampling(BaseModel):
    """The sampling settings of one call purpose; None: not sent (the provider's default applies)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(None, ge=0.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    """The reply budget in tokens."""

    def params(self) -> dict[str, float | int]:
        """The settings that are sent, by name."""
        return {key: value for key in KEYS if (value := getattr(self, key)) is not None}


def parse_options(items: Iterable[str]) -> dict[str, float | int | None]:
    """``["temperature=0", "act.top_p=1", "context=128000", "top_p=none"]`` → the options, checked.

    Keys are a setting (every purpose), ``<purpose>.<setting>`` (one purpose), or ``context``; the value
    ``none`` (or ``default``) drops the setting. Errors are one line naming the item.
    """
    options: dict[str, float | int | None] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key or not raw:
            raise ConfigError(f"--llm-opt {item!r}: write key=value, e.g. temperature=0")
        options[key] = _value(key, raw)
    return options


def _value(key: str, raw: str) -> float | int | None:
    setting = key.rpartition(".")[2]
    if key == CONTEXT_KEY:
        setting = CONTEXT_KEY
    elif setting not in KEYS or (key != setting and not re.fullmatch(r"[\w-]+", key.rpartition(".")[0])):
        raise ConfigError(f"--llm-opt {key!r}: unknown setting; allowed: {', '.join(KEYS)}, {CONTEXT_KEY}, "
                          f"or <purpose>.<setting> (e.g. act.temperature)")
    if raw.lower() in ("none", "default"):
        if setting == CONTEXT_KEY:
            raise ConfigError("--llm-opt context: give the model's context window in tokens")
        return None
    try:
        number = float(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"--llm-opt {key}={raw!r}: not a number (or 'none')") from None
    if setting in ("max_tokens", CONTEXT_KEY):
        if number != int(number) or number < 1:
            raise ConfigError(f"--llm-opt {key}={raw!r}: must be a whole number of tokens")
        return int(number)
    return number


def apply(table: Mapping[str, Sampling], options: Mapping[str, float | int | None]) -> dict[str, Sampling]:
    """The table with the overrides applied: plain settings to every purpose, qualified ones to one."""
    out = {FALLBACK: Sampling(), **table}
    plain = {k: v for k, v in options.items() if "." not in k and k != CONTEXT_KEY}
    for purpose in out:
        out[purpose] = _with(out[purpose], plain, "")
    for key, value in options.items():
        purpose, dot, setting = key.rpartition(".")
        if dot:
            out[purpose] = _with(out.get(purpose, out[FALLBACK]), {setting: value}, purpose + ".")
    return out


def _with(base: Sampling, update: Mapping[str, Any], prefix: str) -> Sampling:
    try:
        return Sampling.model_validate({**base.model_dump(), **update})
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"--llm-opt {prefix}{first['loc'][0]}: {first['msg'].lower()} "
                          f"(got {first.get('input')!r})") from None


REASONING_MODELS = re.compile(r"^(o\d|gpt-5)")
"""OpenAI models that sample at a fixed setting and refuse ``temperature`` and ``top_p``."""
ONE_OF_TWO_MODELS = re.compile(r"^claude-(opus-4-1|(opus|sonnet|haiku)-4-[5-9])")
"""Anthropic models that refuse ``temperature`` and ``top_p`` in one request."""
TEMPERATURE_MAX = {"openai": 2.0, "anthropic": 1.0}


def sent(provider: str, model: str, table: Mapping[str, Sampling]) -> dict[str, dict[str, float | int]]:
    """What each purpose sends to ``provider``'s ``model``; a setting it refuses is a one-line ``ConfigError``.

    >>> sent("openai", "o3-mini", {"act": Sampling(temperature=0.2)})
    Traceback (most recent call last):
    ...
    lab.core.errors.ConfigError: openai:o3-mini refuses temperature (purpose 'act' sends 0.2): reasoning models sample at a fixed setting; drop it with --llm-opt temperature=none
    """
    if provider in UNSAMPLED:
        return {purpose: {} for purpose in table}
    out = {purpose: sampling.params() for purpose, sampling in table.items()}
    for purpose, params in out.items():
        refused = _refusal(provider, model, params)
        if refused:
            raise ConfigError(f"{provider}:{model} refuses {refused[0]} (purpose {purpose!r} sends "
                              f"{params[refused[0]]:g}): {refused[1]}")
    return out


def _refusal(provider: str, model: str, params: Mapping[str, float | int]) -> tuple[str, str] | None:
    """The first setting the provider refuses, with why and what to do."""
    name = model.rpartition("/")[2].lower()
    if provider == "openai" and REASONING_MODELS.match(name):
        for key in ("temperature", "top_p"):
            if key in params:
                return key, f"reasoning models sample at a fixed setting; drop it with --llm-opt {key}=none"
    if provider == "anthropic" and ONE_OF_TWO_MODELS.match(name) and {"temperature", "top_p"} <= set(params):
        return "top_p", ("this model takes temperature or top_p, not both; drop one, e.g. "
                         "--llm-opt top_p=none")
    top = TEMPERATURE_MAX.get(provider)
    if top is not None and params.get("temperature", 0.0) > top:
        return "temperature", f"{provider} takes temperatures from 0 to {top:g}"
    return None


def invoke_kwargs(provider: str, params: Mapping[str, float | int]) -> dict[str, Any]:
    """The keyword arguments that carry ``params`` to the provider's langchain chat model per call."""
    if not params:
        return {}
    if provider == "ollama":  # Ollama reads sampling from its options, the reply budget as num_predict
        names = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "num_predict"}
        return {"options": {names[key]: value for key, value in params.items()}}
    return dict(params)


def check(options: Mapping[str, Any]) -> dict[str, float | int | None]:
    """Options given as a mapping (a stored config, a sweep) checked as ``--llm-opt`` items are."""
    return {key: _value(key, "none" if value is None else str(value)) for key, value in options.items()}
