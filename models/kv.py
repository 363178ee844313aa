"""A key-value store: one independent register per key."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from models.sequential import SequentialModel

if TYPE_CHECKING:
    from invariants.history import Operation


class KV(SequentialModel):
    """read((key,)) -> value or None; write((key, value)) -> None; cas((key, old, new)) -> bool.

    The state is a frozenset of (key, value) pairs: hashable and, once `partition` has split
    the history by key, only ever one pair.
    """

    name = "kv"

    def initial(self) -> Hashable:
        return frozenset()

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        values = dict(state)
        key = args[0]
        if f == "read":
            return [(values.get(key), state)]
        if f == "write":
            return [(None, _set(values, key, args[1]))]
        if f == "cas":
            _, old, new = args
            if values.get(key) == old:
                return [(True, _set(values, key, new))]
            return [(False, state)]
        return []

    def read_only(self, f: str, args: Any, result: Any) -> bool:
        return f == "read" or (f == "cas" and result is False)

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """One sub-history per key: keys never interact."""
        return partition_by_key(ops)

    def describe_state(self, state: Hashable) -> str:
        items = sorted(dict(state).items(), key=repr)
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in items) + "}"


def _set(values: dict, key: Hashable, value: Any) -> frozenset:
    return frozenset({**values, key: value}.items())


def partition_by_key(ops: list[Operation]) -> list[list[Operation]]:
    """One sub-history per key (an op's first argument), in order of first appearance."""
    by_key: dict[Hashable, list[Operation]] = {}
    for op in ops:
        by_key.setdefault(op.args[0], []).append(op)
    return list(by_key.values())
