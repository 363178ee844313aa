"""Time the linearizability checker: `python benchmarks/bench_linearizability.py`.

Each history comes from a simulated correct store: every op takes effect at a random instant
between its call and its return. A few ops are `info` (the client crashed): half of those
take effect later, half never. The "corrupted" variant makes one read return a value
never written, so the history is certainly not linearizable.
"""

from __future__ import annotations

import heapq
import random
import sys
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from invariants.history import INFO, OK, Operation
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


if __name__ == "__main__":
    main()
