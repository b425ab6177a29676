"""The step navigator (slider, prev/next buttons, keyboard left/right) and deep-link parsing.

The shown step lives in ``st.session_state`` under the navigator's key and is mirrored to
``?step=N`` in the URL, so a link opens the same step. The prev/next buttons carry Streamlit's
own keyboard shortcuts (``Left`` / ``Right``).
"""

from __future__ import annotations

import streamlit as st


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


def _move(state_key: str, delta: int, last: int) -> None:
    st.session_state[state_key] = min(max(st.session_state.get(state_key, 0) + delta, 0), last)
    st.query_params["step"] = str(st.session_state[state_key])


def _sync(state_key: str) -> None:
    st.query_params["step"] = str(st.session_state[state_key])


def step_navigator(n_steps: int, key: str, initial: int | None = None, label: str = "step") -> int:
    """Slider + prev/next (keyboard Left/Right); returns the shown step index (0 when empty)."""
    state_key = f"{key}:step"
    last = max(n_steps - 1, 0)
    if state_key not in st.session_state:
        st.session_state[state_key] = min(initial if initial is not None else 0, last)
    st.session_state[state_key] = min(max(int(st.session_state[state_key]), 0), last)
    prev_col, slider_col, next_col = st.columns([1.7, 10, 1.7], vertical_alignment="bottom")
    prev_col.button("prev", key=f"{key}:prev", on_click=_move, args=(state_key, -1, last), shortcut="Left",
                    disabled=st.session_state[state_key] <= 0, help="previous step (←)")
    next_col.button("next", key=f"{key}:next", on_click=_move, args=(state_key, 1, last), shortcut="Right",
                    disabled=st.session_state[state_key] >= last, help="next step (→)")
    if last > 0:
        slider_col.slider(label, 0, last, key=state_key, on_change=_sync, args=(state_key,))
    else:
        slider_col.caption(f"{label} 0 (the only step)")
    st.query_params["step"] = str(st.session_state[state_key])
    return int(st.session_state[state_key])
