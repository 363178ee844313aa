"""How deep the exhaustive search gets on SSO's small configuration, with and without sleep
sets: `python benchmarks/bench_deep.py [--depth 8] [--variant correct] [--jobs 2]`.

Breadth-first search of `sso:VARIANT` (small configuration, no faults) to `--depth` events,
`--ends done`: every state's state invariants are checked, and only the states where the
workload is done are run to their end (running each of the millions of states at the bound to
its end would take hours more). One search with sleep sets, one without, each in a process of
its own (`--jobs` at a time): the distinct states, the transitions taken, those the sleep sets
left asleep, the states run to their end, the CPU time, states per CPU second, and the
process's peak memory. Sleep sets never cut states (every state is still reached by one order
or another), only transitions. Progress goes to stderr once a minute.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from checker import registry
from checker.explore import Progress, explore


def search_row(variant: str, depth: int, sleep_sets: bool) -> list[str]:
    label = f"sso:{variant} {'with' if sleep_sets else 'without'} sleep sets"

    def show(progress: Progress) -> None:
        print(f"{label}: {progress.describe()}", file=sys.stderr, flush=True)

    sso = registry.lookup("sso")
    started = time.process_time()
    result = explore(sso, variant, sso.config("small"), max_depth=depth, faults={},
                     max_states=None, sleep_sets=sleep_sets, ends="done",
                     progress=show, progress_every=60.0)
    elapsed = time.process_time() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return [f"sso:{variant}", str(depth), "sleep sets" if sleep_sets else "none",
            result.verdict.status, str(result.depth), f"{result.states:,}",
            f"{result.transitions:,}", f"{result.slept:,}", f"{result.ended:,}",
            f"{elapsed:,.1f}s", f"{result.states / elapsed:,.0f}", f"{peak_mb:,.0f} MB"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--variant", default="correct")
    parser.add_argument("--jobs", type=int, default=2, help="searches run at once")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs, max_tasks_per_child=1) as pool:
        futures = [pool.submit(search_row, args.variant, args.depth, sleep_sets)
                   for sleep_sets in (True, False)]
        rows = [future.result() for future in futures]
    for row in rows:
        print(*row, sep="\t")
    command = f"python benchmarks/bench_deep.py --depth {args.depth} --jobs {args.jobs}"
    write_section(f"Exhaustive search: sso small to depth {args.depth}", command,
                  markdown_table(["target", "depth", "reductions", "verdict", "deepest",
                                  "states", "transitions", "asleep", "ended", "CPU time",
                                  "states/s", "peak memory"], rows))


if __name__ == "__main__":
    main()
