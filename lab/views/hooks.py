"""The optional per-agent views hook, looked up generically.

An agent package ``agents/<pkg>/`` may add a module ``agents/<pkg>/views.py`` with::

    def figures(snapshot: MemorySnapshot, step: Step) -> list[plotly.graph_objects.Figure]:
        '''Extra pictures of this agent's memory at ``step`` (e.g. AriGraph's episodic hyperedges).'''

The lab finds the package from the agent's registered factory (``agents.arigraph.agent.X`` ->
``agents.arigraph``), imports ``<package>.views`` if it exists and shows the figures in an
expander under the memory view. It may also offer::

    def trial_changes(before: MemorySnapshot | None, after: MemorySnapshot) -> list[dict]:
        '''Rows with a "change" column: how the memory differs between two trial ends.'''

which the trials panel shows in place of the generic diff (CLIN: learnings added, strengthened,
weakened, dropped), and::

    def thoughts(thoughts: dict) -> tuple[list[tuple[str, str, Any]], set[str]]:
        '''Readable parts (title, kind, body) of the thoughts keys it knows, and those keys.'''

which the Thoughts panel shows before the generic layout of the other keys (``lab.views.thoughts``). Agents without the module need nothing; the generic memory view (graph, records,
prompt text) and the generic trial diff cover every :class:`MemorySnapshot`.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from lab.core.records import MemorySnapshot, Step


def views_module(agent_id: str) -> ModuleType | None:
    """The ``views`` module of the package that registers ``agent_id``, if it has one."""
    from agents.registry import specs

    spec = specs().get(agent_id)
    if spec is None:
        return None
    package = ".".join(getattr(spec.factory, "__module__", "").split(".")[:2])
    name = f"{package}.views"
    if not package.startswith("agents.") or importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def agent_figures(agent_id: str, snapshot: MemorySnapshot, step: Step) -> list[Any]:
    """The agent package's extra figures for this step ([] when it offers none)."""
    module = views_module(agent_id)
    figures = getattr(module, "figures", None) if module else None
    return list(figures(snapshot, step)) if callable(figures) else []


def agent_trial_changes(
    agent_id: str, before: MemorySnapshot | None, after: MemorySnapshot
) -> list[dict] | None:
    """The agent package's own rows for the change between two trial ends (None when it offers none)."""
    module = views_module(agent_id)
    changes = getattr(module, "trial_changes", None) if module else None
    return list(changes(before, after)) if callable(changes) else None
