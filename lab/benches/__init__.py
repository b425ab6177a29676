"""``memlab bench NAME`` and ``memlab train NAME``: slow evidence lives here, not in the test suite.

Each benchmark is a module with ``main(argv: list[str]) -> int`` that prints its table and
writes it under ``docs/`` with :func:`write_report`; each trainer likewise.
"""

from __future__ import annotations

import importlib
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab.core.errors import UnknownIdError

BENCHES = {
    "arigraph": "lab.benches.arigraph",
    "hiagent": "lab.benches.hiagent",
    "clin": "lab.benches.clin",
    "schemas": "lab.benches.schemas",
    "sat": "lab.benches.sat",
    "perf": "lab.benches.perf",
    "ui": "lab.benches.ui",
    "probes": "lab.benches.probes",
    "llm-agents": "lab.benches.llm_agents",
    "counterfactuals": "lab.benches.counterfactuals",
}
TRAINERS = {"sat": "agents.sat.train", "schemas": "agents.graph_schemas.train"}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def dispatch(table: dict[str, str], kind: str, name: str, argv: list[str]) -> int:
    """Run ``main(argv)`` of the named module."""
    if name not in table:
        raise UnknownIdError(kind, name, list(table))
    return int(importlib.import_module(table[name]).main(argv) or 0)


def machine() -> str:
    """One line describing where a benchmark ran."""
    import os

    import torch

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {datetime.now(timezone.utc):%Y-%m-%d}")


def write_report(name: str, title: str, body: str) -> Path:
    """Write ``docs/<name>.md`` (a title, the machine line, the body) and return its path."""
    DOCS.mkdir(exist_ok=True)
    path = DOCS / f"{name}.md"
    path.write_text(f"# {title}\n\nMeasured on {machine()}.\n\n{body.rstrip()}\n", encoding="utf-8")
    return path


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured Markdown table.

    >>> print(markdown_table(["a", "b"], [[1, 2.5]]))
    | a | b |
    |---|---|
    | 1 | 2.5 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def capped_chat_model(spec: str, max_new_tokens: int) -> Any:
    """The embedded model with a generation cap for a benchmark, or None for any other spec (the run
    builds it from the spec itself)."""
    if spec != "embedded":
        return None
    from lab.core.llm.embedded import EmbeddedChatModel

    return EmbeddedChatModel(max_new_tokens=max_new_tokens)
