"""Time to first violation of every seeded bug, and survival of every correct variant.

    python benchmarks/bench_hunt.py [--seeds 5] [--correct-runs 10000] [SYSTEM ...]

For each seeded bug: hunts from `--seeds` different base seeds, the median wall time to the
first violation and the median shrunk trace length. For each correct variant: runs and
events survived with zero violations. Hunts are the default hunt's: every configuration the
system registers, two runs in three on `default` (`checker.hunt.ConfigMix`). Each system gets
its own section of RESULTS.md, so systems can be measured one at a time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from checker import registry
from checker.hunt import Budget, ConfigMix, hunt

SEED_STRIDE = 100_000  # base seeds far apart: independent hunts


def seeded_row(system, variant: str, seeds: int) -> list[str]:
    config = ConfigMix.every(system)
    times, before, after, invariants = [], [], [], set()
    for k in range(seeds):
        outcome = hunt(system, variant, config, budget=Budget(runs=20_000, seconds=120),
                       seed=k * SEED_STRIDE)
        if outcome.violation is None:
            times.append(float("inf"))
            continue
        times.append(outcome.time_to_first)
        before.append(outcome.before)
        after.append(outcome.after)
        invariants.add(outcome.violation.verdict.invariant)
    found = sum(t != float("inf") for t in times)
    return [f"{system.name}:{variant}", f"{found}/{seeds}", f"{statistics.median(times):.2f}s",
            f"{max(times):.2f}s", _median(before), _median(after), ", ".join(sorted(invariants))]


def correct_row(system, runs: int) -> list[str]:
    outcome = hunt(system, "correct", ConfigMix.every(system), budget=Budget(runs=runs),
                   seed=10**9)
    verdict = "clean" if outcome.violation is None else \
        f"VIOLATED {outcome.violation.verdict.invariant}"
    return [f"{system.name}:correct", str(outcome.runs), str(outcome.events),
            f"{outcome.elapsed:.0f}s", str(outcome.unknowns), verdict]


def _median(values: list[int]) -> str:
    return str(int(statistics.median(values))) if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("systems", nargs="*")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--correct-runs", type=int, default=10_000)
    args = parser.parse_args()
    systems = [registry.lookup(n) for n in args.systems] or list(registry.systems().values())
    for system in systems:
        bugs = []
        for variant in system.variants.values():
            if variant.seeded:
                bugs.append(seeded_row(system, variant.name, args.seeds))
                print(*bugs[-1], sep="\t", flush=True)
        correct = correct_row(system, args.correct_runs)
        print(*correct, sep="\t", flush=True)
        write_section(f"Hunts: {system.name}", f"python benchmarks/bench_hunt.py --seeds "
                      f"{args.seeds} --correct-runs {args.correct_runs} {system.name}",
                      markdown_table(["bug", "found", "median time", "worst", "trace before",
                                      "shrunk trace", "invariant"], bugs) + "\n\n" +
                      markdown_table(["variant", "runs", "events", "time", "unknown verdicts",
                                      "verdict"], [correct]))


if __name__ == "__main__":
    main()
