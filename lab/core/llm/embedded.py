"""The embedded, offline chat model: SmolLM2-135M-Instruct behind langchain-core's ``BaseChatModel``.

Generation is greedy and weak (the model tends to restate the observation); the lab's agents should
choose actions with :meth:`EmbeddedChatModel.score_options`, which ranks admissible commands by their
mean per-token log-likelihood. The lab's LLM client detects that ability with
``hasattr(model, "score_options")``. The weights load lazily on first use (see :mod:`lab.core.policy.lm`)
and are shared by every instance in the process; one process-wide lock serialises forward passes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from lab.core.policy.lm import INFERENCE_LOCK, MODEL_NAME, load_embedded_lm
from lab.core.policy.scorer import ActionScorer, cache_arg, cache_of


def to_chat(messages: Sequence[BaseMessage | dict[str, Any]]) -> list[dict[str, str]]:
    """Messages as ``[{"role", "content"}]`` with plain-text content, for ``apply_chat_template``."""
    converted = convert_to_openai_messages(list(messages))
    return [{"role": m["role"], "content": _text_of(m.get("content"))} for m in converted]


def _text_of(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a content list joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else p.get("text", "") for p in content if isinstance(p, str | dict)]
        return "\n".join(p for p in parts if p)
    return str(content)


def cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """Cut ``text`` at the earliest occurrence of any stop string; also say whether one was found."""
    hits = [text.find(s) for s in stop or () if s and s in text]
    return (text[: min(hits)], True) if hits else (text, False)


class EmbeddedChatModel(BaseChatModel):
    """SmolLM2-135M-Instruct (bf16, transformers) as a langchain chat model, with option scoring."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str = MODEL_NAME
    """The name recorded in calls and in ``response_metadata``."""
    max_new_tokens: int = 64
    """Greedy generation stops after this many new tokens (or at end of turn, or at a stop string)."""
    device: str = "auto"
    """``"auto"``, ``"cpu"`` or ``"cuda"`` (see :func:`lab.core.policy.device.choose_device`)."""

    _scorer: ActionScorer | None = PrivateAttr(default=None)
    _head: torch.Tensor | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        """The provider id langchain records."""
        return "memlab-embedded"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What distinguishes one configuration of this model from another."""
        return {"model_name": self.model_name, "max_new_tokens": self.max_new_tokens, "device": self.device}

    def load(self) -> ActionScorer:
        """Load the shared weights now (the first call takes seconds, ~30 s on a fresh data dir)."""
        if self._scorer is None:
            tokenizer, model = load_embedded_lm(self.device)
            self._scorer = ActionScorer(tokenizer, model, lock=INFERENCE_LOCK)
        return self._scorer

    def score_options(self, messages: Sequence[BaseMessage], options: Sequence[str]) -> list[float]:
        """Mean per-token log-likelihood of each option as the assistant's reply (higher is better)."""
        return self.load().score(to_chat(messages), list(options))

    def score_variants(
        self, prompts: Sequence[Sequence[BaseMessage]], options: Sequence[str]
    ) -> list[list[float]]:
        """:meth:`score_options` for several prompts that share most of their tokens, in one pass that reuses
        the shared prefix (``ActionScorer.score_variants``)."""
        return self.load().score_variants([to_chat(m) for m in prompts], list(options))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Greedy reply to ``messages``; ``max_new_tokens`` may be overridden per call."""
        scorer = self.load()
        max_new = max(1, int(kwargs.get("max_new_tokens", self.max_new_tokens)))
        prompt = self._fit(scorer, scorer.prompt_ids(to_chat(messages)), max_new)
        with INFERENCE_LOCK:
            new_ids = self._greedy(scorer, prompt, max_new, stop)
        text, stopped = cut_at_stop(scorer.tokenizer.decode(new_ids, skip_special_tokens=True), stop)
        ended = bool(new_ids) and new_ids[-1] == scorer.tokenizer.eos_token_id
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": len(prompt),
                "output_tokens": len(new_ids),
                "total_tokens": len(prompt) + len(new_ids),
            },
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": "stop" if stopped or ended else "length",
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    @torch.no_grad()
    def prompt_logprobs(self, texts: Sequence[str]) -> list[dict[str, list[Any]]]:
        """Each token of each text (special tokens as written, e.g. ``<|im_end|>``) with its character offset
        and log-probability given the tokens before it (None for the first): what a completions endpoint
        echoes with ``logprobs``. The texts' common token prefix runs once and its key/value cache serves
        every text's remainder (a scoring request sends one prompt with each option after it)."""
        scorer = self.load()
        tokenizer, model = scorer.tokenizer, scorer.model
        encoded = [tokenizer(t, add_special_tokens=False, return_offsets_mapping=True) for t in texts]
        ids = [list(e["input_ids"])[-scorer.max_context:] for e in encoded]
        offsets = [[int(a) for a, _ in e["offset_mapping"]][-len(i):] for e, i in zip(encoded, ids)]
        limit, shared = min(len(i) for i in ids) - 1, 0  # every text keeps a token of its own
        while shared < limit and all(i[shared] == ids[0][shared] for i in ids):
            shared += 1
        body, cache_kw = model.model, cache_arg(model.model)
        with INFERENCE_LOCK:
            if self._head is None:  # the output layer in float32: bf16 matmuls over every position are slow on CPU
                self._head = model.lm_head.weight.detach().float()  # (V, D)
            head = self._head
            if shared > 0:
                out = body(input_ids=torch.tensor([ids[0][:shared]], device=model.device), use_cache=True)
                before, cache = torch.log_softmax(out.last_hidden_state[0].float() @ head.T, -1), cache_of(out)
            rows = []
            for tokens in ids:
                kwargs = {cache_kw: copy.deepcopy(cache)} if shared > 0 else {}
                rest = body(input_ids=torch.tensor([tokens[shared:]], device=model.device), use_cache=shared > 0,
                            **kwargs).last_hidden_state[0]
                after = torch.log_softmax(rest.float() @ head.T, -1)  # (T - shared, V)
                logp = torch.cat([before, after]) if shared > 0 else after  # row j predicts token j + 1
                rows.append([None] + [float(logp[j - 1, tokens[j]]) for j in range(1, len(tokens))])
        return [{"tokens": tokenizer.convert_ids_to_tokens(t), "text_offset": o, "token_logprobs": r}
                for t, o, r in zip(ids, offsets, rows)]

    def complete_text(self, text: str, max_new: int, stop: list[str] | None = None) -> tuple[str, int, int, bool]:
        """Greedy continuation of raw ``text``: (the new text, prompt tokens, new tokens, stopped)."""
        scorer = self.load()
        prompt = self._fit(scorer, list(scorer.tokenizer(text, add_special_tokens=False)["input_ids"]), max_new)
        with INFERENCE_LOCK:
            new_ids = self._greedy(scorer, prompt, max(1, max_new), stop)
        reply, stopped = cut_at_stop(scorer.tokenizer.decode(new_ids, skip_special_tokens=True), stop)
        ended = bool(new_ids) and new_ids[-1] == scorer.tokenizer.eos_token_id
        return reply, len(prompt), len(new_ids), stopped or ended

    @staticmethod
    def _fit(scorer: ActionScorer, prompt: list[int], max_new: int) -> list[int]:
        """Keep the last ``context - max_new`` prompt tokens so the reply fits the context."""
        room = max(1, scorer.max_context - max_new)
        return prompt[-room:]

    @staticmethod
    @torch.no_grad()
    def _greedy(scorer: ActionScorer, prompt: list[int], max_new: int, stop: list[str] | None) -> list[int]:
        """Greedy decoding; transformers halts at end of turn or once a stop string appears."""
        model, tokenizer = scorer.model, scorer.tokenizer
        ids = torch.tensor([prompt], dtype=torch.long, device=model.device)  # (1, P)
        extra = {"stop_strings": list(stop), "tokenizer": tokenizer} if stop else {}
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            **extra,
        )  # (1, P + new)
        return out[0, ids.shape[1] :].tolist()
