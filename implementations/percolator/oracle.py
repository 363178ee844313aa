"""The timestamp oracle: strictly increasing timestamps, with a durable upper bound."""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node

BATCH = 8  # the oracle makes its bound durable once per this many timestamps


@attrs.frozen
class GetTimestamp:
    req: tuple


@attrs.frozen
class Timestamp:
    req: tuple
    ts: int


class Oracle(Node):
    """Hands out strictly increasing timestamps. It makes an upper bound durable BATCH
    timestamps ahead, so that one disk write serves many requests, and after a crash resumes
    above that bound: every timestamp it may have handed out lies below it."""

    def on_start(self, ctx: Context) -> None:
        self.next_ts = 1
        self.bound = 0  # durable: no timestamp above it was handed out

    def on_recover(self, ctx: Context) -> None:
        self.bound = ctx.storage.get("bound", 0)
        self.next_ts = self.resume_at()

    def resume_at(self) -> int:
        return self.bound + 1

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, GetTimestamp):
            if self.next_ts > self.bound:
                self.bound = self.next_ts + BATCH - 1
                ctx.storage.put("bound", self.bound)
            ts, self.next_ts = self.next_ts, self.next_ts + 1
            ctx.note("timestamp", ts=ts)
            ctx.send(src, Timestamp(msg.req, ts))


class OracleReusesBatch(Oracle):
    """Seeded bug: after a crash the oracle resumes at the start of its last durable batch
    instead of above its bound.

    Breaks: timestamps handed out before the crash are handed out again, so a transaction can
    start "before" one that committed earlier in real time.
    Caught by: oracle-monotonic. Teaches: Percolator section 2.3: the oracle logs the highest
    allocated timestamp so that after a failure it only ever moves forward.
    """

    def resume_at(self) -> int:
        return max(1, self.bound - BATCH + 1)
