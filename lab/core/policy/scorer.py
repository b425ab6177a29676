"""Score candidate replies (admissible actions) by their mean per-token log-likelihood under a chat LM.

The score of an option is the mean of ``log p(token | prompt, earlier tokens)`` over the tokens of
``option + <|im_end|>`` as the assistant's reply to the chat-templated prompt. The mean (not the sum)
is used because the sum favours the shortest commands regardless of the situation.

:meth:`ActionScorer.score` runs the prompt once, keeps its KV cache, repeats the cache for the batch
of candidates and runs all (right-padded) candidates in one forward pass. :meth:`score_unbatched`
is the naive reference: one full forward pass over prompt + candidate per candidate.

Numerics: in bf16 the two paths differ by rounding (different matmul shapes and attention masks),
typically by a few hundredths of a nat per token; in fp32 they agree to ~1e-5. Scores can also move by
that rounding when the batch's other candidates change (padding length changes the shapes).
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch

from lab.core.errors import ConfigError
from lab.core.policy.lm import INFERENCE_LOCK, load_embedded_lm

log = logging.getLogger(__name__)

END_OF_TURN = "<|im_end|>"
KV_BUDGET_TOKENS = 32768
"""Max of ``candidates x (prompt + candidate)`` tokens per forward pass; more candidates are chunked."""
LOGIT_BUDGET_TOKENS = 2048
"""Max of ``candidates x candidate length`` per forward pass (bounds the (n, L, vocab) logits)."""

Message = dict[str, str]


def cache_arg(model: Any) -> str:
    """The forward() keyword for the KV cache: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def cache_of(output: Any) -> Any:
    """The KV cache of a forward() output, under either attribute name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def mean_logprob(pred_logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean log-probability of ``targets`` under ``pred_logits`` over the positions where ``mask`` is 1.

    ``pred_logits``: (n, L, V), row j predicting ``targets[:, j]``; ``targets`` and ``mask``: (n, L).
    Returns (n,) float32. The softmax is computed in float32 whatever the model dtype.
    """
    logp = torch.log_softmax(pred_logits.float(), dim=-1)  # (n, L, V)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (n, L)
    weights = mask.to(picked.dtype)  # (n, L)
    return (picked * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class ActionScorer:
    """Mean per-token log-likelihood scoring of candidate assistant replies, batched over candidates."""

    def __init__(
        self,
        tokenizer: Any,
        model: Any,
        *,
        max_context: int | None = None,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        """Wrap a chat ``tokenizer`` and causal LM ``model`` (already on its device, in eval mode).

        ``max_context`` caps prompt + option tokens (default: the model's ``max_position_embeddings``).
        ``lock`` serialises forward passes; by default the process-wide lock of the embedded model.
        """
        self.tokenizer = tokenizer
        self.model = model
        self.max_context = int(max_context or getattr(model.config, "max_position_embeddings", 2048))
        self._lock = lock if lock is not None else INFERENCE_LOCK
        self._cache_kw = cache_arg(model)
        self._end_text = END_OF_TURN if END_OF_TURN in tokenizer.get_vocab() else tokenizer.eos_token
        pad = tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else tokenizer.eos_token_id)

    # ----------------------------------------------------------------- tokens

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the chat-templated ``messages`` ending with the assistant generation prompt."""
        encoded = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

    def option_ids(self, option: str) -> list[int]:
        """Token ids of ``option`` followed by the end-of-turn token (the reply as the template closes it)."""
        return list(self.tokenizer(option + self._end_text, add_special_tokens=False)["input_ids"])

    def _fit_prompt(self, prompt: list[int], candidates: list[list[int]]) -> list[int]:
        """Truncate the prompt from the left so prompt + the longest candidate fits ``max_context``.

        Left truncation drops the oldest tokens (the system prompt first); the most recent observation
        and the generation prompt, which matter most for the next action, are kept.
        """
        longest = max(len(c) for c in candidates)
        room = self.max_context - longest
        if room < 1:
            raise ConfigError(f"an option of {longest} tokens does not fit the context of {self.max_context}")
        if len(prompt) > room:
            log.warning("prompt of %d tokens truncated from the left to %d", len(prompt), room)
            return prompt[-room:]
        return prompt

    def _prepare(
        self, messages: Sequence[Message], options: Sequence[str]
    ) -> tuple[list[int], list[list[int]]]:
        """Prompt ids (fitted to the context) and the candidate ids of the given (unique) options."""
        candidates = [self.option_ids(o) for o in options]
        return self._fit_prompt(self.prompt_ids(messages), candidates), candidates

    # ---------------------------------------------------------------- scoring

    def score(self, messages: Sequence[Message], options: Sequence[str]) -> list[float]:
        """Mean per-token log-likelihood of each option as the reply, all in one shared-prefix pass.

        ``messages``: ``[{"role": ..., "content": ...}]``. Returns one float per option, in order;
        duplicate options are scored once and get equal scores; no options give ``[]``.
        """
        return self._score_with(self._score_batched, messages, options)

    def score_unbatched(self, messages: Sequence[Message], options: Sequence[str]) -> list[float]:
        """The naive baseline of :meth:`score`: one forward pass over prompt + option per option."""
        return self._score_with(self._score_each, messages, options)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> tuple[str, list[float]]:
        """The best-scoring option (the first one on ties) and the scores of all options.

        Raises :class:`~lab.core.errors.ConfigError` when ``options`` is empty.
        """
        if not options:
            raise ConfigError("choose() needs at least one option")
        scores = self.score(messages, options)
        best = max(range(len(options)), key=scores.__getitem__)
        return options[best], scores

    def _score_with(self, method: Any, messages: Sequence[Message], options: Sequence[str]) -> list[float]:
        """Score the unique options with ``method`` and spread the scores back over ``options``."""
        if not options:
            return []
        unique = list(dict.fromkeys(options))
        prompt, candidates = self._prepare(messages, unique)
        with self._lock:
            values = method(prompt, candidates)
        by_option = dict(zip(unique, values, strict=True))
        return [by_option[o] for o in options]

    # -------------------------------------------------------------- internals

    def _chunks(self, candidates: list[list[int]], prompt_len: int) -> Iterator[list[list[int]]]:
        """Split candidates into batches that respect the KV and logit budgets (usually one batch)."""
        chunk: list[list[int]] = []
        for cand in candidates:
            trial = [*chunk, cand]
            width = max(len(c) for c in trial)
            too_big = len(trial) * (prompt_len + width) > KV_BUDGET_TOKENS
            if chunk and (too_big or len(trial) * width > LOGIT_BUDGET_TOKENS):
                yield chunk
                trial = [cand]
            chunk = trial
        if chunk:
            yield chunk

    def _pad(self, candidates: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids and their mask, both (n, L) on the model's device."""
        width = max(len(c) for c in candidates)
        ids = torch.full((len(candidates), width), self._pad_id, dtype=torch.long)  # (n, L)
        mask = torch.zeros((len(candidates), width), dtype=torch.long)  # (n, L)
        for row, cand in enumerate(candidates):
            ids[row, : len(cand)] = torch.tensor(cand, dtype=torch.long)
            mask[row, : len(cand)] = 1
        device = self.model.device
        return ids.to(device), mask.to(device)

    @torch.no_grad()
    def _score_batched(self, prompt: list[int], candidates: list[list[int]]) -> list[float]:
        """Run the prompt once, then every chunk of candidates on a copy of its KV cache."""
        prompt_t = torch.tensor([prompt], dtype=torch.long, device=self.model.device)  # (1, P)
        out = self.model(input_ids=prompt_t, use_cache=True, logits_to_keep=1)
        first_logits = out.logits[:, -1:, :]  # (1, 1, V): predicts each candidate's first token
        cache = cache_of(out)
        chunks = list(self._chunks(candidates, len(prompt)))
        scores: list[float] = []
        for index, chunk in enumerate(chunks):
            chunk_cache = cache if index == len(chunks) - 1 else copy.deepcopy(cache)
            scores.extend(self._score_chunk(chunk_cache, first_logits, chunk, len(prompt)))
        return scores

    def _score_chunk(
        self, cache: Any, first_logits: torch.Tensor, chunk: list[list[int]], prompt_len: int
    ) -> list[float]:
        """One forward pass of n right-padded candidates after the prompt's cache, repeated n times."""
        ids, mask = self._pad(chunk)  # (n, L), (n, L)
        n, width = ids.shape
        cache.batch_repeat_interleave(n)  # every layer's keys/values: (1, H, P, D) -> (n, H, P, D)
        prefix = torch.ones((n, prompt_len), dtype=mask.dtype, device=mask.device)  # (n, P)
        attention = torch.cat([prefix, mask], dim=1)  # (n, P + L)
        positions = torch.arange(prompt_len, prompt_len + width, device=ids.device).expand(n, width)  # (n, L)
        out = self.model(
            input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True,
            **{self._cache_kw: cache},
        )
        vocab = first_logits.shape[-1]
        pred = torch.cat([first_logits.expand(n, 1, vocab), out.logits[:, :-1, :]], dim=1)  # (n, L, V)
        return mean_logprob(pred, ids, mask).tolist()

    @torch.no_grad()
    def _score_each(self, prompt: list[int], candidates: list[list[int]]) -> list[float]:
        """One uncached forward pass over prompt + candidate per candidate (the reference path)."""
        scores = []
        for cand in candidates:
            ids = torch.tensor([prompt + cand], dtype=torch.long, device=self.model.device)  # (1, P + L)
            # The last L + 1 positions (P - 1 .. P + L - 1) predict the candidate's L tokens and one more.
            out = self.model(input_ids=ids, use_cache=False, logits_to_keep=len(cand) + 1)
            pred = out.logits[:, :-1, :]  # (1, L, V)
            targets = ids[:, len(prompt):]  # (1, L)
            scores.append(mean_logprob(pred, targets, torch.ones_like(targets)).item())
        return scores


@functools.cache
def embedded_scorer(device: str = "auto") -> ActionScorer:
    """The process-wide :class:`ActionScorer` over the embedded SmolLM2 model on ``device``."""
    return ActionScorer(*load_embedded_lm(device))
