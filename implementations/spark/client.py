"""A reader of the job's output, as a downstream job would read it: one partition at a time,
from the output directory once `_SUCCESS` is there (`ok` None: not yet)."""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.spark.messages import STORE, Output, ReadOutput


class OutputReader(Client):
    def on_start(self, ctx: Context) -> None:
        self.req = 0

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        ctx.send(STORE, ReadOutput(self.req, args))

    def on_reset(self, ctx: Context, peer: str) -> None:
        if self.op is not None:  # the read or its answer was lost: read again
            ctx.send(STORE, ReadOutput(self.req, self.op[1]))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Output) and self.op is not None and msg.req == self.req:
            self.complete(ctx, "ok", None if msg.rows is None else list(msg.rows))
