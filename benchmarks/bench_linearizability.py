"""Time the linearizability checker: `python benchmarks/bench_linearizability.py`.

Each history comes from a simulated correct store: every op takes effect at a random instant
between its call and its return. A few ops are `info` (the client crashed): half of those
take effect later, half never. The "corrupted" variant makes one read return a value
never written, so the history is certainly not linearizable.

`--long` measures instead the peak memory and the time of a check of long register histories
(100,000 and 400,000 ops by default, `--sizes` to change), each in a child process of its own,
and how long a check with `max_seconds=0.5` takes to answer on them.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from invariants.history import FAIL, INFO, OK, Operation
from invariants.linearizability import check_linearizable
from models.kv import KV
from models.sequential import Register, SequentialModel

Invocation = tuple[str, Any]  # (f, args)


@attrs.frozen
class _Planned:
    process: str
    call: int
    ret: int | None
    effect: float | None  # when the store applies it; None: never
    status: str
    f: str
    args: Any


def simulate(model: SequentialModel, invoke: Callable[[random.Random], Invocation],
             n_ops: int, processes: int, info_rate: float, rng: random.Random) -> list[Operation]:
    """`n_ops` ops from `processes` clients, each running one op at a time."""
    planned = _plan(invoke, n_ops, processes, info_rate, rng)
    results = _results_at_effect_points(model, planned)
    return [Operation(i, op.process, op.f, op.args, results.get(i) if op.status == OK else None,
                      op.status, op.call, op.ret)
            for i, op in enumerate(planned)]


def _plan(invoke: Callable[[random.Random], Invocation], n_ops: int, processes: int,
          info_rate: float, rng: random.Random) -> list[_Planned]:
    clients = [(rng.randint(0, 100), slot, 0) for slot in range(processes)]  # (free at, ...)
    heapq.heapify(clients)
    planned = []
    while len(planned) < n_ops:
        call, slot, incarnation = heapq.heappop(clients)
        ret: int | None = call + rng.randint(1, 100)
        effect: float | None = rng.uniform(call, ret)
        status = OK
        if rng.random() < info_rate:  # the client crashes: a fresh one takes its slot
            status, ret, incarnation = INFO, None, incarnation + 1
            effect = rng.uniform(call, call + 1000) if rng.random() < 0.5 else None
        planned.append(_Planned(f"p{slot}.{incarnation}", call, ret, effect, status,
                                *invoke(rng)))
        heapq.heappush(clients, ((ret or call) + rng.randint(1, 50), slot, incarnation))
    return planned


def _results_at_effect_points(model: SequentialModel, planned: list[_Planned]) -> dict[int, Any]:
    """Run the ops that take effect through the model, in order of their effect."""
    state: Hashable = model.initial()
    results = {}
    for _, i in sorted((op.effect, i) for i, op in enumerate(planned) if op.effect is not None):
        results[i], state = model.apply(state, planned[i].f, planned[i].args)[0]
    return results


def kv_invocation(keys: int) -> Callable[[random.Random], Invocation]:
    def invoke(rng: random.Random) -> Invocation:
        key, roll = rng.randrange(keys), rng.random()
        if roll < 0.5:
            return "read", (key,)
        if roll < 0.8:
            return "write", (key, rng.randrange(5))
        return "cas", (key, rng.choice([None, *range(5)]), rng.randrange(5))
    return invoke


def register_invocation(rng: random.Random) -> Invocation:
    roll = rng.random()
    if roll < 0.5:
        return "read", None
    if roll < 0.8:
        return "write", rng.randrange(5)
    return "cas", (rng.randrange(5), rng.randrange(5))


def corrupt_one_read(ops: list[Operation], rng: random.Random) -> list[Operation]:
    reads = [op for op in ops if op.f == "read" and op.status == OK]
    victim = rng.choice(reads[len(reads) // 3: 2 * len(reads) // 3])
    wrong = "corrupted"
    return [Operation(op.id, op.process, op.f, op.args, wrong, op.status, op.call, op.ret)
            if op is victim else op for op in ops]


def bench(name: str, ops: list[Operation], model: SequentialModel) -> list[str]:
    start = time.perf_counter()
    verdict = check_linearizable(ops, model)
    elapsed = time.perf_counter() - start
    info = sum(op.status == INFO for op in ops)
    summary = verdict.explanation.splitlines()[-1]
    print(f"{name:<34} {len(ops):>6} ops ({info:>3} info)  {elapsed * 1000:8.1f} ms  "
          f"{verdict.status:<8}  {summary[:110]}")
    return [name, str(len(ops)), str(info), f"{elapsed * 1000:.0f} ms", verdict.status]


def main() -> None:
    rng = random.Random(42)
    cases = [
        ("kv 100 keys, 5 clients", KV(), kv_invocation(100), 10_000, 5),
        ("kv 100 keys, 10 clients", KV(), kv_invocation(100), 10_000, 10),
        ("register, 10 clients", Register(), register_invocation, 1_000, 10),
    ]
    rows = []
    for name, model, invoke, n_ops, processes in cases:
        ops = simulate(model, invoke, n_ops, processes, info_rate=0.01, rng=rng)
        rows.append(bench(name, ops, model))
        rows.append(bench(name + ", corrupted", corrupt_one_read(ops, rng), model))
    write_section("Linearizability checker", "python benchmarks/bench_linearizability.py",
                  markdown_table(["history", "ops", "info", "time", "verdict"], rows))


# -- long histories: memory ---------------------------------------------------------------

LONG_CLIENTS, LONG_INFO_RATE, LONG_BUDGET = 5, 0.002, 0.5
MEMORY_CAP_GB = 3  # the child's address space: past it, MemoryError rather than swapping

# Measured once with the search this benchmark was written for (commit 32999e8: a memo entry
# held a bitset of every op, `1 << i` per op), same histories, same cap: the full check, its
# peak RSS, and the check with `max_seconds=0.5`.
BEFORE = {
    100_000: ("47.2 s, ok", "1,759 MB", "0.68 s, unknown"),
    400_000: ("MemoryError after 4.7 s", "3,066 MB (the cap)", "MemoryError after 4.1 s"),
}


def long_history(n_ops: int, seed: int = 1) -> list[Operation]:
    """A register history from 5 clients, 1 op in 500 crashed (`info`).

    A crashed read is recorded as `fail`, as Jepsen does: a read changes nothing, so whether
    it happened does not matter (an `info` read would only be retried at every dead end).
    """
    ops = simulate(Register(), register_invocation, n_ops, LONG_CLIENTS, LONG_INFO_RATE,
                   random.Random(seed))
    return [attrs.evolve(op, status=FAIL) if op.status == INFO and op.f == "read" else op
            for op in ops]


def _rss_mb() -> float:
    """The resident set size now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_long(n_ops: int) -> dict:
    """In this process (a child of its own): build the history, check it, measure."""
    cap = MEMORY_CAP_GB * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    ops = long_history(n_ops)
    gc.collect()
    result: dict[str, Any] = {"ops": len(ops), "info": sum(op.status == INFO for op in ops),
                              "history_mb": _rss_mb()}
    for name, budget in (("full", {"max_steps": None}), ("budget", {"max_seconds": LONG_BUDGET})):
        start = time.perf_counter()
        try:
            verdict = check_linearizable(ops, Register(), **budget)
            outcome = verdict.explanation.splitlines()[-1]
        except MemoryError:
            verdict, outcome = None, "MemoryError"
        steps = re.search(r"(\d+) search steps", outcome)
        result[name] = {"seconds": time.perf_counter() - start, "outcome": outcome,
                        "status": verdict.status if verdict else "MemoryError",
                        "steps": int(steps.group(1)) if steps else None}
        if name == "full":
            result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        gc.collect()
    return result


def long_histories(sizes: list[int]) -> None:
    rows = []
    for n_ops in sizes:
        child = subprocess.run([sys.executable, __file__, "--child", str(n_ops)],
                               capture_output=True, text=True, check=True)
        got = json.loads(child.stdout.splitlines()[-1])
        full, budget = got["full"], got["budget"]
        print(f"{n_ops:>7} ops ({got['info']} info): check {full['seconds']:.1f} s, "
              f"{full['outcome']}; peak RSS {got['peak_mb']:.0f} MB (the history alone "
              f"{got['history_mb']:.0f} MB); max_seconds={LONG_BUDGET}: answered in "
              f"{budget['seconds']:.2f} s, {budget['outcome']}")
        before = BEFORE.get(n_ops, ("-", "-", "-"))
        rows.append([f"{n_ops:,}", str(got["info"]), f"{full['steps'] or 0:,}",
                     f"{full['seconds']:.1f} s, {full['status']}",
                     f"{got['peak_mb']:,.0f} MB ({got['history_mb']:,.0f} MB)",
                     f"{budget['seconds']:.2f} s, {budget['status']}", *before])
    header = ["ops", "info", "search steps", "check", "peak RSS (the history alone)",
              f"max_seconds={LONG_BUDGET}", "before: check", "before: peak RSS",
              f"before: max_seconds={LONG_BUDGET}"]
    write_section("Linearizability checker: long histories",
                  "python benchmarks/bench_linearizability.py --long",
                  f"Register, {LONG_CLIENTS} clients, 1 op in {round(1 / LONG_INFO_RATE)} "
                  f"`info` (crashed reads as `fail`); each size in a child process capped at "
                  f"{MEMORY_CAP_GB} GB of address space. Peak RSS is the process's, history "
                  f"included (in brackets, the RSS once the history is built). "
                  f"`max_seconds={LONG_BUDGET}`: how long the check took to answer `unknown`, "
                  f"the history in memory. Search steps grow faster than the history: every "
                  f"dead end walks past the `info` ops still pending (crashed cas that never "
                  f"need to take effect), and there are more of them the longer the history."
                  f"\n\n" + markdown_table(header, rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true",
                        help="only the long histories: peak memory and time")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000],
                        help="history lengths for --long")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_long(args.child)))
    elif args.long:
        long_histories(args.sizes)
    else:
        main()
