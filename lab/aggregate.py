"""Aggregates over seeds from per-run rows (:func:`summary_rows`): each agent's mean final score with its
95% bootstrap interval, and every two agents paired by seed. Compare shows them and ``memlab sweep`` prints
them; both read the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from lab.core.records import RunInfo
from lab.core.stats import Bootstrap, Paired, bootstrap_ci, paired


def summary_rows(infos: list[RunInfo]) -> list[dict[str, Any]]:
    """Per run: final and normalised score, steps, won, LLM calls, tokens, wall time (Compare, aggregates)."""
    rows = []
    for info in infos:
        s = info.summary
        rows.append({"run": info.run_id, "agent": info.config.agent_id, "env": info.config.env_id,
                     "seed": info.config.seed, "group": info.config.label or "(no label)",
                     "status": info.status, "score": s.score if s else None,
                     "normalized": s.normalized_score if s else None, "steps": info.n_steps,
                     "won": s.won if s else None, "llm calls": s.llm_calls if s else None,
                     "tokens in": s.tokens_in if s else None, "tokens out": s.tokens_out if s else None,
                     "wall s": round(s.wall_s, 2) if s else None})
    return rows


def _values(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a frame with ``value``: the normalised final score where the env has a maximum."""
    frame = pd.DataFrame(rows)
    return frame.assign(value=frame["normalized"].fillna(frame["score"])) if len(frame) else frame


def per_agent(rows: list[dict[str, Any]]) -> Iterator[tuple[tuple[Any, Any, Any], pd.DataFrame, Bootstrap]]:
    """``((env, agent, group), its runs, the mean value's 95% bootstrap interval)`` per agent and group."""
    frame = _values(rows)
    if frame.empty:
        return
    for (env, agent, group), part in frame.groupby(["env", "agent", "group"], dropna=False):
        yield (env, agent, group), part, bootstrap_ci([float(v) for v in part["value"]])


def pairs(rows: list[dict[str, Any]]) -> Iterator[tuple[tuple[Any, Any, str, str], int, Paired]]:
    """``((env, group, first, second), shared seeds, the paired comparison first - second)`` for every two
    agents of a group on the same env; only seeds both ran count, and a pair with none is left out."""
    frame = _values(rows)
    if frame.empty:
        return
    for (env, group), part in frame.groupby(["env", "group"], dropna=False):
        by_agent = {a: p.groupby("seed")["value"].mean() for a, p in part.groupby("agent")}
        names = sorted(by_agent)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                seeds = sorted(set(by_agent[first].index) & set(by_agent[second].index))
                if seeds:
                    yield (env, group, first, second), len(seeds), paired(
                        [float(by_agent[first][s]) for s in seeds], [float(by_agent[second][s]) for s in seeds])


def aggregate_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per (env, agent, group): runs, seeds, the mean final score (normalised where the env has a maximum)
    with its 95% percentile-bootstrap interval, the std and the win rate."""
    return pd.DataFrame([
        {"env": env, "agent": agent, "group": group, "runs": len(part), "seeds": part["seed"].nunique(),
         "mean": iv.mean, "95% CI low": iv.low, "95% CI high": iv.high,
         "std": float(np.std(part["value"], ddof=1)) if len(part) > 1 else 0.0, "won": float(part["won"].mean())}
        for (env, agent, group), part, iv in per_agent(rows)])


def paired_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """:func:`pairs` as a table: the mean difference with its 95% bootstrap interval, wins-losses-ties and
    the sign test's p-value."""
    return pd.DataFrame([
        {"env": env, "group": group, "agents": f"{first} − {second}", "seeds": n,
         "mean difference": p.difference.mean, "95% CI low": p.difference.low, "95% CI high": p.difference.high,
         "wins-losses-ties": f"{p.wins}-{p.losses}-{p.ties}", "sign test p": p.sign_p}
        for (env, group, first, second), n, p in pairs(rows)])


def report_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The two tables as text lines, for ``memlab sweep``: each agent, then each pair, per env and group.

    >>> rows = [{"run": f"{a}{s}", "agent": a, "env": "e", "seed": s, "group": "g", "score": v,
    ...          "normalized": None, "won": v > 0} for a, vs in {"x": [1, 1, 0], "y": [0, 1, 0]}.items()
    ...         for s, v in enumerate(vs)]
    >>> print("\\n".join(report_lines(rows)))
    e · g · x: 0.67 [0.00, 1.00] (n=3), won 67%
    e · g · y: 0.33 [0.00, 1.00] (n=3), won 33%
    e · g · x − y: +0.33 [0.00, 1.00] (n=3), 1-0-2, sign test p=1
    """
    lines = [f"{env} · {group} · {agent}: {iv.format()}, won {float(part['won'].mean()):.0%}"
             for (env, agent, group), part, iv in per_agent(rows)]
    return lines + [f"{env} · {group} · {first} − {second}: {p.format()}"
                    for (env, group, first, second), _, p in pairs(rows)]
