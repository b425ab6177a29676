"""Pick the torch device the lab's models run on, and size torch's CPU thread pool once.

``MEMLAB_THREADS`` caps the intra-op threads (default: all cores up to :data:`DEFAULT_MAX_THREADS`).
Importing this module before torch also sets ``OMP_WAIT_POLICY=PASSIVE`` (see below); it has no effect
when torch was imported first, so entry points should import ``lab`` (or set the variable) early.
"""

from __future__ import annotations

import os
import threading

# Must precede torch's first import (OpenMP reads it once): threads waiting at a barrier then sleep
# instead of spinning. On a shared 2-core machine under load, spinning made each forward pass 10-30x
# slower (measured: 9-19 s vs 0.6-0.8 s for a 110-token SmolLM2 prefill). Set by the user, it is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from lab.core.errors import ConfigError

DEFAULT_MAX_THREADS = 8
"""Thread cap when ``MEMLAB_THREADS`` is unset: small models stop scaling beyond this on CPU."""

THREADS_ENV = "MEMLAB_THREADS"
_CHOICES = ("auto", "cpu", "cuda")
_threads_lock = threading.Lock()
_threads_set: int | None = None


def _thread_cap() -> int:
    """The thread cap: ``MEMLAB_THREADS`` when set (a positive integer), else :data:`DEFAULT_MAX_THREADS`."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_THREADS
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    return value


def configure_threads() -> int:
    """Set ``torch.set_num_threads(min(cpu_count, cap))`` once per process; return the thread count."""
    global _threads_set
    with _threads_lock:
        if _threads_set is None:
            _threads_set = max(1, min(os.cpu_count() or 1, _thread_cap()))
            torch.set_num_threads(_threads_set)
        return _threads_set


def choose_device(prefer: str = "auto") -> torch.device:
    """The device to run on: ``"auto"`` takes CUDA when available, else CPU; ``"cpu"``/``"cuda"`` force one.

    Raises :class:`~lab.core.errors.ConfigError` for an unknown choice or for ``"cuda"`` without a usable GPU.
    Also sizes the CPU thread pool (see :func:`configure_threads`).
    """
    choice = (prefer or "auto").strip().lower()
    if choice not in _CHOICES:
        raise ConfigError(f"unknown device {prefer!r}; valid: {', '.join(_CHOICES)}")
    configure_threads()
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA GPU is available; use 'cpu' or 'auto'")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """Normalise a device argument: None means ``"auto"``; strings go through :func:`choose_device`.

    An explicit index (``"cuda:1"``) or a :class:`torch.device` is kept, after checking CUDA is usable.
    """
    if device is None:
        return choose_device("auto")
    if isinstance(device, str) and ":" not in device:
        return choose_device(device)
    dev = torch.device(device)
    if dev.type == "cuda":
        choose_device("cuda")
    else:
        configure_threads()
    return dev


def describe_device(device: torch.device | str | None = None) -> str:
    """A short human-readable line, e.g. ``"cpu (2 threads)"`` or ``"cuda: NVIDIA H100 (79 GiB)"``."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return f"cuda: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return f"cpu ({configure_threads()} threads)"
