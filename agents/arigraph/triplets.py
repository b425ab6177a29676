"""Triplets and the lenient parsers of every LLM reply the agent reads.

A triplet is ``(subject, relation, object)`` (:class:`envs.tw_facts.Triplet`, the shape of TextWorld's facts
too, re-exported here), stored lower-cased with quotes and punctuation
stripped, ``I`` read as ``inventory`` and ``P`` as ``player`` (reference ``utils.clear_triplet``
@e884b76). Its string form, embedded and shown in prompts, is ``"subject, relation, object"``.

Parsers never raise: whatever cannot be read is returned in ``rejected`` so the agent can record
it (a malformed reply is skipped, never a crash).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from envs.tw_facts import ALIASES, COMPASS, OPPOSITE, STRIP, Triplet, clean_part

__all__ = ["ALIASES", "COMPASS", "OPPOSITE", "STRIP", "Parsed", "Triplet", "clean_part", "compass_in",
           "drop_trailing_commas", "from_text", "make", "parse_entities", "parse_json_object", "parse_rating",
           "parse_replacements", "parse_triplets"]

NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")
ENTITY_SCORE = re.compile(r"""["']([^"']+)["']\s*:\s*["']?(\d+)""")
MARKUP = re.compile(r"```[a-z]*|\*\*|__|`")
"""Markdown a chat model wraps its answers in: fences, bold, inline code."""
ARROW = re.compile(r"\s*(?:-->|->|=>|—>|–>|→|⟶)\s*")
HEADING = re.compile(r"^[a-z][a-z ]{0,40}:", re.I)
"""A leading label such as ``Replacements:`` (the prompt's last line, often echoed)."""
NUMBER = r"(?<![\d.])(\d+(?:\.\d+)?)"


def make(subject: str, relation: str, obj: str) -> Triplet | None:
    """A cleaned triplet, or None when an element is empty or ``none`` (the extraction rules forbid it)."""
    parts = [clean_part(p) for p in (subject, relation, obj)]
    if any(not p or p == "none" for p in parts):
        return None
    return Triplet(*parts)


def from_text(text: str) -> Triplet | None:
    """``"s, r, o"`` back into a triplet (exactly three comma parts, else None)."""
    parts = text.split(",")
    return make(*parts) if len(parts) == 3 else None


@dataclass
class Parsed:
    """What a parser read, and the chunks it could not read."""

    triplets: list[Triplet] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def parse_triplets(reply: str) -> Parsed:
    """Triplets from an extraction reply: ``s, r, o`` chunks separated by ``;`` or new lines.

    As the reference parser (``utils.process_triplets``): exactly three comma parts, leading numbering
    and a ``prefix:`` on the subject are dropped, ``free`` relations are skipped. More lenient: new
    lines also separate chunks and brackets or quotes around a chunk are ignored.

    >>> [t.text for t in parse_triplets("1. Kitchen, has exit, north; key, is in, Fridge").triplets]
    ['kitchen, has exit, north', 'key, is in, fridge']
    >>> parse_triplets("The kitchen has a fridge, a table, a sink, and a chair").rejected
    ['The kitchen has a fridge, a table, a sink, and a chair']

    Like the reference, any three comma parts pass, a sentence included:

    >>> [t.text for t in parse_triplets("The kitchen has a fridge, a table, and a chair").triplets]
    ['the kitchen has a fridge, a table, and a chair']
    """
    out = Parsed()
    for chunk in re.split(r"[;\n]", reply):
        chunk = NUMBERING.sub("", chunk.strip()).strip(" []()")
        if not chunk:
            continue
        parts = chunk.split(",")
        triplet = make(parts[0].split(":")[-1], parts[1], parts[2]) if len(parts) == 3 else None
        if triplet is None:
            out.rejected.append(chunk)
        elif triplet.relation != "free":
            out.triplets.append(triplet)
    return out


def parse_replacements(reply: str) -> Parsed:
    """The outdated (left-hand) triplets of ``[[old -> new], ...]`` (reference ``parse_triplets_removing``).

    The reference reads only what follows the last ``[[``, so a preamble or an echoed heading never reaches
    the pairs. Here each bracketed or line-separated chunk is read on its own: markdown, numbering, a
    heading (``Replacements:``) and a ``label:`` on the old subject are ignored, and ``=>`` or ``→`` count
    as arrows. Every other chunk that is not a pair with a three-part old side is rejected.

    >>> [t.text for t in parse_replacements("[[key, is in, box -> key, is in, inventory]]").triplets]
    ['key, is in, box']
    >>> parse_replacements("**Replacements:** [[door, is, shut → door, is, open]]").triplets[0].text
    'door, is, shut'
    >>> parse_replacements("[]").triplets, parse_replacements("Replacements: none").rejected
    ([], [])
    """
    out = Parsed()
    text = ARROW.sub(" -> ", MARKUP.sub(" ", reply))
    for chunk in re.split(r"[\[\]\n]", text):
        chunk = NUMBERING.sub("", chunk.strip(" ,;")).strip(" ,;")
        if "->" not in chunk:
            chunk = HEADING.sub("", chunk).strip(" .")
            if chunk.lower() in ("", "none", "nothing"):
                continue
        sides = chunk.split("->")
        old = sides[0].split(",") if len(sides) == 2 else []
        triplet = make(old[0].split(":")[-1], old[1], old[2]) if len(old) == 3 else None
        if triplet is None:
            out.rejected.append(chunk)
        else:
            out.triplets.append(triplet)
    return out


def parse_rating(reply: str, low: int = 1, high: int = 10) -> float | None:
    """The rating a reply gives on a ``low``..``high`` scale, clamped to it; None when it names no number.

    A number followed by its scale (``7/10``, ``3 out of 10``) wins; otherwise the first number that is not
    part of the scale's own description (``from 1 to 10``, ``between 1 and 10``, ``1-10``).

    >>> [parse_rating(r) for r in ("7/10", "3 out of 10", "**Importance:** 8", "I'd rate this a 6.")]
    [7.0, 3.0, 8.0, 6.0]
    >>> parse_rating("On a scale of 1 to 10, this is a 4"), parse_rating("12"), parse_rating("seven")
    (4.0, 10.0, None)
    """
    text = MARKUP.sub(" ", reply)
    scaled = re.search(rf"{NUMBER}\s*(?:/|out of|of)\s*{high}\b", text, re.I)
    if scaled:
        value = float(scaled[1])
    else:
        text = re.sub(rf"\b{low}\s*(?:-|–|to|and)\s*{high}\b", " ", text, flags=re.I)
        first = re.search(NUMBER, text)
        if first is None:
            return None
        value = float(first[1])
    return min(max(value, float(low)), float(high))


def parse_entities(reply: str, max_depth: int = 2) -> tuple[dict[str, int], list[str]]:
    """``{"entity": score}`` from the entity reply; scores (the BFS depth) are clamped to 1..max_depth.

    The reference evaluates the reply as a Python literal and crashes on anything else; here a
    dict literal is tried first, then every ``"name": digit`` pair found in the text.

    >>> parse_entities('{"Golden key": 2, "locker": 1}')[0]
    {'golden key': 2, 'locker': 1}
    >>> parse_entities("I think the key matters")
    ({}, ['I think the key matters'])
    """
    found: dict[str, Any] = {}
    match = re.search(r"\{.*\}", reply, re.S)
    if match:
        try:
            value = ast.literal_eval(match[0])
            found = value if isinstance(value, dict) else {}
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            found = {}
    if not found:
        found = {name: score for name, score in ENTITY_SCORE.findall(reply)}
    out: dict[str, int] = {}
    for name, score in found.items():
        key = clean_part(str(name))
        if key and key not in COMPASS:
            out[key] = min(max(int(score) if str(score).strip().isdigit() else 1, 1), max_depth)
    return out, ([] if out or not reply.strip() else [reply.strip()])


def parse_json_object(reply: str) -> dict[str, Any] | None:
    """The first JSON object in a reply (a fenced block or bare braces), or None.

    >>> parse_json_object('```json\\n{"action_to_take": "go east"}\\n```')
    {'action_to_take': 'go east'}
    >>> parse_json_object("go east") is None
    True

    Trailing commas, which chat models often write, are read past (outside strings only):

    >>> parse_json_object('{"plan_steps": [{"sub_goal_1": "find the key, then go",},],}')
    {'plan_steps': [{'sub_goal_1': 'find the key, then go'}]}
    """
    start = reply.find("{")
    while start != -1:
        depth = 0
        for end in range(start, len(reply)):
            depth += {"{": 1, "}": -1}.get(reply[end], 0)
            if depth == 0:
                value = _loads(reply[start : end + 1])
                if value is None:
                    break
                return value if isinstance(value, dict) else None
        start = reply.find("{", start + 1)
    return None


def _loads(text: str) -> Any:
    """``json.loads``, then once more without trailing commas; None when neither parses."""
    for candidate in (text, drop_trailing_commas(text)):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    return None


def drop_trailing_commas(text: str) -> str:
    """``text`` without the commas that directly precede a closing ``}`` or ``]`` outside JSON strings.

    >>> drop_trailing_commas('{"a": "x, }", "b": [1, 2, ], }')
    '{"a": "x, }", "b": [1, 2 ] }'
    """
    out, in_string, escaped = [], False, False
    for i, char in enumerate(text):
        if in_string:  # a quote ends the string unless a backslash escapes it
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            in_string = True
        elif char == "," and text[i + 1 :].lstrip()[:1] in ("}", "]"):
            continue
        out.append(char)
    return "".join(out)


def compass_in(text: str) -> str | None:
    """The first compass word in ``text``, if any.

    >>> compass_in("go north-east"), compass_in("take key") is None
    ('north', True)
    """
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in COMPASS:
            return word
    return None
