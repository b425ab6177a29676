"""The LLM layer: spec strings to chat models, the recording client, replay."""

from lab.core.llm.client import LLM, Choice, match_option
from lab.core.llm.retry import RetryPolicy
from lab.core.llm.spec import build, split, validate

__all__ = ["LLM", "Choice", "RetryPolicy", "build", "match_option", "split", "validate"]
