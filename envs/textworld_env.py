"""TextWorld adapter: generated challenge games and game files, played through textworld's own API.

Families (``SPECS``): ``tw-treasure``, ``tw-cooking`` and ``tw-coin`` generate their game with
textworld's challenge generators (cached, see :mod:`envs.tw_games`); ``tw-file`` plays a .z8 you
already have. :func:`game_path` gives the game file of any family and options.

What the adapter does to textworld 1.7's output:

* The Z-machine interpreter appends its status line to every reply
  (``>`` + padding + ``-= Kitchen =-3/12``, i.e. room, score/moves). It is cut from the text and
  used as the last fallback for the room name.
* The reset reply opens with a large ASCII-art "TextWorld" title; it is dropped.
* A command with a ``quit``, ``q`` or ``restart`` sentence is not sent: the yes/no prompt swallows
  the next command, and a restart inside the game would desynchronise textworld's score and fact
  tracking. The lab answers it itself, and the state is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import textworld
from textworld import EnvInfos
from textworld.logic import Proposition

from lab.core.env import EnvKind, EnvOptions, EnvSpec, Observation
from envs.registry import parse_options
from envs.tw_games import CoinOptions, CookingOptions, FileOptions, TreasureOptions, game_file
from lab.core.errors import UnknownIdError

DISABLED_COMMANDS = frozenset({"quit", "q", "restart"})
"""Meta commands the adapter answers itself instead of sending them to the game."""
DISABLED_REPLY = "'{}' is disabled in the lab: a trial ends when the game is won or lost or steps run out."
"""What a disabled command gets back (the game state is unchanged)."""
INTERPRETER_SEED = 1
"""Interpreter seed used when reset gets no positive seed (jericho takes 0 to mean a time-based seed)."""

ROOM_HEADER = re.compile(r"^-= (.+?) =-[ \t]*$", re.MULTILINE)
STATUS_LINE = re.compile(r"\s*>?[ \t]*-= (?P<room>[^\n]*?) =--?\d+/\d+\s*\Z")
TRAILING_PROMPT = re.compile(r"\n>\s*\Z")
TITLE_ART = re.compile(r"\A(?:[^A-Za-z0-9\n]*\n)+")
BLANK_LINES = re.compile(r"\n{3,}")
SENTENCES = re.compile(r"[.,]|\bthen\b")


def requested_infos() -> EnvInfos:
    """The textworld infos every TextWorld env requests (a fresh object: textworld may mutate it)."""
    return EnvInfos(
        feedback=True, description=True, inventory=True, admissible_commands=True, objective=True,
        score=True, max_score=True, won=True, lost=True, facts=True, policy_commands=True,
        extras=["walkthrough"],
    )


def split_feedback(raw: str, opening: bool = False) -> tuple[str, str | None]:
    r"""Split a raw reply into the text (status line and, when ``opening``, title art cut) and the room.

    The room is the one named in the interpreter's status line, if there is one.

    >>> split_feedback("\nYou take the apple.\n\n>" + " " * 40 + "-= Kitchen =-1/4")
    ('You take the apple.', 'Kitchen')
    >>> split_feedback("\nYou can't go that way.\n\n>")
    ("You can't go that way.", None)
    """
    status = STATUS_LINE.search(raw)
    text = raw[: status.start()] if status else TRAILING_PROMPT.sub("", raw)
    if opening:
        text = TITLE_ART.sub("", text)
    return tidy(text) or "", status["room"] if status else None


def is_disabled(command: str) -> bool:
    """Whether any sentence of ``command`` (Inform chains them with ``.``, ``,`` and ``then``) is disabled.

    >>> is_disabled("Quit!"), is_disabled("look. restart"), is_disabled("take quilt then look")
    (True, True, False)
    """
    return any(part.strip(" !?") in DISABLED_COMMANDS for part in SENTENCES.split(command.lower()))


def tidy(text: str | None) -> str | None:
    """Game text without surrounding whitespace and with at most one blank line in a row."""
    return None if text is None else BLANK_LINES.sub("\n\n", text).strip()


def room_header(text: str) -> str | None:
    r"""The room of the last ``-= Room =-`` header line in ``text``, if any.

    >>> room_header("You go east.\n\n-= Pantry =-\nA small room.")
    'Pantry'
    >>> room_header("Taken.") is None
    True
    """
    headers = ROOM_HEADER.findall(text)
    return headers[-1] if headers else None


def fact_string(fact: Proposition) -> str:
    """A fact as ``name(arg1, arg2)`` with entity names (an argument without a name shows its type).

    >>> from textworld.logic import Variable
    >>> fact_string(Proposition("in", [Variable("red apple", "f"), Variable("fridge", "c")]))
    'in(red apple, fridge)'
    """
    return f"{fact.name}({', '.join(arg.name or arg.type for arg in fact.arguments)})"


class TextWorldEnv:
    """A TextWorld game (.z8) played with ``textworld.start``; one in-process Z-machine interpreter per env.

    Description:
        Generated TextWorld challenges (treasure hunter, cooking, coin collector) or any
        Z-machine game file. Repeated ``reset`` calls restart the same game.
    Observation:
        ``text`` and ``feedback`` are the game's reply (status line and title art removed); the
        reply to reset holds the objective and the first room. The room description, inventory
        and objective are given in their own fields and are not repeated in ``text``.
        ``admissible`` is sorted; ``room`` comes from the last ``-= Room =-`` header of the reply,
        else of the description, else of the status line, else stays the last known room.
        ``privileged``: ``facts`` (sorted ``name(arg, ...)`` strings with entity names; textworld
        names unnamed entities by id, e.g. ``base(carrot, ingredient_0)``), ``walkthrough`` (the
        game's winning commands from the start; empty when the game has none) and ``policy``
        (textworld's winning commands from the current state).
    Actions:
        Any string. Commands the game does not understand get the game's own reply.
    Reward:
        The change of TextWorld's cumulative score caused by the action.
    Termination:
        ``done`` when the game is won or lost (for TextWorld games, "*** The End ***" / "You lost");
        ``won``, ``lost`` and ``done`` then stay set until the next ``reset``.
    Seed:
        ``reset(seed)`` seeds the Z-machine interpreter's random generator. TextWorld-generated
        games make no random choices while played, so the seed changes nothing for them.
    Registered IDs:
        ``tw-treasure``, ``tw-cooking``, ``tw-coin``, ``tw-file``.
    """

    kind: EnvKind = "text"

    def __init__(self, env_id: str, path: Path) -> None:
        self.env_id = env_id
        self.path = Path(path)
        self._game: textworld.Environment | None = None
        self._state: Any = None
        self._score = 0.0
        self._room: str | None = None
        self._ended = (False, False)
        self._walkthrough: list[str] = []

    def reset(self, seed: int | None = None) -> Observation:
        """Start (or restart) the game; see the class docstring for what ``seed`` does."""
        if self._game is None:
            self._game = textworld.start(str(self.path), request_infos=requested_infos())
        self._game.seed(seed if seed and seed > 0 else INTERPRETER_SEED)
        state = self._game.reset()
        self._score, self._room, self._ended = 0.0, None, (False, False)
        self._walkthrough = list(state.get("extra.walkthrough") or state.get("policy_commands") or [])
        return self._observe(state, *split_feedback(state["feedback"], opening=True))

    def step(self, action: str) -> Observation:
        """Play one command; a command the game does not understand returns the game's reply."""
        if self._game is None or self._state is None:
            raise RuntimeError(f"{self.env_id}: call reset() before step()")
        command = action.strip()
        if is_disabled(command):
            return self._observe(self._state, DISABLED_REPLY.format(command), None)
        state, _, _ = self._game.step(command)
        return self._observe(state, *split_feedback(state["feedback"]))

    def close(self) -> None:
        """Stop the game interpreter; a later ``reset`` starts it again."""
        if self._game is not None:
            self._game.close()
        self._game, self._state = None, None

    def _observe(self, state: Any, feedback: str, status_room: str | None) -> Observation:
        score = float(state.get("score") or 0)
        reward, self._score, self._state = score - self._score, score, state
        description = tidy(state.get("description"))
        self._room = room_header(feedback) or room_header(description or "") or status_room or self._room
        won, lost = self._ended[0] or bool(state.get("won")), self._ended[1] or bool(state.get("lost"))
        self._ended, max_score = (won, lost), state.get("max_score")
        return Observation(
            text=feedback, feedback=feedback, admissible=sorted(state.get("admissible_commands") or []),
            reward=reward, score=score, max_score=None if max_score is None else float(max_score),
            done=bool(state.get("done")) or won or lost, won=won, lost=lost,
            objective=state.get("objective") or "", room=self._room,
            description=description, inventory=state.get("inventory"),
            privileged=self._privileged(state),
        )

    def _privileged(self, state: Any) -> dict[str, Any]:
        return {
            "facts": sorted(map(fact_string, state.get("facts") or [])),
            "walkthrough": list(self._walkthrough),
            "policy": list(state.get("policy_commands") or []),
        }


def make_textworld_env(env_id: str, options: EnvOptions) -> TextWorldEnv:
    """Factory of every TextWorld family: resolves (or generates) the game file, then wraps it.

    A ``tw-file`` game that is a Cleaning game (the AriGraph paper's ``clean_3x3.z8``) gets the
    Cleaning reward from the facts diff (envs.tw_paper), as ``tw-clean`` does.
    """
    path = game_file(env_id, options)
    if env_id == "tw-file":
        from envs.tw_paper import CleaningEnv, cleaning_rules  # tw_paper imports this module

        rules = cleaning_rules(path)
        if rules is not None:
            return CleaningEnv(TextWorldEnv(env_id, path), rules)  # type: ignore[return-value]
    return TextWorldEnv(env_id, path)


SPECS: list[EnvSpec] = [
    EnvSpec("tw-treasure", "TextWorld treasure hunter: find the named object in a house (level 1-30)",
            "text", TreasureOptions, make_textworld_env),
    EnvSpec("tw-cooking", "TextWorld cooking: read the recipe, gather and prepare ingredients, eat the meal",
            "text", CookingOptions, make_textworld_env),
    EnvSpec("tw-coin", "TextWorld coin collector: walk a chain of rooms to the coin",
            "text", CoinOptions, make_textworld_env),
    EnvSpec("tw-file", "A Z-machine game file (.z1-.z8); TextWorld games need their .json beside it",
            "text", FileOptions, make_textworld_env),
]


def game_path(env_id: str, options: EnvOptions | Mapping[str, Any] | None = None) -> Path:
    """The game file of a TextWorld family and its options, generated and cached on first use."""
    spec = next((spec for spec in SPECS if spec.id == env_id), None)
    if spec is None:
        raise UnknownIdError("env", env_id, [spec.id for spec in SPECS])
    raw = options.model_dump() if isinstance(options, EnvOptions) else dict(options or {})
    return game_file(env_id, parse_options(spec, raw))
