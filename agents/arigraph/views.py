"""AriGraph's thoughts, readable: the step's graph changes as one table, the entities searched from, the plan
as a numbered list, the detector's rejected replies collapsed (the lab's views hook,
``lab.views.hooks``; the other keys are laid out generically)."""

from __future__ import annotations

from typing import Any

CHANGES = (("new", "added"), ("spatial", "added (spatial)"), ("outdated", "outdated"), ("deleted", "deleted"))
"""The update report's lists, as the table's ``change`` column names them."""


def triplet_row(change: str, text: str) -> dict[str, str]:
    parts = (text.split(", ", 2) + ["", ""])[:3]
    return {"change": change, "subject": parts[0], "relation": parts[1], "object": parts[2]}


def memory_parts(memory: dict[str, Any]) -> list[tuple[str, str, Any]]:
    rows = [triplet_row(change, text) for key, change in CHANGES for text in memory.get(key) or []]
    parts: list[tuple[str, str, Any]] = []
    counts = ", ".join(f"{len(memory.get(k) or [])} {name}" for k, name in CHANGES)
    parts.append((f"memory changes ({counts}; extractor {memory.get('extractor', '?')})", "table", rows)
                 if rows else ("memory changes", "text", f"none ({counts})"))
    entities = memory.get("entities") or {}
    if entities:
        parts.append(("entities searched from (search depth)", "text",
                      ", ".join(f"{name} ({depth})" for name, depth in entities.items())))
    if "retrieved" in memory or memory.get("episodes"):
        parts.append(("retrieved", "text", f"{memory.get('retrieved', 0)} triplets, episodes "
                      f"{', '.join(map(str, memory.get('episodes') or [])) or 'none'}"))
    rejected = [*(memory.get("parse_rejected") or []), *(memory.get("rejected") or [])]
    if rejected:
        parts.append(("replies the parser could not read", "collapsed", [" ".join(r.split())[:240] for r in rejected]))
    return parts


def plan_parts(plan: Any) -> list[tuple[str, str, Any]]:
    if not isinstance(plan, dict):
        return [("plan", "text", str(plan))]
    steps = []
    for item in plan.get("plan_steps") or []:
        if isinstance(item, dict):
            goal = next((str(v) for k, v in item.items() if k.startswith("sub_goal")), "")
            steps.append(goal + (f" (because {item['reason']})" if item.get("reason") else ""))
        else:
            steps.append(str(item))
    parts: list[tuple[str, str, Any]] = []
    if plan.get("main_goal"):
        parts.append(("main goal", "text", str(plan["main_goal"])))
    parts.append(("plan", "items", steps) if steps else ("plan", "text", "(no steps)"))
    emotion = plan.get("your_emotion")
    if isinstance(emotion, dict) and emotion.get("your_current_emotion"):
        parts.append(("emotion", "text", f"{emotion['your_current_emotion']}: {emotion.get('reason_behind_emotion', '')}"))
    return parts


def thoughts(thoughts: dict[str, Any]) -> tuple[list[tuple[str, str, Any]], set[str]]:
    """The parts of the keys this agent writes, and those keys."""
    parts: list[tuple[str, str, Any]] = []
    used: set[str] = set()
    if thoughts.get("reason_for_action"):
        parts.append(("reason for the action", "text", str(thoughts["reason_for_action"])))
        used.add("reason_for_action")
    if "explore" in thoughts:
        parts.append(("exploring", "text", "yes: the prompt lists the unexplored exits" if thoughts["explore"]
                      else "no"))
        used.add("explore")
    if isinstance(thoughts.get("memory"), dict):
        parts += memory_parts(thoughts["memory"])
        used.add("memory")
    if "plan" in thoughts:
        parts += plan_parts(thoughts["plan"])
        used.add("plan")
    return parts, used
