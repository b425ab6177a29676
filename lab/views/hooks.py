"""The optional per-agent views hook, looked up generically.

An agent package ``agents/<pkg>/`` may add a module ``agents/<pkg>/views.py`` with::

    def figures(snapshot: MemorySnapshot, step: Step) -> list[plotly.graph_objects.Figure]:
        '''Extra pictures of this agent's memory at ``step`` (e.g. AriGraph's episodic hyperedges).'''

The lab finds the package from the agent's registered factory (``agents.arigraph.agent.X`` ->
``agents.arigraph``), imports ``<package>.views`` if it exists and shows the figures in an
expander under the memory view. Agents without the module need nothing; the generic memory view
(graph, records, prompt text) covers every :class:`MemorySnapshot`.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from lab.records import MemorySnapshot, Step


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
