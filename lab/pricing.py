"""What runs cost: a price table per model, configured by the user, and a run's token totals per model.

No prices ship with the lab: they change, and a stale figure would be wrong without saying so. With no
table, a run's cost is unknown (None) and the pages say how to configure one. The table is a JSON file,
``$MEMLAB_PRICES`` when that is set, else ``prices.json`` in the data dir (``$MEMLAB_HOME``, ``~/.memlab``)::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.6}, "claude-*": {"input": 3, "output": 15}}

(figures for illustration only), in USD per million input (prompt) and output (completion) tokens. Keys
are model names as recorded in the LLM calls (``LLMCall.model``: the provider's name without the
``openai:`` prefix) or ``fnmatch`` patterns (``*``, ``?``, ``[...]``). An exact name wins over the
patterns; among matching patterns the longest (the most specific) wins, the first in the file on a tie.

Two kinds of calls cost 0 and are never looked up: the embedded model's (:data:`EMBEDDED_MODEL`, it runs
on this machine) and replays' (a ``replay:<run_id>`` model answers from a recorded run; its calls are
recorded as ``replay:<model>``). Any other model without a price makes the run's cost None, never a guess.

Probe calls (purpose ``probe``) are off the agent's token budget, so :func:`usage` reports them apart;
they are still paid for, so :func:`run_cost` counts them unless told not to.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from lab.core.errors import ConfigError
from lab.core.settings import data_root
from lab.store import RunStore

PRICES_VAR = "MEMLAB_PRICES"
"""The environment variable naming a price table file (it overrides ``prices.json`` in the data dir)."""
FILE_NAME = "prices.json"
EMBEDDED_MODEL = "smollm2-135m-instruct"
"""The embedded model's recorded name (``lab.core.policy.lm.MODEL_NAME``, not imported: it loads torch)."""
REPLAY_PREFIX = "replay"
"""Replayed calls are recorded as ``replay:<model>`` (or ``replay`` when the replayed run had no calls)."""
PROBE_PURPOSE = "probe"
PER_TOKENS = 1_000_000
"""Prices are per million tokens."""
KEYS = {"input", "output"}
"""The keys of each entry: USD per million input tokens and per million output tokens."""
EXPECTED = '{"<model or pattern>": {"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}}'


@dataclass(frozen=True)
class Price:
    """USD per million tokens of one model."""

    input: float
    output: float


@dataclass(frozen=True)
class PriceTable:
    """Prices by exact model name and by pattern, read from ``source``."""

    exact: dict[str, Price]
    patterns: dict[str, Price]
    source: Path

    def price(self, model: str) -> Price | None:
        """The price of ``model``: its exact entry, else the longest matching pattern's, else None.

        >>> table = PriceTable({"gpt-4o": Price(1, 2)}, {"gpt-4o*": Price(3, 4), "gpt-4o-mini*": Price(5, 6)},
        ...                    Path("prices.json"))
        >>> [table.price(m) for m in ("gpt-4o", "gpt-4o-mini-2024", "gpt-4o-2024", "o1")]
        [Price(input=1, output=2), Price(input=5, output=6), Price(input=3, output=4), None]
        """
        if model in self.exact:
            return self.exact[model]
        matching = [p for p in self.patterns if fnmatch.fnmatchcase(model, p)]
        return self.patterns[max(matching, key=len)] if matching else None  # max keeps the first on a tie


@dataclass(frozen=True)
class ModelUsage:
    """One model's calls and tokens in a run, the agent's or (``probe``) the memory probes'."""

    model: str
    probe: bool
    calls: int
    tokens_in: int
    tokens_out: int


def table_path() -> Path:
    """Where the price table is read from: ``$MEMLAB_PRICES``, else ``prices.json`` in the data dir."""
    explicit = os.environ.get(PRICES_VAR, "").strip()
    return Path(explicit).expanduser() if explicit else data_root() / FILE_NAME


def load_table(path: Path | None = None) -> PriceTable | None:
    """The configured price table; None when there is none (no ``prices.json``, no ``$MEMLAB_PRICES``).

    A file that ``$MEMLAB_PRICES`` (or ``path``) names but that is missing, unreadable or malformed raises a
    one-line :class:`~lab.core.errors.ConfigError` naming the file and the problem."""
    named = path is not None or bool(os.environ.get(PRICES_VAR, "").strip())
    path = path or table_path()
    if not named and not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"bad price table {path}: the file does not exist (set by {PRICES_VAR})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"bad price table {path}: the file is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"bad price table {path}: cannot read it: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"bad price table {path}: not valid JSON: {err.msg} at line {err.lineno}, "
                          f"column {err.colno}; expected {EXPECTED}") from None
    return parse_table(data, path)


def parse_table(data: Any, source: Path) -> PriceTable:
    """A price table from parsed JSON; a one-line ``ConfigError`` naming ``source`` and what is wrong."""
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"bad price table {source}: {problem}; expected {EXPECTED}")

    if not isinstance(data, dict):
        raise bad(f"the top level is a JSON {type_name(data)}, not an object")
    exact, patterns = {}, {}
    for model, entry in data.items():
        if not model.strip():
            raise bad("an empty model name")
        if not isinstance(entry, dict):
            raise bad(f"the entry of {model!r} is a JSON {type_name(entry)}, not an object")
        if set(entry) != KEYS:
            missing, extra = sorted(KEYS - set(entry)), sorted(set(entry) - KEYS)
            what = ([f"lacks {', '.join(missing)}"] if missing else []) + (
                [f"has unknown keys {', '.join(map(repr, extra))}"] if extra else [])
            raise bad(f"the entry of {model!r} {' and '.join(what)}")
        for key in ("input", "output"):
            value = entry[key]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < 0:
                raise bad(f"{model!r} {key} is {json.dumps(value)}, not a price (a number >= 0)")
        price = Price(input=float(entry["input"]), output=float(entry["output"]))
        (patterns if any(c in model for c in "*?[") else exact)[model] = price
    return PriceTable(exact=exact, patterns=patterns, source=source)


def type_name(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def usage(store: RunStore, run_id: str) -> list[ModelUsage]:
    """A run's calls and tokens per model, probe calls apart (one SQL query over the stored steps)."""
    return [ModelUsage(*row) for row in store.llm_usage(run_id)]


def is_free(model: str) -> bool:
    """Whether calls to ``model`` cost nothing: the embedded model and replays (never looked up).

    >>> is_free("smollm2-135m-instruct"), is_free("replay:gpt-4o"), is_free("gpt-4o")
    (True, True, False)
    """
    return model == EMBEDDED_MODEL or model == REPLAY_PREFIX or model.startswith(REPLAY_PREFIX + ":")


def unpriced(rows: Iterable[ModelUsage], table: PriceTable | None) -> list[str]:
    """The models used that cost money but have no price in ``table`` (all of them when there is no table)."""
    return sorted({u.model for u in rows
                   if not is_free(u.model) and (table is None or table.price(u.model) is None)})


def run_cost(rows: Iterable[ModelUsage], table: PriceTable | None, probes: bool = True) -> float | None:
    """USD spent on these calls (``probes``: the probe calls' too); None when there is no table or a model
    used has no price. Free models (:func:`is_free`) cost 0 without a price.

    >>> table = PriceTable({"m": Price(input=2.0, output=10.0)}, {}, Path("prices.json"))
    >>> run_cost([ModelUsage("m", False, 3, 1_000, 200), ModelUsage("replay:x", False, 1, 50, 5)], table)
    0.004
    >>> run_cost([ModelUsage("other", False, 1, 10, 1)], table) is None
    True
    """
    total = 0.0
    for u in rows:
        if (u.probe and not probes) or is_free(u.model):
            continue
        price = table.price(u.model) if table is not None else None
        if price is None:
            return None
        total += (u.tokens_in * price.input + u.tokens_out * price.output) / PER_TOKENS
    return total if table is not None else None


def totals(rows: Iterable[ModelUsage]) -> dict[str, int]:
    """Calls and tokens summed: the agent's (``calls``, ``tokens_in``, ``tokens_out``) and the probes'."""
    keys = ("calls", "tokens_in", "tokens_out")
    out = dict.fromkeys((*keys, *(f"probe_{k}" for k in keys)), 0)
    for u in rows:
        prefix = "probe_" if u.probe else ""
        out[f"{prefix}calls"] += u.calls
        out[f"{prefix}tokens_in"] += u.tokens_in
        out[f"{prefix}tokens_out"] += u.tokens_out
    return out
