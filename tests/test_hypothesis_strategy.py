"""The Hypothesis strategy's source of decisions and its time budget."""

from __future__ import annotations

import random

import attrs
from hypothesis import given, settings

from checker.hunt import Budget, ConfigMix
from checker.hypothesis_adapter import DRAWN_BYTES, DrawnRandom, hypothesis_hunt, runs
from tests.toys import COUNTER


def test_without_drawn_bytes_the_decisions_are_a_seeded_walks() -> None:
    drawn, seeded = DrawnRandom(b"", seed=5), random.Random(5)
    assert [drawn.random() for _ in range(20)] == [seeded.random() for _ in range(20)]
    assert [drawn.choice("abcdefg") for _ in range(20)] == \
        [seeded.choice("abcdefg") for _ in range(20)]


def test_decisions_read_the_drawn_bytes_then_go_on_from_the_seed() -> None:
    drawn = DrawnRandom(bytes([0, 0, 128, 0, 7]) + bytes(DRAWN_BYTES - 5), seed=5)
    assert (drawn.random(), drawn.random(), drawn.getrandbits(3)) == (0.0, 0.5, 7)
    for _ in range(DRAWN_BYTES - 5):  # spend every byte there is
        drawn.getrandbits(8)
    seeded = random.Random(5)
    assert [drawn.getrandbits(32) for _ in range(3)] == [seeded.getrandbits(32) for _ in range(3)]


def test_a_hunt_whose_time_is_spent_runs_nothing_more() -> None:
    found, tried = hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 3,
                                   Budget(runs=10_000, seconds=0))
    assert found is None and tried == 0


def test_a_hunt_over_a_mix_runs_every_configuration() -> None:
    small = attrs.evolve(COUNTER.config("default"), name="small", clients=1)
    mix = ConfigMix((COUNTER.config("default"), small))
    seen = set()

    @settings(max_examples=30, database=None, deadline=None)
    @given(runs(COUNTER, "correct", mix, aimed=False))
    def run(result) -> None:
        seen.add(result.config.name)

    run()
    assert seen == {"default", "small"}
