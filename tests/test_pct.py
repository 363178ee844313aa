"""PCT and the strategy portfolio: deterministic from their seeds, replayable, and useful."""

from __future__ import annotations

from collections import Counter

import attrs
import pytest

from checker import registry
from checker.pct import PCT
from checker.portfolio import plan, portfolio_run, portfolio_strategy, small
from checker.run import execute, new_simulation
from checker.strategies import Replay
from tests.toys import COUNTER
from tests.toys_explore import REGISTER

CONFIG = REGISTER.config("small")


def run(strategy, seed: int = 5, system=REGISTER, variant: str = "blind", config=CONFIG):
    return execute(system, variant, config, seed, strategy)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_pct_is_deterministic_from_its_seed(depth: int) -> None:
    config = COUNTER.config("default")
    traces = {run(PCT(seed, depth=depth, steps=40), seed, COUNTER, "forgetful",
                  config).sim.fingerprint() for seed in (7, 7, 8)}
    assert len(traces) == 2


def test_pct_runs_replay_exactly() -> None:
    first = run(PCT(11, depth=3, steps=20), seed=11)
    again = run(Replay(first.choices), seed=11)
    assert again.sim.fingerprint() == first.sim.fingerprint()
    assert again.verdict == first.verdict


def test_pct_draws_depth_minus_one_change_points_within_the_run_length() -> None:
    for depth in (1, 2, 3):
        points = PCT(3, depth=depth, steps=10).change_points
        assert len(points) == depth - 1 and all(1 <= p <= 10 for p in points)
        assert sorted(points.values()) == list(range(1, depth))
    with pytest.raises(ValueError):
        PCT(0, depth=0)
    with pytest.raises(ValueError):
        PCT(0, depth=4, steps=2)


def test_a_change_point_drops_the_chain_about_to_run_below_every_other() -> None:
    sim = new_simulation(REGISTER, "blind", attrs.evolve(CONFIG, faults={}), 4)
    sim.start()
    pct = PCT(4, depth=2, steps=1)  # its one change point is the first decision
    assert pct.next(sim)[0] == "invoke"  # of two clients, both idle
    dropped = [chain for chain, priority in pct.priority.items() if priority == 1]
    assert len(dropped) == 1 and pct.running not in dropped
    assert all(p >= 2 for chain, p in pct.priority.items() if chain not in dropped)


def test_messages_continue_the_chain_of_the_handler_that_sent_them() -> None:
    """Each client's operation is one chain (PCTCP): its request, the answer, the next
    request -- every message to or from the client continues the client's invocations."""
    sim = new_simulation(REGISTER, "blind", attrs.evolve(CONFIG, faults={}), 2)
    sim.start()
    pct = PCT(2, depth=1, steps=50)
    steps = 0
    while (event := pct.next(sim)) is not None:
        for (src, dst, _), chain in pct.message_chain.items():
            client = src if src != "r" else dst
            assert chain == (client, ""), (event, src, dst, chain)
        sim.execute(event)
        steps += 1
    assert steps >= 10  # two operations of four messages each, and their invocations


def test_pct_finds_the_lost_update() -> None:
    found = [seed for seed in range(200) if run(PCT(seed, depth=2, steps=12), seed).violated]
    assert found


def test_portfolio_plans_are_deterministic_and_mixed() -> None:
    plans = [plan(seed, CONFIG, True) for seed in range(1000)]
    assert plans == [plan(seed, CONFIG, True) for seed in range(1000)]
    kinds = Counter(p.strategy for p in plans)
    assert set(kinds) == {"random", "pct", "exhaustive"}
    assert kinds["exhaustive"] < kinds["pct"] < kinds["random"]
    assert {p.depth for p in plans if p.strategy == "pct"} == {1, 2, 3}
    assert {p.fault for p in plans if p.strategy == "exhaustive"} <= {None, *CONFIG.faults}
    assert all(plan(seed, CONFIG, False).strategy != "exhaustive" for seed in range(1000))


def test_only_configurations_of_few_nodes_are_searched() -> None:
    """Nodes are counted as the system builds them: Spanner's `servers=3` is per group, and
    its two groups and two clients make eight nodes."""
    assert small(REGISTER, CONFIG)
    assert small(COUNTER, COUNTER.config("default"))
    assert not small(COUNTER, attrs.evolve(COUNTER.config("default"), clients=5))
    spanner = registry.lookup("spanner")
    assert not small(spanner, spanner.config("small"))


def test_portfolio_strategies_are_deterministic_from_the_seed() -> None:
    seeds = [s for s in range(40) if plan(s, CONFIG, True).strategy != "exhaustive"][:12]
    for seed in seeds:
        a = run(portfolio_strategy(seed, CONFIG, True), seed)
        b = run(portfolio_strategy(seed, CONFIG, True), seed)
        assert a.sim.fingerprint() == b.sim.fingerprint()
    assert portfolio_strategy(_exhaustive_seed(), CONFIG, True) is None


def test_an_exhaustive_plan_finds_the_bug_and_replays_it() -> None:
    seed = _exhaustive_seed()
    outcome = portfolio_run(REGISTER, "blind", CONFIG, seed)
    assert outcome.plan.depth in (4, 6)
    assert outcome.plan.strategy == "exhaustive" and outcome.search is not None
    assert outcome.violated and outcome.result.verdict.invariant == "no-lost-update"
    assert outcome.events == outcome.search.transitions
    clean = portfolio_run(REGISTER, "correct", CONFIG, seed)
    assert not clean.violated and clean.result is None and clean.search.states > 0


def _exhaustive_seed() -> int:
    return next(s for s in range(10_000) if plan(s, CONFIG, True).strategy == "exhaustive")
