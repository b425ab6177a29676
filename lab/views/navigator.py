"""The step navigator (slider, prev/next buttons, keyboard left/right) and deep-link parsing.

The shown step lives in ``st.session_state`` (``<key>:shown``; the slider's own value is
``<key>:step``) and is mirrored to ``?step=N`` in the URL, so a link opens the same step.

The arrow keys go through a small ``st.components.v2`` component (:data:`KEYS_JS`: no iframe, no
build): one ``keydown`` listener on the page counts the ← / → presses and sends, on each press, the
running count with the presses the server has not taken yet. A press made while the page re-runs is
therefore never lost, and presses made in quick succession coalesce: the server takes all of them in
one rerun, in order (:func:`walk`). Presses and button clicks move the step from the last shown one and
the slider's value then is ignored, because a slider the browser has not yet redrawn still reports the
step before (Streamlit's widget states race a rerun); only a rerun the slider alone asked for takes its
value.
"""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

KEYS_JS = """
const LOG = 256;  // presses kept per navigator; more between two renders than this are dropped
const TYPING = 'input, textarea, select, [contenteditable=""], [contenteditable="true"], '
  + '[role="slider"], [role="combobox"], [role="textbox"], [role="spinbutton"]';

function shared() {
  const nav = window.__memlabStepKeys ??= {counters: {}, mounts: new Map(), listening: false};
  if (!nav.listening) {
    nav.listening = true;
    document.addEventListener("keydown", (event) => onKey(nav, event));
  }
  return nav;
}

function onKey(nav, event) {
  const delta = {ArrowLeft: -1, ArrowRight: 1}[event.key];
  const chord = event.altKey || event.ctrlKey || event.metaKey || event.shiftKey;
  if (!delta || chord || event.defaultPrevented) return;
  const target = event.composedPath()[0];
  if (target instanceof Element && target.closest(TYPING)) return;  // typing, or moving the slider itself
  for (const [key, mount] of nav.mounts) {
    if (!mount.element.isConnected) { nav.mounts.delete(key); continue; }
    const counter = nav.counters[key];
    counter.seq += 1;
    counter.deltas.push(delta);
    if (counter.deltas.length > LOG) counter.deltas.shift();
    const fresh = counter.deltas.slice(-Math.min(counter.seq - counter.seen, LOG));
    mount.send("presses", {session: counter.session, seq: counter.seq, deltas: fresh});
    event.preventDefault();
  }
}

export default function (component) {
  const {data, parentElement, setStateValue} = component;
  const nav = shared();
  let counter = nav.counters[data.key];
  if (!counter || counter.session !== data.session || counter.seq < data.seen) {  // a new server session
    counter = {session: data.session, seq: data.seen, seen: data.seen, deltas: []};
    nav.counters[data.key] = counter;
  }
  counter.seen = Math.max(counter.seen, data.seen);
  nav.mounts.set(data.key, {element: parentElement, send: setStateValue});
  parentElement.dataset.stepKeys = "ready";
  return () => {
    if (nav.mounts.get(data.key)?.element === parentElement) nav.mounts.delete(data.key);
  };
}
"""
"""The page half of the arrow keys: counts the presses per navigator and server session; ``seen`` (passed
on every render) is how many of them the server has taken."""

_step_keys = st.components.v2.component("memlab_step_keys", js=KEYS_JS, isolate_styles=False)


def parse_step(raw: str | None, n_steps: int) -> tuple[int | None, str | None]:
    """``?step=`` as an index within ``0..n_steps-1``, or (None, why not) for a bad value.

    >>> parse_step("3", 10), parse_step(None, 10)
    ((3, None), (None, None))
    >>> parse_step("12", 10)[1]
    'this run has no step 12: it has 10 steps (0-9)'
    """
    if raw is None or raw == "":
        return None, None
    try:
        value = int(raw)
    except ValueError:
        return None, f"step {raw!r} in the link is not a whole number"
    if not 0 <= value < n_steps:
        have = f"{n_steps} steps (0-{n_steps - 1})" if n_steps else "no steps yet"
        return None, f"this run has no step {value}: it has {have}"
    return value, None


def parse_runs(raw: str | None) -> list[str]:
    """``?runs=A,B,C`` as a list of ids (blanks dropped, order kept, duplicates removed).

    >>> parse_runs("a, b,,a")
    ['a', 'b']
    """
    return list(dict.fromkeys(part.strip() for part in (raw or "").split(",") if part.strip()))


def fresh_presses(taken: int, seq: int, deltas: list[int]) -> list[int]:
    """Presses ``taken+1 .. seq`` of a count whose latest presses are ``deltas`` (none when ``seq <= taken``).

    >>> fresh_presses(2, 5, [1, 1, 1, -1, 1]), fresh_presses(7, 7, [1])
    ([1, -1, 1], [])
    """
    return deltas[max(len(deltas) - (seq - taken), 0):] if seq > taken else []


def walk(step: int, moves: list[int], last: int) -> int:
    """``step`` after each move in turn, clamped to ``0..last`` at every move.

    >>> walk(1, [-1, -1, 1], 9)  # the edge holds: 1, 0, 0, 1
    1
    """
    for move in moves:
        step = min(max(step + move, 0), last)
    return step


def _session_id() -> str:
    """A random id per server session: the page's press counts restart with it."""
    return st.session_state.setdefault("navigator:session", uuid.uuid4().hex)


def _queue(key: str, moves: list[int]) -> None:
    st.session_state[f"{key}:moves"] = st.session_state.get(f"{key}:moves", []) + moves


def _on_keys(key: str) -> None:
    presses: dict[str, Any] = (st.session_state.get(f"{key}:keys") or {}).get("presses") or {}
    if presses.get("session") != _session_id():
        return  # counted for an earlier server session
    taken, seq = st.session_state.get(f"{key}:taken", 0), int(presses.get("seq", 0))
    _queue(key, fresh_presses(taken, seq, [int(d) for d in presses.get("deltas", [])]))
    st.session_state[f"{key}:taken"] = max(taken, seq)


def _on_button(key: str, delta: int) -> None:
    _queue(key, [delta])


def _on_slider(key: str) -> None:
    st.session_state[f"{key}:dragged"] = True


def _resolve(key: str, initial: int | None, last: int) -> int:
    """The step to show in this run: the last one moved by the queued presses and clicks, else the slider's
    value when the user moved it, else the last one (``initial`` when the navigator is new)."""
    state_key, shown_key = f"{key}:step", f"{key}:shown"
    moves, dragged = st.session_state.pop(f"{key}:moves", []), st.session_state.pop(f"{key}:dragged", False)
    if state_key not in st.session_state or shown_key not in st.session_state:
        shown = initial if initial is not None else 0
    else:
        shown = int(st.session_state[shown_key])
    if moves:
        shown = walk(shown, moves, last)
    elif dragged and state_key in st.session_state:
        shown = int(st.session_state[state_key])
    shown = min(max(shown, 0), last)
    st.session_state[shown_key] = shown
    if st.session_state.get(state_key) != shown:
        st.session_state[state_key] = shown
    return shown


def step_navigator(n_steps: int, key: str, initial: int | None = None, label: str = "step") -> int:
    """Slider + prev/next (keyboard Left/Right); returns the shown step index (0 when empty)."""
    last = max(n_steps - 1, 0)
    shown = _resolve(key, initial, last)
    prev_col, slider_col, next_col = st.columns([1.7, 10, 1.7], vertical_alignment="bottom")
    data = {"key": key, "session": _session_id(), "seen": st.session_state.get(f"{key}:taken", 0)}
    with prev_col:  # zero height, above the bottom-aligned button: the row keeps its height
        _step_keys(key=f"{key}:keys", data=data, height=0, on_presses_change=lambda: _on_keys(key))
    prev_col.button("prev", key=f"{key}:prev", on_click=_on_button, args=(key, -1), disabled=shown <= 0,
                    help="previous step (←)")
    next_col.button("next", key=f"{key}:next", on_click=_on_button, args=(key, 1), disabled=shown >= last,
                    help="next step (→)")
    if last > 0:
        slider_col.slider(label, 0, last, key=f"{key}:step", on_change=_on_slider, args=(key,))
    else:
        slider_col.caption(f"{label} 0 (the only step)")
    st.query_params["step"] = str(shown)
    return shown
