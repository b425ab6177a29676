"""LLM spec strings → chat models.

``embedded`` (the default, offline), ``openai:<model>``, ``ollama:<model>``,
``anthropic:<model>``, ``logprobs:<model>`` (an OpenAI-compatible completions endpoint that echoes prompt
log-probabilities: it scores options, :mod:`lab.core.llm.logprobs`), ``replay:<run_id>``, and
``fake:<reply>|<reply>...`` (langchain-core's
``FakeListChatModel``, for tests and demos). Integration packages are imported only when
asked for; API keys come from the environment and never enter a spec or the store.
"""

from __future__ import annotations

import importlib
import os
import importlib.util
from typing import Any, Callable

from langchain_core.language_models import BaseChatModel

from lab.core.errors import ConfigError, MissingDependencyError, UnknownIdError

PROVIDERS: dict[str, tuple[str, str, str]] = {
    # provider: (integration package, module, class)
    "openai": ("langchain-openai", "langchain_openai", "ChatOpenAI"),
    "ollama": ("langchain-ollama", "langchain_ollama", "ChatOllama"),
    "anthropic": ("langchain-anthropic", "langchain_anthropic", "ChatAnthropic"),
}
BUILTIN = ("embedded", "replay", "fake", "logprobs")
TIMEOUT_VAR, DEFAULT_TIMEOUT_S = "MEMLAB_LLM_TIMEOUT", 60.0
"""Seconds a provider request may take before it fails (and is retried by the lab's LLM client)."""


def split(spec: str) -> tuple[str, str]:
    """``"openai:gpt-4o-mini"`` → ``("openai", "gpt-4o-mini")``."""
    provider, _, rest = spec.strip().partition(":")
    return provider.lower(), rest.strip()


def validate(spec: str) -> None:
    """Check a spec without building the model: known provider, installed package, argument given."""
    provider, rest = split(spec)
    if provider not in PROVIDERS and provider not in BUILTIN:
        raise UnknownIdError("LLM provider", provider or spec, [*BUILTIN, *PROVIDERS])
    if provider in PROVIDERS:
        package, module, _ = PROVIDERS[provider]
        if not rest:
            raise ConfigError(f"LLM spec {spec!r} names no model; write {provider}:<model>")
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(f"the {provider} LLM provider", package)
    if provider == "replay" and not rest:
        raise ConfigError("LLM spec 'replay:' needs a run id: replay:<run_id>")
    if provider == "logprobs" and not rest:
        raise ConfigError("LLM spec 'logprobs:' names no model; write logprobs:<model>")


def build(spec: str, store: Any = None) -> BaseChatModel:
    """The chat model a spec names (``validate`` runs first); ``replay:`` reads its calls from ``store``."""
    validate(spec)
    provider, rest = split(spec)
    builders: dict[str, Callable[[], BaseChatModel]] = {
        "embedded": _embedded,
        "replay": lambda: _replay(rest, store),
        "fake": lambda: _fake(rest),
        "logprobs": lambda: _logprobs(rest),
    }
    if provider in builders:
        return builders[provider]()
    _, module, cls = PROVIDERS[provider]
    return getattr(importlib.import_module(module), cls)(model=rest, **provider_kwargs(provider))


def provider_kwargs(provider: str) -> dict[str, Any]:
    """Retries belong to the lab's LLM layer (recorded per attempt), so the SDK's own are off."""
    timeout = float(os.environ.get(TIMEOUT_VAR, DEFAULT_TIMEOUT_S))
    kwargs: dict[str, Any] = {"max_retries": 0, "timeout": timeout}
    if provider == "openai" and os.environ.get("OPENAI_BASE_URL"):
        kwargs["base_url"] = os.environ["OPENAI_BASE_URL"]
    if provider == "ollama":
        kwargs = {}  # ChatOllama has neither option; it reaches OLLAMA_HOST or localhost:11434
    return kwargs


def _embedded() -> BaseChatModel:
    from lab.core.llm.embedded import EmbeddedChatModel

    return EmbeddedChatModel()


def _replay(run_id: str, store: Any) -> BaseChatModel:
    from lab.core.llm.replay import ReplayChatModel

    if store is None:
        raise ConfigError("LLM spec 'replay:' needs the run store that holds the recorded run")
    return ReplayChatModel.from_store(run_id, store)


def _logprobs(model: str) -> BaseChatModel:
    from lab.core.llm.logprobs import CompletionsLogprobModel

    return CompletionsLogprobModel(model_name=model, timeout_s=float(os.environ.get(TIMEOUT_VAR, DEFAULT_TIMEOUT_S)))


def _fake(rest: str) -> BaseChatModel:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    return FakeListChatModel(responses=rest.split("|") if rest else [""])
