"""Optional modules: registries and benchmarks list module names; absent ones are skipped."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Iterable


def module_exists(name: str) -> bool:
    """Whether a (dotted) module is in this checkout, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def collect_specs(names: Iterable[str]) -> dict[str, Any]:
    """The ``SPECS`` of each present module, by spec id; an import error in a present module propagates."""
    table: dict[str, Any] = {}
    for name in names:
        if module_exists(name):
            for spec in importlib.import_module(name).SPECS:
                table[spec.id] = spec
    return table
