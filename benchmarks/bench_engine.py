"""Engine event rate on one core: `python benchmarks/bench_engine.py [--seconds S] [--config C]`.

Random walks of each registered system's correct variant (config C where a system has one,
else its default) and of the toy counter (a one-server echo: the engine's own overhead),
counting every executed event.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from checker import registry
from checker.run import execute
from checker.strategies import RandomWalk
from checker.system import Config, System
from tests.toys import COUNTER


def config_of(system: System, name: str) -> Config:
    return system.configs.get(name) or system.config("default")


def event_rate(system: System, variant: str, config: Config,
               seconds: float) -> tuple[int, int, float]:
    runs = events = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        result = execute(system, variant, config, runs, RandomWalk(runs, config.max_pause))
        runs += 1
        events += len(result.sim.trace)
    return runs, events, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--config", default="default")
    args = parser.parse_args()
    rows = []
    simulated = [s for s in registry.systems().values() if s.kind == "simulation"]
    for system in [COUNTER, *simulated]:  # property systems schedule no events
        config = config_of(system, args.config)
        runs, events, elapsed = event_rate(system, "correct", config, args.seconds)
        rows.append([system.name, f"{config.servers} servers, {config.clients} clients",
                     str(runs), str(events), f"{events / elapsed:,.0f}"])
        print(*rows[-1], sep="\t")
    table = markdown_table(["system", "config", "runs", "events", "events/s"], rows)
    write_section("Engine event rate", f"python benchmarks/bench_engine.py --seconds "
                  f"{args.seconds:g} --config {args.config}", table)


if __name__ == "__main__":
    main()
