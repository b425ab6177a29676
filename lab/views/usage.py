"""Tokens and cost of runs for the Runs and Compare pages (the price table: :mod:`lab.pricing`).

A run's per-model token sums are one SQL query over its steps, cached by ``(store path, run id,
updated_at)``: a live run gets a new key with each batch of steps, a finished run is read once. The Runs
list queries only runs that made LLM calls, and only when a price table is configured.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from lab import pricing
from lab.core.errors import ConfigError
from lab.core.records import RunInfo
from lab.store import RunStore


@st.cache_data(show_spinner=False, max_entries=10_000)
def run_usage(_store: RunStore, path: str, run_id: str, updated_at: str) -> list[pricing.ModelUsage]:
    """A run's calls and tokens per model (``pricing.usage``), cached."""
    return pricing.usage(_store, run_id)


def usage_of(store: RunStore, info: RunInfo) -> list[pricing.ModelUsage]:
    """The cached per-model usage of one run."""
    return run_usage(store, str(store.path), info.run_id, info.updated_at)


def price_table() -> pricing.PriceTable | None:
    """The configured price table; a bad table file shows its one-line error and counts as none."""
    try:
        return pricing.load_table()
    except ConfigError as err:
        st.error(f"{err}; costs are not shown", icon=":material/error:")
        return None


def how_to_configure() -> str:
    """One line: where to put a price table, and that none ships."""
    return (f"Cost: no price table configured (the lab ships no prices). Write one at "
            f"`{pricing.table_path()}` or point `{pricing.PRICES_VAR}` at a JSON file: "
            '`{"<model or pattern>": {"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}}`.')


def cost_note(table: pricing.PriceTable | None, missing: list[str]) -> None:
    """A caption under a table with costs: how to configure prices, or which models have none."""
    if table is None:
        st.caption(how_to_configure())
    elif missing:
        st.caption(f"No price in {table.source} for: {', '.join(f'`{m}`' for m in missing)}; runs that used "
                   "them show no cost. The embedded model and replays cost 0.")
    else:
        st.caption(f"Cost in USD from the price table {table.source} (agent and probe calls; the embedded "
                   "model and replays cost 0).")


def run_costs(store: RunStore, infos: list[RunInfo],
              table: pricing.PriceTable | None) -> tuple[dict[str, float | None] | None, list[str]]:
    """Per run, its cost in USD (None when unknown), and the models used without a price; ``(None, [])``
    with no table. Runs whose summary records no LLM call cost 0 without a query (but failed runs: the
    failed step's calls are not in the summary's counts)."""
    if table is None:
        return None, []
    costs: dict[str, float | None] = {}
    missing: set[str] = set()
    for info in infos:
        s = info.summary
        if s is not None and s.status != "error" and s.llm_calls == 0 and s.probe_llm_calls == 0:
            costs[info.run_id] = 0.0
            continue
        rows = usage_of(store, info)
        costs[info.run_id] = rounded(pricing.run_cost(rows, table))
        missing.update(pricing.unpriced(rows, table))
    return costs, sorted(missing)


def rounded(cost: float | None) -> float | None:
    """A cost to a millionth of a dollar (a cheap call costs less than a cent)."""
    return None if cost is None else round(cost, 6)


def usage_rows(store: RunStore, infos: list[RunInfo], names: dict[str, str],
               table: pricing.PriceTable | None) -> list[dict[str, Any]]:
    """Per run: the agent's calls and tokens, the probes' calls and tokens, and (with a table) the cost."""
    rows = []
    for info in infos:
        used = usage_of(store, info)
        t = pricing.totals(used)
        row = {"run": names.get(info.run_id, info.run_id), "calls": t["calls"], "tokens in": t["tokens_in"],
               "tokens out": t["tokens_out"], "probe calls": t["probe_calls"],
               "probe tokens": t["probe_tokens_in"] + t["probe_tokens_out"],
               "models": ", ".join(sorted({u.model for u in used}))}
        if table is not None:
            row["cost USD"] = rounded(pricing.run_cost(used, table))
        rows.append(row)
    return rows


def usage_panel(store: RunStore, infos: list[RunInfo], names: dict[str, str]) -> None:
    """Compare: one row per run with its LLM calls, tokens in and out, probe tokens and cost."""
    table = price_table()
    st.markdown("**LLM calls, tokens and cost**")
    st.dataframe(pd.DataFrame(usage_rows(store, infos, names, table)), hide_index=True, width="stretch")
    missing = {m for i in infos for m in pricing.unpriced(usage_of(store, i), table)} if table else set()
    cost_note(table, sorted(missing))
