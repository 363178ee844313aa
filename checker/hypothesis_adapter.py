"""Hypothesis drives the random walk: every decision the walk makes — its swarm fault mix,
which event comes next, partition sides and spans, pause lengths, skews — is drawn from a
random source Hypothesis controls (`st.randoms(use_true_random=False)`), as is the run's
seed. Generation is as smart as the walk's, and Hypothesis brings what the walk lacks: its
example database replays a failure first next time, `target()` steers towards runs with
more faults, more leader changes, more unacknowledged operations and larger clock skews,
and its shrinker can work on the decisions.

A failure is returned as the walk ran it — its choices replay it exactly — and the hunt then
shrinks it with our ddmin, which on these schedules is faster than Hypothesis's shrinker and
ends shorter (`benchmarks/RESULTS.md`, "Strategies: SYSTEM").

`runs(system, ...)` is the same search as a strategy for a user's own tests:

    @given(runs(MY_SYSTEM, config="small"))
    def test_my_protocol(run):
        assert not run.violated, run.verdict.explanation
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, reject, settings, target
from hypothesis import seed as seeded
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import Unsatisfiable

from checker import watchdog
from checker.run import RunResult, execute
from checker.sim import FAULT_KINDS, Simulation
from checker.strategies import RandomWalk, leaders
from checker.system import Config, System
from invariants.history import INFO

MOST_SEED = 2**32 - 1


class ViolationFound(AssertionError):
    pass


class LeaderWatch:
    """The walk, counting how often the set of nodes that say they lead changes."""

    def __init__(self, walk: RandomWalk) -> None:
        self.walk = walk
        self.changes = 0
        self._leading: list[str] | None = None

    def next(self, sim: Simulation) -> tuple | None:
        leading = leaders(sim)
        if self._leading is not None and leading != self._leading:
            self.changes += 1
        self._leading = leading
        return self.walk.next(sim)


def walk_run(system: System, variant: str, config: Config, run_seed: int,
             rng: random.Random) -> tuple[RunResult, LeaderWatch]:
    """One run of the random walk, its decisions drawn from `rng`."""
    watch = LeaderWatch(RandomWalk(rng, max_pause=config.max_pause))
    return execute(system, variant, config, run_seed, watch), watch


def aim(result: RunResult, watch: LeaderWatch) -> None:
    """Steer Hypothesis towards runs where bugs live."""
    trace = result.sim.trace
    target(float(sum(step.event[0] in FAULT_KINDS for step in trace)), label="faults")
    target(float(watch.changes), label="leader changes")
    target(float(sum(e.type == INFO for e in result.sim.history)), label="unacknowledged")
    target(float(sum(abs(step.event[2]) for step in trace if step.event[0] == "skew")),
           label="clock skew")


def runs(system: System, variant: str = "correct", config: str | Config = "default",
         aimed: bool = True) -> st.SearchStrategy[RunResult]:
    """Runs of `system`'s `variant` on `config`, the random walk's decisions and the run's
    seed drawn by Hypothesis (and shrunk by it); with `aimed`, each run `target`s the
    quantities above."""
    chosen = config if isinstance(config, Config) else system.config(config)

    @st.composite
    def one_run(draw: st.DrawFn) -> RunResult:
        rng = draw(st.randoms(use_true_random=False))
        result, watch = walk_run(system, variant, chosen, draw(st.integers(0, MOST_SEED)), rng)
        if aimed:
            aim(result, watch)
        return result

    return one_run()


def database_for(root: Path | ExampleDatabase | None, system: System, variant: str,
                 config: Config) -> ExampleDatabase | None:
    """One database per hunted variant and configuration: Hypothesis keys examples by the
    test function, and every hunt's function is this module's."""
    if root is None or isinstance(root, ExampleDatabase):
        return root
    return DirectoryBasedExampleDatabase(str(Path(root) / f"{system.name}.{variant}.{config.name}"))


def hypothesis_hunt(system: System, variant: str, config: Config, seed: int, budget: Any,
                    database: Path | ExampleDatabase | None = None) -> tuple[RunResult | None, int]:
    """Search until a run violates an invariant, `budget.runs` examples are tried, or
    `budget.seconds` pass; the failing run and the examples tried up to it. A database is
    read first (a failure it holds is replayed before anything new) and keeps what is
    found."""
    found: list[RunResult] = []
    tried = [0]
    started = time.perf_counter()
    strategy = runs(system, variant, config)

    @settings(max_examples=budget.runs or 200, deadline=None, print_blob=False,
              database=database_for(database, system, variant, config),
              phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target),
              suppress_health_check=list(HealthCheck))
    @seeded(seed)
    @given(strategy)
    def search(run: RunResult) -> None:
        if budget.seconds is not None and time.perf_counter() - started > budget.seconds:
            reject()  # out of time: what is left is skipped, cheaply
        if not found:  # Hypothesis runs a failing example again to report it: not counted
            tried[0] += 1
        if run.violated:
            found.append(run)
            raise ViolationFound(f"{run.verdict.invariant}: {run.verdict.explanation}")

    try:
        with _no_local_constants(), watchdog.guard():
            search()
    except ViolationFound:
        return found[-1], tried[0]
    except Unsatisfiable:  # the time ran out before a single example
        pass
    return None, tried[0]


@contextlib.contextmanager
def _no_local_constants() -> Iterator[None]:
    """Hypothesis mixes into its draws constants it finds in the local modules imported so
    far, so what it generates from a seed depends on what else the process has imported (a
    test worker, a forked hunt). Our draws are a walk's decisions, for which those constants
    mean nothing: leave them out, so a seed gives the same run in any process.
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
