"""How often one run finds a bug, by the way runs are drawn:
`python benchmarks/bench_hit_rate.py SYSTEM:VARIANT [...] [--runs 600] [--config default]`.

Times to a bug are medians of geometric draws, noisy at any affordable number of hunts; the
share of runs that violate an invariant is the quantity underneath. For each seeded bug,
`--runs` runs each way: random walks from seeds 0, 1, 2, ... (as `--strategy random`);
the Hypothesis strategy's runs from seeds and bytes drawn by Python's `random` (`run_drawn`,
what a run of the strategy is whatever chose its decisions); and the runs Hypothesis's own
generation chooses (`runs()`, no database, no shrinking). If the last differs from the others
beyond the noise, the examples Hypothesis picks matter; if not, the strategy's runs are the
walk's runs and only cost separates them.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as seeded  # noqa: E402

from benchmarks.results import markdown_table, write_section  # noqa: E402
from checker import registry  # noqa: E402
from checker.hunt import ConfigMix  # noqa: E402
from checker.hypothesis_adapter import DRAWN_BYTES, run_drawn, runs  # noqa: E402
from checker.portfolio import run_strategy  # noqa: E402
from checker.run import execute  # noqa: E402
from checker.system import Config, System  # noqa: E402


def walk_hits(system: System, variant: str, config: Config, count: int) -> int:
    return sum(execute(system, variant, config, seed,
                       run_strategy("random", seed, config)).violated for seed in range(count))


def drawn_hits(system: System, variant: str, config: Config, count: int) -> int:
    source = random.Random(f"hit-rate/{system.name}/{variant}")
    return sum(run_drawn(system, variant, ConfigMix.of(config), source.randrange(2 ** 32),
                         source.randbytes(DRAWN_BYTES)).violated for _ in range(count))


def hypothesis_hits(system: System, variant: str, config: Config, count: int) -> tuple[int, int]:
    """Violations among the runs Hypothesis generates, and how many it generated."""
    tally = [0, 0]

    @settings(max_examples=count, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @seeded(0)
    @given(runs(system, variant, config))
    def generated(run) -> None:
        tally[0] += 1
        tally[1] += run.violated

    generated()
    return tally[1], tally[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", help="SYSTEM:VARIANT, a seeded bug")
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--config", default="default")
    args = parser.parse_args()
    rows = []
    for target in args.targets:
        system, variants = registry.parse_target(target)
        config = system.configs.get(args.config) or system.config("default")
        for variant in variants:
            hits, generated = hypothesis_hits(system, variant, config, args.runs)
            rows.append([f"{system.name}:{variant}", config.name,
                         f"{walk_hits(system, variant, config, args.runs)}/{args.runs}",
                         f"{drawn_hits(system, variant, config, args.runs)}/{args.runs}",
                         f"{hits}/{generated}"])
            print("\t".join(rows[-1]), flush=True)
    # named by its targets, so that a run for other bugs keeps this one's section
    write_section(f"Strategies: runs that find {', '.join(args.targets)}",
                  "python benchmarks/bench_hit_rate.py " + " ".join(sys.argv[1:]),
                  markdown_table(["bug", "config", "random walks", "strategy's runs, drawn by "
                                  "Python's random", "runs Hypothesis generated"], rows))


if __name__ == "__main__":
    main()
