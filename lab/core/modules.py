"""Registries list module names; each listed module exports ``SPECS``."""

from __future__ import annotations

import importlib
from typing import Any, Iterable


def collect_specs(names: Iterable[str]) -> dict[str, Any]:
    """The ``SPECS`` of every listed module, by spec id (none is optional: an import error propagates)."""
    table: dict[str, Any] = {}
    for name in names:
        for spec in importlib.import_module(name).SPECS:
            table[spec.id] = spec
    return table
