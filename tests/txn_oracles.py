"""Brute-force transactional oracles: try every serial order; only for a handful of txns."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from invariants.external import TimedTxn
from invariants.history import FAIL, INFO, OK, Operation


def brute_force_serializable(ops: Sequence[Operation], *, realtime: bool = False) -> bool:
    """Whether some serial order of the committed transactions replays every read.

    `ok` transactions are all included, `fail` ones never, each `info` one either (with its
    writes: its reads are unknown) or not. Under `realtime`, a transaction that returned before
    another was called must come first.
    """
    txns = [op for op in ops if op.f == "txn" and op.status != FAIL]
    required = [op for op in txns if op.status == OK]
    optional = [op for op in txns if op.status == INFO]
    return any(_replays([_steps(op) for op in order])
               for chosen in _subsets(optional)
               for order in itertools.permutations(required + chosen)
               if not realtime or _respects_real_time(order))


def brute_force_externally_consistent(txns: Sequence[TimedTxn]) -> bool:
    """Timestamps agree with real time (a later read-only transaction may share an earlier
    one's timestamp), and some real-time-respecting order replays the reads."""
    committed = [txn for txn in txns if txn.committed]
    if any(a.ret < b.call and (a.commit_ts > b.commit_ts
                               or (a.commit_ts == b.commit_ts and b.writes))
           for a, b in itertools.permutations(committed, 2)):
        return False
    optional = [txn for txn in txns if not txn.committed]
    return any(_replays([_timed_steps(txn) for txn in order])
               for chosen in _subsets(optional)
               for order in itertools.permutations(committed + chosen)
               if _respects_real_time(order))


def _subsets(items: list) -> Iterator[list]:
    for size in range(len(items) + 1):
        for subset in itertools.combinations(items, size):
            yield list(subset)


def _respects_real_time(order: Sequence[Any]) -> bool:
    return not any(later.ret is not None and later.ret < earlier.call
                   for i, earlier in enumerate(order) for later in order[i + 1:])


def _steps(op: Operation) -> list[tuple[str, Any, Any]]:
    if op.status == OK:
        return [tuple(mop) for mop in op.result]
    return [(f, key, value) for f, key, value in op.args if f != "r"]


def _timed_steps(txn: TimedTxn) -> list[tuple[str, Any, Any]]:
    return ([("r", key, value) for key, value in txn.reads.items()]
            + [("w", key, value) for key, value in txn.writes.items()])


def _replays(transactions: list[list[tuple[str, Any, Any]]]) -> bool:
    """Run the micro-ops one transaction after another on a fresh store; reads must match."""
    state: dict[Any, Any] = {}
    for steps in transactions:
        for f, key, value in steps:
            if f == "append":
                state[key] = [*state.get(key, []), value]
            elif f == "w":
                state[key] = value
            elif not _same(state.get(key), value):
                return False
    return True


def _same(current: Any, seen: Any) -> bool:
    """A read matches the store; nil and the empty list are the same empty list-append key."""
    if isinstance(current, list) or isinstance(seen, (list, tuple)):
        return list(current or []) == list(seen or [])
    return current == seen
