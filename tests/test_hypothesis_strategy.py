"""The Hypothesis strategy's source of decisions and its time budget."""

from __future__ import annotations

import os
import random

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
from checker.run import execute
from checker.strategies import RandomWalk
from tests.toys import COUNTER


def test_zero_bytes_leave_the_seeded_decisions_as_they_are() -> None:
    """All-zero bytes, and none, decide as `random.Random(seed)` does: the seeded walk."""
    seeded, plain, zeros = (random.Random(5), DrawnRandom(b"", seed=5),
                            DrawnRandom(bytes(DRAWN_BYTES), seed=5))
    for decide in (lambda g: g.random(), lambda g: g.choice("abcdefg"),
                   lambda g: g.getrandbits(13), lambda g: g.randint(0, 999)):
        expected = [decide(seeded) for _ in range(200)]
        assert [decide(plain) for _ in range(200)] == expected
        assert [decide(zeros) for _ in range(200)] == expected
    assert len({seeded.random() for _ in range(20)}) == 20  # and they are random


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
    found, tried = hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 4,
                                   Budget(runs=300), database=database)
    assert found is not None and found.violated and len(executed) == tried > 1
    again, tried_again = hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 8,
                                         Budget(runs=300), database=database)
    assert tried_again == 1 and again.choices == found.choices


def test_a_hunts_first_run_is_the_walks_first_run_from_its_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hypothesis's first example is its simplest whatever the seed; in a hunt it stands for
    the walk's first run from the hunt's seed, so hunts from two seeds begin with two runs."""
    config = COUNTER.config("default")
    seen = []
    real = hypothesis_adapter.run_drawn
    monkeypatch.setattr(hypothesis_adapter, "run_drawn",
                        lambda *args: seen.append(real(*args)) or seen[-1])
    for seed in (3, 8):
        seen.clear()
        hypothesis_hunt(COUNTER, "correct", config, seed, Budget(runs=1))
        walk = execute(COUNTER, "correct", config, seed, RandomWalk(seed, config.max_pause))
        assert [(run.seed, run.sim.trace) for run in seen] == [(seed, walk.sim.trace)]


def test_a_failure_at_a_hunts_first_run_replays_in_any_hunt() -> None:
    config = COUNTER.config("default")
    seed = next(seed for seed in range(100) if execute(
        COUNTER, "forgetful", config, seed, RandomWalk(seed, config.max_pause)).violated)
    database = InMemoryExampleDatabase()
    found, tried = hypothesis_hunt(COUNTER, "forgetful", config, seed, Budget(runs=300),
                                   database=database)
    assert tried == 1 and found.seed == seed
    again, tried_again = hypothesis_hunt(COUNTER, "forgetful", config, seed + 1,
                                         Budget(runs=300), database=database)
    assert tried_again == 1 and (again.seed, again.choices) == (seed, found.choices)


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


def test_a_shared_database_replays_a_failure_in_its_own_variants_hunts_only() -> None:
    """Replay memory hands every hunt one database: a hunt of another variant must neither
    run the failure nor, finding that it passes there, delete it."""
    database = InMemoryExampleDatabase()
    config = COUNTER.config("default")
    found, _ = hypothesis_hunt(COUNTER, "forgetful", config, 3, Budget(runs=300),
                               database=database)
    assert found is not None
    hypothesis_hunt(COUNTER, "correct", config, 3, Budget(runs=20), database=database)
    again, tried = hypothesis_hunt(COUNTER, "forgetful", config, 8, Budget(runs=300),
                                   database=database)
    assert tried == 1 and again.choices == found.choices


def test_only_an_aimed_run_reports_to_target(monkeypatch: pytest.MonkeyPatch) -> None:
    reported: list[str] = []
    monkeypatch.setattr(hypothesis_adapter, "target",
                        lambda score, label: reported.append(label) or score)
    mix = ConfigMix.of(COUNTER.config("default"))
    run_drawn(COUNTER, "correct", mix, 7, bytes(DRAWN_BYTES))
    assert reported == []
    run_drawn(COUNTER, "correct", mix, 7, bytes(DRAWN_BYTES), aimed=True)
    assert reported == ["faults", "leader changes", "unacknowledged", "clock skew"]


def test_a_spent_generator_reads_the_seeded_generator_as_it_is() -> None:
    """A decision is the seeded generator's own with the next bytes xored in (`random()`'s
    into its top 16 bits); once its bytes are read, `DrawnRandom` answers as the seeded
    generator alone, from the state the drawn decisions left it in."""
    drawn, seeded = DrawnRandom(bytes([255, 1, 2]), seed=9), random.Random(9)
    assert drawn.getrandbits(5) == seeded.getrandbits(5) ^ 0b11111
    assert int(drawn.random() * 2**53) == int(seeded.random() * 2**53) ^ (0x0102 << 37)
    assert drawn.getstate() == seeded.getstate()
    assert [drawn.random() for _ in range(5)] == [seeded.random() for _ in range(5)]
    assert [drawn.getrandbits(k) for k in (0, 1, 7, 9, 33)] == \
        [seeded.getrandbits(k) for k in (0, 1, 7, 9, 33)]


def test_hit_rate_counts_violating_runs_each_way() -> None:
    """The hit-rate benchmark counts, for each way of drawing runs, the runs that violate:
    none for the correct counter, some for the forgetful one."""
    from benchmarks.bench_hit_rate import drawn_hits, hypothesis_hits, walk_hits
    config = COUNTER.config("default")
    assert walk_hits(COUNTER, "correct", config, 20) == 0
    assert drawn_hits(COUNTER, "correct", config, 20) == 0
    assert hypothesis_hits(COUNTER, "correct", config, 20) == (0, 20)
    assert walk_hits(COUNTER, "forgetful", config, 20) > 0
    assert drawn_hits(COUNTER, "forgetful", config, 20) > 0
    assert hypothesis_hits(COUNTER, "forgetful", config, 20)[0] > 0


def test_a_hunt_does_not_depend_on_the_hunts_before_it_in_the_process() -> None:
    """Each variant's search is made once and reused: a hunt finds what it finds whether the
    search is new or has run other hunts (other seeds, budgets, databases) before."""
    config = COUNTER.config("default")
    hypothesis_adapter._SEARCHES.clear()
    first = hypothesis_hunt(COUNTER, "forgetful", config, 3, Budget(runs=300))
    hypothesis_hunt(COUNTER, "forgetful", config, 8, Budget(runs=5),
                    database=InMemoryExampleDatabase())
    hypothesis_hunt(COUNTER, "forgetful", config, 0, Budget(runs=10_000, seconds=0))
    again = hypothesis_hunt(COUNTER, "forgetful", config, 3, Budget(runs=300))
    assert first[0] is not None and again[0] is not None
    assert (again[1], again[0].seed, again[0].choices) == \
        (first[1], first[0].seed, first[0].choices)


def test_a_search_is_not_reused_for_another_configuration_of_the_same_name() -> None:
    config = COUNTER.config("default")
    other = attrs.evolve(config, clients=config.clients + 1)
    for hunted in (config, other, config):
        found, _ = hypothesis_hunt(COUNTER, "forgetful", hunted, 3, Budget(runs=300))
        assert found is not None and found.config == hunted


def test_the_hunt_leaves_hypothesiss_traceback_trimming_as_it_found_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The hunt turns trimming off while it runs (its interrupts need no trimmed traceback)
    and puts the switch back after, whether or not it was set."""
    seen = []
    real = hypothesis_adapter.run_drawn
    monkeypatch.setattr(hypothesis_adapter, "run_drawn", lambda *args: seen.append(
        os.environ.get(hypothesis_adapter.NO_TRIM)) or real(*args))
    monkeypatch.delenv(hypothesis_adapter.NO_TRIM, raising=False)
    hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 3, Budget(runs=300))
    assert hypothesis_adapter.NO_TRIM not in os.environ and set(seen) == {"1"}
    monkeypatch.setenv(hypothesis_adapter.NO_TRIM, "yes")
    hypothesis_hunt(COUNTER, "forgetful", COUNTER.config("default"), 3, Budget(runs=300))
    assert os.environ[hypothesis_adapter.NO_TRIM] == "yes"
