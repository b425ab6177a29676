"""The context window of a run's model, which sizes the prompt caps of the agents that have them.

The caps of the lab's prompts (the Full History baseline's history, each AriGraph prompt section) were set
for the embedded model's 8,192-token context. With a large-context model those caps would shrink the very
gap the papers measure, so an agent config names its caps (``AgentConfig.CONTEXT_SCALED``) and the run
scales the ones the user left unset by the model's window over 8,192 (:func:`scaled`).

The window is declared (``--llm-opt context=N``), known (the embedded model; the table below, from the
providers' model pages, by name prefix), or, for an unknown model, the embedded model's: a cap that fits
every model. The run header records the window and where it came from.

>>> window("openai:gpt-4o-mini", None), window("ollama:llama3", None), window("ollama:llama3", 32768)
((128000, 'known'), (8192, 'unknown model: the embedded model window'), (32768, 'declared'))
"""

from __future__ import annotations

from lab.core.llm.spec import split

EMBEDDED_CONTEXT_TOKENS = 8192
"""SmolLM2-135M-Instruct's ``max_position_embeddings``: the window the lab's caps were set for."""
KNOWN_CONTEXT_TOKENS: tuple[tuple[str, str, int], ...] = (
    # (provider, model-name prefix, tokens): the longest matching prefix wins
    ("openai", "gpt-4o", 128_000),
    ("openai", "gpt-4-turbo", 128_000),
    ("openai", "gpt-4-0125", 128_000),
    ("openai", "gpt-4-1106", 128_000),
    ("openai", "gpt-4", 8_192),
    ("openai", "gpt-4-32k", 32_768),
    ("openai", "gpt-4.1", 1_047_576),
    ("openai", "gpt-5", 400_000),
    ("openai", "gpt-3.5-turbo", 16_385),
    ("openai", "o1", 200_000),
    ("openai", "o3", 200_000),
    ("openai", "o4-mini", 200_000),
    ("anthropic", "claude-", 200_000),
)


def window(spec: str, declared: int | None) -> tuple[int, str]:
    """The context window of the model ``spec`` names, in tokens, and where the figure comes from."""
    if declared:
        return declared, "declared"
    provider, model = split(spec)
    if provider in ("embedded", "fake"):
        return EMBEDDED_CONTEXT_TOKENS, "known"
    name = model.rpartition("/")[2].lower()
    matches = [(len(prefix), tokens) for p, prefix, tokens in KNOWN_CONTEXT_TOKENS
               if p == provider and name.startswith(prefix)]
    if matches:
        return max(matches)[1], "known"
    return EMBEDDED_CONTEXT_TOKENS, "unknown model: the embedded model window"


def scaled(cap: int, context_tokens: int) -> int:
    """A cap set for the embedded model's window, for a window of ``context_tokens``."""
    return max(1, cap * context_tokens // EMBEDDED_CONTEXT_TOKENS)
