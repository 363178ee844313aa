"""The cost of hunting on a Dask cluster: a local hunt against the same hunt on a LocalCluster.

    python benchmarks/bench_cluster.py [--runs 200] [--workers 2] [SYSTEM:VARIANT ...]

Each target (default: zookeeper:correct, whose runs take tens of milliseconds) is hunted for
`--runs` runs here, then on a LocalCluster of `--workers` worker processes (one thread
each): once with the tasks the hunt cuts (about a second of runs each), once with one seed
per task, which shows the cluster's cost per task unamortized. The outcomes must be
identical. Overhead is counted in CPU seconds over every process (this one, with the
scheduler; the workers; their nannies), so that it does not depend on what else the machine
runs: the extra CPU per run, how much of it is what Dask's processes spend idle over the same
wall time (a cost per second, not per run), and the rest — the overhead per run — as a
share of a local run's CPU. Wall-clock times and the speed-up are shown beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from distributed import LocalCluster

from benchmarks.results import markdown_table, write_section
from checker import cluster, registry
from checker.hunt import Budget, ConfigMix, HuntOutcome, hunt, run_seed

SEED = 10**9  # the correct variants' hunts in bench_hunt.py start there too


@attrs.frozen
class Measured:
    outcome: HuntOutcome
    wall: float
    cpu: float


def hunt_here(system, variant: str, runs: int) -> Measured:
    started, cpu = time.perf_counter(), time.process_time()
    outcome = hunt(system, variant, ConfigMix.every(system), budget=Budget(runs=runs),
                   seed=SEED)
    return Measured(outcome, time.perf_counter() - started, time.process_time() - cpu)


def hunt_on(address: str, system, variant: str, runs: int) -> Measured:
    with cluster.connect(address) as runner:
        runner.client.run(warm_up, system.name, variant)
        before = _cluster_cpu(runner.client)
        started = time.perf_counter()
        outcome = hunt(system, variant, ConfigMix.every(system), budget=Budget(runs=runs),
                       seed=SEED, runner=runner)
        wall = time.perf_counter() - started
        return Measured(outcome, wall, _cluster_cpu(runner.client) - before)


def warm_up(system_name: str, variant: str) -> None:
    """On a worker: one run of a seed the hunt does not run, so that the imports a first run
    makes, once per process, are not counted per run (this process has made them)."""
    system = registry.lookup(system_name)
    run_seed(system, variant, ConfigMix.every(system), SEED - 1, "random")


def one_seed_per_task(address: str, system, variant: str, runs: int) -> Measured:
    task_seconds, cluster.TASK_SECONDS = cluster.TASK_SECONDS, 0.0
    try:
        return hunt_on(address, system, variant, runs)
    finally:
        cluster.TASK_SECONDS = task_seconds


def _cluster_cpu(client) -> float:
    """CPU seconds so far of this process (client and LocalCluster's scheduler), the workers
    and their nannies."""
    workers = client.run(time.process_time)
    nannies = client.run(time.process_time, nanny=True)
    return time.process_time() + sum(workers.values()) + sum(nannies.values())


def same(a: HuntOutcome, b: HuntOutcome) -> bool:
    """Equal but for the wall-clock figures."""
    clock = {"elapsed", "time_to_first"}
    return {k: v for k, v in attrs.asdict(a, recurse=False).items() if k not in clock} == \
        {k: v for k, v in attrs.asdict(b, recurse=False).items() if k not in clock}


def idle_cores(address: str, seconds: float = 10.0) -> float:
    """The CPU Dask's processes spend doing nothing (heartbeats, monitors), in cores: a cost
    per second of a cluster's life, whatever it runs."""
    with cluster.connect(address) as runner:
        before = _cluster_cpu(runner.client)
        time.sleep(seconds)
        return (_cluster_cpu(runner.client) - before) / seconds


def row(target: str, how: str, measured: Measured, local: Measured,
        background: float) -> list[str]:
    runs = measured.outcome.runs
    extra = measured.cpu - local.cpu
    idle = background * measured.wall
    return [target, how, str(runs), f"{1000 * local.cpu / runs:.0f} ms",
            f"{measured.wall:.1f}s", f"{local.wall / measured.wall:.2f}x",
            f"{1000 * extra / runs:+.1f} ms", f"{1000 * idle / runs:.1f} ms",
            f"{100 * (extra - idle) / local.cpu:+.1f}%",
            "yes" if same(measured.outcome, local.outcome) else "NO"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*", default=["zookeeper:correct"])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    targets = [(target, *registry.parse_target(target)) for target in args.targets]
    here = {target: hunt_here(system, variant, args.runs)  # before the cluster's processes
            for target, system, [variant] in targets}
    rows = []
    with LocalCluster(n_workers=args.workers, processes=True, threads_per_worker=1,
                      dashboard_address=None) as local_cluster:
        address = local_cluster.scheduler_address
        background = idle_cores(address)
        for target, system, [variant] in targets:
            rows.append(row(target, "here, one process", here[target], here[target], 0.0))
            batched = hunt_on(address, system, variant, args.runs)
            rows.append(row(target, f"Dask, {args.workers} workers", batched, here[target],
                            background))
            rows.append(row(target, f"Dask, {args.workers} workers, one seed per task",
                            one_seed_per_task(address, system, variant, args.runs),
                            here[target], background))
            for printed in rows[-3:]:
                print(*printed, sep="\t", flush=True)
    write_section("Hunts on a Dask cluster", "python benchmarks/bench_cluster.py --runs "
                  f"{args.runs} --workers {args.workers} {' '.join(args.targets)}",
                  f"Dask's processes idle: {background:.2f} cores.\n\n" +
                  markdown_table(["target", "where", "runs", "CPU per run here", "wall",
                                  "speed-up", "extra CPU per run", "of which idle Dask",
                                  "overhead per run", "same outcome"], rows))


if __name__ == "__main__":
    main()
