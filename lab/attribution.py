"""Memory → action attribution: which memory items moved the agent's choice at a recorded step.

For a recorded decision (the step's ``act`` call), the agent's prompt builder splits the prompt into the
memory items that entered it (``AgentSpec.prompt_items``: triplets and episodes for AriGraph, records for
RAG, history pairs for the full-history agents, chunks for HiAgent, learnings for CLIN) and rebuilds it
from any subset. Each item is left out in turn, and every option is scored again on the rebuilt prompt
by a model that scores options (the embedded model's batched scorer by default): the change in the
chosen action's log-probability, whether the choice flips and to what, and the item's rank by effect.
Leaving every item out (no memory) and the full prompt are scored too.

Log-probabilities are over the options: the log-softmax of the scorer's scores (the embedded model's
mean per-token log-likelihood of each option), so they are comparable across the rebuilt prompts of one
step. Results are kept in the run store, keyed by run, step and scoring model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from agents.registry import get_spec as agent_spec
from lab.core import llm as llmlib
from lab.core.errors import ConfigError
from lab.core.llm import LLM
from lab.core.records import Attribution, ItemEffect, LLMCall, Step
from lab.memdiff import items as memory_items
from lab.memdiff import normalise
from lab.store import RunStore

PURPOSE = "act"
"""The decision call that attribution rebuilds."""


def log_softmax(scores: Sequence[float]) -> list[float]:
    """
    >>> [round(x, 3) for x in log_softmax([0.0, 0.0])]
    [-0.693, -0.693]
    """
    top = max(scores)
    total = top + math.log(math.fsum(math.exp(s - top) for s in scores))
    return [s - total for s in scores]


def decision_call(step: Step) -> LLMCall | None:
    """The step's last ``act`` call (the one whose reply was played)."""
    return next((call for call in reversed(step.llm_calls) if call.purpose == PURPOSE), None)


def chosen_option(step: Step, call: LLMCall, options: list[str], full: list[float]) -> str:
    """The option the agent chose: a scored call's pick, else the played command when it is an option,
    else the scorer's pick on the full prompt."""
    if call.kind == "score" and call.response in options:
        return call.response
    lowered = {o.lower(): o for o in options}
    for played in (step.agent_action, step.action):
        if played and played.lower() in lowered:
            return lowered[played.lower()]
    return options[max(range(len(options)), key=full.__getitem__)]


def attribute(store: RunStore, run_id: str, index: int, spec: str = "embedded",
              model: object | None = None) -> Attribution:
    """Attribute step ``index`` of a run with the scorer ``spec`` (``model``: an already built chat model)."""
    info = store.get_run(run_id)
    aspec = agent_spec(info.config.agent_id)
    if aspec.prompt_items is None:
        raise ConfigError(f"agent {aspec.id} puts no memory items in its prompts: nothing to attribute")
    step = store.step(run_id, index)
    call = decision_call(step)
    if call is None:
        raise ConfigError(f"step {index} of run {run_id} made no '{PURPOSE}' call (a forced or ended step?)")
    split = aspec.prompt_items([(m.role, m.content) for m in call.messages])
    if split is None:
        raise ConfigError(f"step {index} of run {run_id}: its '{PURPOSE}' prompt is not {aspec.id}'s")
    options = list(call.options or split.options or step.observation.admissible)
    if not options:
        raise ConfigError(f"step {index} of run {run_id}: no options to score")
    chat = model if model is not None else llmlib.build(spec, store)
    llm = LLM(chat, spec, max_retries=0)  # type: ignore[arg-type]
    if not llm.can_score:
        raise ConfigError(f"attribution scores every option: {spec} cannot score options (use embedded, or a "
                          "model that returns log-probabilities)")

    found = split.items()
    drops = [set(), {item.key for item in found}] + [{item.key} for item in found]
    choices = llm.choose_variants([split.without(d) for d in drops], options, purpose="attribution")
    full, empty, *each = [log_softmax(c.scores or []) for c in choices]
    chosen = chosen_option(step, call, options, full)
    at = options.index(chosen)
    ids = memory_ids(store, run_id, index)
    effects = []
    for item, without in zip(found, each):
        effects.append(ItemEffect(key=item.key, kind=item.kind, text=item.text,
                                  memory_id=ids.get(normalise(item.text)), delta=without[at] - full[at],
                                  choice=options[max(range(len(options)), key=without.__getitem__)], rank=0))
    order = sorted(range(len(effects)), key=lambda k: -abs(effects[k].delta))
    for rank, k in enumerate(order, 1):
        effects[k] = effects[k].model_copy(update={"rank": rank})
    return Attribution(run_id=run_id, step=index, model=spec, purpose=PURPOSE, chosen=chosen, options=options,
                       full_logprob=full[at], full_choice=options[max(range(len(options)), key=full.__getitem__)],
                       none_logprob=empty[at],
                       none_choice=options[max(range(len(options)), key=empty.__getitem__)], items=effects)


def memory_ids(store: RunStore, run_id: str, index: int) -> dict[str, str]:
    """Normalised content → id of the memory's items after step ``index`` (to mark them in the memory view)."""
    return {item.key: item.id for item in memory_items(store.memory_at(run_id, index))}


def cached(store: RunStore, run_id: str, index: int, spec: str = "embedded", model: object | None = None,
           refresh: bool = False) -> Attribution:
    """The stored attribution of a step by ``spec``, computed and stored when missing (or ``refresh``)."""
    kept = [] if refresh else store.attributions(run_id, index, spec)
    if kept:
        return kept[0]
    result = attribute(store, run_id, index, spec, model)
    store.put_attribution(result)
    return result


def attributable_steps(store: RunStore, run_id: str) -> list[int]:
    """The steps of a run that made a decision call."""
    return [step.index for step in store.steps(run_id) if decision_call(step) is not None]


def attribute_all(store: RunStore, run_id: str, spec: str = "embedded", model: object | None = None,
                  progress: Callable[[int, int], None] | None = None) -> list[Attribution]:
    """Every decision of a run (stored ones are kept); ``progress(done, total)`` after each step."""
    steps = attributable_steps(store, run_id)
    built = model if model is not None else llmlib.build(spec, store)
    out = []
    for done, index in enumerate(steps, 1):
        out.append(cached(store, run_id, index, spec, built))
        if progress:
            progress(done, len(steps))
    return out


def table(result: Attribution, limit: int = 20) -> list[list[str]]:
    """Rows for a printed table: the full prompt, no memory, then the items by rank."""
    rows = [["(full prompt)", "", f"{result.full_logprob:.3f}", "", result.full_choice],
            ["(no memory)", "", f"{result.none_logprob:.3f}", f"{result.none_logprob - result.full_logprob:+.3f}",
             result.none_choice]]
    for effect in sorted(result.items, key=lambda e: e.rank)[:limit]:
        text = " ".join(effect.text.split())
        rows.append([f"{effect.rank}. {effect.kind}", text[:70] + ("…" if len(text) > 70 else ""),
                     f"{result.full_logprob + effect.delta:.3f}", f"{effect.delta:+.3f}",
                     effect.choice + ("  (flips)" if effect.choice != result.chosen else "")])
    return rows
