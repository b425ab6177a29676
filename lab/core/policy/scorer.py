"""Score candidate replies (admissible actions) by their mean per-token log-likelihood under a chat LM.

The score of an option is the mean of ``log p(token | prompt, earlier tokens)`` over the tokens of
``option + <|im_end|>`` as the assistant's reply to the chat-templated prompt. The mean (not the sum)
is used because the sum favours the shortest commands regardless of the situation.

:meth:`ActionScorer.score` runs the prompt once, keeps its KV cache, repeats the cache for the batch
of candidates and runs all (right-padded) candidates in one forward pass. :meth:`score_unbatched`
is the naive reference: one full forward pass over prompt + candidate per candidate.
:meth:`ActionScorer.score_variants` scores the same options after several prompts that share most of their
tokens (memory attribution's leave-one-out prompts): each prompt reuses the first one's cache up to their
common prefix, and its remaining tokens and all its candidates run in one packed pass.

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

    def score_variants(self, variants: Sequence[Sequence[Message]], options: Sequence[str]) -> list[list[float]]:
        """The scores of the same options after each of several prompts that share most of their tokens (the
        leave-one-out prompts of memory attribution), equal up to bf16 rounding to
        ``[self.score(v, options) for v in variants]``.

        The first prompt runs once; every other reuses its key/value cache up to the tokens the two share (a
        token-level common prefix of the tokenised prompts, so the tokens are exactly those :meth:`score`
        would run) and runs only the rest. Each prompt's candidates then run in one packed sequence on
        that cache, each candidate attending to the prompt and to its own earlier tokens, so the cache is
        not repeated per candidate.
        """
        if not variants:
            return []
        if not options:
            return [[] for _ in variants]
        unique = list(dict.fromkeys(options))
        candidates = [self.option_ids(o) for o in unique]
        prompts = [self._fit_prompt(self.prompt_ids(v), candidates) for v in variants]
        with self._lock:
            values = self._score_variants(prompts, candidates)
        return [[dict(zip(unique, row, strict=True))[o] for o in options] for row in values]

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
    def _score_variants(self, prompts: list[list[int]], candidates: list[list[int]]) -> list[list[float]]:
        """Run ``prompts[0]``, then each prompt from where it leaves it together with its candidates."""
        base = prompts[0]
        out = self.model(input_ids=torch.tensor([base], device=self.model.device), use_cache=True,
                         logits_to_keep=1)
        base_cache, base_last = cache_of(out), out.logits[0, -1]
        rows = []
        for prompt in prompts:
            shared = next((k for k, (a, b) in enumerate(zip(base, prompt)) if a != b), min(len(base), len(prompt)))
            cache = copy.deepcopy(base_cache)
            if shared == len(prompt) == len(base):
                start, rest, last = len(base), [], base_last
            else:
                shared = min(shared, len(prompt) - 1)  # at least one token runs: its logits start the reply
                if shared < len(base):
                    cache.crop(shared - len(base))  # a negative count removes that many positions from the end
                start, rest, last = shared, prompt[shared:], None
            scores: list[float] = []
            for chunk in self._packs(candidates):
                found, last = self._score_packed(cache, start, rest, chunk, last)
                scores.extend(found)
                cache.crop(-sum(len(c) for c in chunk))  # back to the prompt for the next chunk
                start, rest = len(prompt), []
            rows.append(scores)
        return rows

    @staticmethod
    def _packs(candidates: list[list[int]]) -> Iterator[list[list[int]]]:
        """Candidates in consecutive groups of at most ``LOGIT_BUDGET_TOKENS`` tokens (at least one each)."""
        group: list[list[int]] = []
        for cand in candidates:
            if group and sum(map(len, group)) + len(cand) > LOGIT_BUDGET_TOKENS:
                yield group
                group = []
            group.append(cand)
        if group:
            yield group

    def _score_packed(
        self, cache: Any, start: int, rest: list[int], candidates: list[list[int]], last: torch.Tensor | None
    ) -> tuple[list[float], torch.Tensor]:
        """One forward pass after a cache of ``start`` positions: the prompt's ``rest`` (causal), then every
        candidate, each at positions ``start + len(rest) ..`` attending to the whole prompt and to its own
        earlier tokens only. ``last``: the logits after the prompt when ``rest`` is empty. Logits are kept
        for the rows that predict a candidate token only. Returns the scores and the logits after the
        prompt."""
        device, dtype = self.model.device, self.model.dtype
        prompt_len = start + len(rest)
        flat = rest + [tok for cand in candidates for tok in cand]
        owner = torch.tensor([-1] * len(rest) + [k for k, cand in enumerate(candidates) for _ in cand],
                             device=device)  # (N,): -1 for the prompt's rest
        positions = torch.tensor(list(range(start, prompt_len))
                                 + [prompt_len + j for cand in candidates for j in range(len(cand))],
                                 device=device)[None]  # (1, N)
        order = torch.arange(len(flat), device=device)
        earlier = order[None, :] <= order[:, None]  # (N, N)
        sees = earlier & ((owner[None, :] == -1) | (owner[:, None] == owner[None, :]))  # the rest, or its own
        allowed = torch.cat([torch.ones(len(flat), start, dtype=torch.bool, device=device), sees], dim=1)
        mask = torch.zeros(1, 1, len(flat), start + len(flat), dtype=dtype, device=device)
        mask.masked_fill_(~allowed, torch.finfo(dtype).min)  # (1, 1, N, start + N): additive
        skip = max(len(rest) - 1, 0)  # rows of the rest whose predictions nothing reads
        out = self.model(input_ids=torch.tensor([flat], device=device), attention_mask=mask, position_ids=positions,
                         use_cache=True, logits_to_keep=len(flat) - skip, **{self._cache_kw: cache})
        logp = out.logits[0].float().log_softmax(-1)  # (N - skip, V): row i predicts the token after flat[skip + i]
        if rest:
            last = out.logits[0, 0]
        assert last is not None, "the logits after the prompt are needed when nothing of it runs"
        first = last.float().log_softmax(-1)  # (V,)
        scores, at = [], len(rest) - skip
        for cand in candidates:
            picked = [first[cand[0]]] + [logp[at + j - 1, cand[j]] for j in range(1, len(cand))]
            scores.append(float(torch.stack(picked).mean()))
            at += len(cand)
        return scores, last

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
