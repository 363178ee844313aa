"""Time the transactional checkers: `python benchmarks/bench_transactions.py [--large]`.

List-append histories come from a simulated strictly serializable store: each transaction
takes effect atomically at a random instant between its call and its return, and its reads see
the store at that instant. A few clients crash (`info`: the transaction takes effect later or
never) and a few transactions abort (`fail`: no effect). The "planted" variant makes one
transaction that read a key and then appended to it miss the last value it read, which closes a
G-single cycle (it must come both before and after that value's writer).

The external-consistency histories are register transactions with commit timestamps taken from
the same effect instants; the "stale" variant makes one late read return the initial value.
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from invariants.external import TimedTxn, check_external_consistency
from invariants.history import FAIL, INFO, OK, Operation
from invariants.transactions import check_transactions
from invariants.verdict import Verdict


@attrs.frozen
class _Planned:
    process: str
    call: int
    ret: int | None
    effect: float | None  # when the store applies it; None: never
    status: str
    mops: list


def serializable_history(n_txns: int, *, keys: int = 10, clients: int = 10, seed: int = 0,
                         crash_rate: float = 0.01, abort_rate: float = 0.02) -> list[Operation]:
    """A list-append history of `n_txns` transactions, 3-5 micro-ops each, values unique."""
    rng = random.Random(seed)
    planned = _plan(n_txns, keys, clients, crash_rate, abort_rate, rng)
    store: dict[str, list[int]] = {}
    results: dict[int, list] = {}
    for _, i in sorted((op.effect, i) for i, op in enumerate(planned) if op.effect is not None):
        results[i] = _apply(planned[i].mops, store)
    return [Operation(i, op.process, "txn", op.mops, results.get(i) if op.status == OK else None,
                      op.status, op.call, op.ret)
            for i, op in enumerate(planned)]


def plant_g_single(ops: list[Operation], rng: random.Random) -> tuple[list[Operation], int]:
    """Drop the last value of a read that its transaction follows with an append to the key."""
    victims = [op for op in ops[len(ops) // 3: 2 * len(ops) // 3] if _stale_read_index(op)]
    victim = rng.choice(victims)
    index = _stale_read_index(victim)
    result = [list(mop) for mop in victim.result]
    result[index][2] = result[index][2][:-1]
    return [attrs.evolve(op, result=result) if op is victim else op for op in ops], victim.id


def timed_history(n_txns: int, *, keys: int = 5, clients: int = 5,
                  seed: int = 0) -> list[TimedTxn]:
    """Register transactions (read one key, write another) with commit timestamps."""
    rng = random.Random(seed)
    planned = _plan(n_txns, keys, clients, 0.0, 0.0, rng, register=True)
    store: dict[str, int] = {}
    timestamp = {i: rank for rank, (_, i) in enumerate(sorted(
        (op.effect, i) for i, op in enumerate(planned)))}
    txns = []
    for i in sorted(range(len(planned)), key=lambda i: planned[i].effect):
        op = planned[i]
        reads = {key: store.get(key) for f, key, _ in op.mops if f == "r"}
        writes = {key: value for f, key, value in op.mops if f == "w"}
        store.update(writes)
        txns.append(TimedTxn(i, op.call, op.ret, timestamp[i], reads, writes))
    return sorted(txns, key=lambda txn: txn.id)


def make_stale(txns: list[TimedTxn]) -> list[TimedTxn]:
    """The last transaction that read a written key reads the initial value instead."""
    written = {key for txn in txns for key in txn.writes}
    victim = max((txn for txn in txns if set(txn.reads) & written), key=lambda txn: txn.call)
    key = min(set(victim.reads) & written)
    stale = attrs.evolve(victim, reads={**victim.reads, key: None})
    return [stale if txn is victim else txn for txn in txns]


def _plan(n_txns: int, keys: int, clients: int, crash_rate: float, abort_rate: float,
          rng: random.Random, register: bool = False) -> list[_Planned]:
    free = [(rng.randint(0, 100), slot, 0) for slot in range(clients)]  # (free at, slot, life)
    heapq.heapify(free)
    values = iter(range(1, 10 * n_txns * 5))
    planned = []
    while len(planned) < n_txns:
        call, slot, life = heapq.heappop(free)
        ret: int | None = call + rng.randint(1, 100)
        effect: float | None = rng.uniform(call, ret)
        status = OK
        roll = rng.random()
        if roll < crash_rate:  # the client crashes: a fresh one takes its slot
            status, ret, life = INFO, None, life + 1
            effect = rng.uniform(call, call + 1000) if rng.random() < 0.5 else None
        elif roll < crash_rate + abort_rate:
            status, effect = FAIL, None
        mops = _register_mops(keys, values, rng) if register else _append_mops(keys, values, rng)
        planned.append(_Planned(f"p{slot}.{life}", call, ret, effect, status, mops))
        heapq.heappush(free, ((ret or call) + rng.randint(1, 50), slot, life))
    return planned


def _append_mops(keys: int, values, rng: random.Random) -> list:
    mops = []
    for _ in range(rng.randint(3, 5)):
        key = f"k{rng.randrange(keys)}"
        mops.append(["r", key, None] if rng.random() < 0.5 else ["append", key, next(values)])
    return mops


def _register_mops(keys: int, values, rng: random.Random) -> list:
    read, write = rng.sample([f"k{i}" for i in range(keys)], 2)
    return [["r", read, None], ["w", write, next(values)]]


def _apply(mops: list, store: dict[str, list[int]]) -> list:
    result = []
    for f, key, value in mops:
        if f == "append":
            store[key] = [*store.get(key, []), value]
            result.append([f, key, value])
        else:
            result.append([f, key, list(store.get(key, []))])
    return result


def _stale_read_index(op: Operation) -> int | None:
    """Index of a non-empty first read of a key the transaction then appends to."""
    if op.status != OK:
        return None
    first: dict[str, int] = {}
    for index, (f, key, value) in enumerate(op.result):
        if key in first:
            if f == "append" and first[key] is not None:
                return first[key]
            continue
        first[key] = index if f == "r" and value else None
    return None


def unbudgeted(ops: list[Operation], level: str = "serializable") -> Verdict:
    """The whole check, however long it takes: the default 10 s budget covers every phase,
    and the large histories need more."""
    return check_transactions(ops, level, max_seconds=None)


def bench(name: str, check, subject) -> list[str]:
    start = time.perf_counter()
    verdict = check(subject)
    elapsed = time.perf_counter() - start
    summary = verdict.explanation.splitlines()[0]
    print(f"{name:<44} {elapsed * 1000:9.1f} ms  {verdict.status:<8}  {summary[:90]}")
    return [name, f"{elapsed * 1000:.0f} ms", verdict.status]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", action="store_true", help="also 100k transactions")
    parser.add_argument("--budget", type=float, default=None, metavar="S",
                        help="also check each history within S seconds: how far past its "
                             "budget the checker ends (every phase counts against it)")
    args = parser.parse_args()
    rng = random.Random(7)
    sizes = [(1_000, 10), (10_000, 10), (10_000, 100)] + ([(100_000, 100)] if args.large else [])
    rows = []
    for n_txns, keys in sizes:
        ops = serializable_history(n_txns, keys=keys, seed=n_txns + keys)
        planted, victim = plant_g_single(ops, rng)
        for level in ("serializable", "strict-serializable"):
            rows.append(bench(f"{n_txns} txns, {keys} keys, {level}",
                              lambda ops, level=level: unbudgeted(ops, level), ops))
        rows.append(bench(f"{n_txns} txns, {keys} keys, planted G-single (T{victim})",
                          unbudgeted, planted))
        if args.budget is not None:
            rows.append(bench(f"{n_txns} txns, {keys} keys, serializable within {args.budget} s",
                              lambda ops: check_transactions(ops, max_seconds=args.budget), ops))
    for n_txns in (50, 200):
        txns = timed_history(n_txns, seed=n_txns)
        rows.append(bench(f"external, {n_txns} txns", check_external_consistency, txns))
        rows.append(bench(f"external, {n_txns} txns, stale read", check_external_consistency,
                          make_stale(txns)))
    command = "python benchmarks/bench_transactions.py" + (" --large" if args.large else "") \
        + (f" --budget {args.budget}" if args.budget is not None else "")
    write_section("Transactional checkers", command,
                  markdown_table(["history", "time", "verdict"], rows))


if __name__ == "__main__":
    main()
