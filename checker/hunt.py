"""A hunt: run one (system, variant) over many seeds within a budget, shrink what it finds,
write the counterexample. A seeded bug passes when it is found; `correct` when nothing is.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs

from checker import properties, report
from checker.memory import ReplayMemory
from checker.portfolio import portfolio_run, run_strategy
from checker.replayfile import counterexample
from checker.run import RunResult, execute
from checker.shrink import HUNT_REPLAYS, shrink
from checker.system import Config, System
from invariants.history import INVOKE, OK
from invariants.verdict import UNKNOWN

STRATEGIES = ("random", "pct", "portfolio", "hypothesis")


@attrs.frozen
class Budget:
    runs: int | None = 200
    seconds: float | None = None

    def spent(self, runs: int, elapsed: float) -> bool:
        return (self.runs is not None and runs >= self.runs) or \
            (self.seconds is not None and elapsed >= self.seconds)


@attrs.frozen
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/n`, with 0 <= i < n."""
        try:
            index, count = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"shard must look like i/n, got {text!r}") from None
        if not 0 <= index < count:
            raise ValueError(f"shard {text!r}: need 0 <= i < n")
        return cls(index, count)

    def seeds(self, base: int, runs: int | None = None) -> Iterable[int]:
        """This shard's seeds in the order they run; with `runs`, the first that many (a
        range, whose length a runner can plan with)."""
        first = base + self.index
        if runs is None:
            return itertools.count(first, self.count)
        return range(first, first + runs * self.count, self.count)


@attrs.frozen
class ConfigMix:
    """The configurations a hunt spreads its runs over — swarm testing over configurations,
    as the random walk's is over faults: a window that one cluster shape or workload opens
    rarely, another opens often. Two runs in three get the first configuration (a system's
    `default`: a bug only it shows is found at most 1.5 times more slowly), the third is
    spread evenly over the rest; which one a run gets is a function of its seed alone, so a
    run replays, and shards split every configuration."""

    configs: tuple[Config, ...]

    @classmethod
    def every(cls, system: System) -> ConfigMix:
        """The default hunt's: the system's `default` configuration first, then the others
        in the order the system registers them."""
        default = system.config("default")
        return cls((default, *(c for c in system.configs.values() if c is not default)))

    @classmethod
    def of(cls, config: Config | ConfigMix) -> ConfigMix:
        """A mix as it is, or one configuration as a mix of one."""
        return config if isinstance(config, ConfigMix) else cls((config,))

    @property
    def first(self) -> Config:
        return self.configs[0]

    def for_seed(self, seed: int) -> Config:
        if len(self.configs) == 1:
            return self.first
        digest = hashlib.blake2b(f"config/{seed}".encode(), digest_size=8).digest()
        drawn = int.from_bytes(digest, "big")
        if drawn % 3:
            return self.first
        return self.configs[1 + (drawn // 3) % (len(self.configs) - 1)]


ALL_CONFIGS = "all"


@attrs.frozen
class SeedRun:
    """What one seed's run adds to a hunt: small enough to send between processes, with the
    run itself only when it violated (the hunt shrinks and reports it)."""

    events: int
    unknown: bool = False
    invoked: int = 0
    completed_ok: int = 0
    violation: RunResult | None = None


def run_seed(system: System, variant: str, mix: ConfigMix, seed: int,
             strategy: str) -> SeedRun:
    result, events = _one_run(system, variant, mix.for_seed(seed), seed, strategy)
    if result is None:
        return SeedRun(events)
    history = result.sim.history
    return SeedRun(events, result.verdict.status == UNKNOWN,
                   sum(event.type == INVOKE for event in history),
                   sum(event.type == OK for event in history),
                   result if result.violated else None)


@attrs.define
class Tally:
    """A hunt's counts so far, over its runs in seed order."""

    runs: int = 0
    events: int = 0
    unknowns: int = 0
    invoked: int = 0
    completed_ok: int = 0

    def add(self, run: SeedRun) -> None:
        self.runs += 1
        self.events += run.events
        self.unknowns += run.unknown
        self.invoked += run.invoked
        self.completed_ok += run.completed_ok


class Runner(Protocol):
    """Where a hunt's work runs: in this process (`HERE`), or on a Dask cluster
    (`checker.cluster`). A hunt's result does not depend on it: runs come back in seed order,
    and everything else is the same function called elsewhere."""

    def seed_runs(self, system: System, variant: str, mix: ConfigMix, seeds: Iterable[int],
                  strategy: str) -> Iterator[SeedRun]:
        """The runs of `seeds`, in their order, lazily: the hunt stops pulling at its first
        violation or when its budget is spent, then closes the iterator."""
        ...

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`. A `progress` callback among the keywords is called only
        where fn runs here; elsewhere fn runs without it."""
        ...


class _Here:
    def seed_runs(self, system: System, variant: str, mix: ConfigMix, seeds: Iterable[int],
                  strategy: str) -> Iterator[SeedRun]:
        return (run_seed(system, variant, mix, seed, strategy) for seed in seeds)

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


HERE: Runner = _Here()


def hunt_config(system: System, name: str) -> Config | ConfigMix:
    """What `--config NAME` names: one configuration, or `all` of them mixed (the default
    hunt's); LookupError for a name the system does not know."""
    return ConfigMix.every(system) if name == ALL_CONFIGS else system.config(name)


@attrs.frozen
class HuntOutcome:
    system: str
    variant: str
    seeded: bool
    runs: int
    events: int
    elapsed: float
    unknowns: int = 0
    invoked: int = 0  # client operations the runs invoked
    completed_ok: int = 0  # of them, completed `ok` (not fail, info or never)
    violation: RunResult | None = None
    time_to_first: float | None = None
    before: int | None = None
    after: int | None = None
    report_path: str | None = None
    replay_path: str | None = None

    @property
    def passed(self) -> bool:
        """A seeded bug found; a correct variant with every run checked and none violated."""
        if self.seeded:
            return self.violation is not None
        return self.violation is None and not self.unknowns

    @property
    def undecided(self) -> bool:
        """A correct variant that nothing violated, but some of whose runs no check could
        decide (a budget ran out): not clean, and not a violation either."""
        return not self.seeded and self.violation is None and self.unknowns > 0

    @property
    def ok_share(self) -> str:
        """The share of invoked client operations that completed ok, in words: a correct
        variant that completes almost nothing is suspect even when nothing is violated."""
        return f"{100 * self.completed_ok / self.invoked:.0f}%" if self.invoked else "-"

    @property
    def verdict(self) -> str:
        if self.seeded:
            return "found" if self.violation else "MISSED"
        if self.violation:
            return "VIOLATED"
        return "UNKNOWN" if self.unknowns else "clean"


def hunt(system: System, variant: str, config: Config | ConfigMix, *, budget: Budget,
         seed: int = 0, shard: Shard = Shard(), strategy: str = "random",
         report_dir: Path | None = None, shrink_found: bool = True,
         shrink_replays: int = HUNT_REPLAYS, memory: ReplayMemory | None = None,
         progress: Callable[[int], None] = lambda runs: None,
         runner: Runner = HERE) -> HuntOutcome:
    """Hunt one variant on one configuration, or on a mix of them (`ConfigMix`). A property
    system's search, and the Hypothesis strategy, use a mix's first configuration only: their
    inputs are drawn, not shaped by a cluster. With `memory`, the failures remembered for
    this variant are replayed first (here), and what the hunt finds is remembered. The
    runner runs the seeds and shrinks; reports are written here."""
    if memory is None:
        return _hunt(system, variant, config, budget, seed, shard, strategy, report_dir,
                     shrink_found, shrink_replays, None, progress, runner)
    started = time.perf_counter()
    remembered = memory.replay(system, variant)
    if remembered is not None:
        progress(1)
        outcome = HuntOutcome(system.name, variant, system.variant(variant).seeded, 1,
                              len(remembered.sim.trace), time.perf_counter() - started)
        if system.kind == "property":
            size = system.size(system.from_json(remembered.sim.input, remembered.config))
            return _record_input(system, remembered, outcome, size, size, report_dir)
        return _record(system, remembered, outcome, report_dir, shrink_found, shrink_replays,
                       runner)
    outcome = _hunt(system, variant, config, budget, seed, shard, strategy, report_dir,
                    shrink_found, shrink_replays, memory, progress, runner)
    if outcome.violation is not None:
        memory.remember(system, outcome.violation)
    return outcome


def _hunt(system: System, variant: str, config: Config | ConfigMix, budget: Budget, seed: int,
          shard: Shard, strategy: str, report_dir: Path | None, shrink_found: bool,
          shrink_replays: int, memory: ReplayMemory | None,
          progress: Callable[[int], None], runner: Runner) -> HuntOutcome:
    mix = ConfigMix.of(config)
    if system.kind == "property":
        return _hunt_inputs(system, variant, mix.first, budget, seed + shard.index, report_dir,
                            shrink_found, shrink_replays, progress, runner)
    started = time.perf_counter()
    tally = Tally()
    found: RunResult | None = None
    if strategy == "hypothesis":
        from checker.hypothesis_adapter import hypothesis_hunt
        found, tally.runs = runner.call(hypothesis_hunt, system, variant, mix, seed,
                                        budget, memory.database if memory else None)
        progress(tally.runs)
    else:
        found = _run_seeds(runner.seed_runs(system, variant, mix,
                                            shard.seeds(seed, budget.runs), strategy),
                           tally, budget, started, progress)
    elapsed = time.perf_counter() - started
    outcome = HuntOutcome(system.name, variant, system.variant(variant).seeded, tally.runs,
                          tally.events, elapsed, tally.unknowns, tally.invoked,
                          tally.completed_ok)
    if found is None:
        return outcome
    return _record(system, found, outcome, report_dir, shrink_found, shrink_replays, runner)


def _run_seeds(runs: Iterator[SeedRun], tally: Tally, budget: Budget, started: float,
               progress: Callable[[int], None]) -> RunResult | None:
    """Count runs in seed order until the first violation, which is returned, or until the
    budget is spent (checked before each run, as before pulling the next)."""
    with contextlib.closing(runs):
        while not budget.spent(tally.runs, time.perf_counter() - started):
            run = next(runs, None)
            if run is None:
                return None
            tally.add(run)
            progress(tally.runs)
            if run.violation is not None:
                return run.violation
    return None


def _hunt_inputs(system: System, variant: str, config: Config, budget: Budget, seed: int,
                 report_dir: Path | None, shrink_found: bool, shrink_replays: int,
                 progress: Callable[[int], None], runner: Runner) -> HuntOutcome:
    """A property system's hunt: one Hypothesis search (whatever the strategy; shard i of n
    searches from seed + i), its runs the examples it checked, its trace sizes the input's
    before and after shrinking (`checker.properties`)."""
    searched = runner.call(properties.search, system, variant, config, seed,
                           examples=budget.runs, seconds=budget.seconds, shrink=shrink_found,
                           max_checks=shrink_replays, progress=progress)
    progress(searched.runs)  # a search that ran elsewhere reports its runs at its end
    outcome = HuntOutcome(system.name, variant, system.variant(variant).seeded, searched.runs,
                          searched.runs, searched.elapsed)
    found = searched.found
    if found is None:
        return outcome
    outcome = attrs.evolve(outcome, time_to_first=found.time_to_first)
    return _record_input(system, found.result, outcome, found.first_size, found.size,
                         report_dir)


def _record_input(system: System, found: RunResult, outcome: HuntOutcome, before: int,
                  after: int, report_dir: Path | None) -> HuntOutcome:
    outcome = attrs.evolve(outcome, violation=found, before=before, after=after,
                           time_to_first=outcome.time_to_first or outcome.elapsed)
    if report_dir is None:
        return outcome
    replay_path, report_path = write_counterexample(system, found, report_dir, before)
    return attrs.evolve(outcome, replay_path=str(replay_path), report_path=str(report_path))


def _one_run(system: System, variant: str, config: Config, seed: int,
             strategy: str) -> tuple[RunResult | None, int]:
    """One run of a random walk, PCT or the portfolio, and the events it took. A portfolio's
    exhaustive search that finds nothing leaves no run to show."""
    if strategy == "portfolio":
        outcome = portfolio_run(system, variant, config, seed)
        return outcome.result, outcome.events
    result = execute(system, variant, config, seed, run_strategy(strategy, seed, config))
    return result, len(result.sim.trace)


def _record(system: System, found: RunResult, outcome: HuntOutcome,
            report_dir: Path | None, shrink_found: bool, shrink_replays: int,
            runner: Runner) -> HuntOutcome:
    before = len(found.choices)
    final = found
    if shrink_found:
        final = runner.call(shrink, system, found.variant, found.config, found.seed,
                            found.choices, found.verdict.invariant,
                            max_replays=shrink_replays).result
    outcome = attrs.evolve(outcome, violation=final, time_to_first=outcome.elapsed,
                           before=before, after=len(final.choices))
    if report_dir is None:
        return outcome
    replay_path, report_path = write_counterexample(system, final, report_dir, before)
    return attrs.evolve(outcome, replay_path=str(replay_path), report_path=str(report_path))


def write_counterexample(system: System, result: RunResult, report_dir: Path,
                         shrunk_from: int | None = None) -> tuple[Path, Path]:
    stem = f"{result.system}.{result.variant}.seed{result.seed}"
    replay_path = report_dir / f"{stem}.json"
    report_path = report_dir / f"{stem}.md"
    counterexample(system, result).save(replay_path)
    if system.kind == "property":  # shrunk_from: the size of the input first found
        text = properties.markdown(result, system, str(replay_path), shrunk_from)
    else:
        text = report.markdown(result, system, str(replay_path),
                               shrunk_from if shrunk_from != len(result.choices) else None)
    report.write_markdown(report_path, text)
    return replay_path, report_path
