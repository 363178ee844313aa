"""Clients live inside the simulation and record a Jepsen-style history.

A workload invokes one operation at a time per client. The system's client subclass sends
requests, retries and times out as the system's real client library would, and finishes every
operation with `complete`: `ok` (it happened, with this result), `fail` (it certainly did not
happen) or `info` (unknown: it may still happen).
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node


class Client(Node):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.op: tuple[str, Any] | None = None  # the operation in progress

    @property
    def idle(self) -> bool:
        return self.op is None

    def invoke(self, ctx: Context, f: str, args: Any) -> None:
        self.op = (f, args)
        ctx.record("invoke", f, args)
        self.start(ctx, f, args)

    def start(self, ctx: Context, f: str, args: Any) -> None:
        """Begin the operation: subclasses send the request and arm their timeouts."""
        raise NotImplementedError

    def complete(self, ctx: Context, status: str, result: Any = None) -> None:
        assert self.op is not None, "complete() without an operation in progress"
        f, _ = self.op
        self.op = None
        ctx.record(status, f, result)
