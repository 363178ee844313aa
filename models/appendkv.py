"""The key-value store of the Raft labs: get, put and append on string values.

`get((key,)) -> value`, `put((key, value)) -> None`, `append((key, value)) -> None`, where
append concatenates strings and a key never written reads as the empty string. This is the
store distributed-systems courses have students build on Raft, and the model their tests
check it against; the history is split by key, each key a register of its own.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from models.kv import partition_by_key
from models.sequential import SequentialModel

if TYPE_CHECKING:
    from invariants.history import Operation

GET, PUT, APPEND = "get", "put", "append"


class AppendKV(SequentialModel):
    """A map from keys to strings; a missing key reads as "".

    The state is a frozenset of (key, value) pairs holding only the keys whose value is not
    empty, so that "never written" and "written empty" are one state (they read the same).
    `by_key=False` keeps the whole history as one search over the whole map: slower, and
    useful only to measure what partitioning saves.
    """

    name = "append-kv"

    def __init__(self, *, by_key: bool = True) -> None:
        self.by_key = by_key

    def initial(self) -> Hashable:
        return frozenset()

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if not isinstance(args, tuple) or not args:
            raise TypeError(f"{f} takes (key, ...), found {args!r}")
        key, values = args[0], dict(state)
        if f == GET:
            return [(values.get(key, ""), state)]
        if f not in (PUT, APPEND):
            return []
        if len(args) != 2:
            raise TypeError(f"{f} takes (key, value), found {args!r}")
        value = args[1]
        if not isinstance(value, str):
            raise TypeError(f"{f} takes a string value, found {type(value).__name__}")
        if f == APPEND:
            value = values.get(key, "") + value
        if value:
            values[key] = value
        else:
            values.pop(key, None)
        return [(None, frozenset(values.items()))]

    def read_only(self, f: str, args: Any, result: Any) -> bool:
        return f == GET

    def footprint(self, f: str, args: Any) -> Hashable:
        """The key: ops on different keys commute (what a whole-map search relies on)."""
        return args[0] if isinstance(args, tuple) and args else None

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """One sub-history per key, in order of first appearance (unless `by_key` is off)."""
        return partition_by_key(ops) if self.by_key else [ops]

    def describe_state(self, state: Hashable) -> str:
        items = sorted(dict(state).items(), key=repr)
        if not items:
            return "{} (every key empty)"
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in items) + "}"
