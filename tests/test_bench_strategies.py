"""The strategies benchmark's control (a strategy against itself from another base seed) and
its count of rows over twice the first strategy's median."""

from __future__ import annotations

import pytest

from benchmarks import bench_strategies
from benchmarks.bench_strategies import SEED_STRIDE, bug_rows, over_twice, strategies
from tests.toys import COUNTER


def test_a_control_row_hunts_from_its_own_base_seeds_in_turn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hunt k of the control row starts at the control's base + k * stride, and it takes its
    turn after the row it repeats at each base seed."""
    started: list[tuple[str, int]] = []

    def recording(name: str):
        def run(system, variant, config, base, seconds):
            started.append((name, base))
            return None, 1
        return run

    monkeypatch.setattr(bench_strategies, "hunt_with", recording)
    config = COUNTER.config("default")
    hunts = strategies(COUNTER, config, ("random",), control=5_000_000, base_seed=17)
    seeds = range(17, 17 + 2 * SEED_STRIDE, SEED_STRIDE)
    rows, _ = bug_rows(COUNTER, "forgetful", config, hunts, seeds, 1.0, shrink_found=False)
    assert started == [("random", 17), ("random", 5_000_000),
                       ("random", 17 + SEED_STRIDE), ("random", 5_000_000 + SEED_STRIDE)]
    assert [row[2] for row in rows] == ["random", "random (base 5000000)"]


def test_a_control_hunt_is_the_strategys_hunt_from_the_control_seed() -> None:
    config = COUNTER.config("default")
    hunts = strategies(COUNTER, config, ("random",), control=300, base_seed=0)
    found, runs = hunts["random (base 300)"](COUNTER, "forgetful", config, SEED_STRIDE, 5.0)
    direct, direct_runs = bench_strategies.hunt_with("random")(
        COUNTER, "forgetful", config, 300 + SEED_STRIDE, 5.0)
    assert found is not None and direct is not None
    assert (found.seed, found.choices, runs) == (direct.seed, direct.choices, direct_runs)


def test_rows_over_twice_the_first_strategys_median_are_named() -> None:
    hit = object()  # a violation found; only whether there is one counts here

    def hunts(*cpu: float | None) -> list:
        return [(None, 1.0, 1) if t is None else (hit, t, 1) for t in cpu]

    tried = {"random": hunts(1.0, 2.0, 3.0), "a": hunts(4.1, 4.5, 9.0),
             "b": hunts(1.0, 4.0, 4.0), "c": hunts(None, None, 1.0)}
    assert over_twice("toy:bug", tried) == ["`toy:bug` a 2.2x", "`toy:bug` c not found"]
