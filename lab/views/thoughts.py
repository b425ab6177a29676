"""The Thoughts panel: an agent's per-step reasoning as readable parts (tables, lists, text), with the raw
JSON behind an expander.

An agent package may shape its own parts (``agents/<pkg>/views.py``: ``thoughts(thoughts) -> list[Part]``,
AriGraph's triplet tables and plan); every other key is laid out by :func:`generic_parts`: triplet lists as
tables, lists as bullets, flat mappings as two-column tables, rejected replies and parse failures collapsed
and trimmed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import streamlit as st

from lab.views.hooks import views_module

Part = tuple[str, str, Any]
"""(title, kind, body): kind ``text`` (a string), ``items`` (strings), ``table`` (rows of dicts) or
``collapsed`` (strings shown trimmed in a closed expander)."""
TRIPLET = re.compile(r"^[^,]+, [^,]+, [^,]+$")
TRIM = 240
"""Characters of a collapsed item shown."""
COLLAPSED = ("reject", "failure", "malformed", "tries", "raw", "reply", "generated")


def scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def trim(text: str, limit: int = TRIM) -> str:
    """``text`` on one line, cut at ``limit`` characters with the count of what was left out."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else f"{flat[:limit]}… ({len(flat) - limit} more characters)"


def triplet_rows(items: list[str], **extra: str) -> list[dict[str, str]]:
    """``"a, b, c"`` strings as subject / relation / object rows."""
    return [{**extra, **dict(zip(("subject", "relation", "object"), t.split(", ", 2)))} for t in items]


def generic_parts(title: str, value: Any) -> list[Part]:
    """The parts of one thoughts entry, whatever its shape (nested mappings recurse, titles joined by ·)."""
    label = title.replace("_", " ")
    if value is None or value == [] or value == {} or value == "":
        return []
    if any(word in title.lower() for word in COLLAPSED) and not isinstance(value, dict):
        items = value if isinstance(value, list) else [value]
        return [(label, "collapsed", [trim(i if isinstance(i, str) else json.dumps(i, default=str)) for i in items])]
    if scalar(value):
        return [(label, "text", str(value))]
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return [(label, "table", triplet_rows(value))] if all(TRIPLET.match(v) for v in value) else [
                (label, "items", list(value))]
        if all(isinstance(v, dict) and all(scalar(x) for x in v.values()) for v in value):
            return [(label, "table", [{k: ("" if x is None else x) for k, x in v.items()} for v in value])]
        return [(label, "items", [json.dumps(v, ensure_ascii=False, default=str) for v in value])]
    if isinstance(value, dict):
        if all(scalar(v) for v in value.values()):
            return [(label, "table", [{"name": k, "value": "" if v is None else str(v)} for k, v in value.items()])]
        return [part for key, v in value.items() for part in generic_parts(f"{title} · {key}", v)]
    return [(label, "text", str(value))]


def parts_of(agent_id: str | None, thoughts: dict[str, Any]) -> list[Part]:
    """The agent package's own parts (for the keys it knows), then the generic parts of the rest."""
    module = views_module(agent_id) if agent_id else None
    shape = getattr(module, "thoughts", None) if module else None
    own, used = (shape(thoughts) if callable(shape) else ([], set()))
    return [*own, *(p for key, value in thoughts.items() if key not in used for p in generic_parts(key, value))]


def render(part: Part) -> None:
    title, kind, body = part
    if kind == "text":
        st.markdown(f"**{title}**")
        st.text(body)
    elif kind == "items":
        st.markdown(f"**{title}**")
        st.markdown("\n".join(f"{n}. {' '.join(str(item).split())}" for n, item in enumerate(body, 1)))
    elif kind == "table":
        st.markdown(f"**{title}**")
        st.dataframe(pd.DataFrame(body), hide_index=True, width="stretch")
    else:
        with st.expander(f"{title} ({len(body)})"):
            for item in body:
                st.text(item)


def thoughts_panel(thoughts: dict[str, Any], agent_id: str | None = None) -> None:
    """The readable parts, then the raw JSON behind an expander."""
    if not thoughts:
        st.caption("No thoughts recorded at this step.")
        return
    for part in parts_of(agent_id, thoughts):
        render(part)
    with st.expander("raw JSON"):
        st.json(thoughts, expanded=False)
