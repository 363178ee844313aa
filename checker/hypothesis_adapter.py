"""Hypothesis drives the scheduler: a `RuleBasedStateMachine` whose rules are the event kinds.

Each rule draws one index among the enabled events of its kind, so hypothesis' shrinker works
on the schedule itself and a failure prints as a short program. State invariants are
`@invariant`s; history invariants run at teardown, after the quiescence phase.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from checker import watchdog
from checker.run import RunResult, check_history, execute, new_simulation
from checker.sim import KINDS, NodeFailure, Simulation
from checker.strategies import Replay
from checker.system import Config, System

_INDEX = st.integers(min_value=0, max_value=255)


class ViolationFound(AssertionError):
    pass


def machine_for(system: System, variant: str, config: Config, seed: int) -> type:
    """A state machine class exploring one (system, variant, config) with node seed `seed`."""
    state_checks = [inv for inv in system.invariants if inv.kind == "state"]
    failures: list[list[tuple]] = []
    examples = [0]

    class SimulationMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            examples[0] += 1
            self.failed = False
            self.sim: Simulation = new_simulation(system, variant, config, seed)
            self.guarded(self.sim.start)

        def do(self, event: tuple) -> None:
            self.guarded(self.sim.execute, event)

        def guarded(self, step: Any, *args: Any) -> None:
            """Run `step`; a handler that fails is a finding like any other (the step that
            failed is the last of the run's choices)."""
            try:
                step(*args)
            except NodeFailure as exc:
                self.failed = True
                failures.append(self.sim.choices())
                raise ViolationFound(f"{exc.invariant}: {exc}") from exc

        @invariant()
        def state_invariants(self) -> None:
            for inv in state_checks:
                sentence = inv.check(self.sim)
                if sentence:
                    self.failed = True
                    failures.append(self.sim.choices())
                    raise ViolationFound(f"{inv.name}: {sentence}")

        def teardown(self) -> None:
            if self.failed:
                return  # already failed on a state invariant or in a handler
            self.guarded(self.sim.quiesce, config.quiesce_horizon, config.quiesce_steps)
            verdict = check_history(system, self.sim)
            if verdict.violated:
                failures.append(self.sim.choices())
                raise ViolationFound(f"{verdict.invariant}: {verdict.explanation}")

    has = {"reset": system.fifo,
           "drift": config.faults.get("drift", 0) > 0 and config.max_drift > 0}
    for kind in KINDS:
        if has.get(kind, True):  # no rule that never runs: draws stay as they were
            setattr(SimulationMachine, kind, _rule_for(kind, config))
    SimulationMachine.rest = _rest
    SimulationMachine.failures = failures
    SimulationMachine.examples = examples
    return SimulationMachine


@precondition(lambda self: not any(self.sim.enabled(kind) for kind in KINDS))
@rule()
def _rest(self: Any) -> None:
    """Nothing can happen (the workload is done and the network is quiet): hypothesis needs
    some rule to run until its step count is reached, and the run has ended anyway."""


def _enabled(kind: str) -> Any:
    return lambda self: bool(self.sim.enabled(kind))


def _rule_for(kind: str, config: Config) -> Any:
    if kind == "partition":
        @precondition(_enabled(kind))
        @rule(mask=st.integers(min_value=1, max_value=2 ** 16))
        def partition(self: Any, mask: int) -> None:
            nodes = self.sim.servers + self.sim.clients
            island = [n for i, n in enumerate(nodes) if mask >> (i % 16) & 1]
            if 0 < len(island) < len(nodes):
                self.do(("partition", tuple(sorted(island))))
        return partition
    if kind in ("pause", "skew", "drift"):
        low, high = {"pause": (1, max(1, config.max_pause)),
                     "skew": (-config.epsilon, config.epsilon),
                     "drift": (-config.max_drift, config.max_drift)}[kind]

        @precondition(_enabled(kind))
        @rule(i=_INDEX, amount=st.integers(min_value=low, max_value=high))
        def fault(self: Any, i: int, amount: int) -> None:
            events = self.sim.enabled(kind)
            self.do((kind, events[i % len(events)][1], amount))
        fault.__name__ = kind
        return fault

    @precondition(_enabled(kind))
    @rule(i=_INDEX)
    def step(self: Any, i: int) -> None:
        events = self.sim.enabled(kind)
        self.do(events[i % len(events)])
    step.__name__ = kind
    return step


def hypothesis_hunt(system: System, variant: str, config: Config, seed: int,
                    max_examples: int) -> tuple[RunResult | None, int]:
    """Search with hypothesis; return the shrunk failing run (replayed) and examples tried."""
    machine = machine_for(system, variant, config, seed)
    machine._hypothesis_internal_use_seed = seed
    chosen = settings(max_examples=max_examples, stateful_step_count=min(config.max_steps, 100),
                      deadline=None, database=None, derandomize=False, print_blob=False,
                      phases=(Phase.generate,),  # our ddmin shrinks: faster on long schedules
                      suppress_health_check=list(HealthCheck))
    try:
        with _no_local_constants(), watchdog.guard():
            run_state_machine_as_test(machine, settings=chosen)
    except ViolationFound:
        choices = machine.failures[-1]
        return execute(system, variant, config, seed, Replay(choices)), machine.examples[0]
    return None, machine.examples[0]


@contextlib.contextmanager
def _no_local_constants() -> Iterator[None]:
    """Hypothesis mixes into its draws constants it finds in the local modules imported so
    far, so what it generates from a seed depends on what else the process has imported (a
    test worker, a forked hunt). Our draws are indexes into enabled events, for which those
    constants mean nothing: leave them out, so a seed gives the same run in any process.
    (Private API: on a Hypothesis without it, nothing changes.)"""
    try:
        from hypothesis.internal.conjecture import providers
        original = providers._get_local_constants
        empty = providers.Constants()
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):
        yield
        return
    cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()
