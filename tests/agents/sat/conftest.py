"""SAT tests run torch on one thread: on the shared 2-core machine, 2 threads spin against each other."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Use one intra-op thread during each SAT test, then restore the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
