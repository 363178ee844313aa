"""Clock drift: a node's clock runs fast or slow within +-epsilon, and its timers with it."""

from __future__ import annotations

import json
import random

import attrs
import pytest

from checker import report
from checker.replayfile import ReplayFileError, counterexample, load
from checker.run import execute, new_simulation
from checker.strategies import RandomWalk, Replay
from checker.system import Config
from tests.toys import COUNTER

DRIFTY = Config("drifty", servers=1, clients=2, ops_per_client=3, epsilon=50, max_drift=100,
                faults={"drift": 2, "skew": 1, "crash": 1})
SYSTEM = attrs.evolve(COUNTER, configs={"default": DRIFTY})


def simulation():
    sim = new_simulation(SYSTEM, "correct", DRIFTY, 0)
    sim.start()
    return sim


def test_a_fast_clock_gains_until_the_bound_and_stays_there() -> None:
    sim = simulation()
    sim.execute(("drift", "s", 100))  # +10%: one tick in ten
    ctx = sim.contexts["s"]
    readings = []
    for time in (0, 10, 100, 499, 500, 1000):
        sim.time = time
        readings.append(ctx.offset)
    assert readings == [0, 1, 10, 49, 50, 50]


def test_a_fast_clock_fires_its_timers_early_and_a_slow_one_late() -> None:
    sim = simulation()
    sim.execute(("drift", "s", 100))
    ctx = sim.contexts["s"]
    ctx.set_timer("t", 100)
    due_fast = sim.timers.due[("s", "t")]
    assert due_fast < 100 and ctx._offset_at(due_fast) + due_fast >= 100
    sim.execute(("drift", "s", -100))
    ctx.set_timer("t", 100)
    assert sim.timers.due[("s", "t")] > 100
    sim.execute(("drift", "s", 0))  # a clock at a steady offset: true delays again
    ctx.set_timer("t", 100)
    assert sim.timers.due[("s", "t")] == sim.time + 100


def test_a_clock_at_its_bound_measures_true_time() -> None:
    sim = simulation()
    sim.execute(("drift", "s", 100))
    sim.time = 2000  # long at +epsilon
    ctx = sim.contexts["s"]
    ctx.set_timer("t", 100)
    assert sim.timers.due[("s", "t")] == 2100 and ctx.now() == 2050


def test_the_clock_never_runs_backwards() -> None:
    rng = random.Random(7)
    sim = simulation()
    ctx = sim.contexts["s"]
    last = ctx.now()
    for _ in range(300):
        if rng.random() < 0.2:
            sim.execute(("drift", "s", rng.randint(-100, 100)))
        sim.time += rng.randint(0, 20)
        assert ctx.now() >= last
        last = ctx.now()


def test_drift_rates_are_bounded_by_the_configuration() -> None:
    sim = simulation()
    sim.execute(("drift", "s", 400))
    assert sim.contexts["s"].rate == 100


def test_walks_draw_drift_only_where_the_configuration_allows_it() -> None:
    drawn = {seed: [s.event for s in execute(SYSTEM, "correct", DRIFTY, seed,
                                            RandomWalk(seed)).sim.trace
                    if s.event[0] == "drift"] for seed in range(40)}
    assert any(drawn.values())
    assert all(abs(event[2]) <= 100 for events in drawn.values() for event in events)
    plain = attrs.evolve(DRIFTY, max_drift=0)
    assert not any(s.event[0] == "drift" for seed in range(40)
                   for s in execute(SYSTEM, "correct", plain, seed, RandomWalk(seed)).sim.trace)


def test_a_run_with_drift_replays_from_its_file(tmp_path) -> None:
    seed = next(seed for seed in range(100)
                if any(s.event[0] == "drift" for s in
                       execute(SYSTEM, "correct", DRIFTY, seed, RandomWalk(seed)).sim.trace))
    first = execute(SYSTEM, "correct", DRIFTY, seed, RandomWalk(seed))
    again = execute(SYSTEM, "correct", DRIFTY, seed, Replay(first.choices))
    assert again.sim.fingerprint() == first.sim.fingerprint()
    step = next(s for s in first.sim.trace if s.event[0] == "drift")
    assert "clock drifts" in report.describe_step(step)


def test_a_replay_file_with_a_rate_beyond_the_bound_is_refused(tmp_path) -> None:
    result = execute(SYSTEM, "correct", DRIFTY, 0, Replay([("drift", "s", 100)]))
    path = tmp_path / "run.json"
    counterexample(SYSTEM, result).save(path)
    data = json.loads(path.read_text())
    data["choices"] = [["drift", "s", 900]]
    path.write_text(json.dumps(data))
    with pytest.raises(ReplayFileError, match="rate must be within -100..100"):
        load(path)
