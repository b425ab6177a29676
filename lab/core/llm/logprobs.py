"""``logprobs:<model>``: a model behind an OpenAI-compatible ``/v1/completions`` endpoint that echoes the
log-probabilities of its prompt (vLLM, llama-cpp-python's server, ``memlab serve-llm``).

It scores options the way the embedded scorer does (:mod:`lab.core.policy.scorer`): the mean
log-probability of the option's tokens and the end of the turn, after the chat-templated prompt. One request
carries every option (``prompt`` as a list, ``echo``, ``logprobs``, ``max_tokens`` 0); the option's tokens are
the ones whose ``text_offset`` falls after the prompt. Chat replies are plain completions of the templated
prompt, cut at the end of the turn. The template is ChatML (``<|im_start|>role ... <|im_end|>``), which
SmolLM2, Qwen and many open models use; scores of models with another template are comparable with each other
only roughly. The endpoint is ``OPENAI_BASE_URL`` (default OpenAI's) with ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from lab.core.llm.embedded import to_chat

END = "<|im_end|>"
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def chatml(messages: Sequence[BaseMessage | dict[str, Any]]) -> str:
    """The messages in ChatML, ending with the assistant's turn opened.

    >>> chatml([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    '<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
    """
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}{END}\n" for m in to_chat(messages))
    return turns + "<|im_start|>assistant\n"


def option_score(logprobs: dict[str, Any], start: int) -> float:
    """Mean log-probability of the echoed tokens at or after character ``start`` (the option's)."""
    pairs = zip(logprobs["text_offset"], logprobs["token_logprobs"])
    values = [float(lp) for offset, lp in pairs if offset >= start and lp is not None]
    if not values:
        raise RuntimeError("the endpoint echoed no log-probabilities for the option's tokens")
    return math.fsum(values) / len(values)


class CompletionsLogprobModel(BaseChatModel):
    """Scores options (and completes prompts) through an OpenAI-compatible completions endpoint."""

    model_name: str
    base_url: str = ""
    api_key: str = ""
    timeout_s: float = 60.0
    max_new_tokens: int = 256

    @property
    def _llm_type(self) -> str:
        return "memlab-logprobs"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        base = (self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        key = self.api_key or os.environ.get("OPENAI_API_KEY", "")
        request = urllib.request.Request(f"{base}/completions", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {key}"} if key else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:  # "Error code: N - message", as the OpenAI SDK words it
            try:
                message = json.loads(err.read()).get("error", {}).get("message", "")
            except (ValueError, AttributeError):
                message = ""
            raise RuntimeError(f"Error code: {err.code} - {message or err.reason}") from None
        except urllib.error.URLError as err:
            raise ConnectionError(f"cannot reach {base}: {err.reason}") from None

    def score_options(self, messages: Sequence[BaseMessage], options: Sequence[str]) -> list[float]:
        """Mean per-token log-probability of each option (and the end of the turn) as the reply."""
        prefix = chatml(messages)
        body = {"model": self.model_name, "prompt": [prefix + o + END for o in options], "max_tokens": 0,
                "echo": True, "logprobs": 0, "temperature": 0}
        choices = sorted(self._post(body).get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != len(options):
            raise RuntimeError(f"the endpoint answered {len(choices)} of {len(options)} prompts")
        for choice in choices:
            if not choice.get("logprobs") or "text_offset" not in choice["logprobs"]:
                raise RuntimeError("the endpoint returned no prompt log-probabilities (it needs echo with "
                                   "logprobs, as vLLM and llama-cpp-python serve them)")
        return [option_score(c["logprobs"], len(prefix)) for c in choices]

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        body = {"model": self.model_name, "prompt": chatml(messages), "stop": [END, *(stop or [])],
                "max_tokens": int(kwargs.get("max_tokens", self.max_new_tokens)),
                "temperature": float(kwargs.get("temperature", 0.0))}
        reply = self._post(body)
        choice = (reply.get("choices") or [{}])[0]
        usage = reply.get("usage") or {}
        message = AIMessage(content=str(choice.get("text", "")), usage_metadata={
            "input_tokens": int(usage.get("prompt_tokens", 0)), "output_tokens": int(usage.get("completion_tokens", 0)),
            "total_tokens": int(usage.get("total_tokens", 0))},
            response_metadata={"model_name": self.model_name, "finish_reason": choice.get("finish_reason")})
        return ChatResult(generations=[ChatGeneration(message=message)])
