"""Prompt rendering with named slots: a missing or unused slot is an error, never a silent blank."""

from __future__ import annotations

import string


def slots(template: str) -> set[str]:
    """The named slots of a ``str.format`` template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(template: str, **values: object) -> str:
    """Fill every slot of ``template``; raises ``KeyError`` on a missing or unexpected slot."""
    wanted = slots(template)
    missing, unused = wanted - values.keys(), values.keys() - wanted
    if missing or unused:
        raise KeyError(f"prompt slots: missing {sorted(missing)}, unused {sorted(unused)}")
    return template.format(**values)
