"""Scheduler strategies compared on every seeded bug, and the exhaustive search's own figures.

    python benchmarks/bench_strategies.py [--seeds 5] [--base-seed 0] [--seconds 20]
                                          [--config default] [--strategies a,b] [--no-shrink]
                                          [--control-base-seed B] [--skip-bugs] [--skip-search]
                                          [SYSTEM | SYSTEM:VARIANT ...]

For each seeded bug and each strategy of `deepdives hunt --strategy` -- random walk, PCT, the
portfolio, hypothesis -- and, on a small configuration, exhaustive breadth-first search (one
fault kind at a time): hunts from `--seeds` different base seeds (`--base-seed` + k * 100,000),
each within `--seconds`, exactly as the CLI runs them (one process), the strategies taking
turns at each base seed so that the machine's load falls on all of them alike: the median CPU
time to the first violation, the median and mean runs to it, the CPU time per run (all the
hunts' CPU time over all their runs), and the median length of its trace once shrunk (250
replays of shrinking, as the test hunts; `--no-shrink` leaves it out). Under the table, the
strategies whose median CPU is over twice the first strategy's for the same bug. With
`--control-base-seed B`, each strategy also hunts from base seeds B + k * 100,000, as a row
of its own taking its turn with the others: the same strategy against itself, which says how
often two samples of `--seeds` hunts differ that much by chance alone. Each system gets its
own section of RESULTS.md ("Strategies: SYSTEM"), so systems added later are measured by
naming them; naming variants (`SYSTEM:VARIANT`) measures those bugs alone, in a section that
names them. Then: distinct states per second of the abstract Paxos model explored
completely; the states, transitions and time of a bounded exhaustive search of SSO's small
configuration with and without each reduction; its states per second, and the time to
ack-before-majority.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from checker import registry
from checker.explore import ExploreResult, explore
from checker.hunt import STRATEGIES, Budget, hunt
from checker.portfolio import search_faults, small
from checker.run import RunResult, execute
from checker.shrink import shrink
from checker.strategies import Replay
from checker.system import Config, System
from models.explore import bfs
from models.paxos import PaxosModel
from tests.toys_explore import COMMIT

SEED_STRIDE = 100_000  # base seeds far apart: independent hunts
SHRINK_REPLAYS = 250  # as the test suite's hunts shrink
MOST_RUNS = 1_000_000  # every strategy stops at the time budget first


def one_fault_each(config: Config) -> dict[str, int]:
    return {kind: min(1, most) for kind, most in config.faults.items()}


# --- one hunt: the first violation from a base seed, within a time budget --------------------

Found = tuple[RunResult | None, int]  # the violating run, the effort spent
Timed = tuple[RunResult | None, float, int]  # and the hunt's CPU time


def hunt_with(strategy: str) -> Callable[[System, str, Config, int, float], Found]:
    """A hunt as `deepdives hunt --strategy STRATEGY --no-shrink` runs it."""
    def run(system: System, variant: str, config: Config, base: int, seconds: float) -> Found:
        outcome = hunt(system, variant, config, budget=Budget(runs=MOST_RUNS, seconds=seconds),
                       seed=base, strategy=strategy, shrink_found=False)
        return outcome.violation, outcome.runs
    return run


def hunt_exhaustive(system: System, variant: str, config: Config, base: int, seconds: float
                    ) -> Found:
    """Breadth-first searches from one seed, as deep as the time allows: with no fault, then
    with one fault of each kind in turn (as the portfolio's searches do), sharing the time."""
    kinds = search_faults(config)
    states = 0
    for kind in kinds:
        search: ExploreResult = explore(system, variant, config, base, max_depth=None,
                                        faults={kind: 1} if kind else {}, max_states=None,
                                        seconds=seconds / len(kinds))
        states += search.states
        if search.violated:
            return execute(system, variant, config, base, Replay(search.choices)), states
    return None, states


def strategies(system: System, config: Config, names: tuple[str, ...],
               control: int | None = None, base_seed: int = 0) -> dict[str, Callable]:
    """The hunts compared, by row name; with a `control` base seed, each strategy again,
    its k-th hunt from `control` + k * stride where the first row's is from `base_seed` +
    k * stride."""
    hunts = {name: hunt_with(name) for name in names}
    if names == STRATEGIES and small(system, config):
        hunts["exhaustive bfs"] = hunt_exhaustive
    if control is not None:
        hunts |= {f"{name} (base {control})": moved(hunt_one, control - base_seed)
                  for name, hunt_one in hunts.items()}
    return hunts


def moved(hunt_one: Callable, offset: int) -> Callable:
    """`hunt_one` from its base seed + `offset`: another sample of the same strategy."""
    def run(system: System, variant: str, config: Config, base: int, seconds: float) -> Found:
        return hunt_one(system, variant, config, base + offset, seconds)
    return run


def bug_rows(system: System, variant: str, config: Config, hunts: dict[str, Callable],
             seeds: range, seconds: float, shrink_found: bool
             ) -> tuple[list[list[str]], list[str]]:
    """One row per strategy, the strategies taking turns at each base seed; and the rows over
    twice the first's median CPU (`over_twice`)."""
    tried: dict[str, list[Timed]] = {name: [] for name in hunts}
    for base in seeds:
        for name, hunt_one in hunts.items():
            started = time.process_time()
            found, effort = hunt_one(system, variant, config, base, seconds)
            tried[name].append((found, time.process_time() - started, effort))
    return ([_row(system, variant, config, name, runs, shrink_found)
             for name, runs in tried.items()], over_twice(f"{system.name}:{variant}", tried))


def median_cpu(hunts: list[Timed]) -> float:
    """The median CPU time to the bug, a hunt that missed it counting as endless."""
    return statistics.median(cpu if found is not None else float("inf")
                             for found, cpu, _ in hunts)


def over_twice(bug: str, tried: dict[str, list[Timed]]) -> list[str]:
    """`BUG STRATEGY RATIO` for each strategy whose median CPU to the bug is over twice the
    first strategy's (issue #19's target for the Hypothesis strategy against the walk)."""
    (_, first), *others = tried.items()
    reference = median_cpu(first)
    slow = []
    for name, hunts in others:
        median = median_cpu(hunts)
        if median > 2 * reference:
            ratio = "not found" if median == float("inf") else f"{median / reference:.1f}x"
            slow.append(f"`{bug}` {name} {ratio}")
    return slow


def _row(system: System, variant: str, config: Config, name: str, hunts: list[Timed],
         shrink_found: bool) -> list[str]:
    times = [cpu if found is not None else float("inf") for found, cpu, _ in hunts]
    tried = [effort for _, _, effort in hunts]
    per_effort = sum(cpu for _, cpu, _ in hunts) / max(1, sum(tried))
    violations = [found for found, _, _ in hunts if found is not None]
    shrunk = [len(shrink(system, variant, config, found.seed, found.choices,
                         found.verdict.invariant, max_replays=SHRINK_REPLAYS).result.choices)
              for found in violations] if shrink_found else []
    invariants = sorted({found.verdict.invariant for found in violations})
    unit = "states" if name.startswith("exhaustive") else "runs"
    return [f"{system.name}:{variant}", config.name, name, f"{len(violations)}/{len(hunts)}",
            _seconds(times), _seconds([max(times)]), f"{statistics.median(tried):.0f} {unit}",
            f"{statistics.mean(tried):.1f}", f"{1000 * per_effort:.1f} ms",
            str(int(statistics.median(shrunk))) if shrunk else "-",
            ", ".join(invariants) or "-"]


def _seconds(values: list[float]) -> str:
    value = statistics.median(values)
    return "not found" if value == float("inf") else f"{value:.3f}s"


def system_section(system: System, variants: list[str] | None, config_name: str, seeds: range,
                   seconds: float, names: tuple[str, ...], shrink_found: bool,
                   control: int | None = None) -> None:
    """The section of `system`'s seeded bugs (`variants` of them, or all)."""
    config = system.config(config_name if config_name in system.configs else "default")
    rows: list[list[str]] = []
    slow: list[str] = []
    compared = 0  # rows set against the first strategy's
    for variant in variants or [v.name for v in system.variants.values() if v.seeded]:
        hunts = strategies(system, config, names, control, seeds.start)
        bug, over = bug_rows(system, variant, config, hunts, seeds, seconds, shrink_found)
        for row in bug:
            rows.append(row)
            print(*row, sep="\t", flush=True)
        slow += over
        compared += len(bug) - 1
    chosen = "" if names == STRATEGIES else f" --strategies {','.join(names)}"
    against = "" if control is None else f" --control-base-seed {control}"
    targets = " ".join(f"{system.name}:{v}" for v in variants) if variants else system.name
    command = f"python benchmarks/bench_strategies.py --seeds {len(seeds)}" \
              f"{f' --base-seed {seeds.start}' if seeds.start else ''} --seconds {seconds:g} " \
              f"--config {config_name}{chosen}{against}" \
              f"{'' if shrink_found else ' --no-shrink'} --skip-search {targets}"
    which = ", ".join(names) + ("" if control is None else f"; again from base {control}")
    title = f"Strategies: {targets}" + (f" ({which})" if chosen or against else "")
    write_section(title, command, markdown_table(
        ["bug", "config", "strategy", "found", "median CPU", "worst", "median effort",
         "mean effort", "CPU per effort", "shrunk trace", "invariant"], rows) +
        f"\n\nMedian CPU over twice the first strategy's ({names[0]}) for the same bug: "
        f"{len(slow)} of {compared} rows{': ' if slow else ''}{'; '.join(slow)}.")


# --- the exhaustive search's own figures ------------------------------------------------------

def model_rows() -> list[list[str]]:
    rows = []
    for ballots in (2, 3):
        best = None
        for _ in range(3):  # the best of three: the machine may be busy
            started = time.process_time()
            result = bfs(PaxosModel(acceptors=3, proposers=2, max_ballot=ballots))
            elapsed = time.process_time() - started
            best = elapsed if best is None else min(best, elapsed)
        rows.append([f"paxos: 3 acceptors, 2 proposers (values), ballots 1..{ballots}",
                     f"{result.states:,}", "yes" if result.complete else "no",
                     f"{best:.2f}s", f"{result.states / best:,.0f}"])
    return rows


def reduction_rows() -> list[list[str]]:
    sso = registry.lookup("sso")
    small = sso.config("small")
    cases = [(sso, "correct", small, 5, {}), (sso, "correct", small, 3, one_fault_each(small)),
             (sso, "minority-quorum", small, 3, one_fault_each(small)),
             (COMMIT, "correct", COMMIT.config("small"), None, None)]
    rows = []
    for system, variant, config, depth, faults in cases:
        for sleep_sets, symmetry in ((False, False), (True, False), (False, True), (True, True)):
            if symmetry and not config.params.get("symmetric"):
                continue
            started = time.process_time()
            result = explore(system, variant, config, max_depth=depth, faults=faults,
                             sleep_sets=sleep_sets, symmetry=symmetry)
            reductions = " + ".join(name for name, on in (("sleep sets", sleep_sets),
                                                          ("symmetry", symmetry)) if on)
            rows.append([f"{system.name}:{variant}", str(depth or "none"),
                         _faults(faults), reductions or "none", result.verdict.status,
                         f"{result.states:,}", f"{result.transitions:,}",
                         f"{time.process_time() - started:.2f}s"])
            print(*rows[-1], sep="\t", flush=True)
    return rows


def throughput_rows() -> list[list[str]]:
    """Distinct states per CPU second of SSO's small configuration (no faults), each state run
    to its end or only the leaves; and the CPU time to the first violation of
    ack-before-majority, as `deepdives explore sso:ack-before-majority --config small` (and
    `--ends leaves`) runs it."""
    sso = registry.lookup("sso")
    small = sso.config("small")
    cases = [("correct", 5, "every", None), ("correct", None, "leaves", 5_000),
             ("ack-before-majority", 12, "every", None),
             ("ack-before-majority", 12, "leaves", None)]
    rows = []
    for variant, depth, ends, most in cases:
        started = time.process_time()
        result = explore(sso, variant, small, max_depth=depth, faults={}, max_states=most,
                         ends=ends)
        elapsed = time.process_time() - started
        rows.append([f"sso:{variant}", str(depth or "none"), ends, result.verdict.status,
                     str(len(result.choices)) if result.violated else "-",
                     f"{result.states:,}", f"{result.transitions:,}", f"{result.ended:,}",
                     f"{elapsed:.2f}s", f"{result.states / elapsed:,.0f}"])
        print(*rows[-1], sep="\t", flush=True)
    return rows


def stateless_rows() -> list[list[str]]:
    """What state caching saves, which bounds what any reduction could save on top of it: the
    distinct states of SSO's small configuration (no faults, no sleep sets) against the paths
    a stateless search would run to the same depth, counted on the search's own graph (a
    state's successors do not depend on the path to it)."""
    sso = registry.lookup("sso")
    rows = []
    for depth in (3, 4, 5):
        edges: defaultdict[bytes | None, list[bytes]] = defaultdict(list)
        result = explore(sso, "correct", sso.config("small"), max_depth=depth, faults={},
                         sleep_sets=False, ends="leaves",
                         on_transition=lambda parent, child, edges=edges:
                         edges[parent].append(child))
        paths = _paths(edges, depth)
        rows.append(["sso:correct (small)", str(depth), f"{result.states:,}", f"{paths:,}",
                     f"{paths / result.states:.1f}x"])
        print(*rows[-1], sep="\t", flush=True)
    return rows


def _paths(edges: dict[bytes | None, list[bytes]], depth: int) -> int:
    """Paths of at most `depth` transitions from the start (the start itself included)."""
    level: dict[bytes | None, int] = {None: 1}
    total = 0
    for _ in range(depth + 1):
        following: dict[bytes | None, int] = {}
        for state, count in level.items():
            for child in edges.get(state, ()):
                following[child] = following.get(child, 0) + count
        total += sum(following.values())
        level = following
    return total


def _faults(faults: dict[str, int] | None) -> str:
    if faults is None:
        return "config's"
    return ", ".join(f"{kind} {n}" for kind, n in faults.items() if n) or "none"


def bugs_named(targets: list[str]) -> list[tuple[System, list[str] | None]]:
    """Each simulated system named (every one, if none is), with the variants named of it
    (None: all its seeded bugs); a property system has no schedule to choose."""
    named: dict[str, list[str] | None] = {}
    for target in targets:
        name, _, variant = target.partition(":")
        if not variant:
            named[name] = None
        elif named.get(name, []) is not None:
            named[name] = [*named.get(name, []), variant]
    systems = [(registry.lookup(name), variants) for name, variants in named.items()] or \
        [(system, None) for system in registry.systems().values()]
    return [(system, variants) for system, variants in systems if system.kind == "simulation"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*", help="SYSTEM, or SYSTEM:VARIANT for one bug")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--base-seed", type=int, default=0,
                        help="the first hunt's seed; hunt k starts at it + k * 100,000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--config", default="default",
                        help="the configuration hunted (a system without it: its default)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="which to compare, comma-separated (default: all; a subset is "
                             "written to a section of its own)")
    parser.add_argument("--no-shrink", action="store_true",
                        help="leave out the shrunk trace (shrinking a long run costs more "
                             "than hunting it)")
    parser.add_argument("--control-base-seed", type=int, default=None,
                        help="each strategy also hunts from this base seed + k * 100,000, a "
                             "row of its own: the same strategy against itself")
    parser.add_argument("--skip-bugs", action="store_true")
    parser.add_argument("--skip-search", action="store_true",
                        help="leave out the Paxos model and the reductions")
    args = parser.parse_args()
    if not args.skip_bugs:
        seeds = range(args.base_seed, args.base_seed + args.seeds * SEED_STRIDE, SEED_STRIDE)
        for system, variants in bugs_named(args.targets):
            system_section(system, variants, args.config, seeds, args.seconds,
                           tuple(args.strategies.split(",")), not args.no_shrink,
                           args.control_base_seed)
    if args.skip_search:
        return
    command = "python benchmarks/bench_strategies.py --skip-bugs"
    write_section("Exhaustive search: abstract models", command, markdown_table(
        ["model", "distinct states", "complete", "CPU time", "states/s"], model_rows()))
    write_section("Exhaustive search: reductions", command, markdown_table(
        ["target", "depth", "faults", "reductions", "verdict", "states", "transitions",
         "CPU time"], reduction_rows()))
    write_section("Exhaustive search: throughput", command, markdown_table(
        ["target", "depth", "ends", "verdict", "events", "states", "transitions", "ended",
         "CPU time", "states/s"], throughput_rows()))
    write_section("Exhaustive search: stateless paths", command, markdown_table(
        ["target", "depth", "distinct states", "stateless paths", "paths per state"],
        stateless_rows()))


if __name__ == "__main__":
    main()
