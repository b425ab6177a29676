"""Bad input, property-based: options, configs and CLI arguments either validate or fail with one
clear line; huge and non-UTF-8 inputs neither crash nor corrupt the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agents.registry import parse_config
from agents.registry import specs as agent_specs
from envs.registry import parse_options
from envs.registry import specs as env_specs
from lab.cli import app
from lab.core.errors import ConfigError, LabError
from lab.core.records import ObservationRecord, RunConfig, RunSummary, Step
from lab.runner import prepare
from lab.store import RunStore

values = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                   st.text(max_size=30), st.lists(st.integers(), max_size=3))
option_dicts = st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=4)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(env_id=st.sampled_from(sorted(env_specs())), options=option_dicts)
def test_env_options_validate_or_raise_a_config_error(env_id: str, options: dict) -> None:
    try:
        parse_options(env_specs()[env_id], options)
    except ConfigError as err:
        assert "\n" not in str(err) and env_id in str(err)


@SETTINGS
@given(agent_id=st.sampled_from(sorted(agent_specs())), config=option_dicts)
def test_agent_configs_validate_or_raise_a_config_error(agent_id: str, config: dict) -> None:
    try:
        parse_config(agent_specs()[agent_id], config)
    except ConfigError as err:
        assert "\n" not in str(err) and agent_id in str(err)


@SETTINGS
@given(env_id=st.text(max_size=40), agent_id=st.text(max_size=20), llm=st.text(max_size=20))
def test_any_ids_validate_or_raise_a_lab_error(env_id: str, agent_id: str, llm: str) -> None:
    try:
        prepare(RunConfig(env_id=env_id, agent_id=agent_id, llm=llm))
    except LabError as err:
        assert "\n" not in str(err)


@SETTINGS
@given(pairs=st.lists(st.text(max_size=25).filter(lambda s: not s.startswith("-")), max_size=3))
def test_cli_env_opts_never_give_a_traceback(home: Path, pairs: list[str]) -> None:
    args = ["run", "--env", "minigrid:MiniGrid-Empty-5x5-v0", "--agent", "random", "--max-steps", "1"]
    for pair in pairs:
        args += ["--env-opt", pair]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        assert result.output.count("error:") == 1 and "Traceback" not in result.output


def test_a_huge_observation_round_trips(store: RunStore) -> None:
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    text = "You are in a very long room. " * 200_000  # ~6 MB
    store.append_steps(run_id, [Step(index=0, t=0, observation=ObservationRecord(text=text), action="look")])
    assert store.step(run_id, 0).observation.text == text


@pytest.mark.parametrize("content", [b"\x00\x01\x02 not a story file" * 10, b"\xff\xfe\xfd" * 100, b"Glul" + b"\0" * 80,
                                     "plain text pretending to be a game".encode()])
def test_files_that_are_not_games_are_refused(tmp_path: Path, content: bytes) -> None:
    from envs.registry import make_env

    game = tmp_path / "game.z8"
    game.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        make_env("tw-file", {"path": str(game)}).reset()
    assert "\n" not in str(err.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.text(max_size=60), st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["type", "run", "index", "t", "action", "schema_version"]), values, max_size=4))),
    min_size=1, max_size=4))
def test_jsonl_import_of_arbitrary_lines_imports_nothing_or_fails_cleanly(store: RunStore, lines: list[str]) -> None:
    from lab.export import import_jsonl

    before = [r.run_id for r in store.list_runs()]
    try:
        import_jsonl(store, iter(line + "\n" for line in lines))
    except LabError as err:
        assert "\n" not in str(err) and str(err).startswith(("line ", "the file is empty"))
        assert [r.run_id for r in store.list_runs()] == before


def test_a_trace_that_is_not_utf8_is_refused_and_the_store_kept(store: RunStore, tmp_path: Path) -> None:
    from lab.export import export_run, import_file

    kept = store.add_run(RunConfig(env_id="tw-coin", agent_id="random"), {},
                         [Step(index=0, t=0, observation=ObservationRecord(text="caf\u00e9"), action="look")],
                         RunSummary(status="finished", steps=1))
    good = tmp_path / "good.jsonl"
    export_run(store, kept, "jsonl", good)
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(good.read_bytes().replace(b'"type"', b'"t\xfcpe"', 1))  # a Latin-1 byte in the header
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        import_file(store, bad)
    assert [r.run_id for r in store.list_runs()] == [kept] and store.step(kept, 0).observation.text == "caf\u00e9"
