"""What Spanner's clients must observe: one multi-key store, changed by whole transactions.

Strict serializability: every transaction takes effect atomically at one point between its
call and its return, in a single order, which (for Spanner, external consistency) is also the
order of commit timestamps. As a sequential specification: the state is a map of keys to
values; `txn(mops)` runs micro-ops `["r", k, _]` and `["w", k, v]` in order and returns them
with each read's value filled in. The checkers that refine a history against it are
`invariants/external.py` (the z3 serial order) and `invariants/transactions.py` (cycles).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from models.sequential import SequentialModel

READ, WRITE, TXN = "r", "w", "txn"


class MultiKeyStore(SequentialModel):
    """txn(mops) -> mops as completed. The state is a frozenset of (key, value) pairs."""

    name = "multi-key-store"

    def initial(self) -> Hashable:
        return frozenset()

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if f != TXN:
            return []
        values = dict(state)
        done = []
        for op, key, value in args:
            if op == READ:
                done.append([READ, key, values.get(key)])
            else:
                values[key] = value
                done.append([WRITE, key, value])
        return [(done, frozenset(values.items()))]

    def describe_state(self, state: Hashable) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in sorted(dict(state).items())) + "}"


def explains(order: list[list], model: MultiKeyStore | None = None) -> bool:
    """Whether running the completed transactions `order` one at a time, in that order, gives
    every read the value it returned: a serial witness for strict serializability."""
    model = model or MultiKeyStore()
    state = model.initial()
    for mops in order:
        [(done, state)] = model.apply(state, TXN, [[f, k, None if f == READ else v]
                                                   for f, k, v in mops])
        if done != [list(mop) for mop in mops]:
            return False
    return True
