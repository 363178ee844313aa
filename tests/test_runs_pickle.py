"""A run pickles whole, with the state its checks kept (`Simulation.invariant_state`): a hunt's
worker process sends a violating run back to the hunt, and the exhaustive search snapshots
simulations. A check that keeps a lambda or a local function there breaks both, in any
system added later too."""

from __future__ import annotations

import pickle

import pytest

from checker import registry
from checker.run import execute
from checker.strategies import RandomWalk

SIMULATED = [s.name for s in registry.systems().values() if s.kind == "simulation"]


@pytest.mark.parametrize("system_name", SIMULATED)
def test_a_run_and_its_checks_state_pickle(system_name: str) -> None:
    system = registry.lookup(system_name)
    config = system.config("default")
    result = execute(system, "correct", config, 0, RandomWalk(0, config.max_pause))
    assert result.sim.phase == "quiesce"  # the ending ran: every check made its state
    again = pickle.loads(pickle.dumps(result))
    assert again.sim.fingerprint() == result.sim.fingerprint()
