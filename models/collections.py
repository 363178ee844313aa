"""Sequential specs of collections and coordination objects: set, log, queue, lock, counter.

Each follows the `SequentialModel` protocol of `models.sequential`: `apply(state, f, args)`
lists the possible `(result, next_state)` pairs, and states are hashable (frozensets, tuples,
plain values) so the linearizability checker can memoize on them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from models.sequential import SequentialModel

if TYPE_CHECKING:
    from invariants.history import Operation


class Set(SequentialModel):
    """A grow-only set.

    add(v) -> None; contains(v) -> bool; read() -> frozenset of every member.
    """

    name = "set"

    def initial(self) -> Hashable:
        return frozenset()

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if f == "add":
            return [(None, state | {args})]
        if f == "contains":
            return [(args in state, state)]
        if f == "read":
            return [(state, state)]
        return []

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """Without whole-set reads, each element is an independent boolean: split by element."""
        if any(op.f == "read" for op in ops):
            return [ops]
        by_element: dict[Hashable, list[Operation]] = {}
        for op in ops:
            by_element.setdefault(op.args, []).append(op)
        return list(by_element.values())

    def describe_state(self, state: Hashable) -> str:
        return "{" + ", ".join(sorted(repr(v) for v in state)) + "}"


class Log(SequentialModel):
    """An append-only log.

    append(v) -> the offset v landed at (0, 1, ...), or None: a system that does not report
    offsets records None, and the spec allows it. read() -> tuple of all entries in order.
    """

    name = "log"

    def initial(self) -> Hashable:
        return ()

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if f == "append":
            after = (*state, args)
            return [(len(state), after), (None, after)]
        if f == "read":
            return [(state, state)]
        return []

    def describe_state(self, state: Hashable) -> str:
        return f"log={list(state)!r}"


class Queue(SequentialModel):
    """A FIFO queue: enqueue(v) -> None; dequeue() -> the oldest value, or None when empty."""

    name = "queue"

    def initial(self) -> Hashable:
        return ()

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if f == "enqueue":
            return [(None, (*state, args))]
        if f == "dequeue":
            return [(state[0], state[1:])] if state else [(None, state)]
        return []

    def describe_state(self, state: Hashable) -> str:
        return f"queue={list(state)!r} (oldest first)"


class Lock(SequentialModel):
    """A non-reentrant mutex; the state is the holder, or None when free.

    acquire(client) -> True (client now holds it) iff it was free; release(client) -> True
    (now free) iff client held it. A refused call changes nothing.
    """

    name = "lock"

    def initial(self) -> Hashable:
        return None

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if f == "acquire":
            return [(True, args)] if state is None else [(False, state)]
        if f == "release":
            return [(True, None)] if state is not None and state == args else [(False, state)]
        return []

    def describe_state(self, state: Hashable) -> str:
        return "free" if state is None else f"held by {state!r}"


class Counter(SequentialModel):
    """An integer counter starting at 0: add(n) -> None; read() -> the current total.

    Adding anything but an integer is not applicable (the checker reports the op as misfit).
    """

    name = "counter"

    def initial(self) -> Hashable:
        return 0

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if f == "add" and isinstance(args, int):
            return [(None, state + args)]
        if f == "read":
            return [(state, state)]
        return []

    def describe_state(self, state: Hashable) -> str:
        return f"total={state!r}"
