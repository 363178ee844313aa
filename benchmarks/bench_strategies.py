"""Scheduler strategies compared on every seeded bug, and the exhaustive search's own figures.

    python benchmarks/bench_strategies.py [--seeds 5] [--seconds 30] [--config small]
                                          [--skip-bugs] [SYSTEM ...]

For each seeded bug and each strategy -- random walk, PCT (d = 2), the portfolio, and
exhaustive breadth-first search on a small configuration (one fault kind at a time) -- hunts
from `--seeds` different base seeds, each within `--seconds`: the median wall time to the
first violation and the median length of its trace once shrunk. Then: distinct states per
second of the abstract Paxos model explored completely, and the states, transitions and time
of a bounded exhaustive search of SSO's small configuration with and without each reduction.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from checker import registry
from checker.explore import ExploreResult, explore
from checker.pct import PCT
from checker.portfolio import pct_steps, portfolio_run, small
from checker.run import RunResult, execute
from checker.shrink import shrink
from checker.strategies import RandomWalk, Replay
from checker.system import Config, System
from models.explore import bfs
from models.paxos import PaxosModel
from tests.toys_explore import COMMIT

SEED_STRIDE = 100_000  # base seeds far apart: independent hunts


def one_fault_each(config: Config) -> dict[str, int]:
    return {kind: min(1, most) for kind, most in config.faults.items()}


# --- one hunt: the first violation from a base seed, within a time budget --------------------

def hunt_runs(run: Callable[[int], RunResult | None], base: int, seconds: float
              ) -> tuple[RunResult | None, float, int]:
    """Runs seeds base, base+1, ... until one violates: (its run, elapsed, runs)."""
    started = time.perf_counter()
    runs = 0
    while time.perf_counter() - started < seconds:
        result = run(base + runs)
        runs += 1
        if result is not None and result.violated:
            return result, time.perf_counter() - started, runs
    return None, float("inf"), runs


def hunt_exhaustive(system: System, variant: str, config: Config, base: int, seconds: float
                    ) -> tuple[RunResult | None, float, int]:
    """Breadth-first searches from one seed, as deep as the time allows: with no fault, then
    with one fault of each kind in turn (as the portfolio's searches do), sharing the time."""
    kinds = [None, *sorted(kind for kind, most in config.faults.items() if most > 0)]
    elapsed = states = 0
    for kind in kinds:
        search: ExploreResult = explore(system, variant, config, base, max_depth=None,
                                        faults={kind: 1} if kind else {}, max_states=None,
                                        seconds=seconds / len(kinds))
        elapsed, states = elapsed + search.elapsed, states + search.states
        if search.violated:
            return execute(system, variant, config, base, Replay(search.choices)), elapsed, \
                states
    return None, float("inf"), states


def strategies(system: System, variant: str, config: Config) -> dict[str, Callable]:
    def random_walk(seed: int) -> RunResult:
        return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))

    def pct(seed: int) -> RunResult:
        return execute(system, variant, config, seed,
                       PCT(seed, depth=2, steps=pct_steps(config), max_pause=config.max_pause))

    def portfolio(seed: int) -> RunResult | None:
        return portfolio_run(system, variant, config, seed).result

    hunts = {name: (lambda base, seconds, run=run: hunt_runs(run, base, seconds))
             for name, run in (("random", random_walk), ("pct d=2", pct),
                               ("portfolio", portfolio))}
    if small(config):
        hunts["exhaustive bfs"] = lambda base, seconds: hunt_exhaustive(
            system, variant, config, base, seconds)
    return hunts


def bug_row(system: System, variant: str, config: Config, name: str, hunt: Callable,
            seeds: int, seconds: float) -> list[str]:
    times, shrunk, tried, invariants = [], [], [], set()
    for k in range(seeds):
        found, elapsed, effort = hunt(k * SEED_STRIDE, seconds)
        times.append(elapsed)
        tried.append(effort)
        if found is not None:
            invariant = found.verdict.invariant
            shrunk.append(shrink(system, variant, config, found.seed, found.choices,
                                 invariant, max_replays=1500).after)
            invariants.add(invariant)
    hits = sum(t != float("inf") for t in times)
    unit = "states" if name.startswith("exhaustive") else "runs"
    return [f"{system.name}:{variant}", config.name, name, f"{hits}/{seeds}", _seconds(times),
            _seconds([max(times)]), f"{statistics.median(tried):.0f} {unit}",
            str(int(statistics.median(shrunk))) if shrunk else "-",
            ", ".join(sorted(invariants)) or "-"]


def _seconds(values: list[float]) -> str:
    value = statistics.median(values)
    return "not found" if value == float("inf") else f"{value:.2f}s"


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


def _faults(faults: dict[str, int] | None) -> str:
    if faults is None:
        return "config's"
    return ", ".join(f"{kind} {n}" for kind, n in faults.items() if n) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("systems", nargs="*")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--config", default="small")
    parser.add_argument("--skip-bugs", action="store_true")
    args = parser.parse_args()
    systems = [registry.lookup(n) for n in args.systems] or list(registry.systems().values())
    command = f"python benchmarks/bench_strategies.py --seeds {args.seeds} " \
              f"--seconds {args.seconds:g} --config {args.config} " \
              f"{' '.join(args.systems)}".strip()
    if not args.skip_bugs:
        rows = []
        for system in systems:
            config = system.config(args.config)
            for variant in (v.name for v in system.variants.values() if v.seeded):
                for name, hunt in strategies(system, variant, config).items():
                    rows.append(bug_row(system, variant, config, name, hunt, args.seeds,
                                        args.seconds))
                    print(*rows[-1], sep="\t", flush=True)
        write_section("Strategies: time to first violation", command, markdown_table(
            ["bug", "config", "strategy", "found", "median time", "worst", "median effort",
             "shrunk trace", "invariant"], rows))
    write_section("Exhaustive search: abstract models", command, markdown_table(
        ["model", "distinct states", "complete", "CPU time", "states/s"], model_rows()))
    write_section("Exhaustive search: reductions", command, markdown_table(
        ["target", "depth", "faults", "reductions", "verdict", "states", "transitions",
         "CPU time"], reduction_rows()))


if __name__ == "__main__":
    main()
