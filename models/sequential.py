"""Sequential specifications: what one copy of an object does, one operation at a time.

A checker replays a concurrent history against a `SequentialModel` to decide whether the
history could have come from that single copy. Models are pure: `apply` returns the possible
outcomes instead of mutating anything, so the checker can branch and backtrack freely.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from invariants.history import Operation


class SequentialModel(Protocol):
    """A sequential spec. States must be hashable and cheap to hash: checkers memoize on them."""

    name: str

    def initial(self) -> Hashable:
        """The state before any operation."""
        ...

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        """The possible `(result, next_state)` pairs of `f(args)` in `state`.

        Several pairs: the spec is nondeterministic. No pairs: `f` is not applicable here.
        """
        ...

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """Split a history into independent sub-histories (P-compositionality).

        The whole history is linearizable iff every part is, and small parts are far cheaper
        to search. The default keeps everything together.
        """
        return [ops]

    def describe_state(self, state: Hashable) -> str:
        """The state in words, for explanations."""
        ...

    def read_only(self, f: str, args: Any, result: Any) -> bool:
        """Whether `f(args)` completing with `result` leaves every state as it found it (a
        read; a cas that failed). The linearizability checker lets such an op take effect as
        soon as it fits the state, without trying other orders: it cannot change what any
        other op sees. The default, False, is always safe, only slower.
        """
        return False

    def footprint(self, f: str, args: Any) -> Hashable:
        """What `f(args)` touches, say its key. Ops with different footprints must commute:
        in every state, applying them in either order gives each the same result and ends
        in the same state, whatever each returns. The linearizability checker then lets only
        the ops that touch what the op it must take next touches take effect there (the
        others can wait without loss). The default, one footprint for all, is always safe.
        """
        return None


class Register(SequentialModel):
    """A single read/write register with compare-and-set.

    read() -> value; write(v) -> None; cas((old, new)) -> True (and sets new) iff value == old.
    """

    name = "register"

    def __init__(self, initial: Hashable = None) -> None:
        self._initial = initial

    def initial(self) -> Hashable:
        return self._initial

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        if f == "read":
            return [(state, state)]
        if f == "write":
            return [(None, args)]
        if f == "cas":
            old, new = args
            return [(True, new)] if state == old else [(False, state)]
        return []

    def read_only(self, f: str, args: Any, result: Any) -> bool:
        return f == "read" or (f == "cas" and result is False)

    def describe_state(self, state: Hashable) -> str:
        return f"value={state!r}"
