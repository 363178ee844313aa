"""Jepsen-style histories: events recorded by clients, and the operations they pair into.

A history is a list of `Event`s in the order they happened: a client `invoke`s an operation,
then completes it with `ok` (it happened, with this result), `fail` (it certainly did not
happen) or `info` (unknown: it may take effect at any later time, or never). `pair` turns the
events into `Operation`s.

The order of the list is the real-time order, as in Jepsen's histories: an operation precedes
another when its completion comes before the other's invocation in the list. Times only label
events for people. Many events share one virtual time in a simulation (time moves when a timer
fires), and two operations of one process at the same instant are still one after the other;
so each `Operation` carries its events' positions (`call`, `ret`) for every precedence question,
and their times (`call_time`, `ret_time`) for explanations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"


@attrs.frozen
class Event:
    process: str
    type: str  # invoke | ok | fail | info
    f: str
    value: Any
    time: int

    def to_json(self) -> dict:
        return {"process": self.process, "type": self.type, "f": self.f,
                "value": _jsonable(self.value), "time": self.time}


@attrs.frozen
class Operation:
    """One paired operation. `args` come from the invocation, `result` from the completion.

    `call` and `ret` are positions in the history (the real-time order; `ret` is None for an
    op that never returned); `call_time` and `ret_time` are the times shown to people, the
    positions themselves when the history has no times.
    """

    id: int
    process: str
    f: str
    args: Any
    result: Any
    status: str  # ok | fail | info
    call: int
    ret: int | None  # None: never returned (info)
    call_time: int = attrs.field(default=attrs.Factory(lambda op: op.call, takes_self=True))
    ret_time: int | None = attrs.field(
        default=attrs.Factory(lambda op: op.ret, takes_self=True))

    def precedes(self, other: Operation) -> bool:
        """Whether this op returned before `other` was called (real-time order)."""
        return self.ret is not None and self.ret < other.call

    def describe(self) -> str:
        outcome = {OK: f"-> {self.result!r}", FAIL: "failed", INFO: "-> ? (unknown outcome)"}
        ret = "never" if self.ret_time is None else f"t={self.ret_time}"
        interval = f"[t={self.call_time}..{ret}]"
        return f"{self.process} {self.f}{_args(self.args)} {outcome[self.status]} {interval}"

    def to_json(self) -> dict:
        return {"id": self.id, "process": self.process, "f": self.f,
                "args": _jsonable(self.args), "result": _jsonable(self.result),
                "status": self.status, "call": self.call, "ret": self.ret,
                "call_time": self.call_time, "ret_time": self.ret_time}


def pair(events: Iterable[Event]) -> list[Operation]:
    """Pair invocations with completions per process, as Jepsen does.

    An invocation with no completion becomes `info`; a completion with no open invocation is
    ignored (a history from outside may contain one; it cannot be attributed to anything).
    """
    open_: dict[str, tuple[int, int, Event]] = {}
    ops: list[Operation | None] = []
    for position, event in enumerate(events):
        if event.type == INVOKE:
            if event.process in open_:  # a new invoke without completion: the old one is unknown
                _close(ops, open_.pop(event.process), None, INFO, None)
            open_[event.process] = (len(ops), position, event)
            ops.append(None)
        elif event.process in open_:
            slot = open_.pop(event.process)
            ret = None if event.type == INFO else (position, event.time)
            result = event.value if event.type == OK else None
            _close(ops, slot, result, event.type, ret)
    for slot in open_.values():
        _close(ops, slot, None, INFO, None)
    return [op for op in ops if op is not None]


def _close(ops: list, slot: tuple[int, int, Event], result: Any, status: str,
           ret: tuple[int, int] | None) -> None:
    index, position, invoke = slot
    ret_position, ret_time = (None, None) if ret is None else ret
    ops[index] = Operation(index, invoke.process, invoke.f, invoke.value, result, status,
                           position, ret_position, invoke.time, ret_time)


def _args(args: Any) -> str:
    if isinstance(args, tuple):
        return "(" + ", ".join(repr(a) for a in args) + ")"
    return f"({args!r})"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def kind_of(value: Any) -> str:
    """What a value read from a history file is, in words (for messages about bad input)."""
    names = {dict: "a map", list: "a list", tuple: "a list", frozenset: "a set", set: "a set",
             str: "a string", type(None): "nil/null", bool: "a boolean", int: "a number",
             float: "a number"}
    return names.get(type(value), type(value).__name__)
