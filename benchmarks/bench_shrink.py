"""Shrinking, measured on the counterexamples hunts find:
`python benchmarks/bench_shrink.py [SYSTEM ...] [--bases 0,10,20] [--replays 250]
[--baseline DIR] [--thorough]`.

For every seeded bug of each simulated system (every one, or those named), a hunt from each
base seed finds a counterexample (`deepdives hunt TARGET --seed B --no-shrink`, the default
hunt's configurations); each distinct one is shrunk within `--replays` replays (250: the test
suite's budget; the hunt's is 1,000). The table gives, per system, the counterexamples, their
chosen events before and after shrinking, and the replays spent. With `--baseline DIR` (a
checkout of another shrinker, such as a `git worktree` of an older commit), the same
counterexamples are also shrunk by DIR's code, in a subprocess, and the table sets the two
side by side with how many came out shorter and how many longer. `--thorough` gives this
checkout's shrinker its second strategy at any budget. Replays, not seconds, so the figures
are the same on any machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# the checkout whose shrinker runs: this one, or a baseline's (see `baseline_shrinks`)
sys.path.insert(0, os.environ.get("BENCH_SHRINK_CHECKOUT")
                or str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section  # noqa: E402
from checker import registry  # noqa: E402
from checker.hunt import Budget, hunt, hunt_config  # noqa: E402
from checker.shrink import shrink  # noqa: E402

_CHECKOUT_VARIABLE = "BENCH_SHRINK_CHECKOUT"  # read above, before the imports
HUNT_RUNS = 3000

Found = dict[str, Any]  # system, variant, config, seed, choices, invariant
Shrunk = tuple[int, int]  # chosen events after shrinking, replays spent


def find(names: list[str], bases: list[int]) -> list[Found]:
    """The distinct counterexamples that hunts from `bases` find, bug by bug."""
    found: dict[tuple, Found] = {}
    for system in sorted(registry.systems().values(), key=lambda s: s.name):
        if system.kind != "simulation" or (names and system.name not in names):
            continue
        for variant in (v for v in system.variants.values() if v.seeded):
            for base in bases:
                outcome = hunt(system, variant.name, hunt_config(system, "default"),
                               budget=Budget(runs=HUNT_RUNS), seed=base, shrink_found=False)
                run = outcome.violation
                if run is not None:
                    found.setdefault((system.name, variant.name, run.seed), {
                        "system": system.name, "variant": variant.name,
                        "config": run.config.name, "seed": run.seed, "choices": run.choices,
                        "invariant": run.verdict.invariant})
    return list(found.values())


def shrink_all(found: list[Found], replays: int, thorough: bool | None = None) -> list[Shrunk]:
    shrunk = []
    for case in found:
        system = registry.lookup(case["system"])
        result = shrink(system, case["variant"], system.config(case["config"]), case["seed"],
                        case["choices"], case["invariant"], max_replays=replays,
                        thorough=thorough)
        shrunk.append((result.after, result.replays))
        print(f"{case['system']}:{case['variant']} seed {case['seed']}: "
              f"{result.before} -> {result.after} ({result.replays} replays)",
              file=sys.stderr, flush=True)
    return shrunk


def baseline_shrinks(checkout: Path, found: list[Found], replays: int) -> list[Shrunk]:
    """The same counterexamples shrunk by another checkout's shrinker: this script in a
    subprocess that imports that checkout's packages."""
    with tempfile.NamedTemporaryFile(suffix=".pickle") as cases:
        pickle.dump(found, cases)
        cases.flush()
        output = subprocess.run([sys.executable, __file__, "--shrink", cases.name,
                                 "--replays", str(replays)],
                                env={**os.environ, _CHECKOUT_VARIABLE: str(checkout)},
                                check=True, stdout=subprocess.PIPE, text=True)
    return [tuple(pair) for pair in json.loads(output.stdout.splitlines()[-1])]


def rows(found: list[Found], after: list[Shrunk], before: list[Shrunk] | None
         ) -> list[list[str]]:
    systems = sorted({case["system"] for case in found})
    return [_row(name, [(case, now, None if before is None else then)
                        for case, now, then in zip(found, after, before or after)
                        if name is None or case["system"] == name])
            for name in [*systems, None]]


def _row(name: str | None, cases: list[tuple[Found, Shrunk, Shrunk | None]]) -> list[str]:
    row = [name or "**all**", str(len(cases)),
           f"{sum(len(case['choices']) for case, _, _ in cases):,}"]
    if cases[0][2] is not None:
        row += [f"{sum(then[0] for _, _, then in cases):,}",
                f"{sum(now[0] for _, now, _ in cases):,}",
                str(sum(now[0] < then[0] for _, now, then in cases)),
                str(sum(now[0] > then[0] for _, now, then in cases)),
                f"{sum(then[1] for _, _, then in cases):,}"]
    else:
        row.append(f"{sum(now[0] for _, now, _ in cases):,}")
    return row + [f"{sum(now[1] for _, now, _ in cases):,}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("systems", nargs="*", help="simulated systems (default: every one)")
    parser.add_argument("--bases", default="0,10,20", help="the hunts' base seeds")
    parser.add_argument("--replays", type=int, default=250)
    parser.add_argument("--baseline", type=Path, help="a checkout whose shrinker to compare")
    parser.add_argument("--thorough", action="store_true",
                        help="the second strategy at any budget (by default only beyond the "
                             "hunt's 1,000 replays)")
    parser.add_argument("--shrink", type=Path, help=argparse.SUPPRESS)  # the baseline's part
    args = parser.parse_args()
    if args.shrink:
        print(json.dumps(shrink_all(pickle.loads(args.shrink.read_bytes()), args.replays)))
        return
    found = find(args.systems, [int(base) for base in args.bases.split(",")])
    before = None if args.baseline is None else \
        baseline_shrinks(args.baseline.resolve(), found, args.replays)
    after = shrink_all(found, args.replays, True if args.thorough else None)
    header = ["system", "counterexamples", "chosen events found"]
    header += ["after (baseline)", "after", "shorter", "longer", "replays (baseline)"] \
        if before is not None else ["after"]
    table = markdown_table(header + ["replays"], rows(found, after, before))
    print(table)
    write_section("Shrinking" + (" against a baseline" if before is not None else ""),
                  "python benchmarks/bench_shrink.py " + " ".join(sys.argv[1:]), table)


if __name__ == "__main__":
    main()
