"""``memlab``: thin commands over ``lab`` functions.

Every error a person can cause prints one line on stderr and exits non-zero; stdout carries
results (``memlab run`` prints the run id alone as its last line, for scripts).
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Callable

import typer

from lab.core.errors import ConfigError, LabError
from lab.core.records import Policy

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Memory Agent Lab: run memory agents in TextWorld and MiniGrid, store and export traces.")


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_pairs(pairs: list[str], flag: str) -> dict[str, Any]:
    """``k=v`` pairs; values that parse as JSON (numbers, true/false, lists) are taken as such."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} takes key=value, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def parse_llm_options(items: list[str]) -> dict[str, float | int | None]:
    """``--llm-opt`` items (``lab.core.llm.sampling.parse_options``)."""
    from lab.core.llm.sampling import parse_options

    return parse_options(items)


def guarded(fn: Callable[..., None]) -> Callable[..., None]:
    """Turn lab errors into one-line messages."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except (LabError, IndexError) as err:
            fail(str(err))

    return wrapper


class RedactingStream(io.TextIOBase):
    """A text stream writing through to ``stream`` with API keys redacted (``lab.core.llm.client.redact``).

    Text is passed on line by line, so a key split over two writes is still caught. ``memlab run`` and
    ``memlab sweep`` write through it, and so do the background runs of the Run page, whose stdout and
    stderr are their log files (``lab.launch``).
    """

    def __init__(self, stream: Any) -> None:
        from lab.core.llm.client import redact

        self.stream, self.redact, self.pending = stream, redact, ""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.pending += text
        cut = max(self.pending.rfind("\n"), self.pending.rfind("\r")) + 1
        if cut:
            self.stream.write(self.redact(self.pending[:cut]))
            self.pending = self.pending[cut:]
        return len(text)

    def flush(self) -> None:
        if getattr(self.stream, "closed", False):  # a test runner's capture stream, gone
            return
        if self.pending:
            self.stream.write(self.redact(self.pending))
            self.pending = ""
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "errors", None) or "strict"


def redact_output() -> None:
    """Send this process's stdout and stderr (tracebacks, warnings) through :class:`RedactingStream`."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


@app.command("envs")
@guarded
def envs_cmd() -> None:
    """List the registered environments."""
    from envs.registry import specs

    for spec in specs().values():
        name = spec.id + ("<ID>" if spec.id.endswith(":") else "")
        typer.echo(f"{name:<22} {spec.kind:<5} {spec.description}")


@app.command("agents")
@guarded
def agents_cmd() -> None:
    """List the registered agents."""
    from agents.registry import specs

    for spec in specs().values():
        typer.echo(f"{spec.id:<16} {spec.description}")


@app.command("run")
@guarded
def run_cmd(
    env: Annotated[str, typer.Option("--env", help="env id (memlab envs)")] = "",
    agent: Annotated[str, typer.Option("--agent", help="agent id (memlab agents)")] = "",
    env_opt: Annotated[list[str], typer.Option("--env-opt", help="env option key=value")] = [],  # noqa: B006
    agent_opt: Annotated[list[str], typer.Option("--agent-opt", help="agent option key=value")] = [],  # noqa: B006
    llm: Annotated[str, typer.Option("--llm", help="embedded, openai:<m>, ollama:<m>, replay:<run>")] = "embedded",
    llm_opt: Annotated[list[str], typer.Option(
        "--llm-opt", help="sampling override key=value: temperature=0 (every call), act.temperature=1 (one "
        "purpose), top_p=none (not sent), max_tokens=N, context=N (the model's window in tokens)")] = [],  # noqa: B006
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1)] = 0,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1)] = 100,
    trials: Annotated[int, typer.Option("--trials", min=1)] = 1,
    label: Annotated[str, typer.Option("--label", help="free text shown in run lists")] = "",
    policy: Annotated[Policy, typer.Option(
        "--policy", help="who picks the played actions: the agent, or the walkthrough (+explore: with seeded "
        "excursions); the agent acts anyway")] = "agent",
    explore: Annotated[float, typer.Option(
        "--explore", min=0.0, max=1.0, help="walkthrough+explore: chance of an excursion per step")] = 0.3,
    probe_every: Annotated[int, typer.Option(
        "--probe-every", min=0, help="ground-truth probes of the memory every K steps; 0: off")] = 5,
    probes_per_family: Annotated[int, typer.Option("--probes-per-family", min=1)] = 2,
    probe_llm: Annotated[str, typer.Option(
        "--probe-llm", help="who answers the probes: the run's LLM (empty), none (evidence only), or a spec "
        "(embedded, openai:<m>...)")] = "",
    config_json: Annotated[str, typer.Option("--config-json", hidden=True)] = "",
    run_id: Annotated[str, typer.Option("--run-id", hidden=True)] = "",
) -> None:
    """Run an agent in an env and record every step in the store."""
    redact_output()
    from lab.core.records import RunConfig
    from lab.runner import execute

    if config_json:
        config = RunConfig.model_validate_json(config_json)
    else:
        if not env or not agent:
            raise ConfigError("memlab run needs --env and --agent (see memlab envs, memlab agents)")
        config = RunConfig(env_id=env, agent_id=agent, env_options=parse_pairs(env_opt, "--env-opt"),
                           agent_config=parse_pairs(agent_opt, "--agent-opt"), llm=llm,
                           llm_options=parse_llm_options(llm_opt), seed=seed, max_steps=max_steps, trials=trials, label=label, policy=policy, explore=explore,
                           probe_every=probe_every, probes_per_family=probes_per_family,
                           probe_llm=probe_llm)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with progress_bar(config.max_steps * config.trials) as progress:
        info = execute(config, run_id=run_id or None, progress=progress, stop=stop)
    finished(info, f"{info.config.agent_id} on {info.config.env_id}")


def finished(info: Any, head: str, extra: str = "") -> None:
    """The end of a run on stderr (status, what it was, steps, score, won, its message), its id on stdout;
    exit 1 when it ended in error."""
    s = info.summary
    assert s is not None
    typer.echo(f"{info.status}: {head}, {s.steps} steps, score {s.score:g}" + (f"/{s.max_score:g}" if s.max_score else "")
               + (", won" if s.won else "") + extra + (f" ({s.message})" if s.message else ""), err=True)
    typer.echo(info.run_id)
    if info.status == "error":
        raise typer.Exit(1)


class progress_bar:
    """A tqdm bar on a terminal (stderr), nothing otherwise."""

    def __init__(self, total: int) -> None:
        self.total, self.bar = total, None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, unit="step", file=sys.stderr)
        return lambda done, total: self.bar.update(done - self.bar.n)  # type: ignore[union-attr]

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


@app.command("resume")
@guarded
def resume_cmd(run_id: Annotated[str, typer.Argument(help="an errored, stopped or interrupted run")]) -> None:
    """Continue a run from its last committed step: its recorded replies rebuild the agent, then it goes on
    live with the run's own config and LLM."""
    redact_output()
    from lab.resume import resume
    from lab.store import RunStore

    store = RunStore()
    info = store.get_run(run_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with progress_bar(info.config.max_steps * info.config.trials) as progress:
        info = resume(run_id, store, progress=progress, stop=stop)
    assert info.summary is not None
    finished(info, f"resumed at step {info.summary.resumes[-1].at_step}")


@app.command("fork")
@guarded
def fork_cmd(
    run_id: Annotated[str, typer.Argument(help="the parent run")],
    step: Annotated[int, typer.Option("--step", min=0, help="replay the parent's first N steps, edit, go on")],
    edit_file: Annotated[Path | None, typer.Option(
        "--edit-file", help='JSON list of memory edits: [{"op": "remove", "id": "t3"}, {"op": "add", "text": '
        '"kitchen, has, fridge"}, {"op": "change", "id": "r7", "attrs": {"importance": 9}}]')] = None,
    ablate: Annotated[str, typer.Option(
        "--ablate", help="each-retrieved: one fork per item the parent relied on from step N, removed")] = "",
    llm: Annotated[str, typer.Option("--llm", help="the model from step N on (default: the parent's)")] = "",
    agent_opt: Annotated[list[str], typer.Option("--agent-opt", help="agent option key=value")] = [],  # noqa: B006
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1)] = None,
    new_run_id: Annotated[str, typer.Option("--run-id", hidden=True)] = "",
) -> None:
    """Fork a run at a step: its first N steps replayed exactly (checked against the parent), the memory
    edits applied, then live to the end."""
    redact_output()
    from lab import fork as forking
    from lab.store import RunStore

    store = RunStore()
    parent = store.get_run(run_id)
    edits = forking.load_edits(edit_file) if edit_file else []
    options = parse_pairs(agent_opt, "--agent-opt")
    if ablate:
        if ablate != "each-retrieved":
            raise ConfigError(f"--ablate {ablate!r}: the only counterfactual set is each-retrieved")
        if edits:
            raise ConfigError("--ablate makes its own edits: give it without --edit-file")
        total = len(forking.retrieved_items(store, run_id, step))
        with progress_bar(total) as progress:
            found = forking.ablate_each_retrieved(run_id, step, store, llm=llm or None, max_steps=max_steps,
                                                  each=progress)
        rows = forking.ablation_rows(parent, found)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        changed = sum(a.diverged_at is not None for a in found)
        typer.echo(f"{len(found)} forks at step {step}: {changed} acted otherwise than the parent", err=True)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with progress_bar((max_steps or parent.config.max_steps) * parent.config.trials) as progress:
        info = forking.fork(run_id, step, edits, store, llm=llm or None, agent_options=options,
                            max_steps=max_steps, progress=progress, stop=stop, run_id=new_run_id or None)
    from lab.memdiff import divergence

    parted = divergence(store, run_id, info.run_id).actions
    finished(info, f"fork of {run_id} at step {step} with {len(edits)} edits",
             f"; first other action at step {parted}" if parted is not None else "; the parent's actions")


@app.command("examples")
@guarded
def examples_cmd() -> None:
    """Record the first-run examples (AriGraph and RAG on one cooking game, CLIN over 3 trials, HiAgent, graph
    schemas in a recoloured room, SAT), label ``example``; print where each opens in Explore."""
    from lab.examples import examples, record_examples

    with progress_bar(len(examples())) as progress:
        found = record_examples(progress=(lambda done, total, title: progress(done, total)) if progress else None)
    for r in found:
        typer.echo(f"{r.run_id}  step {r.step:<4} {r.status:<9} {r.title}")
    typer.echo(f"{len(found)} example runs; open one in the browser: memlab app, then Explore "
               f"(?run=RUN_ID&step=N)", err=True)


@app.command("attribute")
@guarded
def attribute_cmd(
    run_id: Annotated[str, typer.Argument(help="a run of an LLM text agent")],
    step: Annotated[int | None, typer.Option("--step", min=0, help="the step whose decision to explain")] = None,
    all_steps: Annotated[bool, typer.Option("--all", help="every decision of the run, stored for the UI")] = False,
    llm: Annotated[str, typer.Option("--llm", help="the scoring model (an LLM spec that scores options)")] = (
        "embedded"),
    refresh: Annotated[bool, typer.Option("--refresh", help="score again even when stored")] = False,
) -> None:
    """Which memory items moved the choice: each item left out of the decision prompt in turn, every option
    scored again (the change in the chosen action's log-probability over the options, the new pick)."""
    from lab import attribution
    from lab.core.errors import ConfigError
    from lab.store import RunStore

    if (step is None) == (not all_steps):
        raise ConfigError("give --step N or --all")
    store = RunStore()
    store.get_run(run_id)
    if all_steps:
        total = len(attribution.attributable_steps(store, run_id))
        with progress_bar(total) as progress:
            done = attribution.attribute_all(store, run_id, llm, progress=progress)
        flips = sum(any(e.choice != a.chosen for e in a.items) for a in done)
        typer.echo(f"{len(done)} decisions attributed with {llm}; {flips} have an item whose removal flips "
                   "the choice", err=True)
        return
    assert step is not None
    result = attribution.cached(store, run_id, step, llm, refresh=refresh)
    typer.echo(f"run {run_id} step {step}: chose {result.chosen!r} among {len(result.options)} options "
               f"(scored by {result.model}; log-probabilities over the options)")
    rows = [["item", "text", "logprob", "change", "choice"], *attribution.table(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@app.command("sweep")
@guarded
def sweep_cmd(
    agents: Annotated[str, typer.Option("--agents", help="comma-separated agent ids")],
    envs: Annotated[str, typer.Option("--envs", help="comma-separated env ids")],
    seeds: Annotated[str, typer.Option("--seeds", help="0-9, 1,3,5 or a mix")] = "0",
    workers: Annotated[int, typer.Option("--workers", min=1, help="local worker processes")] = 2,
    ray: Annotated[str | None, typer.Option("--ray", is_flag=False, flag_value="local",
                                            help="run on Ray: --ray for a local instance, --ray ADDRESS")] = None,
    env_opt: Annotated[list[str], typer.Option("--env-opt")] = [],  # noqa: B006
    agent_opt: Annotated[list[str], typer.Option("--agent-opt")] = [],  # noqa: B006
    llm: Annotated[str, typer.Option("--llm")] = "embedded",
    llm_opt: Annotated[list[str], typer.Option("--llm-opt", help="as memlab run --llm-opt")] = [],  # noqa: B006
    max_steps: Annotated[int, typer.Option("--max-steps", min=1)] = 100,
    trials: Annotated[int, typer.Option("--trials", min=1)] = 1,
    name: Annotated[str, typer.Option("--name", help="sweep name (default: a hash of the shared settings)")] = "",
) -> None:
    """Run a grid of agents x envs x seeds; the same command again resumes it."""
    redact_output()
    from lab.sweep import SweepSpec, parse_seeds, sweep

    spec = SweepSpec(agents=[a for a in agents.split(",") if a], envs=[e for e in envs.split(",") if e],
                     seeds=parse_seeds(seeds), env_options=parse_pairs(env_opt, "--env-opt"),
                     agent_config=parse_pairs(agent_opt, "--agent-opt"), llm=llm,
                     llm_options=parse_llm_options(llm_opt), max_steps=max_steps,
                     trials=trials, name=name)
    total = len(spec.agents) * len(spec.envs) * len(spec.seeds)
    with progress_bar(total) as progress:
        result = sweep(spec, workers=workers, use_ray=ray is not None,
                       ray_address=None if ray in (None, "local") else ray, progress=progress)
    typer.echo(f"{result.label}: {len(result.run_ids)} run(s) stored, {result.skipped} already finished, "
               f"{result.failed} not finished", err=True)
    from lab.aggregate import report_lines, summary_rows
    from lab.store import RunStore

    rows = [r for r in summary_rows(RunStore().list_runs(limit=100_000, label=result.label))
            if r["status"] == "finished"]
    for line in report_lines(rows):  # final score over seeds, 95% bootstrap intervals; pairs by seed
        typer.echo(line, err=True)
    typer.echo(result.label)
    if result.failed:
        raise typer.Exit(1)


@app.command("runs")
@guarded
def runs_cmd(limit: Annotated[int, typer.Option("--limit")] = 30) -> None:
    """List recent runs."""
    from lab.store import RunStore

    for info in RunStore().list_runs(limit=limit):
        score = f"{info.summary.score:g}" if info.summary else "-"
        typer.echo(f"{info.run_id}  {info.status:<11} {info.config.agent_id:<14} {info.config.env_id:<34} "
                   f"steps={info.n_steps:<5} score={score}")


@app.command("show")
@guarded
def show_cmd(run_id: str, step: Annotated[int | None, typer.Option("--step")] = None) -> None:
    """Show a run's header and summary, or one step."""
    from lab.store import RunStore

    store = RunStore()
    if step is None:
        typer.echo(store.get_run(run_id).model_dump_json(indent=2))
    else:
        typer.echo(store.step(run_id, step).model_dump_json(indent=2, exclude_defaults=True))


@app.command("export")
@guarded
def export_cmd(
    run_id: str,
    fmt: Annotated[str, typer.Option("--format", help="jsonl, minari, atif or html")] = "jsonl",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="file to write (default: the run id + .jsonl, .atif.json, .html, -minari)"),
    ] = None,
) -> None:
    """Export a stored run."""
    from lab.export import default_path, export_run
    from lab.store import RunStore

    output = output or default_path(run_id, fmt)
    lines = export_run(RunStore(), run_id, fmt, output)
    typer.echo(f"wrote {lines} lines to {output}", err=True)


@app.command("import")
@guarded
def import_cmd(file: Annotated[Path, typer.Argument(help="a JSONL trace written by memlab export")]) -> None:
    """Import a JSONL trace into the store (all of it or nothing; the original run id is kept)."""
    from lab.export import import_file
    from lab.store import RunStore

    store = RunStore()
    run_id = import_file(store, file)
    typer.echo(f"imported {file} as run {run_id} ({store.get_run(run_id).n_steps} steps)", err=True)
    typer.echo(run_id)


@app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def bench_cmd(ctx: typer.Context, name: str) -> None:
    """Run a benchmark (prints a table, writes it under docs/); extra args go to the benchmark."""
    from lab.benches import BENCHES, dispatch

    raise typer.Exit(dispatch(BENCHES, "benchmark", name, list(ctx.args)))


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def train_cmd(ctx: typer.Context, name: str) -> None:
    """Train a neural agent (progress bar, resumable checkpoints in the data dir)."""
    from lab.benches import TRAINERS, dispatch

    raise typer.Exit(dispatch(TRAINERS, "trainer", name, list(ctx.args)))


@app.command("serve-llm")
@guarded
def serve_llm_cmd(
    llm: Annotated[str, typer.Option("--llm", help="the model to serve (an LLM spec)")] = "embedded",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="0: a free port")] = 8000,
    log: Annotated[str, typer.Option("--log", help="append each request body to this JSONL file")] = "",
) -> None:
    """Serve a model over the OpenAI chat-completions protocol on 127.0.0.1, for --llm openai:<name>
    with OPENAI_BASE_URL set to the printed address (the embedded model decodes greedily)."""
    from lab.core.llm.serve import serve

    serve("127.0.0.1", port, llm, log or None,
          ready=lambda url: typer.echo(f"serving {llm} at {url}: export OPENAI_BASE_URL={url}", err=True))


STREAMLIT_OPTIONS = (
    "--server.headless", "true", "--browser.gatherUsageStats", "false",
    "--client.toolbarMode", "minimal",  # a local tool: no Deploy button
    # Streamlit runs a full gc.collect() after every script run by default; in a process holding torch and
    # the models that costs ~0.3 s, on every step change (measured with py-spy: docs/ui.md). Python's own
    # generational collection still runs.
    "--runner.postScriptGC", "false",
)
"""Options of every lab Streamlit server: ``memlab app``, the browser tests, ``bench ui``, screenshots."""


@app.command("app")
@guarded
def app_cmd(port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8501,
            address: Annotated[str, typer.Option("--address")] = "127.0.0.1") -> None:
    """Serve the lab in the browser (bound to 127.0.0.1 by default).

    This process becomes the Streamlit server (``exec``): a signal sent to it (SIGTERM, Ctrl-C)
    reaches the server itself, so no server is left behind holding the port.
    """
    import importlib.util

    from lab.core.errors import MissingDependencyError

    if importlib.util.find_spec("streamlit") is None:
        raise MissingDependencyError("memlab app", "streamlit")
    entry = Path(__file__).with_name("app.py")
    cmd = [sys.executable, "-m", "streamlit", "run", str(entry), "--server.address", address,
           "--server.port", str(port), *STREAMLIT_OPTIONS]
    host = "localhost" if address == "127.0.0.1" else address
    typer.echo(f"Memory Agent Lab on http://{host}:{port}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(cmd[0], cmd, {**os.environ, "HF_HUB_OFFLINE": "1"})
    except OSError as err:
        raise LabError(f"cannot start the Streamlit server: {err}") from None


def main() -> None:
    """Entry point of the ``memlab`` script: no traceback reaches a person (MEMLAB_DEBUG=1 shows it)."""
    try:
        app()
    except Exception as err:
        if os.environ.get("MEMLAB_DEBUG"):
            raise
        typer.echo(f"error: internal error, please report it: {type(err).__name__}: {err}".splitlines()[0],
                   err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
