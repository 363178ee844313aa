"""Jepsen-style histories: events recorded by clients, and the operations they pair into.

A history is a list of `Event`s in the order they happened: a client `invoke`s an operation,
then completes it with `ok` (it happened, with this result), `fail` (it certainly did not
happen) or `info` (unknown: it may take effect at any later time, or never). `pair` turns the
events into `Operation`s, each with a call and a return time (`None` for `info`: it never
returned).
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
    """One paired operation. `args` come from the invocation, `result` from the completion."""

    id: int
    process: str
    f: str
    args: Any
    result: Any
    status: str  # ok | fail | info
    call: int
    ret: int | None  # None: never returned (info)

    def describe(self) -> str:
        outcome = {OK: f"-> {self.result!r}", FAIL: "failed", INFO: "-> ? (unknown outcome)"}
        ret = "never" if self.ret is None else f"t={self.ret}"
        interval = f"[t={self.call}..{ret}]"
        return f"{self.process} {self.f}{_args(self.args)} {outcome[self.status]} {interval}"

    def to_json(self) -> dict:
        return {"id": self.id, "process": self.process, "f": self.f,
                "args": _jsonable(self.args), "result": _jsonable(self.result),
                "status": self.status, "call": self.call, "ret": self.ret}


def pair(events: Iterable[Event]) -> list[Operation]:
    """Pair invocations with completions per process, as Jepsen does.

    An invocation with no completion becomes `info`; a completion with no open invocation is
    ignored (a history from outside may contain one; it cannot be attributed to anything).
    """
    open_: dict[str, tuple[int, Event]] = {}
    ops: list[Operation | None] = []
    for event in events:
        if event.type == INVOKE:
            if event.process in open_:  # a new invoke without completion: the old one is unknown
                _close(ops, open_.pop(event.process), None, INFO, None)
            open_[event.process] = (len(ops), event)
            ops.append(None)
        elif event.process in open_:
            slot = open_.pop(event.process)
            ret = None if event.type == INFO else event.time
            result = event.value if event.type == OK else None
            _close(ops, slot, result, event.type, ret)
    for slot in open_.values():
        _close(ops, slot, None, INFO, None)
    return [op for op in ops if op is not None]


def _close(ops: list, slot: tuple[int, Event], result: Any, status: str, ret: int | None) -> None:
    index, invoke = slot
    ops[index] = Operation(index, invoke.process, invoke.f, invoke.value, result, status,
                           invoke.time, ret)


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
