"""The client: hands each operation to its query engine and waits for the outcome."""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.iceberg.messages import Done, Lost, Op, Probe, Working

PROBE = 100  # the client asks its engine this often whether the operation still runs
STALLS = 6  # probes in a row unanswered after which the client gives up


class IcebergClient(Client):
    """Records `ok` or `fail` as the engine answers. Once its engine says it holds no such
    operation (it restarted) or STALLS probes in a row go unanswered (it is down or cut off),
    the outcome is unknown: `info` (a commit may still land)."""

    def __init__(self, node_id: str, engine: str) -> None:
        super().__init__(node_id)
        self.engine = engine

    def on_start(self, ctx: Context) -> None:
        self.req = 0
        self.unanswered = 0

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        self.unanswered = 0
        ctx.send(self.engine, Op(self.req, f, args))
        ctx.set_timer("probe", PROBE)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return
        match msg:
            case Done(_, status, result):
                self.finish(ctx, status, result)
            case Lost():
                self.finish(ctx, "info")
            case Working():
                self.unanswered = 0

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if self.unanswered == STALLS:
            self.finish(ctx, "info")
            return
        self.unanswered += 1
        ctx.send(self.engine, Probe(self.req))
        ctx.set_timer("probe", PROBE)

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("probe")
        self.complete(ctx, status, result)
