"""The Hypothesis strategy's source of decisions and its time budget."""

from __future__ import annotations

import random

from checker.hunt import Budget
from checker.hypothesis_adapter import CHUNK_BYTES, MOST_CHUNKS, DrawnRandom, hypothesis_hunt
from tests.toys import COUNTER


def test_without_drawn_bytes_the_decisions_are_a_seeded_walks() -> None:
    drawn, seeded = DrawnRandom(None, seed=5), random.Random(5)
    assert [drawn.random() for _ in range(20)] == [seeded.random() for _ in range(20)]
    assert [drawn.choice("abcdefg") for _ in range(20)] == \
        [seeded.choice("abcdefg") for _ in range(20)]


def test_decisions_read_the_drawn_bytes_then_go_on_from_the_seed() -> None:
    chunks = []

    def draw(_strategy: object) -> bytes:
        chunks.append(bytes([len(chunks) % 256]) * CHUNK_BYTES)
        return chunks[-1]

    drawn = DrawnRandom(draw, seed=5)
    assert drawn.random() == 0.0  # the first chunk is all zeros
    assert drawn.getrandbits(8) == 0
    for _ in range(MOST_CHUNKS * CHUNK_BYTES):  # spend every chunk there is
        drawn.getrandbits(8)
    assert len(chunks) == MOST_CHUNKS
    after = [drawn.getrandbits(32) for _ in range(3)]
    assert len(chunks) == MOST_CHUNKS and len(set(after)) == 3  # the seeded generator's bits


def test_a_hunt_whose_time_is_spent_runs_nothing_more() -> None:
    found, tried = hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 3,
                                   Budget(runs=10_000, seconds=0))
    assert found is None and tried == 0
