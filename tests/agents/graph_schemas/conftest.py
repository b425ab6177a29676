"""A small schema learned once per session in a real 4x4 aliased MiniGrid room."""

from __future__ import annotations

import pytest

from agents.graph_schemas.schema import Schema
from agents.graph_schemas.train import train_schema
from envs.aliased_room import AliasedRoomOptions

SMALL_ROOM = {"width": 4, "height": 4}


@pytest.fixture(scope="session")
def small_schema() -> Schema:
    """3000-step walk, EM (<= 300 iterations) and Viterbi: about 20 clones for 16 cells."""
    return train_schema(
        "test-room", AliasedRoomOptions(**SMALL_ROOM), steps=3000, max_iter=300, chunk_len=20, device="cpu"
    )
