"""Bad input, property-based, from the real schemas: every option of every registered env and agent, the
RunConfig and the trace records either validate or fail with one clear line naming the field; hostile
JSONL traces import nothing and leave the store as it was; valid ones import and round-trip.

Strategies are read off the pydantic models (``model_fields``: the type, ``None`` or not, ``ge``/``gt``/
``le``/``lt``, ``min_length``, ``Literal`` values), so a new option is generated, pushed past its bounds
and given wrong types without editing this file. What a model's own validators add beyond its schema
(odd view sizes, room counts, game files...) is in ``RULES``; a new validator fails
``test_every_option_model_is_understood_by_these_strategies`` until its rule is written down here.
"""

from __future__ import annotations

import ast
import json
import math
import re
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from annotated_types import Ge, Gt, Le, Lt, MinLen
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from typer.testing import CliRunner

from agents.registry import parse_config
from agents.registry import specs as agent_specs
from envs.minigrid_env import registered_ids
from envs.registry import get_spec as get_env_spec
from envs.registry import parse_options
from envs.registry import specs as env_specs
from envs.tw_games import COOKING_PRESETS, COOKING_ROOMS, MAX_ROOMS
from lab.cli import app, parse_pairs
from lab.core.errors import ConfigError, LabError
from lab.core.llm.spec import PROVIDERS
from lab.core.records import SCHEMA_VERSION, ObservationRecord, RunConfig, RunInfo, RunSummary, Step
from lab.export import export_run, import_file, jsonl_lines
from lab.exporters.jsonl import RUN_ID
from lab.runner import prepare
from lab.store import RunStore
from tests.conftest import memlab
from tests.test_properties import HUGE, TEXT, canonical, examples, header, runs, store_run

NoneType = type(None)
ENV_SPECS = sorted(env_specs().values(), key=lambda s: s.id)
AGENT_SPECS = sorted(agent_specs().values(), key=lambda s: s.id)
OPTION_MODELS = [("env", s.id, s.options) for s in ENV_SPECS] + [
    ("agent", s.id, s.config) for s in AGENT_SPECS]
ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=10), st.lists(st.integers(), max_size=2))


# -- strategies read off a pydantic model ---------------------------------------------------------------
def shape(info: FieldInfo) -> tuple[Any, bool, dict[str, Any]]:
    """A field's type without ``None``, whether ``None`` is allowed, and its bounds."""
    annotation, optional = info.annotation, False
    if get_origin(annotation) in (Union, types.UnionType) and NoneType in get_args(annotation):
        rest = tuple(a for a in get_args(annotation) if a is not NoneType)
        annotation, optional = (rest[0] if len(rest) == 1 else Union[rest]), True
    limits: dict[str, Any] = {}
    for item in info.metadata:
        if isinstance(item, (Ge, Gt, Le, Lt)):
            name = type(item).__name__.lower()
            limits[name] = getattr(item, name)
        elif isinstance(item, MinLen):
            limits["min_length"] = item.min_length
        else:
            raise AssertionError(f"teach tests/test_bad_input.py the constraint {item!r}")
    return annotation, optional, limits


def literals(annotation: Any) -> tuple | None:
    """The allowed values of a ``Literal`` (or a union of them); None for other types."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    arms = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType) and all(get_origin(a) is Literal for a in arms):
        return tuple(v for a in arms for v in get_args(a))
    return None


def int_range(limits: dict[str, Any]) -> tuple[int | None, int | None]:
    low = limits["ge"] if "ge" in limits else limits["gt"] + 1 if "gt" in limits else None
    high = limits["le"] if "le" in limits else limits["lt"] - 1 if "lt" in limits else None
    return low, high


def valid_values(annotation: Any, limits: dict[str, Any]) -> st.SearchStrategy:
    """Values the schema accepts, its bounds drawn often."""
    allowed = literals(annotation)
    if allowed is not None:
        return st.sampled_from(allowed)
    if annotation is Any:  # free-form JSON values (a memory edit's attrs)
        return st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low, high = int_range(limits)
        edges = [v for v in (low, high) if v is not None]
        return st.one_of(st.sampled_from(edges), st.integers(low, high)) if edges else st.integers()
    if annotation is float:  # finite: see test_a_non_finite_option_survives_the_stored_config
        inside = st.floats(limits.get("ge", limits.get("gt")), limits.get("le", limits.get("lt")),
                           exclude_min="gt" in limits, exclude_max="lt" in limits, allow_nan=False,
                           allow_infinity=False)
        edges = [limits[k] for k in ("ge", "le") if k in limits]
        return st.one_of(st.sampled_from(edges), inside) if edges else inside
    if annotation is str:
        return st.text(max_size=20)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(valid_values(args[0], {}), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*(valid_values(a, {}) for a in args))
    if origin is list:
        return st.lists(valid_values(args[0], {}), min_size=limits.get("min_length", 0), max_size=3)
    if origin is dict:
        keys = st.text("abcdefgh-*", min_size=1, max_size=8) if args[0] is str else valid_values(args[0], {})
        return st.dictionaries(keys, valid_values(args[1], {}), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):  # a nested model, as plain data
        return valid_options(annotation)
    if origin in (Union, types.UnionType):
        return st.one_of(*(st.none() if a is NoneType else valid_values(a, limits) for a in args))
    raise AssertionError(f"teach tests/test_bad_input.py the type {annotation!r}")


def wrong_types(annotation: Any, optional: bool) -> list[Any]:
    """Values of another type, none of which pydantic's lax mode coerces to this one."""
    origin = get_origin(annotation)
    if literals(annotation) is not None:
        wrong: list[Any] = [5, ["x"], {"a": 1}]
    elif annotation is bool:
        wrong = ["maybe", 2, 0.5, [True]]
    elif annotation is int:
        wrong = ["seven", 1.5, [1], {"a": 1}]
    elif annotation is float:
        wrong = ["half", [0.5], {"a": 1}]
    elif annotation is str:
        wrong = [5, 1.5, True, ["a"], {"a": "b"}]
    elif origin is tuple:
        wrong = ["ab", 5, {"a": 1}, [{"a": 1}]]
    elif origin is list:  # not a string: graph-schemas splits "a,b" into a list
        wrong = [5, {"a": 1}, [{"a": 1}]]
    elif origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        wrong = [5, "x", [1]]
    else:
        raise AssertionError(f"teach tests/test_bad_input.py wrong values for {annotation!r}")
    return wrong if optional else [*wrong, None]


def out_of_bounds(annotation: Any, limits: dict[str, Any]) -> st.SearchStrategy | None:
    """Values of the right type just (and far) past a bound, or outside a ``Literal``."""
    allowed = literals(annotation)
    if allowed is not None:
        return st.text(max_size=12).filter(lambda s: s not in allowed)
    out: list[Any] = []
    if annotation is int:
        out += [limits["ge"] - 1, limits["ge"] - 10**6] if "ge" in limits else []
        out += [limits["gt"], limits["gt"] - 1] if "gt" in limits else []
        out += [limits["le"] + 1, limits["le"] + 10**9] if "le" in limits else []
        out += [limits["lt"], limits["lt"] + 1] if "lt" in limits else []
    elif annotation is float:
        down, up = (lambda x: math.nextafter(x, -math.inf)), (lambda x: math.nextafter(x, math.inf))
        out += [down(limits["ge"]), limits["ge"] - 1, -math.inf] if "ge" in limits else []
        out += [limits["gt"], down(limits["gt"])] if "gt" in limits else []
        out += [up(limits["le"]), limits["le"] + 1, math.inf] if "le" in limits else []
        out += [limits["lt"]] if "lt" in limits else []
        out += [math.nan] if out else []
    elif limits.get("min_length"):
        out = [[]]
    return st.sampled_from(out) if out else None


# -- what validators add to the schemas ---------------------------------------------------------------
GAME_DIR = tempfile.TemporaryDirectory(prefix="memlab-bad-input-")
GAMES = Path(GAME_DIR.name)
for version in range(1, 9):  # what validation checks: a .z1-.z8 suffix, a 64-byte header, its version byte
    (GAMES / f"story.z{version}").write_bytes(bytes([version]) + bytes(63))
GAME_PATHS = [str(GAMES / f"story.z{v}") for v in range(1, 9)] + [f"{GAMES}/./story.z8", f"{GAMES}//story.z5"]
(GAMES / "notes.z8").write_text("plain text pretending to be a game " * 3)
(GAMES / "story.ulx").write_bytes(b"Glul" + bytes(60))
NOT_GAMES = [str(GAMES / "missing.z8"), str(GAMES / "notes.z8"), str(GAMES / "story.ulx"), str(GAMES)]


def rooms(level: int) -> int:
    """Rooms of a tw-coin level (envs/tw_games.py ``CoinOptions``)."""
    return ((level - 1) // 100 + 1) * ((level - 1) % 100 + 1)


def default(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].default


def fit_take(model: type[BaseModel], options: dict[str, Any]) -> dict[str, Any]:
    """tw-cooking: ``take`` at most ``recipe`` (the preset's when given), both written out so that a broken
    preset cannot change them; ``take=0`` needs ``recipe_seed=0``."""
    full = {**COOKING_PRESETS.get(options.get("preset"), {}), **options}
    if "take" in full or "recipe" in full:
        recipe = full.get("recipe", default(model, "recipe"))
        options = {**options, "recipe": recipe, "take": min(full.get("take", default(model, "take")), recipe)}
        if options["take"] == 0:
            options["recipe_seed"] = 0
    return options


def size(model: type[BaseModel], options: dict[str, Any]) -> tuple[int, int]:
    return options.get("width", default(model, "width")), options.get("height", default(model, "height"))


def goal_inside(model: type[BaseModel], options: dict[str, Any]) -> dict[str, Any]:
    """minigrid-aliased-room: the goal is an interior cell."""
    if options.get("goal") is None:
        return options
    width, height = size(model, options)
    return {**options, "goal": (options["goal"][0] % width, options["goal"][1] % height)}


def take_past_recipe(model: type[BaseModel], options: dict[str, Any]) -> st.SearchStrategy | None:
    full = {**COOKING_PRESETS.get(options.get("preset"), {}), **options}
    recipe = full.get("recipe", default(model, "recipe"))
    seed = full.get("recipe_seed", default(model, "recipe_seed"))
    bad = list(range(recipe + 1, 6)) + ([0] if seed > 0 else [])
    return st.sampled_from(bad) if bad else None


def goal_outside(model: type[BaseModel], options: dict[str, Any]) -> st.SearchStrategy:
    width, height = size(model, options)
    return st.sampled_from([(width, 0), (0, height), (-1, 0), (width + 5, height + 5)])


@dataclass(frozen=True)
class Rule:
    """A model's own validators: what they add to the schema, for valid values and for broken ones."""

    validators: frozenset[str]
    """The validator methods this rule accounts for."""
    valid: dict[str, st.SearchStrategy] = field(default_factory=dict)
    """Valid values of a field where the schema allows more than the validator."""
    broken: dict[str, Callable[[type[BaseModel], dict[str, Any]], st.SearchStrategy | None]] = field(
        default_factory=dict)
    """Values the schema allows and the validator refuses (given the rest of the options)."""
    repair: Callable[[type[BaseModel], dict[str, Any]], dict[str, Any]] | None = None
    """Makes drawn options meet the validators that relate two fields."""


RULES: dict[str, Rule] = {
    "MiniGridOptions": Rule(frozenset({"_odd"}),
                            valid={"view_size": st.none() | st.sampled_from(range(3, 16, 2))},
                            broken={"view_size": lambda m, o: st.sampled_from(range(4, 15, 2))}),
    "CoinOptions": Rule(frozenset({"_fits_in_z8"}),
                        valid={"level": st.integers(1, 300).filter(lambda lv: rooms(lv) <= MAX_ROOMS)},
                        broken={"level": lambda m, o: st.sampled_from([lv for lv in range(1, 301)
                                                                       if rooms(lv) > MAX_ROOMS])}),
    "CookingOptions": Rule(frozenset({"_known_map_size", "_take_fits_recipe", "_apply_preset"}),
                           valid={"go": st.sampled_from(COOKING_ROOMS)},
                           broken={"go": lambda m, o: st.sampled_from([g for g in range(-5, 50)
                                                                       if g not in COOKING_ROOMS]),
                                   "take": take_past_recipe},
                           repair=fit_take),
    "AliasedRoomOptions": Rule(frozenset({"_inside"}), broken={"goal": goal_outside}, repair=goal_inside),
    "FileOptions": Rule(frozenset({"_is_a_game"}), valid={"path": st.sampled_from(GAME_PATHS)},
                        broken={"path": lambda m, o: st.sampled_from(NOT_GAMES)}),
    "CleanOptions": Rule(frozenset({"_is_a_game"}), valid={"path": st.none() | st.sampled_from(GAME_PATHS)},
                         broken={"path": lambda m, o: st.sampled_from(NOT_GAMES)}),
    "GraphSchemaConfig": Rule(  # "a,b" (as typed after --agent-opt) is split into a list
        frozenset({"_split"}),
        valid={"schemas": st.lists(st.text("abc-6x8", min_size=1, max_size=8), min_size=1, max_size=3)
               | st.lists(st.text("abc-6x8", min_size=1, max_size=8), min_size=1, max_size=3).map(",".join)},
        broken={"schemas": lambda m, o: st.sampled_from(["", ",", " , "])}),
    "AriGraphConfig": Rule(frozenset({"act_hotter_without_exploration"})),  # a default, no field it bounds
    "Sampling": Rule(frozenset(), valid={"temperature": st.none() | st.floats(0, 1)}),  # every provider's range
    "RunConfig": Rule(frozenset(), valid={"llm_options": st.fixed_dictionaries({}, optional={
        "temperature": st.none() | st.floats(0, 1), "act.top_p": st.none() | st.floats(0.01, 1),
        "max_tokens": st.integers(1, 4096), "context": st.integers(2048, 10**6)})}),  # keys --llm-opt knows
    "ClinConfig": Rule(frozenset({"drop_retired"})),  # drops the retired meta_memory_file key: no field it bounds
}
"""Keyed by model class name."""
def rule(model: type[BaseModel]) -> Rule:
    return RULES.get(model.__name__, Rule(frozenset()))


def field_values(model: type[BaseModel], name: str) -> st.SearchStrategy:
    """Valid values of one field: the rule's, else the schema's."""
    if name in rule(model).valid:
        return rule(model).valid[name]
    annotation, optional, limits = shape(model.model_fields[name])
    values = valid_values(annotation, limits)
    return st.none() | values if optional else values


@st.composite
def valid_options(draw: st.DrawFn, model: type[BaseModel]) -> dict[str, Any]:
    """Any subset of the fields, each with a valid value (required fields always given)."""
    options = {name: draw(field_values(model, name)) for name, info in model.model_fields.items()
               if info.is_required() or draw(st.booleans())}
    repair = rule(model).repair
    return repair(model, options) if repair else options


def mutations(model: type[BaseModel]) -> list[tuple[str, str]]:
    """Every way to break one option: ``(field, how)`` with how ``type``, ``bound`` or ``rule``, and
    ``("", "unknown")`` for an unknown key."""
    out = [("", "unknown")]
    for name, info in model.model_fields.items():
        annotation, _, limits = shape(info)
        out.append((name, "type"))
        if out_of_bounds(annotation, limits) is not None:
            out.append((name, "bound"))
        if name in rule(model).broken:
            out.append((name, "rule"))
    return out


@st.composite
def broken_options(draw: st.DrawFn, model: type[BaseModel], mutation: tuple[str, str] | None = None
                   ) -> tuple[dict[str, Any], str]:
    """Valid options with one field made wrong (of a wrong type, past a bound, refused by a validator) or an
    unknown key added (any of them, or the ``mutation`` given); returns them with the key the error names."""
    options = draw(valid_options(model))
    name, how = mutation or draw(st.sampled_from(mutations(model)))
    if how == "unknown":
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in model.model_fields))
        return {**options, key: draw(ANY_VALUE)}, key
    annotation, optional, limits = shape(model.model_fields[name])
    if how == "type":
        values = st.sampled_from(wrong_types(annotation, optional))
    elif how == "bound":
        values = out_of_bounds(annotation, limits)
    else:
        values = rule(model).broken[name](model, options)
        if values is None:  # not breakable from these options (take is at its maximum): keep the required
            options = {k: v for k, v in options.items() if model.model_fields[k].is_required()}
            values = rule(model).broken[name](model, options)
    return {**options, name: draw(values)}, name


def validators(model: type[BaseModel]) -> set[str]:
    decorators = model.__pydantic_decorators__
    return set(decorators.field_validators) | set(decorators.model_validators)


def parser(kind: str) -> Callable[[Any, dict[str, Any]], BaseModel]:
    return parse_options if kind == "env" else parse_config


def spec_of(kind: str, spec_id: str) -> Any:
    return (env_specs() if kind == "env" else agent_specs())[spec_id]


def cli_text(value: Any) -> str:
    """How a person types ``value`` after ``--env-opt key=`` (parse_pairs reads JSON, else the raw text)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value)


def quoted_key(message: str) -> str:
    """The option a validation message names: ``option 'goal.0': ...`` gives ``goal.0``."""
    found = re.search(r"option ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", message)
    assert found, message
    return ast.literal_eval(found.group(1))


def names(message: str, key: str) -> bool:
    """Whether the message names option ``key`` (or a part of it: ``goal.0``)."""
    named = quoted_key(message)
    return named == key or named.startswith(key + ".")


def assert_one_line_naming(err: LabError, prefix: str, key: str) -> None:
    message = str(err)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(prefix) and names(message, key), message


# -- options ------------------------------------------------------------------------------------------
def test_every_option_model_is_understood_by_these_strategies() -> None:
    """Every field has a type and bounds the strategies know, and every validator a rule (see RULES)."""
    for kind, spec_id, model in OPTION_MODELS:
        for name, info in model.model_fields.items():
            annotation, _, limits = shape(info)
            valid_values(annotation, limits)
        missing = validators(model) - rule(model).validators
        assert not missing, f"{kind} {spec_id}: write the rule of {sorted(missing)} into RULES"
    assert {"tw-file", "minigrid:", "tw-cooking", "sat"} <= {spec_id for _, spec_id, _ in OPTION_MODELS}


EACH_MODEL = pytest.mark.parametrize(("kind", "spec_id", "model"), OPTION_MODELS,
                                     ids=[f"{k}-{i}" for k, i, _ in OPTION_MODELS])


@EACH_MODEL
@examples(0.25)
@given(data=st.data())
def test_valid_options_validate_and_survive_the_cli_and_the_store(kind: str, spec_id: str, model: type,
                                                                  data: st.DataObject) -> None:
    spec, parse = spec_of(kind, spec_id), parser(kind)
    options = data.draw(valid_options(model), label="options")
    parsed = parse(spec, options)
    stored = json.loads(json.dumps(parsed.model_dump(mode="json")))  # what RunConfig keeps, via the store
    assert parse(spec, stored) == parsed
    typed = parse_pairs([f"{k}={cli_text(v)}" for k, v in options.items()], "--env-opt")
    assert parse(spec, typed) == parsed


BROKEN = [(kind, spec_id, model, name, how) for kind, spec_id, model in OPTION_MODELS
          for name, how in mutations(model)]


@pytest.mark.parametrize(("kind", "spec_id", "model", "name", "how"), BROKEN,
                         ids=[f"{k}-{i}-{n or 'key'}-{h}" for k, i, _, n, h in BROKEN])
@examples(0.05)
@given(data=st.data())
def test_one_wrong_option_gives_one_line_naming_it(kind: str, spec_id: str, model: type, name: str, how: str,
                                                   data: st.DataObject) -> None:
    options, key = data.draw(broken_options(model, (name, how)), label="options, key")
    with pytest.raises(ConfigError) as err:
        parser(kind)(spec_of(kind, spec_id), options)
    assert_one_line_naming(err.value, f"{kind} {spec_id}: ", key)


# -- RunConfig and prepare (what `memlab run`, the Run page and sweeps validate) --------------------------
PREFIX_IDS = {"minigrid:": registered_ids()}
"""The ids a prefix family takes after its colon."""
LLM_SPECS = ["embedded", "fake:north|south", "replay:20260101-000000-abcdef", " Embedded "] + [
    f"{name}:some-model" for name, (_, module, _) in PROVIDERS.items() if find_spec(module)]
BAD_LLM_SPECS = ["", "nope", "nope:model", "replay:", ":model"] + [
    f"{name}:" for name, (_, module, _) in PROVIDERS.items() if find_spec(module)] + [
    f"{name}:m" for name, (_, module, _) in PROVIDERS.items() if not find_spec(module)]
RUN_FIELDS = [name for name in RunConfig.model_fields
              if name not in ("schema_version", "env_id", "agent_id", "env_options", "agent_config", "llm")]
"""RunConfig's own fields, generated from its schema (the ids, options and LLM come from the registries)."""


def env_ids(spec: Any) -> st.SearchStrategy:
    if spec.id.endswith(":"):
        return st.sampled_from(PREFIX_IDS[spec.id]).map(spec.id.__add__)
    return st.just(spec.id)


@st.composite
def run_configs(draw: st.DrawFn, kind: str | None = None, llm: bool = False) -> dict[str, Any]:
    """A valid config as a dict: a registered env (of ``kind``), an agent that runs in it (one that uses an
    LLM if ``llm``), valid options and LLM."""
    espec = draw(st.sampled_from([e for e in ENV_SPECS if kind in (None, e.kind)]))
    agents = [a for a in AGENT_SPECS if espec.kind in a.env_kinds and (a.uses_llm or not llm)]
    aspec = draw(st.sampled_from(agents))
    fields = {name: draw(field_values(RunConfig, name)) for name in RUN_FIELDS if draw(st.booleans())}
    if espec.kind != "text" and "policy" in fields:  # prepare: only TextWorld games have a walkthrough
        fields["policy"] = default(RunConfig, "policy")
    if "probe_llm" in fields:  # a spec, not free text: "" is the run's model, "none" evidence only
        fields["probe_llm"] = draw(st.sampled_from(["", "none", *LLM_SPECS]))
    return {"env_id": draw(env_ids(espec)), "agent_id": aspec.id,
            "env_options": draw(valid_options(espec.options)),
            "agent_config": draw(valid_options(aspec.config)),
            "llm": draw(st.sampled_from(LLM_SPECS)) if aspec.uses_llm else draw(TEXT), **fields}


def unknown_id(table: dict[str, Any]) -> st.SearchStrategy:
    prefixes = tuple(k for k in table if k.endswith(":"))
    return st.text(max_size=20).filter(lambda s: s not in table and not s.startswith(prefixes))


@examples(2)
@given(config=run_configs())
def test_a_valid_run_config_prepares_and_reproduces_from_the_store(config: dict[str, Any]) -> None:
    prepared = prepare(RunConfig.model_validate(config))
    espec, aspec = prepared.env, prepared.agent
    assert prepared.config.env_options == parse_options(espec, config["env_options"]).model_dump(mode="json")
    fitted = parse_config(aspec, config["agent_config"])
    if aspec.uses_llm:
        fitted = fitted.fit_context(prepared.config.context_tokens)
    assert prepared.config.agent_config == fitted.model_dump(mode="json")  # caps scaled to the model's window
    assert prepared.config.llm == (config["llm"] if aspec.uses_llm else "none")
    stored = RunConfig.model_validate_json(prepared.config.model_dump_json())
    assert stored == prepared.config and prepare(stored).config == prepared.config


@dataclass
class BrokenConfig:
    """A config with one thing wrong, and the error it must give."""

    config: dict[str, Any]
    start: str
    """How the one-line error starts."""
    key: str | None = None
    """The option the error names, for a wrong option."""
    field: str | None = None
    """RunConfig's own field, refused when the record is made (pydantic's error, before prepare)."""


@st.composite
def broken_run_configs(draw: st.DrawFn, what: str) -> BrokenConfig:
    """A valid config with one thing (``what``) wrong."""
    config = draw(run_configs(kind="grid" if what == "policy" else None, llm=what == "llm"))
    espec, aspec = get_env_spec(config["env_id"]), agent_specs()[config["agent_id"]]
    others = [a for a in AGENT_SPECS if espec.kind not in a.env_kinds]
    policies = [p for p in literals(RunConfig.model_fields["policy"].annotation) if p != "agent"]
    if what == "policy":
        policy = draw(st.sampled_from(policies))
        return BrokenConfig({**config, "policy": policy},
                            f"--policy {policy} needs an env with a walkthrough")
    if what == "env":
        return BrokenConfig({**config, "env_id": draw(unknown_id(env_specs()))}, "unknown env ")
    if what == "agent":
        return BrokenConfig({**config, "agent_id": draw(unknown_id(agent_specs()))}, "unknown agent ")
    if what == "llm":
        return BrokenConfig({**config, "llm": draw(st.sampled_from(BAD_LLM_SPECS))}, "")
    if what == "probe llm":
        return BrokenConfig({**config, "probe_llm": draw(st.sampled_from([s for s in BAD_LLM_SPECS if s]))}, "")
    if what == "kind":
        other = draw(st.sampled_from(others))
        changed = {"agent_id": other.id, "agent_config": draw(valid_options(other.config)), "llm": "embedded"}
        return BrokenConfig({**config, **changed}, f"agent {other.id} does not run in {espec.kind} envs")
    if what == "env option":
        options, key = draw(broken_options(espec.options))
        return BrokenConfig({**config, "env_options": options}, f"env {espec.id}: ", key)
    if what == "agent option":
        options, key = draw(broken_options(aspec.config))
        return BrokenConfig({**config, "agent_config": options}, f"agent {aspec.id}: ", key)
    name = draw(st.sampled_from(RUN_FIELDS))
    annotation, optional, limits = shape(RunConfig.model_fields[name])
    wrong, bad = st.sampled_from(wrong_types(annotation, optional)), out_of_bounds(annotation, limits)
    return BrokenConfig({**config, name: draw(wrong if bad is None else wrong | bad)}, "", field=name)


@pytest.mark.parametrize("what", ["env", "agent", "env option", "agent option", "run field", "llm", "probe llm",
                                  "kind", "policy"])
@examples(0.3)
@given(data=st.data())
def test_a_run_config_with_one_thing_wrong_gives_one_line(what: str, data: st.DataObject) -> None:
    case = data.draw(broken_run_configs(what), label="case")
    if case.field:
        with pytest.raises(ValidationError) as err:
            RunConfig.model_validate(case.config)
        assert err.value.errors()[0]["loc"][0] == case.field
        return
    with pytest.raises(LabError) as err:
        prepare(RunConfig.model_validate(case.config))
    message = str(err.value)
    assert "\n" not in message and "\r" not in message and message.startswith(case.start), message
    if case.key is not None:
        assert names(message, case.key), message


# -- the CLI ------------------------------------------------------------------------------------------
GRID = "minigrid:MiniGrid-Empty-5x5-v0"
GRID_SPEC = env_specs()["minigrid:"]
GRID_OPTIONS = GRID_SPEC.options
CLI_KEY = re.compile(r"\w+")
"""Keys ``--env-opt`` passes unchanged (parse_pairs strips spaces and splits at '=')."""


@st.composite
def cli_pairs(draw: st.DrawFn) -> tuple[list[str], str | None, dict[str, Any] | None]:
    """``--env-opt`` pairs with the key an error must name (None: valid), or arbitrary text (no promise)."""
    kind = draw(st.sampled_from(["valid", "broken", "text"]))
    if kind == "valid":
        options = draw(valid_options(GRID_OPTIONS))
        return [f"{k}={cli_text(v)}" for k, v in options.items()], None, options
    if kind == "broken":
        options, key = draw(broken_options(GRID_OPTIONS).filter(lambda c: CLI_KEY.fullmatch(c[1])))
        return [f"{k}={cli_text(v)}" for k, v in options.items()], key, None
    texts = draw(st.lists(st.text(max_size=25).filter(lambda s: not s.startswith("-")), max_size=3))
    return texts, "", None



@examples(1)
@given(case=cli_pairs())
def test_cli_env_opts_run_or_give_one_error_line(home: Path, case: tuple) -> None:
    pairs, key, options = case
    args = ["run", "--env", GRID, "--agent", "random", "--max-steps", "1"]
    for pair in pairs:
        args += ["--env-opt", pair]
    before = len(RunStore().list_runs())
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stderr.count("error:") == 1 and result.stderr.strip().count("\n") == 0, result.stderr
        assert len(RunStore().list_runs()) == before  # nothing stored
    if options is not None:  # valid options: the run is stored with them
        assert result.exit_code == 0, result.output
        info = RunStore().get_run(result.stdout.strip().splitlines()[-1])
        assert info.config.env_options == parse_options(GRID_SPEC, options).model_dump(mode="json")
    elif key:
        assert result.exit_code == 2 and names(result.stderr, key), result.stderr
    else:
        assert result.exit_code in (0, 2), result.output


def test_memlab_run_in_a_subprocess_takes_valid_options(home: Path) -> None:
    """One real process (the in-process CLI test above covers the errors): options typed as a person would."""
    ok = memlab("run", "--env", "minigrid-aliased-room", "--env-opt", "width=3", "--env-opt", "height=2",
                "--env-opt", "goal=[2, 1]", "--env-opt", "recolour_seed=null", "--agent", "random",
                "--max-steps", "2", home=home)
    assert ok.returncode == 0, ok.stderr
    info = RunStore().get_run(ok.stdout.strip().splitlines()[-1])
    assert info.config.env_options["goal"] == [2, 1] and info.config.env_options["width"] == 3
    assert 1 <= info.n_steps <= 2  # the random agent may say done


# -- files and stores -----------------------------------------------------------------------------------
def test_a_huge_observation_round_trips(store: RunStore) -> None:
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    text = "You are in a very long room. " * 200_000  # ~6 MB
    store.append_steps(run_id, [Step(index=0, t=0, observation=ObservationRecord(text=text), action="look")])
    assert store.step(run_id, 0).observation.text == text


@pytest.mark.parametrize("content", [b"\x00\x01\x02 not a story file" * 10, b"\xff\xfe\xfd" * 100,
                                     b"Glul" + b"\0" * 80, "plain text pretending to be a game".encode()])
def test_files_that_are_not_games_are_refused(tmp_path: Path, content: bytes) -> None:
    from envs.registry import make_env

    game = tmp_path / "game.z8"
    game.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        make_env("tw-file", {"path": str(game)}).reset()
    assert "\n" not in str(err.value)


# -- hostile JSONL traces -------------------------------------------------------------------------------
@dataclass
class Hostile:
    """A trace file made from a real export, and what importing it must give."""

    what: str
    data: bytes
    error: str | None = None
    """How the one-line error starts (None: the import succeeds)."""
    edit: Callable[[list[Step]], None] | None = None
    """For a valid edit: what it changes in the steps."""


BAD_BYTES = [b"\xff", b"\xfe", b"\x80", b"\xc3(", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
             b"\xe2\x82"]
"""Not UTF-8: stray bytes, a cut sequence, an encoded surrogate, an overlong form, past U+10FFFF."""
NOT_RUN_IDS = ["", "../../outside", "a/b", "a\\b", "line\nbreak", " lead", ".hidden", "x" * 101, "nul\x00"]
STEP_FIELDS = [name for name in Step.model_fields if name != "schema_version"]
REQUIRED = [name for name, info in Step.model_fields.items() if info.is_required()]
HEADER_FIELDS = [name for name in RunInfo.model_fields if name != "schema_version"]
GARBAGE = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), min_size=1, max_size=30).filter(
    lambda s: s.strip() and not parses(s))
"""Non-blank text on one line that is not JSON."""


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def joined(lines: list[str], end: str = "\n") -> bytes:
    return "".join(line + end for line in lines).encode("utf-8")


def edited(line: str, change: Callable[[dict[str, Any]], None]) -> str:
    data = json.loads(line)
    change(data)
    return json.dumps(data)


def wrong_value(model: type[BaseModel], name: str) -> st.SearchStrategy:
    annotation, optional, _ = shape(model.model_fields[name])
    return st.sampled_from(wrong_types(annotation, optional))


HOSTILE = {
    **dict.fromkeys(["missing field", "wrong type", "unknown field", "not a step", "index", "duplicate",
                     "truncated lines", "huge int", "nan", "lone surrogate", "digits", "deep",
                     "huge string"], 1),
    "swap": 2,
    **dict.fromkeys(["newer version", "version not a number", "truncated mid-line", "header count",
                     "header field", "header missing", "header type", "run id", "seed", "not json",
                     "not an object", "non-utf8", "bom", "blank first line", "empty", "blank lines", "crlf",
                     "spaces"], 0),
}
"""Each way to damage (or validly reshape) a trace, with the steps it needs."""


@st.composite
def hostile(draw: st.DrawFn, lines: list[str], what: str) -> Hostile:
    """One hostile (or valid but unusual) edit ``what`` of an exported trace's lines."""
    n = len(lines) - 1  # steps
    k = draw(st.integers(1, n)) if n else 0  # a step line (file line k + 1)
    line = f"line {k + 1}: "
    if what == "missing field":
        name = draw(st.sampled_from(REQUIRED))
        lines[k] = edited(lines[k], lambda d: d.pop(name, None))
        return Hostile(what, joined(lines), f"{line}step: field {name!r}: Field required")
    if what == "wrong type":
        name = draw(st.sampled_from(STEP_FIELDS))
        value = draw(wrong_value(Step, name))
        lines[k] = edited(lines[k], lambda d: d.update({name: value}))
        return Hostile(what, joined(lines), f"{line}step: field '{name}")
    if what == "unknown field":
        key = draw(TEXT.filter(lambda s: s and s not in Step.model_fields and s != "type"))
        lines[k] = edited(lines[k], lambda d: d.update({key: draw(ANY_VALUE)}))
        return Hostile(what, joined(lines), f"{line}step: field {key!r}: Extra inputs are not permitted")
    if what == "not a step":
        kind = draw(st.sampled_from([None, "header", 5, ["step"]]) | TEXT.filter(lambda s: s != "step"))
        lines[k] = edited(lines[k], lambda d: d.pop("type") if kind is None else d.update({"type": kind}))
        return Hostile(what, joined(lines), f"{line}expected a step record")
    if what == "index":
        index = draw(st.integers().filter(lambda i: i != k - 1))
        lines[k] = edited(lines[k], lambda d: d.update({"index": index}))
        return Hostile(what, joined(lines), f"{line}step index {index}, expected {k - 1}")
    if what == "duplicate":
        lines.insert(k + 1, lines[k])
        return Hostile(what, joined(lines), f"line {k + 2}: step index {k - 1}, expected {k}")
    if what == "swap":
        i, j = sorted(draw(st.lists(st.integers(1, n), min_size=2, max_size=2, unique=True)))
        lines[i], lines[j] = lines[j], lines[i]
        return Hostile(what, joined(lines), f"line {i + 1}: step index {j - 1}, expected {i - 1}")
    if what == "truncated lines":
        cut = draw(st.integers(1, n))
        return Hostile(what, joined(lines[:-cut]), f"the header says {n} steps but the file has {n - cut}")
    if what == "truncated mid-line":
        last = lines[-1]
        part = last[:draw(st.integers(1, len(last) - 1))]
        if part.strip():
            error = f"line {len(lines)}: not valid JSON"
        else:
            error = "the file is empty" if n == 0 else f"the header says {n} steps but the file has {n - 1}"
        return Hostile(what, joined(lines[:-1]) + part.encode(), error)
    if what == "huge int":
        name = draw(st.sampled_from(["trial", "t", "memory_size", "tokens"]))
        big = draw(st.sampled_from([2**63, -(2**63) - 1, 10**30]))
        call = {"purpose": "act", "model": "m", "messages": [], "tokens_in": big}
        change = {"trial": {"trial": big}, "t": {"t": big}, "memory_size": {"memory_size": {"nodes": big}},
                  "tokens": {"llm_calls": [call]}}[name]
        lines[k] = edited(lines[k], lambda d: d.update(change))
        return Hostile(what, joined(lines), f"{line}step: ")
    if what == "nan":
        name = draw(st.sampled_from(["reward", "score"]))
        lines[k] = edited(lines[k], lambda d: d.update({name: math.nan}))
        return Hostile(what, joined(lines), f"{line}step: field {name!r} is NaN")
    if what == "lone surrogate":
        text = draw(TEXT) + draw(st.characters(categories=["Cs"])) + draw(TEXT)
        where = draw(st.sampled_from(["action", "observation", "thoughts"]))
        change = {"action": {"action": text}, "observation": {"observation": {"text": text}},
                  "thoughts": {"thoughts": {text: 1}}}[where]
        lines[k] = edited(lines[k], lambda d: d.update(change))  # json.dumps writes it as a \\udxxx escape
        return Hostile(what, joined(lines), f"{line}a string holds a lone surrogate")
    if what == "digits":  # past Python's int conversion limit (4300 digits): json.loads raises ValueError
        lines[k] = lines[k][:-1] + ', "thoughts": {"x": ' + "7" * draw(st.integers(4_301, 20_000)) + "}}"
        return Hostile(what, joined(lines), f"{line}a number has too many digits")
    if what == "deep":
        depth = draw(st.integers(5_000, 50_000))
        lines[k] = lines[k][:-1] + ', "thoughts": {"x": ' + "[" * depth + "]" * depth + "}}"
        return Hostile(what, joined(lines), f"{line}nested too deeply")
    if what == "huge string":
        text, where = draw(HUGE), draw(st.sampled_from(["action", "observation"]))

        def change(data: dict[str, Any]) -> None:
            if where == "action":
                data["action"] = text
            else:
                data["observation"]["text"] = text

        def edit(steps: list[Step]) -> None:
            if where == "action":
                steps[k - 1].action = text
            else:
                steps[k - 1].observation.text = text

        lines[k] = edited(lines[k], change)
        return Hostile(what, joined(lines), None, edit)
    if what in ("newer version", "version not a number"):
        at = draw(st.integers(0, n))
        version = draw(st.integers(SCHEMA_VERSION + 1, 10**6)) if what == "newer version" else draw(
            st.sampled_from(["1", 1.0, None, [1], True]))
        lines[at] = edited(lines[at], lambda d: d.update({"schema_version": version}))
        end = "is newer" if what == "newer version" else "is not a whole number"
        return Hostile(what, joined(lines), f"line {at + 1}: schema version {version!r} {end}")
    if what == "header count":
        count = draw(st.integers(-5, n + 5).filter(lambda c: c != n))
        lines[0] = edited(lines[0], lambda d: d["run"].update({"n_steps": count}))
        return Hostile(what, joined(lines), f"the header says {count} steps but the file has {n}")
    if what == "header field":
        name = draw(st.sampled_from(HEADER_FIELDS))
        value = draw(wrong_value(RunInfo, name))
        lines[0] = edited(lines[0], lambda d: d["run"].update({name: value}))
        return Hostile(what, joined(lines), f"line 1: run header: field '{name}")
    if what == "header missing":
        name = draw(st.sampled_from([n for n, i in RunInfo.model_fields.items() if i.is_required()]))
        lines[0] = edited(lines[0], lambda d: d["run"].pop(name))
        return Hostile(what, joined(lines), f"line 1: run header: field {name!r}: Field required")
    if what == "header type":
        drop = draw(st.sampled_from(["type", "run"]))
        lines[0] = edited(lines[0], lambda d: d.pop(drop))
        return Hostile(what, joined(lines), "line 1: not a memlab trace header")
    if what == "run id":
        run_id = draw(st.sampled_from(NOT_RUN_IDS) | TEXT.filter(lambda s: not RUN_ID.fullmatch(s)))
        lines[0] = edited(lines[0], lambda d: d["run"].update({"run_id": run_id}))
        return Hostile(what, joined(lines), "line 1: run header: field 'run_id'")
    if what == "seed":
        seed = draw(st.sampled_from([2**63, -1, -(2**63) - 1, 2**100]))
        lines[0] = edited(lines[0], lambda d: d["run"]["config"].update({"seed": seed}))
        return Hostile(what, joined(lines), "line 1: run header: field 'config.seed'")
    if what in ("not json", "not an object"):
        at = draw(st.integers(0, n))
        lines[at] = draw(GARBAGE) if what == "not json" else json.dumps(draw(
            st.one_of(st.lists(st.integers(), max_size=2), st.integers(), TEXT, st.booleans(), st.none())))
        return Hostile(what, joined(lines), f"line {at + 1}: " + (
            "not valid JSON" if what == "not json" else "expected a JSON object, got "))
    if what == "non-utf8":
        data = joined(lines)
        at = draw(st.integers(0, len(data) - 1))
        return Hostile(what, data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:], "is not UTF-8 text")
    if what == "bom":
        return Hostile(what, b"\xef\xbb\xbf" + joined(lines), "line 1: not valid JSON")
    if what == "blank first line":
        return Hostile(what, b"\n" + joined(lines), "line 2: the header must be the first line")
    if what == "empty":
        return Hostile(what, draw(st.sampled_from([b"", b"\n", b"  \n\t\n", b"\r\n"])), "the file is empty")
    if what == "blank lines":
        for _ in range(draw(st.integers(1, 3))):
            lines.insert(draw(st.integers(1, len(lines))), draw(st.sampled_from(["", "  ", "\t", " \f "])))
        return Hostile(what, joined(lines))
    if what == "crlf":
        return Hostile(what, joined(lines, "\r\n"))
    return Hostile(what, joined([" " * draw(st.integers(0, 3)) + ln + "\t" for ln in lines]))  # spaces


def store_rows(store: RunStore) -> list[Any]:
    """Everything a store holds, to compare before and after an import that must change nothing."""
    return [(header(info), info.updated_at, list(jsonl_lines(store, info.run_id))[1:])
            for info in store.list_runs()]


@pytest.mark.parametrize("what", HOSTILE)
@examples(0.08)
@given(data=st.data())
def test_a_hostile_trace_imports_nothing_and_a_valid_one_round_trips(what: str, data: st.DataObject) -> None:
    run = data.draw(runs(max_steps=3, min_steps=HOSTILE[what]), label="run")
    with tempfile.TemporaryDirectory(prefix="memlab-hostile-") as tmp:
        source, target = RunStore(Path(tmp) / "a.sqlite"), RunStore(Path(tmp) / "b.sqlite")
        try:
            run_id = store_run(source, run)
            kept = Step(index=0, t=0, observation=ObservationRecord(text="caf\u00e9"), action="look",
                        trial_end=True)
            target.add_run(RunConfig(env_id="tw-coin", agent_id="random"), {}, [kept],
                           RunSummary(status="finished", steps=1))  # a run that must stay as it is
            good = Path(tmp) / "good.jsonl"
            export_run(source, run_id, "jsonl", good)
            case = data.draw(hostile(good.read_text(encoding="utf-8").splitlines(), what), label="case")
            path = Path(tmp) / "trace.jsonl"
            path.write_bytes(case.data)
            before = store_rows(target)
            if case.error is None:
                assert import_file(target, path) == run_id
                expected = [step.model_copy(deep=True) for step in run.steps]
                if case.edit:
                    case.edit(expected)
                assert [canonical(s) for s in target.steps(run_id, with_snapshots=True)] == [
                    canonical(s) for s in expected]
                assert header(target.get_run(run_id)) == header(source.get_run(run_id))
                return
            with pytest.raises(LabError) as err:
                import_file(target, path)
            message = str(err.value)
            assert "\n" not in message and "\r" not in message, message
            if case.what == "non-utf8":  # the message starts with the file's path
                assert case.error in message, message
            else:
                assert message.startswith(case.error), message
            assert store_rows(target) == before
            assert import_file(target, good) == run_id  # the store is still writable; the good file imports
            with pytest.raises(ConfigError, match="already in the store"):
                import_file(target, good)
        finally:
            source.close()
            target.close()


# -- product bugs these properties found, each fixed and kept as a regression test -------------------------
def test_an_unhashable_cooking_preset_gives_one_line() -> None:
    with pytest.raises(ConfigError, match="option 'preset'"):
        parse_options(env_specs()["tw-cooking"], {"preset": [1]})


def test_a_non_utf8_byte_is_reported_at_its_offset_in_the_file(store: RunStore, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    start = b'{"type": "header", "pad": "' + b"x" * 100_000
    bad.write_bytes(start + b'\xff"}\n')
    with pytest.raises(ConfigError, match=rf"\(byte {len(start)}\)"):
        import_file(store, bad)


def test_a_non_finite_option_survives_the_stored_config() -> None:
    config = prepare(RunConfig(env_id="tw-coin", agent_id="arigraph", agent_config={"threshold": math.inf})).config
    stored = RunConfig.model_validate_json(config.model_dump_json())
    assert prepare(stored).config.agent_config["threshold"] == math.inf


def test_a_seed_past_64_bits_gives_one_line(home: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--env", GRID, "--agent", "random", "--max-steps", "1",
                                      "--seed", str(2**64)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception


@pytest.mark.parametrize("config", [{"env_id": "minigrid:MiniGrid-Nope-v0"},
                                    {"env_id": "tw-clean", "env_options": {"path": "/no/such/game.z8"}}])
def test_a_config_whose_env_cannot_be_made_is_refused_before_anything_is_stored(config: dict) -> None:
    with pytest.raises(ConfigError):
        prepare(RunConfig(agent_id="random", **config))
