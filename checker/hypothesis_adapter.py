"""Hypothesis drives the random walk: every decision the walk makes — its swarm fault mix,
which event comes next, partition sides and spans, pause lengths, skews — comes of what
Hypothesis drew: the run's seed, and bytes that the first decisions xor in (`DrawnRandom`).
Generation is as smart as the walk's, and Hypothesis brings what the walk lacks: its example
database replays a failure first next time. A hunt has no targeting phase: the run's seed
mixes in a digest of the bytes (`run_seed`), so an example Hypothesis mutates is a run of
its own and there is no hill to climb (see docs/engine.md).

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
import hashlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings, target
from hypothesis import strategies as st
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    choices_to_bytes,
)

from checker import watchdog
from checker.hunt import ConfigMix
from checker.run import RunResult, execute
from checker.sim import FAULT_KINDS, Simulation
from checker.strategies import RandomWalk, leaders
from checker.system import Config, System
from invariants.history import INFO

MOST_SEED = 2**32 - 1
# a run's first decisions read bytes Hypothesis drew: its fault mix, budgets and first few
# dozen steps. No more: Hypothesis draws bytes one at a time (a fresh example of 1024 cost
# about 1.3 ms, a third of a Percolator run), and each decision they cover is read in Python
# rather than by the generator's C code
DRAWN_BYTES = 256


class DrawnRandom(random.Random):
    """A random generator seeded with `seed` whose first decisions are mixed (xor) with
    `drawn`, bytes Hypothesis chose.

    Each decision is the seeded generator's own (`random()` as CPython makes it from two
    32-bit words, `getrandbits(k)` its top k bits of a word) with the next drawn bytes xored
    in: all-zero bytes, where Hypothesis starts and towards which it shrinks, leave the
    seeded walk exactly as `random.Random(seed)` walks it (no degenerate
    always-the-first-event run); other bytes change the decisions they cover. Once the bytes
    are read, the generator answers as the seeded one alone, at its own C speed.

    The bytes are one choice of Hypothesis's, and not a draw per decision: through
    `st.randoms()` every decision was a choice of its own, about 0.3 ms each (a run ten times
    slower than the walk's), and a few hundred steps overran Hypothesis's 8 KiB of choices,
    so that a long run was thrown away as invalid however it ended. Nor several chunks drawn
    as the run goes: Hypothesis's mutator copies one chunk over another, and half its runs
    repeated stretches of decisions. The bytes cover the choices that shape a run first (its
    swarm fault mix, fault budgets, the first few dozen events: 2 bytes a `random()`, 1 for
    most choices); the run replays exactly from the seed and the bytes."""

    def __init__(self, drawn: bytes = b"", seed: int = 0) -> None:
        super().__init__(seed)
        self._drawn, self._at, self._size = drawn, 0, len(drawn)
        self._seeded_bits = super().getrandbits
        if not drawn:
            self._read_seeded_alone()

    # both read their bytes inline (indexed, no slice, no further call): they are asked for
    # every decision the bytes cover

    def random(self) -> float:
        bits = self._seeded_bits
        high, low = bits(32) >> 5, bits(32) >> 6  # CPython's random(): 27 + 26 bits
        at = self._at
        end = at + 2
        if end > self._size:
            self._read_seeded_alone()
            return (high * 67108864.0 + low) * (1.0 / 9007199254740992.0)
        self._at = end
        if end == self._size:
            self._read_seeded_alone()
        drawn = self._drawn
        high ^= (drawn[at] << 8 | drawn[at + 1]) << 11  # into the top 16 of the 53 bits
        return (high * 67108864.0 + low) * (1.0 / 9007199254740992.0)

    def getrandbits(self, k: int) -> int:
        bits = self._seeded_bits(k)
        count = (k + 7) // 8
        at = self._at
        end = at + count
        if end > self._size:
            self._read_seeded_alone()
            return bits
        self._at = end
        if end == self._size:
            self._read_seeded_alone()
        mask = self._drawn[at] if count == 1 else int.from_bytes(self._drawn[at:end], "big")
        return bits ^ (mask & ((1 << k) - 1))

    def _read_seeded_alone(self) -> None:
        """Once the bytes are read (or the next decision needs more than are left), the rest
        of the run reads the seeded generator as it is: its own C `random` and
        `getrandbits`, which `choice`, `randint` and `sample` look up on the instance."""
        self.random = super().random  # type: ignore[method-assign]
        self.getrandbits = self._seeded_bits  # type: ignore[method-assign]


class StopSearch(KeyboardInterrupt):
    """Ends a hunt's search at once. An interrupt is the one exception Hypothesis's engine
    lets through at once, unrecorded (the hunt catches its own kinds alone: a real Ctrl-C
    still stops it)."""


class OutOfTime(StopSearch):
    """Raised before a run once the hunt's seconds are spent. Hypothesis has no time budget,
    and an example rejected for want of time is replaced by another, up to a thousand and
    more."""


class Violated(StopSearch):
    """Raised when a run violates an invariant, holding it. A failing test would cost what
    the hunt does not need: Hypothesis trims and formats the failure's traceback, then asks
    for the run again to report it, and then once more, about 2 ms a hunt, longer than a
    whole run of many bugs found at once. The hunt saves the failure to the database as
    Hypothesis would (`save_failure`) and stops."""

    def __init__(self, run: RunResult, decisions: tuple[int, bytes]) -> None:
        super().__init__()
        self.run, self.decisions = run, decisions


class LeaderWatch:
    """The walk, counting how often the set of nodes that say they lead changes: asked at
    every step, so only an aimed run (`runs(..., aimed=True)`) watches."""

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


def aim(result: RunResult, watch: LeaderWatch) -> None:
    """Report to `target()` what a run did: Hypothesis shows the highest of each in its
    statistics and beside a failure. It does not steer the search (see `runs`)."""
    trace = result.sim.trace
    target(float(sum(step.event[0] in FAULT_KINDS for step in trace)), label="faults")
    target(float(watch.changes), label="leader changes")
    target(float(sum(e.type == INFO for e in result.sim.history)), label="unacknowledged")
    target(float(sum(abs(step.event[2]) for step in trace if step.event[0] == "skew")),
           label="clock skew")


def runs(system: System, variant: str = "correct", config: str | Config | ConfigMix = "default",
         aimed: bool = False) -> st.SearchStrategy[RunResult]:
    """Runs of `system`'s `variant` on `config` (or on the configuration a mix gives each
    run's seed, as the default hunt spreads its runs), the random walk's decisions and the
    run's seed drawn by Hypothesis. With `aimed`, each run reports its faults, leader changes,
    unacknowledged operations and clock skew to `target()`, for Hypothesis's statistics:
    what the runs reached, not a search aimed at more, for an example mutated from the best
    one is an unrelated run (`run_seed`), and watching who leads costs at every step.
    (Hypothesis begins with its simplest example whatever its seed: a test's first run is
    always the same one, where a hunt's is the walk's first from its seed, `_Search.in_hunt`.
    The run's seed is not offset by the test's, so that what an example database holds
    replays in any test.)"""
    mix = ConfigMix.of(system.config(config) if isinstance(config, str) else config)
    return _drawn_runs(system, variant, mix, aimed)


@st.composite
def _drawn_runs(draw: st.DrawFn, system: System, variant: str, mix: ConfigMix,
                aimed: bool) -> RunResult:
    return run_drawn(system, variant, mix, *draw_decisions(draw), aimed)


def draw_decisions(draw: st.DrawFn) -> tuple[int, bytes]:
    """A run's seed and the bytes its first decisions read."""
    return draw(SEEDS), draw(DRAWN)


# made once: a strategy made at every draw is looked up again in Hypothesis's cache
SEEDS = st.integers(0, MOST_SEED)
DRAWN = st.binary(min_size=DRAWN_BYTES, max_size=DRAWN_BYTES)


def run_seed(seed: int, drawn: bytes) -> int:
    """The run's seed: the drawn one mixed with a digest of the drawn bytes. Hypothesis makes
    many examples by mutating an earlier one, keeping its seed and changing some bytes; on
    the seed alone such a run repeated much of the earlier one (the nodes' own draws, the
    configuration, every decision past the bytes), and a hunt spent about half its runs on
    near-repeats. Mixed, every example is a run of its own, and the same example still
    replays the same run."""
    return seed ^ int.from_bytes(hashlib.blake2b(drawn, digest_size=4).digest(), "big")


SIMPLEST = (0, bytes(DRAWN_BYTES))  # Hypothesis's simplest draw of `draw_decisions`


def _walk_from(seed: int) -> tuple[int, bytes]:
    """Decisions whose run is the random walk's from `seed` (`random.Random(seed)`, its
    configuration the mix's for `seed`): all-zero bytes leave the seeded generator as it is,
    and the drawn seed undoes their digest (`run_seed`)."""
    return run_seed(seed, SIMPLEST[1]), SIMPLEST[1]


def run_drawn(system: System, variant: str, mix: ConfigMix, seed: int, drawn: bytes,
              aimed: bool = False) -> RunResult:
    """The random walk's run of those decisions, on the configuration the mix gives its
    seed; with `aimed`, reported to `target()` (`aim`)."""
    seed = run_seed(seed, drawn)
    config = mix.for_seed(seed)
    walk = RandomWalk(DrawnRandom(drawn, seed), max_pause=config.max_pause)
    if not aimed:
        return execute(system, variant, config, seed, walk)
    watch = LeaderWatch(walk)
    result = execute(system, variant, config, seed, watch)
    aim(result, watch)
    return result


def database_for(root: Path | ExampleDatabase | None) -> ExampleDatabase | None:
    """The database at `root`: a directory, or a database as it is (replay memory's, which
    every hunt shares); examples are kept apart by their key (`database_key`)."""
    if root is None or isinstance(root, ExampleDatabase):
        return root
    return DirectoryBasedExampleDatabase(str(root))


def database_key(system: System, variant: str, mix: ConfigMix) -> bytes:
    """The key of a hunt's examples: its variant and configuration (or mix of them,
    `every`), so that a database shared by hunts replays a variant's failures in that
    variant's hunts only (Hypothesis would key them by the test function, which is this
    module's in every hunt)."""
    name = mix.first.name if len(mix.configs) == 1 else "every"
    return f"deepdives.hypothesis:{system.name}.{variant}.{name}".encode()


def hypothesis_hunt(system: System, variant: str, config: Config | ConfigMix, seed: int,
                    budget: Any, database: Path | ExampleDatabase | None = None
                    ) -> tuple[RunResult | None, int]:
    """Search until a run violates an invariant, `budget.runs` examples are tried, or
    `budget.seconds` pass; the failing run and the examples tried up to it. A database is
    read first (a failure it holds is replayed before anything new) and keeps what is
    found. Of Hypothesis's phases, no targeting (see the module's docstring) and no
    shrinking (the hunt shrinks with ddmin)."""
    examples = database_for(database)
    search = _search_for(system, variant, ConfigMix.of(config))
    search.start(budget.seconds, seed)
    # what `@seed` and `@settings` would set, read by Hypothesis when the test is called
    search.test._hypothesis_internal_use_seed = seed
    search.test._hypothesis_internal_use_settings = settings(
        max_examples=budget.runs or 200, deadline=None, print_blob=False, database=examples,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=list(HealthCheck))
    try:
        with _no_local_constants(), _untrimmed_tracebacks(), watchdog.guard():
            search.test()
    except Violated as violated:
        save_failure(examples, search.key, violated.decisions)
        return violated.run, search.tried
    except OutOfTime:
        pass
    return None, search.tried


class _Search:
    """The Hypothesis test of one variant's hunts on one mix of configurations, made once
    and called by each hunt of them in turn (`_search_for`): `@given` inspects and wraps the
    test anew each time it is applied, and Hypothesis validates a new strategy, about 0.2 ms
    a hunt, a run's worth for bugs found at once. A hunt hands it its seconds (`start`), its
    seed and its settings; it counts the examples tried. So one hunt of a variant runs at a
    time in a process, as a process runs its hunts, one after another."""

    def __init__(self, system: System, variant: str, mix: ConfigMix) -> None:
        self.system, self.mix = system, mix
        self.seconds: float | None = None
        self.started = 0.0
        self.tried = 0
        self.first = SIMPLEST

        @given(_runs_within(system, variant, mix, self))
        def search(drawn: tuple[tuple[int, bytes], RunResult]) -> None:
            decisions, run = drawn
            self.tried += 1
            if run.violated:
                raise Violated(run, decisions)

        # Hypothesis would otherwise key the examples by a digest of `search`'s source, the
        # same in every hunt
        self.key = database_key(system, variant, mix)
        search._hypothesis_internal_database_key = self.key
        self.test = search

    def start(self, seconds: float | None, seed: int) -> None:
        self.seconds, self.started, self.tried = seconds, time.perf_counter(), 0
        self.first = _walk_from(seed) if 0 <= seed <= MOST_SEED else SIMPLEST

    def in_hunt(self, decisions: tuple[int, bytes]) -> tuple[int, bytes]:
        """The decisions an example stands for in this hunt. Hypothesis's first example is
        its simplest (seed 0, all-zero bytes) whatever its seed, so every hunt would spend
        its first run on one and the same run; it stands instead for the walk's first run
        from the hunt's seed (`_walk_from`), the same run the random walk's hunt begins with,
        and is saved as such if it fails: a replay gives that run in any hunt."""
        return self.first if decisions == SIMPLEST else decisions

    def out_of_time(self) -> bool:
        return self.seconds is not None and time.perf_counter() - self.started > self.seconds


_SEARCHES: dict[bytes, _Search] = {}  # by their database key: one per variant and mix


def _search_for(system: System, variant: str, mix: ConfigMix) -> _Search:
    """The search of `variant` on `mix`, made at its first hunt in this process (another
    system or mix under the same names replaces it)."""
    search = _SEARCHES.get(database_key(system, variant, mix))
    if search is None or search.system is not system or search.mix != mix:
        search = _Search(system, variant, mix)
        _SEARCHES[search.key] = search
    return search


@st.composite
def _runs_within(draw: st.DrawFn, system: System, variant: str, mix: ConfigMix,
                 search: _Search) -> tuple[tuple[int, bytes], RunResult]:
    """A hunt's runs, each with the decisions it was drawn from, until the hunt's seconds
    are spent. (Module-level: Hypothesis reads a composite's source when it is defined, a
    millisecond.)"""
    if search.out_of_time():
        raise OutOfTime
    decisions = search.in_hunt(draw_decisions(draw))
    return decisions, run_drawn(system, variant, mix, *decisions)


def save_failure(examples: ExampleDatabase | None, key: bytes,
                 decisions: tuple[int, bytes]) -> None:
    """Save a failing example as Hypothesis saves one, under the hunt's key: the choices
    drawn, in its own format, which its reuse phase replays first next time."""
    if examples is not None:
        examples.save(key, choices_to_bytes(decisions))


@contextlib.contextmanager
def _untrimmed_tracebacks() -> Iterator[None]:
    """Hypothesis trims its own frames off the traceback of whatever leaves the test, the
    hunt's interrupts too: about 0.45 ms a hunt (the whole traceback extracted, a source file
    looked up for each frame), more than a whole run of a bug found at once. The hunt
    catches its interrupts and shows no traceback, so it turns the trimming off, with the
    switch Hypothesis reads whenever it would trim (an error of the system's own then shows
    Hypothesis's frames too)."""
    previous = os.environ.get(NO_TRIM)
    os.environ[NO_TRIM] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[NO_TRIM]
        else:
            os.environ[NO_TRIM] = previous


NO_TRIM = "HYPOTHESIS_NO_TRACEBACK_TRIM"


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
