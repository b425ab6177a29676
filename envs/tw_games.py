"""TextWorld game files: options of each game family, generation into the cache, file checks.

Generated games come from TextWorld's own challenge generators (``textworld.challenges``) and
are compiled to ``<data dir>/games/<family>-<hash>.z8`` (plus the ``.json`` that TextWorld reads
next to it for facts, quests and the walkthrough). The hash covers the family, its options and the
installed textworld version, so a file is generated once and reused for ever after.

Generation runs in a child process with ``PYTHONHASHSEED=0``: textworld's generators iterate over
sets of strings, so in a plain process the same seed can give a different game in each
interpreter. With a fixed hash seed, the same options give the same game on every machine.
The child compiles into a private temp folder inside the games folder, and the files are moved
into place with ``os.replace`` (the ``.json`` first, then the ``.z8`` that marks the game
complete), so two processes generating the same game at once never leave a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from lab.core.env import EnvOptions
from lab.core.errors import ConfigError
from lab.core.settings import cache_dir

MAX_SEED = 2**32 - 1
"""Largest seed numpy's ``RandomState`` (used by textworld's generators) accepts."""
COOKING_ROOMS = (1, 6, 9, 12)
"""The map sizes textworld's cooking generator can build."""
MAX_ROOMS = 100
"""textworld 1.7 compiles to .z8 only, which limits games to 100 rooms."""


class GeneratedGameOptions(EnvOptions):
    """Options shared by the families that generate their game with a textworld challenge."""

    model_config = ConfigDict(use_attribute_docstrings=True)
    challenge: ClassVar[str]
    """Name of the challenge in ``textworld.challenges.CHALLENGES``."""

    game_seed: int = Field(default=1234, ge=0, le=MAX_SEED)
    """Seed of the generator (map, objects, quest and text): same seed, same game."""

    def settings(self) -> dict[str, Any]:
        """The challenge's settings dict (every option but the seed)."""
        return self.model_dump(exclude={"game_seed"})


class TreasureOptions(GeneratedGameOptions):
    """Options of ``tw-treasure``: find an object in a house (levels 1-10: 5 rooms, 11-20: 10, 21-30: 20)."""

    challenge: ClassVar[str] = "tw-treasure_hunter"

    level: int = Field(default=1, ge=1, le=30)
    """Difficulty 1-30: more rooms, longer quests, then closed and locked doors and containers."""


class CoinOptions(GeneratedGameOptions):
    """Options of ``tw-coin``: walk a chain of rooms to the coin."""

    challenge: ClassVar[str] = "tw-coin_collector"

    level: int = Field(default=1, ge=1, le=300)
    """Quest length is ``(level - 1) % 100 + 1``; each hundred adds distractor rooms along the chain."""

    @field_validator("level")
    @classmethod
    def _fits_in_z8(cls, level: int) -> int:
        rooms = ((level - 1) // 100 + 1) * ((level - 1) % 100 + 1)
        if rooms > MAX_ROOMS:
            raise ValueError(f"level {level} needs {rooms} rooms; textworld games hold at most {MAX_ROOMS}")
        return level


COOKING_PRESETS: dict[str, dict[str, Any]] = {
    "arigraph": {"recipe": 3, "take": 3, "go": 9, "cook": True, "cut": True},
    "arigraph-hard": {"recipe": 4, "take": 4, "go": 12, "cook": True, "cut": True},
}


class CookingOptions(GeneratedGameOptions):
    """Options of ``tw-cooking``: read the cookbook, gather and prepare the ingredients, eat the meal."""

    challenge: ClassVar[str] = "tw-cooking"

    recipe: int = Field(default=1, ge=1, le=5)
    """Number of ingredients in the recipe."""
    recipe_seed: int = Field(default=1234, ge=0, le=MAX_SEED)
    """Seed that draws the recipe among the foods in the house (0: the recipe textworld first places)."""
    take: int = Field(default=1, ge=0, le=5)
    """Number of ingredients to find in the house (the others start in the inventory); at most ``recipe``."""
    go: int = 1
    """Number of rooms: 1, 6, 9 or 12."""
    open: bool = False
    """Whether doors and containers start closed."""
    cook: bool = False
    """Whether ingredients must be cooked (fried, roasted or grilled) by the player."""
    cut: bool = False
    """Whether ingredients must be cut (sliced, diced or chopped) by the player."""
    drop: bool = False
    """Whether the inventory is limited, so items must be dropped."""
    split: Literal["train", "valid", "test"] | None = None
    """Food subset of the First TextWorld Problems split (None: all foods)."""
    preset: Literal["arigraph", "arigraph-hard"] | None = None
    """The AriGraph paper's settings (Anokhin et al. 2024, App. F): ``arigraph`` = recipe 3, take 3,
    go 9, cook, cut; ``arigraph-hard`` = recipe 4, take 4, go 12, cook, cut. Options given
    explicitly win over the preset."""

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in COOKING_PRESETS:
            return {**COOKING_PRESETS[data["preset"]], **data}
        return data

    def settings(self) -> dict[str, Any]:
        """The challenge's settings (the preset is already expanded into them)."""
        return self.model_dump(exclude={"game_seed", "preset"})

    @field_validator("go")
    @classmethod
    def _known_map_size(cls, go: int) -> int:
        if go not in COOKING_ROOMS:
            raise ValueError(f"go must be one of {', '.join(map(str, COOKING_ROOMS))}")
        return go

    @field_validator("take")
    @classmethod
    def _take_fits_recipe(cls, take: int, info: ValidationInfo) -> int:
        recipe, recipe_seed = info.data.get("recipe", 1), info.data.get("recipe_seed", 0)
        if take > recipe:
            raise ValueError(f"take ({take}) cannot exceed recipe ({recipe})")
        if take == 0 and recipe_seed > 0:
            raise ValueError("take=0 needs recipe_seed=0 (textworld draws a new recipe only with take >= 1)")
        return take


class FileOptions(EnvOptions):
    """Options of ``tw-file``: play a game file you already have."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    path: str
    """Path of a .z1-.z8 game; a TextWorld game also needs its .json next to it for facts and scores."""

    @field_validator("path")
    @classmethod
    def _is_a_game(cls, path: str) -> str:
        return game_path_option(path)


def game_file(env_id: str, options: EnvOptions) -> Path:
    """The game file of a family and its options: checked (``tw-file``) or generated once and cached."""
    if isinstance(options, FileOptions):
        return checked_game_file(options.path, env_id)
    if not isinstance(options, GeneratedGameOptions):
        raise TypeError(f"{env_id}: no game file for options of type {type(options).__name__}")
    target = cache_dir("games") / f"{env_id}-{options_digest(options)}.z8"
    if not target.is_file():
        generate(options, target, env_id)
    return target


def options_digest(options: GeneratedGameOptions) -> str:
    """A stable 12-hex-digit hash of the challenge, its settings, the seed and textworld's version."""
    key = {
        "challenge": options.challenge,
        "settings": options.settings(),
        "seed": options.game_seed,
        "textworld": version("textworld"),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def generate(options: GeneratedGameOptions, target: Path, env_id: str) -> None:
    """Generate the game in a child process (fixed hash seed) and move it into place atomically."""
    work = Path(tempfile.mkdtemp(prefix=f".{target.stem}-", dir=target.parent))
    try:
        request = json.dumps({"challenge": options.challenge, "settings": options.settings(),
                              "seed": options.game_seed, "output": str(work / target.name)})
        done = subprocess.run([sys.executable, "-m", "envs.tw_games", request], env=child_env(),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ConfigError(f"{env_id}: textworld could not generate this game: {last_line(done.stderr)}")
        os.replace(work / target.with_suffix(".json").name, target.with_suffix(".json"))
        os.replace(work / target.name, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def child_env() -> dict[str, str]:
    """The environment of the generator process: fixed hash seed, this project importable."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": path}


def last_line(text: str) -> str:
    """The last non-empty line of a traceback (the exception itself)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def compile_challenge(challenge: str, settings: dict[str, Any], seed: int, output: str) -> None:
    """Make a game with a textworld challenge and compile it to ``output`` (.z8, .json beside it)."""
    import textworld
    import textworld.challenges
    from textworld.generator import compile_game

    options = textworld.GameOptions()
    options.seeds = seed
    options.path = output
    options.force_recompile = True
    make = textworld.challenges.CHALLENGES[challenge][1]
    compile_game(make(settings=settings, options=options), options)


def game_path_option(path: str) -> str:
    """A ``path`` option checked when the options are validated, so a bad path stops a run before
    anything is stored (for pydantic: the reason as a ``ValueError``)."""
    try:
        checked_game_file(path)
    except ConfigError as err:
        raise ValueError(str(err).removeprefix("tw-file: ")) from None
    return path


def checked_game_file(raw_path: str, env_id: str = "tw-file") -> Path:
    """``raw_path`` as a resolved path, after checking it names a game textworld can play."""
    path = Path(raw_path).expanduser()
    if not path.exists():
        raise ConfigError(f"{env_id}: {path} does not exist")
    story = story_format(path)
    if story is None:
        raise ConfigError(f"{env_id}: {path} is not a TextWorld/Glulx/Z-machine game")
    if story == "glulx":
        raise ConfigError(f"{env_id}: {path} is a Glulx game; textworld 1.7 plays only Z-machine games (.z8)")
    return path.resolve()


def story_format(path: Path) -> Literal["zmachine", "glulx"] | None:
    """What the file's magic says it is: ``zmachine`` (.z1-.z8 with version byte 1-8), ``glulx``, or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError:
        return None
    suffix = path.suffix.lower()
    if re.fullmatch(r"\.z[1-8]", suffix) and len(head) == 64 and 1 <= head[0] <= 8:
        return "zmachine"
    if suffix == ".ulx" and head[:4] == b"Glul":
        return "glulx"
    return None


def main(argv: list[str]) -> None:
    """Child-process entry: ``python -m envs.tw_games '<json request>'`` compiles one game."""
    request = json.loads(argv[0])
    compile_challenge(request["challenge"], request["settings"], request["seed"], request["output"])


if __name__ == "__main__":
    main(sys.argv[1:])
