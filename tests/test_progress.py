"""Every system's correct variant gets work done: in fault-free runs most client operations
complete `ok`. Safety checks alone pass a system that does nothing; this catches one that
does almost nothing, in any system added later too."""

from __future__ import annotations

import attrs
import pytest

from checker import registry
from checker.run import execute
from checker.strategies import RandomWalk
from checker.system import System, Variant
from invariants.history import INVOKE, OK
from tests.toys import COUNTER, Counter

MOST_FAILED = 0.4  # contention and timeouts fail some operations even without faults
SEEDS = range(6)

SIMULATED = [s.name for s in registry.systems().values() if s.kind == "simulation"]


def ok_share(system: System) -> float:
    config = attrs.evolve(system.config("default"), faults={})
    invoked = completed = 0
    for seed in SEEDS:
        result = execute(system, "correct", config, seed, RandomWalk(seed, config.max_pause))
        invoked += sum(event.type == INVOKE for event in result.sim.history)
        completed += sum(event.type == OK for event in result.sim.history)
    assert invoked, f"{system.name}'s workload invokes nothing"
    return completed / invoked


@pytest.mark.parametrize("system_name", SIMULATED)
def test_fault_free_runs_complete_most_operations(system_name: str) -> None:
    share = ok_share(registry.lookup(system_name))
    assert share >= 1 - MOST_FAILED, \
        f"{system_name}:correct completed only {share:.0%} of its operations ok without faults"


class Deaf(Counter):
    def on_message(self, ctx, src, msg) -> None:
        pass


def test_a_system_that_does_nothing_fails_it() -> None:
    deaf = attrs.evolve(COUNTER, variants={"correct": Variant("correct", Deaf)})
    assert ok_share(deaf) == 0 < ok_share(COUNTER)
