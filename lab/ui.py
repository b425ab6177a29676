"""Shared helpers of the Streamlit pages: the store handle, deep links, run pickers, forms generated
from typed configs and run tables. Pages call these, :mod:`lab.views` and ``lab`` functions; nothing else."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from lab.core.errors import ConfigError, LabError
from lab.core.records import RunInfo
from lab.core.settings import store_path
from lab.store import RunStore


@st.cache_resource
def _store(path: str) -> RunStore:
    return RunStore(path)


def get_store() -> RunStore:
    """One store handle per data dir and server (connections are per thread inside it)."""
    return _store(str(store_path()))


def page_setup(title: str) -> RunStore:
    """Common start of every page: the title, then the store; a data dir that cannot be used shows one
    error line (the path, the cause, the fix) and ends the page."""
    st.title(title)
    try:
        return get_store()
    except LabError as err:
        show_error(err)
        st.stop()
        raise  # reached only outside a script run (bare mode), where st.stop() returns


def show_error(err: LabError) -> None:
    """A lab error as one ``st.error`` line, never a traceback."""
    st.error(str(err), icon=":material/error:")


@contextmanager
def on_demand(label: str, key: str, expanded: bool = False) -> Iterator[bool]:
    """An expander whose body runs only while it is open; yields whether it is.

    Streamlit computes and sends a plain expander's body even when it is closed; this one tracks its
    state (opening it reruns the fragment or page around it), so heavy panels cost nothing on a step
    change until they are opened. A ``key`` without the step and a fixed ``label`` keep it open as the
    steps change (Streamlit's identity of the expander holds its label)."""
    box = st.expander(label, expanded=expanded, key=key, on_change="rerun")
    with box:
        yield bool(box.open)


def link(page: str, **params: Any) -> str:
    """A relative URL to another page with query parameters (``link("explore", run=x, step=3)``)."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{page}?{query}" if query else page


def run_label(info: RunInfo) -> str:
    """``agent on env · seed · status · steps · id`` for pickers."""
    score = f" · score {info.summary.score:g}" if info.summary else ""
    return (f"{info.config.agent_id} on {info.config.env_id} · seed {info.config.seed} · {info.status} · "
            f"{info.n_steps} steps{score} · {info.run_id}")


def pick_run(store: RunStore, key: str) -> RunInfo | None:
    """The run named by ``?run=`` (a clear message when absent), else one picked from recent runs."""
    wanted = st.query_params.get("run")
    if wanted and store.has_run(wanted):
        return store.get_run(wanted)
    if wanted:
        st.error(f"No run with id {wanted!r} in the store ({store.path}). Pick one below, or see the "
                 "Runs page.")
    runs = store.list_runs(limit=300)
    if not runs:
        st.info("No runs yet: start one on the Run page.")
        return None
    labels = {info.run_id: run_label(info) for info in runs}
    chosen = st.selectbox("run", list(labels), format_func=labels.get, key=f"{key}:pick", index=None,
                          placeholder="choose a run")
    if chosen is None:
        return None
    st.query_params["run"] = chosen
    return store.get_run(chosen)


def parse_seeds(text: str) -> list[int]:
    """The seeds field of the Run page (see :func:`lab.sweep.parse_seeds`)."""
    from lab.sweep import parse_seeds as parse

    return parse(text, field="seeds")


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """``int | None`` → ``(int, True)``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else str), True
    return annotation, False


def model_form(model: type[BaseModel], key: str) -> dict[str, Any]:
    """Widgets for each field of a typed config; returns the raw values (validated by the caller)."""
    values: dict[str, Any] = {}
    if not model.model_fields:
        st.caption("no options")
    for name, field in model.model_fields.items():
        base, optional = _base_type(field.annotation)
        if typing.get_origin(base) is dict:  # tables (an agent's sampling settings) have their own field
            continue
        default = field.get_default(call_default_factory=True)  # a default_factory's value, not Undefined
        default = None if default is PydanticUndefined else default
        label, help_text, wkey = name, field.description or (field.json_schema_extra or None), f"{key}.{name}"
        help_text = help_text if isinstance(help_text, str) else None
        if typing.get_origin(base) is Literal:
            choices = list(typing.get_args(base))
            index = choices.index(default) if default in choices else 0
            values[name] = st.selectbox(label, choices, index=index, key=wkey, help=help_text)
        elif base is bool:
            values[name] = st.checkbox(label, value=bool(default), key=wkey, help=help_text)
        elif base in (int, float) and not optional:
            values[name] = st.number_input(label, value=default if default is not None else 0, key=wkey,
                                           help=help_text, step=1 if base is int else None)
        else:
            shown = "" if default is None else ",".join(map(str, default)) if isinstance(default, list) else str(default)
            raw = st.text_input(label, value=shown, key=wkey, help=help_text)
            if raw.strip() == shown and default is not None:
                continue  # left as it was: the config's own default applies (a list stays a list)
            if raw.strip() or not optional:
                values[name] = raw.strip()
    return values


def runs_frame(infos: list[RunInfo], costs: dict[str, float | None] | None = None) -> pd.DataFrame:
    """One row per run, for run lists: the agent's tokens from the run's summary, and a ``cost USD`` column
    when ``costs`` (run id -> USD, None when unknown; :func:`lab.views.usage.run_costs`) is given."""
    rows = []
    for info in infos:
        s = info.summary
        rows.append({"run": info.run_id, "status": info.status, "agent": info.config.agent_id,
                     "env": info.config.env_id, "seed": info.config.seed, "steps": info.n_steps,
                     "score": s.score if s else None, "max": s.max_score if s else None,
                     "won": s.won if s else None, "tokens in": s.tokens_in if s else None,
                     "tokens out": s.tokens_out if s else None, "created": info.created_at,
                     "label": info.config.label})
    columns = ["run", "status", "agent", "env", "seed", "steps", "score", "max", "won", "tokens in",
               "tokens out", "created", "label"]
    frame = pd.DataFrame(rows, columns=columns)
    if costs is not None:
        frame.insert(columns.index("tokens out") + 1, "cost USD", [costs.get(r) for r in frame["run"]])
    return frame


def no_steps_message(info: RunInfo) -> tuple[str, str]:
    """What to say of a run with no steps: ``(kind, text)``, kind ``error``, ``warning`` or ``info``; an
    errored run says why and what to do, not that it is waiting."""
    resume = f"`memlab resume {info.run_id}` continues it with the same config"
    if info.status == "error":
        why = info.message or "no message was recorded"
        return "error", (f"This run ended in error before its first step: {why}. Fix what the message names, "
                         f"then launch it again from the Run page or `memlab run`; {resume}.")
    if info.status == "interrupted":
        return "warning", f"The process running this run died before its first step; {resume}."
    if info.status == "stopped":
        return "info", f"This run was stopped before its first step; {resume}."
    if info.status == "running":
        return "info", "This run has no steps yet. It is running: open it on the Run page to watch it live."
    return "info", "This run has no steps."

