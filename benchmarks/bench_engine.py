"""Engine event rate on one core: `python benchmarks/bench_engine.py [--seconds S] [--config C]
[--baseline DIR [--rounds N] | --breakdown]`.

Random walks of each registered system's correct variant (config C where a system has one,
else its default) and of the toy counter (a one-server echo: the engine's own overhead),
counting every executed event per second of this process's CPU time (so that other work on a
loaded machine counts less than in wall-clock time).

With `--baseline DIR` (another checkout, such as a `git worktree` of an older commit), each
system is also measured with DIR's engine, in a subprocess, alternating with this one for
`--rounds` rounds, both running the same walks (as many as this engine runs in S seconds: the
cost of a run's checks varies with its seed); the table gives the median rate of each and
their ratio; and the same walks again with only the invariants the baseline's system has (by
name; those renamed or merged since are left out too): how much faster this engine and these
systems run the baseline's checks, the invariants added since taking no part.

With `--breakdown`, walks from seed 0 on (S seconds of each system, in wall-clock time) are
timed by part instead: the strategy's decisions, the state invariants (after every step), the
history invariants (at the end of each run), and the rest — the engine executing events, the
nodes' handlers and the node API they call, each run's construction — with the state invariant
that took most. It says how far a faster engine alone can take the event rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

# the checkout whose engine runs: this one, or a baseline's (see `baseline_rate`)
sys.path.insert(0, os.environ.get("BENCH_ENGINE_CHECKOUT")
                or str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from checker import registry
from checker.run import execute
from checker.sim import Simulation
from checker.strategies import RandomWalk, Strategy
from checker.system import Config, Invariant, System
from tests.toys import COUNTER

_ENGINE_VARIABLE = "BENCH_ENGINE_CHECKOUT"  # read above, before the imports

def config_of(system: System, name: str) -> Config:
    return system.configs.get(name) or system.config("default")


def systems() -> dict[str, System]:
    """The toy counter and every simulated system (property systems schedule no events)."""
    simulated = [s for s in registry.systems().values() if s.kind == "simulation"]
    return {system.name: system for system in [COUNTER, *simulated]}


def event_rate(system: System, variant: str, config: Config, seconds: float,
               runs: int | None = None) -> tuple[int, int, float]:
    """Runs, events and CPU seconds of random walks from seed 0 on: `runs` of them, or as many
    as fit in about `seconds`."""
    done = events = 0
    started = time.process_time()
    while done < runs if runs is not None else time.process_time() - started < seconds:
        result = execute(system, variant, config, done, RandomWalk(done, config.max_pause))
        done += 1
        events += len(result.sim.trace)
    return done, events, time.process_time() - started


def baseline_rate(checkout: Path, system: str, config: str, runs: int) -> float:
    """Events per second of the same walks run by another checkout's engine: this script in
    a subprocess that imports that checkout's packages."""
    env = {**os.environ, _ENGINE_VARIABLE: str(checkout)}
    output = subprocess.run([sys.executable, __file__, "--only", system, "--config", config,
                             "--runs", str(runs), "--json"],
                            env=env, check=True, capture_output=True, text=True)
    _, events, elapsed = json.loads(output.stdout.splitlines()[-1])
    return events / elapsed


def baseline_invariants(checkout: Path, system: str) -> set[str]:
    """The names of the invariants another checkout's `system` has."""
    env = {**os.environ, _ENGINE_VARIABLE: str(checkout)}
    output = subprocess.run([sys.executable, __file__, "--only", system, "--invariant-names"],
                            env=env, check=True, capture_output=True, text=True)
    return set(json.loads(output.stdout.splitlines()[-1]))


def compare(system: System, config_name: str, seconds: float, checkout: Path,
            rounds: int) -> list[str]:
    """A row of the comparison: the median rates of the baseline, of this engine, and of this
    engine with only the baseline's invariants, each running the same walks (as many as this
    engine runs in `seconds`), alternated."""
    config = config_of(system, config_name)
    runs, _, _ = event_rate(system, "correct", config, seconds)
    named = baseline_invariants(checkout, system.name)
    theirs = attrs.evolve(system, invariants=tuple(invariant for invariant in system.invariants
                                                   if invariant.name in named))
    before, after, same = [], [], []
    for _ in range(rounds):
        before.append(baseline_rate(checkout, system.name, config_name, runs))
        for rates, checked in ((after, system), (same, theirs)):
            _, events, elapsed = event_rate(checked, "correct", config, seconds, runs)
            rates.append(events / elapsed)
    old, new, like = (statistics.median(rates) for rates in (before, after, same))
    states = [sum(i.kind == "state" for i in s.invariants) for s in (theirs, system)]
    return [system.name, f"{config.servers} servers, {config.clients} clients", str(runs),
            f"{old:,.0f}", f"{new:,.0f}", f"{new / old:.2f}x", "{} of {}".format(*states),
            f"{like:,.0f}", f"{like / old:.2f}x"]


PARTS = ("strategy", "state", "history")  # what `--breakdown` times; the rest is the engine's


class TimedStrategy:
    """A strategy that adds the time its decisions take to `spent["strategy"]`."""

    def __init__(self, strategy: Strategy, spent: dict[str, float]) -> None:
        self.strategy, self.spent = strategy, spent

    def next(self, sim: Simulation) -> tuple | None:
        started = time.perf_counter()
        try:
            return self.strategy.next(sim)
        finally:
            self.spent["strategy"] += time.perf_counter() - started


def timed_invariant(invariant: Invariant, spent: dict[str, float],
                    each: dict[str, float]) -> Invariant:
    """The invariant, adding the time its checks take to `spent[invariant.kind]` and to
    `each[invariant.name]`."""
    check = invariant.check
    each.setdefault(invariant.name, 0.0)

    def timed(sim: Simulation) -> Any:
        started = time.perf_counter()
        try:
            return check(sim)
        finally:
            took = time.perf_counter() - started
            spent[invariant.kind] += took
            each[invariant.name] += took

    return attrs.evolve(invariant, check=timed)


def breakdown(system: System, config_name: str, seconds: float) -> list[str]:
    """A row of the breakdown: the share of the walks' time each part took, and the state
    invariant that took most."""
    config = config_of(system, config_name)
    spent, each = dict.fromkeys(PARTS, 0.0), {}
    timed = attrs.evolve(system, invariants=tuple(timed_invariant(invariant, spent, each)
                                                  for invariant in system.invariants))
    done = events = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        walk = TimedStrategy(RandomWalk(done, config.max_pause), spent)
        events += len(execute(timed, "correct", config, done, walk).sim.trace)
        done += 1
    elapsed = time.perf_counter() - started
    shares = [spent[part] / elapsed for part in PARTS]
    states = [invariant.name for invariant in system.invariants if invariant.kind == "state"]
    costliest = max(states, key=each.__getitem__, default=None)
    return [system.name, str(done), str(events),
            *[f"{share:.0%}" for share in shares + [1 - sum(shares)]],
            "-" if costliest is None else f"`{costliest}` {each[costliest] / elapsed:.0%}"]


def measure(system: System, config_name: str, seconds: float) -> list[str]:
    config = config_of(system, config_name)
    runs, events, elapsed = event_rate(system, "correct", config, seconds)
    return [system.name, f"{config.servers} servers, {config.clients} clients",
            str(runs), str(events), f"{events / elapsed:,.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--config", default="default")
    parser.add_argument("--baseline", type=Path, help="a checkout whose engine to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="one system (or counter)")
    parser.add_argument("--runs", type=int, help="run this many walks, whatever the time")
    parser.add_argument("--json", action="store_true",
                        help="print [runs, events, seconds] of the one system; write nothing")
    parser.add_argument("--invariant-names", action="store_true",
                        help="print the one system's invariant names as JSON; write nothing")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the strategy, the invariants and the rest, by share")
    args = parser.parse_args()
    chosen = [s for s in systems().values() if args.only in (None, s.name)]
    if args.invariant_names:
        print(json.dumps([invariant.name for invariant in chosen[0].invariants]))
        return
    if args.json:
        system = chosen[0]
        print(json.dumps(event_rate(system, "correct", config_of(system, args.config),
                                    args.seconds, args.runs)))
        return
    rows = []
    for system in chosen:
        if args.breakdown:
            rows.append(breakdown(system, args.config, args.seconds))
        elif args.baseline:
            rows.append(compare(system, args.config, args.seconds, args.baseline.resolve(),
                                args.rounds))
        else:
            rows.append(measure(system, args.config, args.seconds))
        print(*rows[-1], sep="\t", flush=True)
    command = f"python benchmarks/bench_engine.py --seconds {args.seconds:g} --config {args.config}"
    if args.breakdown:
        header = ["system", "runs", "events", "strategy", "state invariants",
                  "history invariants", "engine and handlers", "costliest state invariant"]
        if args.only is None:
            write_section("Engine event rate: where the time goes", command + " --breakdown",
                          markdown_table(header, rows))
        return
    if args.baseline:
        header = ["system", "config", "runs", "baseline events/s", "events/s", "speed-up",
                  "baseline's state invariants", "events/s with them alone", "speed-up"]
        command += f" --baseline {args.baseline} --rounds {args.rounds}"
    else:
        header = ["system", "config", "runs", "events", "events/s"]
    if args.only is None:
        write_section("Engine event rate", command, markdown_table(header, rows))


if __name__ == "__main__":
    main()
