"""The view components without a browser: stable layouts, highlights, tables, frames, maps, hooks."""

from __future__ import annotations

import numpy as np
import pytest

from envs.minigrid_env import render_frame
from envs.registry import get_spec
from lab.core.errors import LabError
from lab.core.records import MemEdge, MemNode, MemoryDiff, MemorySnapshot, MemRecord, ObservationRecord, Step
from lab.views import env as envview
from lab.views import graph, layout, records
from lab.views.hooks import agent_figures, agent_trial_changes, views_module
from lab.views.memory import selected_id


def snap(n: int, retrieved: tuple[str, ...] = ()) -> MemorySnapshot:
    """A chain of ``n`` nodes (node i added at step i) and one record per node."""
    nodes = [MemNode(id=f"n{i}", kind="room" if i % 2 else "object", label=f"<b>n{i}</b>", added_step=i)
             for i in range(n)]
    edges = [MemEdge(id=f"e{i}", source=f"n{i - 1}", target=f"n{i}", kind="link", added_step=i)
             for i in range(1, n)]
    recs = [MemRecord(id=f"r{i}", kind="note", text=f"note {i}", added_step=i) for i in range(n)]
    return MemorySnapshot(nodes=nodes, edges=edges, records=recs, retrieved=list(retrieved))


def test_layout_is_computed_once_and_positions_do_not_move_between_steps() -> None:
    final = snap(40)
    base = layout.snapshot_layout(final)
    assert set(base) == {f"n{i}" for i in range(40)}
    early, late = layout.place(snap(5), base), layout.place(snap(30), base)
    assert all(early[k] == late[k] == base[k] for k in early)
    grown = layout.snapshot_layout(snap(45), previous=base)  # a live run: old nodes stay fixed
    assert all(grown[k] == base[k] for k in base)
    unknown = layout.place(MemorySnapshot(nodes=[MemNode(id="zz", kind="x", label="zz")]), base)
    assert unknown["zz"] == layout.hash_point("zz")


def test_graph_highlights_added_retrieved_and_removed_items() -> None:
    before, after = snap(4), snap(5, retrieved=("n1",))
    after.edges[0] = after.edges[0].model_copy(update={"removed_step": 4})
    change = MemoryDiff(nodes_added=[after.nodes[4]], edges_added=[after.edges[3]], nodes_removed=[])
    marks = graph.marks_for(4, after, before, change)
    assert marks.added >= {"n4", "e4"} and marks.retrieved == {"n1"}
    states = {n.id: graph._state(n, marks) for n in after.nodes}
    assert states == {"n0": "normal", "n1": "retrieved", "n2": "normal", "n3": "normal", "n4": "added"}
    assert graph._state(after.edges[0], marks) == "removed"
    fig = graph.graph_figure(after, layout.snapshot_layout(after), marks)
    node_traces = [t for t in fig.data if t.mode and "markers" in t.mode and t.customdata is not None
                   and not str(t.customdata[0]).startswith("edge:")]
    assert sorted(i for t in node_traces for i in t.customdata) == [f"n{i}" for i in range(5)]
    assert all("<b>" not in (label or "") for t in node_traces for label in t.text)  # labels are escaped


def test_the_graph_component_gets_every_placed_item_with_its_outline_and_the_dropped_ones_faded() -> None:
    from lab.views import graphview

    before, after = snap(4), snap(5, retrieved=("n1",))
    after = after.model_copy(update={"nodes": [n for n in after.nodes if n.id != "n2"],
                                     "edges": [e for e in after.edges if e.id not in ("e2", "e3")]})
    marks = graph.marks_for(4, after, before, MemoryDiff(nodes_added=[snap(5).nodes[4]], nodes_removed=["n2"],
                                                          edges_removed=["e2", "e3"]))
    marks.attributed = {"n3"}
    pos = layout.snapshot_layout(snap(5))
    pos.pop("n0")  # a node without a position is left out, and so are its edges
    sent = graphview.graph_elements(after, pos, marks)
    nodes = {n["id"]: n for n in sent["nodes"]}
    assert set(nodes) == {"n1", "n2", "n3", "n4"}  # n2 was dropped at this step: still shown, faded
    assert nodes["n2"].get("removed") and not nodes["n3"].get("removed")
    assert (nodes["n1"]["stroke"], nodes["n3"]["stroke"], nodes["n4"]["stroke"]) == (
        graph.RETRIEVED, graph.ATTRIBUTED, graph.ADDED)
    assert "stroke" not in nodes["n2"] and nodes["n4"]["text"] == "<b>n4</b>"  # canvas text: sent as text
    assert {e["id"] for e in sent["edges"]} == {"e2", "e3", "e4"}  # e1 starts at n0, which has no position
    assert nodes["n1"]["x"] == round(pos["n1"][0], graphview.DIGITS)
    assert sent["legend"]["nodes"] == [["object", graph.kind_color("object")], ["room", graph.kind_color("room")]]
    assert [name for name, _ in sent["legend"]["states"]][0] == "added now"
    whole = {**pos, "far": (5.0, -2.0)}  # the run's whole layout sets the scale, not this step's nodes
    assert graphview.graph_elements(after, pos, marks, whole)["bounds"][::2] == [
        round(min(x for x, _ in whole.values()), graphview.DIGITS), 5.0]
    assert graphview.graph_elements(after, pos, marks, whole)["bounds"][1] == -2.0


def test_stepping_forward_reuses_the_memory_the_last_step_built(tmp_path) -> None:  # noqa: ANN001
    from lab.store import RunStore
    from lab.views import data
    from lab.views.demo import record_demo

    store = RunStore(tmp_path / "runs.sqlite")
    run_id = record_demo(store, n_steps=30, episode_every=2)
    for index in (12, 13, 14, 25, 3):  # forward steps, a jump, a step back
        step, before, current = data.memory_pair(store, run_id, index)
        assert step.index == index and _same_items(current, store.memory_at(run_id, index))
        assert _same_items(before, store.memory_at(run_id, index - 1))
    assert (str(store.path), run_id, 14) in data._snapshots


def _same_items(a: MemorySnapshot, b: MemorySnapshot) -> bool:
    """Equal up to item order (a keyframe and the diffs applied to the one before may order items apart)."""
    key = lambda items: sorted(i.model_dump_json() for i in items)  # noqa: E731
    return all(key(getattr(a, f)) == key(getattr(b, f)) for f in ("nodes", "edges", "records")) and (
        a.prompt_text == b.prompt_text and sorted(a.retrieved) == sorted(b.retrieved))


def test_attributed_items_are_outlined_orange_in_the_graph_and_listed_first_in_the_records() -> None:
    current = snap(5, retrieved=("n1", "r2"))
    marks = graph.marks_for(4, current, snap(4), None)
    marks.attributed = {"n1", "e2", "r3"}
    assert graph._state(current.nodes[1], marks) == "attributed"  # over retrieved
    assert graph._state(current.edges[1], marks) == "attributed"  # e2
    fig = graph.graph_figure(current, layout.snapshot_layout(current), marks)
    lines = [t for t in fig.data if t.mode == "lines" and t.line.color == graph.ATTRIBUTED]
    assert lines and lines[0].line.width == 2.5
    outlined = [(i, c) for t in fig.data if t.mode and "markers" in t.mode and t.customdata is not None
                and isinstance(t.marker.line.color, tuple) for i, c in zip(t.customdata, t.marker.line.color)]
    assert dict(outlined)["n1"] == graph.ATTRIBUTED and dict(outlined)["n0"] == "#FFFFFF"
    frame = records.records_frame(current, step=4, attributed={"r3"})
    assert list(frame["id"][:2]) == ["r3", "r2"] and list(frame["status"][:2]) == ["attributed", "retrieved"]


def test_nodes_dropped_at_a_step_are_drawn_faded() -> None:
    before, after = snap(3), snap(2)
    marks = graph.marks_for(2, after, before, MemoryDiff(nodes_removed=["n2"], edges_removed=["e2"]))
    assert [n.id for n in marks.dropped_nodes] == ["n2"] and marks.dropped_nodes[0].removed_step == 2
    assert graph._state(marks.dropped_nodes[0], marks) == "removed"


def test_records_table_puts_retrieved_rows_first() -> None:
    frame = records.records_frame(snap(4, retrieved=("r2",)), step=3)
    assert list(frame["id"]) == ["r2", "r3", "r0", "r1"]
    assert list(frame["status"]) == ["retrieved", "new", "", ""]
    changes = records.trial_changes(snap(2), snap(3))
    assert list(changes["change"]) == ["added", "added", "added"]
    assert set(changes["what"]) == {"node", "edge", "record"}


def test_selected_id_reads_plotly_selection_events() -> None:
    assert selected_id({"selection": {"points": []}}) is None
    event = type("E", (), {"selection": {"points": [{"customdata": "n3"}]}})()
    assert selected_id(event) == "n3"
    event = type("E", (), {"selection": {"points": [{"customdata": ["edge:e1"]}]}})()
    assert selected_id(event) == "edge:e1"


def test_minigrid_frames_from_checkpoints_equal_a_fresh_replay() -> None:
    env_id, rng = "minigrid:MiniGrid-FourRooms-v0", np.random.default_rng(0)
    actions = [["left", "right", "forward"][i] for i in rng.integers(0, 3, 130)]
    for upto in (120, 60, 125, 130):  # later calls start from cached checkpoints
        got = envview.minigrid_frame(env_id, {}, 3, actions[:upto], trial_key="test-run:0")
        assert np.array_equal(got, render_frame(env_id, {}, 3, actions, upto))


@pytest.mark.parametrize(("env_id", "options", "actions"), [
    ("minigrid-aliased-room", {"width": 4, "height": 4}, ["north", "east", "east", "south"]),
    ("minigrid-aliased-room-ego", {}, ["left", "forward", "right", "forward"]),
    ("minigrid-room-recall", {"family": "navigate", "steps": 20}, ["continue"] * 4),
])
def test_the_lab_grid_envs_have_frames_and_explore_shows_them(env_id: str, options: dict, actions: list[str]) -> None:
    frames = get_spec(env_id).frames(env_id, options, 5, actions)
    assert len(frames) == len(actions) + 1 and frames[0].ndim == 3 and not np.array_equal(frames[0], frames[-1])
    for upto in (4, 2, 3):  # the shorter prefixes come from the trial's replay
        got = envview.grid_env_frame(env_id, options, 5, actions[:upto], trial_key=f"t:{env_id}")
        assert np.array_equal(got, frames[upto])


def test_an_env_without_frames_says_so() -> None:
    with pytest.raises(LabError, match="has no frames to show"):
        envview.grid_env_frame("tw-coin", {}, 0, [])


def step(i: int, room: str, action: str) -> Step:
    return Step(index=i, t=i, observation=ObservationRecord(text="", room=room), action=action)


def test_rooms_map_shows_only_rooms_visited_so_far() -> None:
    moves = envview.room_moves([step(0, "Kitchen", "go east"), step(1, "Hall", "go north"),
                                step(2, "Study", "look")])
    assert [(m.room, m.next_room) for m in moves] == [("Kitchen", "Hall"), ("Hall", "Study"), ("Study", None)]
    shown = [t for t in envview.rooms_figure(moves, upto=1).data if t.mode == "markers+text"][0]
    assert list(shown.text) == ["Kitchen", "Hall"]
    full = [t for t in envview.rooms_figure(moves, upto=2).data if t.mode == "markers+text"][0]
    assert list(full.text) == ["Kitchen", "Hall", "Study"]
    assert envview.rooms_figure([envview.Move(0, None, "x", None)], 0) is None


def test_agent_views_hook_is_found_generically() -> None:
    assert views_module("random") is None  # agents.baselines has no views module
    module = views_module("clin")
    assert module is not None and module.__name__ == "agents.clin.views"
    assert agent_figures("no-such-agent", MemorySnapshot(), step(0, "a", "b")) == []


def learning(rid: str, certainty: str, trial: int, removed: int | None = None) -> MemRecord:
    text = f"open fridge {certainty} be necessary to take milk" if rid == "l1" else "look may not help"
    return MemRecord(id=rid, kind="learning", text=text, removed_step=removed,
                     attrs={"certainty": certainty, "relation": "necessary", "trial": trial})


def test_agent_hooks_give_clin_its_learning_changes_and_figures() -> None:
    first = MemorySnapshot(records=[learning("l1", "may", 0), learning("l2", "may", 0)])
    second = MemorySnapshot(records=[learning("l1", "should", 1), learning("l2", "may", 0, removed=9)])
    rows = agent_trial_changes("clin", first, second)
    assert [(r["change"], r["id"]) for r in rows] == [("strengthened", "l1"), ("dropped", "l2")]
    assert agent_trial_changes("random", first, second) is None  # no hook: the generic diff is used
    (table,) = agent_figures("clin", second, step(10, "", "look"))
    assert list(table.data[0].cells.values[1]) == ["open fridge should be necessary to take milk"]
    assert agent_figures("clin", MemorySnapshot(), step(0, "", "look")) == []


def test_sat_and_schemas_figures_hooks_draw_nothing_for_an_empty_memory() -> None:
    for agent_id in ("sat", "graph-schemas"):
        assert views_module(agent_id) is not None
        assert agent_figures(agent_id, MemorySnapshot(), step(0, "", "look")) == []


def navigator_script() -> None:
    """A page holding only the step navigator (run by AppTest from this function's source)."""
    import streamlit as st

    from lab.views.navigator import step_navigator

    st.caption(f"shown {step_navigator(20, key='nav', initial=5)}")


def test_navigator_moves_from_the_shown_step_and_queued_presses_beat_a_stale_slider() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(navigator_script).run(timeout=60)
    assert at.caption[-1].value == "shown 5" and at.query_params["step"] == "5"
    at.button(key="nav:next").click().run(timeout=60)
    assert at.caption[-1].value == "shown 6" and at.slider(key="nav:step").value == 6
    at.session_state["nav:moves"] = [1, 1, -1, 1]  # four arrow presses taken in this rerun ...
    at.slider(key="nav:step").set_value(5).run(timeout=60)  # ... sent with a slider that still says 5
    assert at.caption[-1].value == "shown 8" and at.slider(key="nav:step").value == 8
    assert at.query_params["step"] == "8"
    at.slider(key="nav:step").set_value(2).run(timeout=60)  # the slider alone: its value wins
    assert at.caption[-1].value == "shown 2"
    at.session_state["nav:moves"] = [-1, -1, -1, 1]  # clamped at every press: 1, 0, 0, 1
    at.run(timeout=60)
    assert at.caption[-1].value == "shown 1" and at.button(key="nav:prev").disabled is False


def navigator_with_presses_script() -> None:
    """The navigator, first handed the key component's value in ``payload`` as the browser would send it."""
    import streamlit as st

    from lab.views import navigator

    payload = st.session_state.pop("payload", None)
    if payload is not None:
        session = payload.pop("session", navigator._session_id())
        st.session_state["nav:keys"] = {"presses": {"session": session, **payload}}
        navigator._on_keys("nav")
    st.caption(f"shown {navigator.step_navigator(20, key='nav', initial=5)}")


def test_navigator_takes_each_counted_press_once() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(navigator_with_presses_script).run(timeout=60)
    for payload, shown in [({"seq": 3, "deltas": [1, 1, 1]}, 8),
                           ({"seq": 3, "deltas": [1, 1, 1]}, 8),  # the same count again: nothing new
                           ({"seq": 6, "deltas": [1, 1, 1, 1, -1, 1]}, 9),  # presses 4-6 only
                           ({"seq": 9, "deltas": [1, 1, 1], "session": "an earlier server session"}, 9)]:
        at.session_state["payload"] = payload
        at.run(timeout=60)
        assert at.caption[-1].value == f"shown {shown}", payload
    assert at.query_params["step"] == "9"


def test_thoughts_read_as_tables_lists_and_collapsed_rejections_not_raw_json() -> None:
    from lab.views.thoughts import parts_of

    thoughts = {
        "explore": True, "reason_for_action": "The chamber is a dead end.",
        "memory": {"extractor": "llm", "entities": {"coin": 2}, "new": ["chamber, has exit, south"],
                   "outdated": ["coin, is in, attic"], "deleted": ["coin, is in, attic"], "spatial": [],
                   "retrieved": 2, "episodes": [3], "parse_rejected": ["x" * 1000]},
        "plan": {"main_goal": "Find the coin", "plan_steps": [{"sub_goal_1": "go east", "reason": "unexplored"}]},
        "fallback": {"reason": "no reply", "action": "look"}, "pseudo_commands": [{"command": "plan", "observation": "ok"}],
        "parse_failures": ["{broken json"], "new_triplets": ["a, b, c", "d, e, f"],
    }
    parts = {title: (kind, body) for title, kind, body in parts_of("arigraph", thoughts)}
    table = next(body for title, (kind, body) in parts.items() if title.startswith("memory changes (1 added"))
    assert [r["change"] for r in table] == ["added", "outdated", "deleted"]
    assert table[0] == {"change": "added", "subject": "chamber", "relation": "has exit", "object": "south"}
    assert parts["plan"] == ("items", ["go east (because unexplored)"])
    assert parts["replies the parser could not read"][0] == "collapsed"
    assert len(parts["replies the parser could not read"][1][0]) == 240
    assert parts["entities searched from (search depth)"] == ("text", "coin (2)")
    # keys the agent's hook does not know are laid out generically
    assert parts["fallback"] == ("table", [{"name": "reason", "value": "no reply"}, {"name": "action", "value": "look"}])
    assert parts["pseudo commands"] == ("table", [{"command": "plan", "observation": "ok"}])
    assert parts["parse failures"] == ("collapsed", ["{broken json"])
    assert parts["new triplets"][0] == "table" and parts["new triplets"][1][1]["object"] == "f"
    assert parts_of(None, {"plan": "x"}) == [("plan", "text", "x")]
