"""Time the transactional checkers: `python benchmarks/bench_transactions.py [--large]`.

List-append histories come from simulated stores. In the strictly serializable one each
transaction takes effect atomically at a random instant between its call and its return, and
its reads see the store at that instant. In the snapshot-isolated one a transaction reads a
snapshot taken at its start and commits its appends at a later instant unless a transaction
that committed in between appended to one of its keys (first committer wins): write skew
happens, G2-item cycles that snapshot isolation allows. A few clients crash (`info`: the
transaction takes effect later or never) and a few transactions abort (`fail`: no effect).
The "planted" variant makes one transaction that read a key and then appended to it miss the
last value it read, which closes a G-single-item cycle (it must come both before and after
that value's writer).

The 100,000-transaction histories are shaped like Jepsen's list-append workload: 10
processes, 1-4 micro-ops per transaction over a few active keys, each key retired after 32
appends (so reads stay short and the history's size grows linearly).

The external-consistency histories are register transactions with commit timestamps taken from
the same effect instants; the "stale" variant makes one late read return the initial value.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
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
                         crash_rate: float = 0.01, abort_rate: float = 0.02,
                         writes_per_key: int | None = None) -> list[Operation]:
    """A list-append history of `n_txns` transactions, values unique.

    Without `writes_per_key`, 3-5 micro-ops over `keys` keys for the whole history; with it,
    1-4 micro-ops over `keys` active keys, each retired after that many appends.
    """
    rng = random.Random(seed)
    planned = _plan(n_txns, _KeyPool(keys, writes_per_key, rng), clients, crash_rate,
                    abort_rate, rng)
    store: dict[str, list[int]] = {}
    results: dict[int, list] = {}
    for _, i in sorted((op.effect, i) for i, op in enumerate(planned) if op.effect is not None):
        results[i] = _apply(planned[i].mops, store)
    return _operations(planned, results)


def snapshot_isolated_history(n_txns: int, *, keys: int = 10, clients: int = 10, seed: int = 0,
                              writes_per_key: int = 32) -> list[Operation]:
    """A list-append history from a snapshot-isolated store (first committer wins)."""
    rng = random.Random(seed)
    planned = _plan(n_txns, _KeyPool(keys, writes_per_key, rng), clients, 0.01, 0.0, rng)
    versions: dict[str, list[tuple[float, int]]] = defaultdict(list)  # (commit instant, value)
    start = {i: rng.uniform(op.call, op.effect) for i, op in enumerate(planned)
             if op.effect is not None}
    committed = []
    for _, i in sorted((op.effect, i) for i, op in enumerate(planned) if op.effect is not None):
        written = {key for f, key, _ in planned[i].mops if f == "append"}
        if any(versions[key] and versions[key][-1][0] > start[i] for key in written):
            continue  # another transaction committed an append to one of its keys meanwhile
        committed.append(i)
        for f, key, value in planned[i].mops:
            if f == "append":
                versions[key].append((planned[i].effect, value))
    results = {i: _snapshot_reads(planned[i].mops, versions, start[i]) for i in committed}
    aborted = set(start) - set(committed)
    planned = [attrs.evolve(op, status=FAIL, effect=None)
               if i in aborted and op.status == OK else op for i, op in enumerate(planned)]
    return _operations(planned, results)


def _snapshot_reads(mops: list, versions: dict[str, list[tuple[float, int]]],
                    start: float) -> list:
    """What a transaction saw: each key as of `start`, plus its own appends so far."""
    own: dict[str, list[int]] = defaultdict(list)
    result = []
    for f, key, value in mops:
        if f == "append":
            own[key].append(value)
            result.append([f, key, value])
        else:
            before = [v for instant, v in versions[key] if instant < start]
            result.append([f, key, before + own[key]])
    return result


def _operations(planned: list[_Planned], results: dict[int, list]) -> list[Operation]:
    return [Operation(i, op.process, "txn", op.mops, results.get(i) if op.status == OK else None,
                      op.status, op.call, op.ret)
            for i, op in enumerate(planned)]


class _KeyPool:
    """The keys transactions pick from: a fixed set, or `active` keys each retired (replaced
    by a fresh one) after `writes_per_key` appends, as Jepsen's list-append workload does."""

    def __init__(self, active: int, writes_per_key: int | None, rng: random.Random) -> None:
        self.keys = [f"k{i}" for i in range(active)]
        self.writes_per_key, self.rng = writes_per_key, rng
        self.appends = dict.fromkeys(self.keys, 0)
        self.fresh = itertools.count(active)

    def mops(self, values: Iterator[int]) -> list:
        count = self.rng.randint(3, 5) if self.writes_per_key is None else self.rng.randint(1, 4)
        mops = []
        for _ in range(count):
            slot = self.rng.randrange(len(self.keys))
            key = self.keys[slot]
            if self.rng.random() < 0.5:
                mops.append(["r", key, None])
                continue
            mops.append(["append", key, next(values)])
            self.appends[key] += 1
            if self.appends[key] == self.writes_per_key:
                self.keys[slot] = f"k{next(self.fresh)}"
                self.appends[self.keys[slot]] = 0
        return mops


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
    planned = _plan(n_txns, keys, clients, 0.0, 0.0, rng)
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


def _plan(n_txns: int, keys: _KeyPool | int, clients: int, crash_rate: float,
          abort_rate: float, rng: random.Random) -> list[_Planned]:
    """Transactions on `clients` clients; `keys` an int plans register transactions."""
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
        mops = _register_mops(keys, values, rng) if isinstance(keys, int) else keys.mops(values)
        planned.append(_Planned(f"p{slot}.{life}", call, ret, effect, status, mops))
        heapq.heappush(free, ((ret or call) + rng.randint(1, 50), slot, life))
    return planned


def _register_mops(keys: int, values: Iterator[int], rng: random.Random) -> list:
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
    """Wall-clock and CPU time of one check (CPU time too: on a shared machine the wall clock
    measures the neighbours), and the process's peak resident memory so far (every history
    it generated and checked)."""
    start, cpu = time.perf_counter(), time.process_time()
    verdict = check(subject)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = verdict.explanation.splitlines()[0]
    print(f"{name:<58} {elapsed:7.2f} s  cpu {used:6.2f} s  {peak:5.0f} MB  "
          f"{verdict.status:<8}  {summary[:70]}")
    return [name, f"{elapsed:.2f} s", f"{used:.2f} s", f"{peak:.0f} MB", verdict.status,
            _types(verdict)]


def _types(verdict: Verdict) -> str:
    line = verdict.explanation.splitlines()[0]
    return line.split(": ", 1)[1] if line.startswith("not ") else "-"


JEPSEN_SHAPED = [("serializable", "snapshot-isolation"), ("serializable", "strict-serializable"),
                 ("planted", "snapshot-isolation"), ("planted", "strict-serializable"),
                 ("snapshot-isolated", "snapshot-isolation"), ("snapshot-isolated", "serializable")]
"""100,000 transactions, 10 processes, keys retired after 32 appends: serializable,
snapshot-isolated, and one planted G-single-item, at snapshot isolation and strict
serializability (the snapshot-isolated one at serializability too: its write skew)."""


def jepsen_shaped(rows: list[list[str]]) -> None:
    """Each of `JEPSEN_SHAPED` in a fresh process (`jepsen_shaped_case`), so that its peak RSS
    is that history generated and checked, and nothing generated before."""
    for history, level in JEPSEN_SHAPED:
        child = subprocess.run([sys.executable, __file__, "--case", history, level],
                               capture_output=True, text=True, check=True)
        *printed, row = child.stdout.splitlines()
        print(*printed, sep="\n")
        rows.append(json.loads(row))


def jepsen_shaped_case(history: str, level: str) -> list[str]:
    """One of `JEPSEN_SHAPED`: its history generated, then checked."""
    n = 100_000
    if history == "snapshot-isolated":
        ops = snapshot_isolated_history(n, keys=10, clients=10, seed=1)
    else:
        ops = serializable_history(n, keys=10, clients=10, seed=1, writes_per_key=32)
    if history == "planted":
        ops, victim = plant_g_single(ops, random.Random(7))
        history = f"planted G-single-item (T{victim})"
    return bench(f"{n} txns, 10 processes, {history}, at {level}",
                 lambda ops: unbudgeted(ops, level), ops)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", action="store_true",
                        help="also the 100,000-transaction Jepsen-shaped histories")
    parser.add_argument("--budget", type=float, default=None, metavar="S",
                        help="also check each history within S seconds: how far past its "
                             "budget the checker ends (every phase counts against it)")
    parser.add_argument("--case", nargs=2, metavar=("HISTORY", "LEVEL"),
                        help="only one of the 100,000-transaction cases, its row printed as "
                             "JSON on the last line (what --large runs in a fresh process)")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(jepsen_shaped_case(*args.case)))
        return
    rng = random.Random(7)
    rows: list[list[str]] = []
    for n_txns, keys in [(1_000, 10), (10_000, 10), (10_000, 100)]:
        ops = serializable_history(n_txns, keys=keys, seed=n_txns + keys)
        planted, victim = plant_g_single(ops, rng)
        for level in ("serializable", "strict-serializable"):
            rows.append(bench(f"{n_txns} txns, {keys} keys, {level}",
                              lambda ops, level=level: unbudgeted(ops, level), ops))
        rows.append(bench(f"{n_txns} txns, {keys} keys, planted G-single-item (T{victim})",
                          unbudgeted, planted))
        if args.budget is not None:
            rows.append(bench(f"{n_txns} txns, {keys} keys, serializable within {args.budget} s",
                              lambda ops: check_transactions(ops, max_seconds=args.budget), ops))
    if args.large:
        jepsen_shaped(rows)
    for n_txns in (50, 200):
        txns = timed_history(n_txns, seed=n_txns)
        rows.append(bench(f"external, {n_txns} txns", check_external_consistency, txns))
        rows.append(bench(f"external, {n_txns} txns, stale read", check_external_consistency,
                          make_stale(txns)))
    command = "python benchmarks/bench_transactions.py" + (" --large" if args.large else "") \
        + (f" --budget {args.budget}" if args.budget is not None else "")
    note = ("\n\nThe wall clock is what the shared machine gave; CPU time is the checker's own "
            "work. Each 100,000-transaction row ran in a fresh process: its peak RSS is that "
            "history generated and checked (the history itself is about 184 MB). The other rows "
            "share one process: their peak RSS is its peak so far.")
    write_section("Transactional checkers", command,
                  markdown_table(["history", "wall", "cpu", "peak RSS", "verdict",
                                  "anomalies"], rows) + note)


if __name__ == "__main__":
    main()
