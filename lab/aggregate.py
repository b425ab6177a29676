"""Aggregates over seeds from per-run rows (:func:`summary_rows`): each agent's mean final score with its
95% bootstrap interval, and every two agents paired by seed. Compare shows them and ``memlab sweep`` prints
them; both read the same functions.
"""

from __future__ import annotations

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


def aggregate_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per (env, agent, group) from per-run rows: runs, seeds, the mean final score (normalised where the env
    has a maximum) with its 95% percentile-bootstrap interval, the std and the win rate."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.assign(value=frame["normalized"].fillna(frame["score"]))
    out = []
    for (env, agent, group), part in frame.groupby(["env", "agent", "group"], dropna=False):
        values = [float(v) for v in part["value"]]
        interval = bootstrap_ci(values)
        out.append({"env": env, "agent": agent, "group": group, "runs": len(part), "seeds": part["seed"].nunique(),
                    "mean": interval.mean, "95% CI low": interval.low, "95% CI high": interval.high,
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                    "won": float(part["won"].mean())})
    return pd.DataFrame(out)


def paired_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Every two agents of a group on the same env, paired by seed: the mean difference of the final score
    (first minus second) with its 95% bootstrap interval, wins-losses-ties and the sign test's p-value.
    Only seeds both agents ran count; a pair with no shared seed is left out."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.assign(value=frame["normalized"].fillna(frame["score"]))
    out = []
    for (env, group), part in frame.groupby(["env", "group"], dropna=False):
        by_agent = {a: p.groupby("seed")["value"].mean() for a, p in part.groupby("agent")}
        names = sorted(by_agent)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                seeds = sorted(set(by_agent[first].index) & set(by_agent[second].index))
                if not seeds:
                    continue
                result = paired([float(by_agent[first][s]) for s in seeds],
                                [float(by_agent[second][s]) for s in seeds])
                d = result.difference
                out.append({"env": env, "group": group, "agents": f"{first} − {second}", "seeds": len(seeds),
                            "mean difference": d.mean, "95% CI low": d.low, "95% CI high": d.high,
                            "wins-losses-ties": f"{result.wins}-{result.losses}-{result.ties}",
                            "sign test p": result.sign_p})
    return pd.DataFrame(out)


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
    lines = [f"{r['env']} · {r['group']} · {r['agent']}: "
             f"{Bootstrap(r['mean'], r['95% CI low'], r['95% CI high'], int(r['runs'])).format()}, "
             f"won {r['won']:.0%}" for r in aggregate_frame(rows).to_dict("records")] if rows else []
    for r in (paired_frame(rows).to_dict("records") if rows else []):
        d = Bootstrap(r["mean difference"], r["95% CI low"], r["95% CI high"], int(r["seeds"]))
        wins, losses, ties = (int(v) for v in r["wins-losses-ties"].split("-"))
        lines.append(f"{r['env']} · {r['group']} · {r['agents']}: "
                     f"{Paired(d, wins, losses, ties, r['sign test p']).format()}")
    return lines
