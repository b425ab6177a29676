"""A deterministic triplet extractor for TextWorld's templated English (no LLM, no ground truth).

Knowledge-graph agents for text games have built graphs from rules and open information extraction
before (KG-DQN, Ammanabrolu & Riedl 2019; KG-A2C, Ammanabrolu & Hausknecht 2020). This parser reads
only what the agent sees: the reply text, the room header, the inventory text and the admissible
commands, whose arguments name every visible entity. It writes the relations the LLM extraction
prompt asks for: ``X, is in, room|container|inventory``, ``X, is on, supporter``, ``X, is, open|closed|
locked|<cooking state>``, ``room, has exit, dir``, ``room, has door, door``, ``key, unlocks, locker``
and the recipe as ``recipe, requires, X`` / ``X, to be, sliced`` (the paper's protected "to be").
"""

from __future__ import annotations

import re

from agents.arigraph.triplets import COMPASS, Triplet, make

HEADER = re.compile(r"^-= (.+?) =-\s*$", re.M)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
ARTICLE = re.compile(r"^(?:a|an|the|some)\s+", re.I)
STATES = {"locked": "locked", "closed": "closed", "open": "open", "opened": "open", "unlocked": "closed"}
COOKED = {"fried", "roasted", "grilled", "burned", "raw", "sliced", "diced", "chopped", "uncut", "cooked"}
PAST = {
    "slice": "sliced",
    "dice": "diced",
    "chop": "chopped",
    "fry": "fried",
    "roast": "roasted",
    "grill": "grilled",
    "cook": "cooked",
}
COMMAND_WORDS = re.compile(
    r"^(?:examine|take|drop|open|close|unlock|lock|put|insert|eat|drink|cook|slice|dice|chop|"
    r"read|prepare)\s+",
    re.I,
)
COMMAND_SPLIT = re.compile(r"\s+(?:from|on|into|in|with)\s+")
FEEDBACK = [  # (pattern on the lower-cased sentence, what it means)
    (re.compile(r"^you (?:pick up|take) the (.+?)(?: from .*)?\.?$"), "inventory"),
    (re.compile(r"^you drop the (.+?) on the ground"), "room"),
    (re.compile(r"^you put the (.+?) on the (.+?)\.?$"), "on"),
    (re.compile(r"^you put the (.+?) into the (.+?)\.?$"), "in"),
    (re.compile(r"^you open the (.+?), revealing (.+?)\.?$"), "revealing"),
    (re.compile(r"^you (open|close|unlock|lock) the (.+?)\.?$"), "state"),
    (re.compile(r"^you (eat|drink) the (.+?)\.?$"), "eaten"),
    (
        re.compile(r"^you (fried|roasted|grilled|burned|slice|dice|chop|sliced|diced|chopped) the (.+?)\.?$"),
        "cooked",
    ),
]
UNLOCKS = re.compile(r"(?:the )?([a-z0-9 ]+?) unlocks (?:the )?([a-z0-9 ]+?)(?:[.,;]|$)")
EXAMINE_STATE = [
    (re.compile(r"\bit is (locked|closed|open)\b"), None),
    (re.compile(r"there is a lock on it"), "locked"),
    (re.compile(r"can't see inside it"), "closed"),
    (re.compile(r"you can see inside it"), "open"),
]


def entity_names(admissible: list[str]) -> list[str]:
    """Entity names in the admissible commands, longest first (``take X from Y`` names X and Y).

    >>> entity_names(["take Key 2 from Red locker", "go east", "look"])
    ['red locker', 'key 2']
    """
    names: set[str] = set()
    for command in admissible:
        if not COMMAND_WORDS.match(command):
            continue
        for part in COMMAND_SPLIT.split(COMMAND_WORDS.sub("", command.lower(), count=1)):
            if part and part not in COMPASS and part != "meal":
                names.add(part.strip())
    return sorted(names, key=lambda n: (-len(n), n))


def find_names(sentence: str, names: list[str]) -> list[tuple[int, str]]:
    """Non-overlapping occurrences of known names in a lower-cased sentence, in text order."""
    taken: list[tuple[int, int]] = []
    found = []
    for name in names:
        for match in re.finditer(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", sentence):
            if all(match.end() <= a or match.start() >= b for a, b in taken):
                taken.append((match.start(), match.end()))
                found.append((match.start(), name))
    return sorted(found)


def list_items(text: str, names: list[str]) -> list[str]:
    """The entities of an enumeration ("a Key 2 and a Note 2"): known names, else comma/and chunks."""
    known = [name for _, name in find_names(text, names)]
    if known:
        return known
    return [ARTICLE.sub("", chunk.strip()) for chunk in re.split(r",\s*|\s+and\s+", text) if chunk.strip()]


def extract(text: str, room: str | None, inventory: str | None, admissible: list[str]) -> list[Triplet]:
    """Triplets of one observation (see the module docstring)."""
    names = entity_names(admissible)
    room = room.lower() if room else None
    lower = text.lower()
    headers = list(HEADER.finditer(lower))
    before, description = (
        (lower[: headers[-1].start()], lower[headers[-1].end() :]) if headers else (lower, "")
    )
    raw: list[tuple[str, str, str]] = []
    for sentence in SENTENCE.split(before):
        raw += feedback(sentence.strip(), names, room)
    for sentence in SENTENCE.split(description):
        raw += describe(sentence.strip(), names, room)
    raw += [(a, "unlocks", b) for a, b in UNLOCKS.findall(lower)]
    raw += recipe(lower) + examined(before, names)
    if room:
        raw += [
            (room, "has exit", c.split()[1])
            for c in admissible
            if c.startswith("go ") and c.split()[1] in COMPASS
        ]
    raw += carried(inventory or "", names)
    return [t for t in dict.fromkeys(make(*r) for r in raw) if t is not None]


def feedback(sentence: str, names: list[str], room: str | None) -> list[tuple[str, str, str]]:
    """Triplets of the game's reply to an action (take, drop, put, open, close, unlock, eat, cook, cut)."""
    for pattern, meaning in FEEDBACK:
        match = pattern.match(sentence)
        if not match:
            continue
        if meaning == "inventory":
            return [(match[1], "is in", "inventory")]
        if meaning == "room":
            return [(match[1], "is in", room)] if room else []
        if meaning in ("on", "in"):
            return [(match[1], f"is {meaning}", match[2])]
        if meaning == "revealing":
            return [(match[1], "is", "open")] + [(x, "is in", match[1]) for x in list_items(match[2], names)]
        if meaning == "state":
            if names and match[2] not in names:  # "You open the copy of the cookbook and start reading"
                return []
            return [
                (
                    match[2],
                    "is",
                    {"open": "open", "close": "closed", "unlock": "closed", "lock": "locked"}[match[1]],
                )
            ]
        if meaning == "eaten":
            return [(match[2], "is", "eaten")]
        return [(match[2], "is", PAST.get(match[1], match[1]))]
    return []


def describe(sentence: str, names: list[str], room: str | None) -> list[tuple[str, str, str]]:
    """Triplets of one sentence of a room description: exits, doors, states, what is on or in what."""
    found = find_names(sentence, names)
    directions = [w for w in re.findall(r"[a-z]+", sentence) if w in COMPASS]
    out: list[tuple[str, str, str]] = []
    if room:
        out += [(room, "has exit", d) for d in directions]
        out += [(room, "has door", name) for _, name in found] if directions else []
    holder, relation = None, ""
    for start, name in found:
        word = sentence[:start].split()[-1:] or [""]
        if word[0] in STATES or word[0] in COOKED:
            out.append((name, "is", STATES.get(word[0], word[0])))
        if sentence[:start].endswith(("on the ", "in the ")) or sentence[start + len(name) :].startswith(
            " contains"
        ):
            holder = name
            relation = "is on" if sentence[:start].endswith("on the ") else "is in"
    if directions:
        return out
    for _, name in found:
        if name == holder:
            continue
        if holder and "floor" not in sentence:
            out.append((name, relation, holder))
        elif room:
            out.append((name, "is in", room))
    if holder and room:
        out.append((holder, "is in", room))
    return out


def examined(text: str, names: list[str]) -> list[tuple[str, str, str]]:
    """The state an ``examine`` reply ("It is locked.", "There is a lock on it.") gives the thing it names."""
    found = find_names(text, names)
    if not found:
        return []
    for pattern, state in EXAMINE_STATE:
        match = pattern.search(text)
        if match:
            return [(found[0][1], "is", state or match[1])]
    return []


def recipe(text: str) -> list[tuple[str, str, str]]:
    """The cookbook: ``recipe, requires, X`` per ingredient and ``X, to be, <state>`` per direction."""
    match = re.search(r"ingredients:\s*(.+?)\s*directions:\s*(.+)", text, re.S)
    if not match:
        return []
    out = [("recipe", "requires", line.strip()) for line in match[1].splitlines() if line.strip()]
    for line in match[2].splitlines():
        words = line.strip().split(" the ", 1)
        if len(words) == 2 and words[0] in PAST:
            out.append((words[1].strip(" ."), "to be", PAST[words[0]]))
    return out


def carried(inventory: str, names: list[str]) -> list[tuple[str, str, str]]:
    """``X, is in, inventory`` for each carried item, plus its cooking state ("a fried potato")."""
    match = re.search(r"carrying:?\s*(.+)", inventory.lower(), re.S)
    if not match or match[1].strip(" .").startswith("nothing"):
        return []
    out = []
    for chunk in re.split(r",\s*|\s+and\s+(?=an?\s|the\s|some\s)", match[1].strip(" .\n")):
        words = ARTICLE.sub("", chunk.strip()).split()
        states = []
        while len(words) > 1 and words[0] in COOKED and " ".join(words) not in names:  # "raw meat" is a name
            states.append(words.pop(0))
        known = [name for _, name in find_names(" ".join(words), names)]
        name = known[0] if known else " ".join(words)
        out += [(name, "is in", "inventory")] + [(name, "is", state) for state in states]
    return out
