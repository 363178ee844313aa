"""The Hypothesis strategy's source of decisions and its time budget."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis.database import InMemoryExampleDatabase

from checker import hypothesis_adapter
from checker.hunt import Budget, ConfigMix
from checker.hypothesis_adapter import (
    DRAWN_BYTES,
    DrawnRandom,
    hypothesis_hunt,
    run_drawn,
    runs,
)
from tests.toys import COUNTER


def test_zero_bytes_leave_the_seeded_decisions_as_they_are() -> None:
    plain, zeros = DrawnRandom(b"", seed=5), DrawnRandom(bytes(DRAWN_BYTES), seed=5)
    assert [plain.random() for _ in range(20)] == [zeros.random() for _ in range(20)]
    assert [plain.choice("abcdefg") for _ in range(20)] == \
        [zeros.choice("abcdefg") for _ in range(20)]
    assert len({plain.random() for _ in range(20)}) == 20  # and they are random


def test_drawn_bytes_change_the_decisions_they_cover_and_no_more() -> None:
    plain, drawn = DrawnRandom(b"", seed=5), DrawnRandom(bytes([255] * 4), seed=5)
    assert all(plain.getrandbits(8) ^ drawn.getrandbits(8) == 255 for _ in range(4))
    assert [plain.getrandbits(8) for _ in range(20)] == [drawn.getrandbits(8) for _ in range(20)]


def test_an_example_mutated_from_another_is_a_run_of_its_own() -> None:
    """Hypothesis keeps an example's seed and changes a few bytes: a different run seed (the
    nodes' draws, the configuration), and the same example the same run."""
    mix = ConfigMix.of(COUNTER.config("default"))
    bytes_a, bytes_b = bytes(DRAWN_BYTES), bytes([1]) + bytes(DRAWN_BYTES - 1)
    a, b = (run_drawn(COUNTER, "correct", mix, 7, drawn, aimed=False)
            for drawn in (bytes_a, bytes_b))
    again = run_drawn(COUNTER, "correct", mix, 7, bytes_a, aimed=False)
    assert a.seed != b.seed and (again.seed, again.choices) == (a.seed, a.choices)


def test_a_hunt_whose_time_is_spent_runs_nothing_more() -> None:
    found, tried = hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 3,
                                   Budget(runs=10_000, seconds=0))
    assert found is None and tried == 0


def test_the_failing_run_is_not_run_again_to_report_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hypothesis replays a failure to report it; the hunt holds it already and stops there,
    and the database has kept it (the next hunt's first run fails)."""
    executed = []
    real = hypothesis_adapter.execute
    monkeypatch.setattr(hypothesis_adapter, "execute",
                        lambda *args: executed.append(args[3]) or real(*args))
    database = InMemoryExampleDatabase()
    found, tried = hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 3,
                                   Budget(runs=300), database=database)
    assert found is not None and found.violated and len(executed) == tried > 1
    again, tried_again = hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 8,
                                         Budget(runs=300), database=database)
    assert tried_again == 1 and again.choices == found.choices


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
