"""The clients: readers of the job's committed output, and the one that waits for the job.

- `await [key, start]` polls the store every POLL ticks until the committed output holds that
  window of that key, and returns the key's committed records (`info` after MOST_POLLS);
- `finish` polls the JobManager until the job has finished, then returns the whole committed
  output.
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.flink.messages import Read, ReadResult, Status, StatusResult

POLL = 10
MOST_POLLS = 40


class OutputReader(Client):
    def __init__(self, node_id: str, store: str, jobmanager: str) -> None:
        super().__init__(node_id)
        self.store, self.jobmanager = store, jobmanager

    def on_start(self, ctx: Context) -> None:
        self.req = 0

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        self.polls = 0
        self.job_done = False
        self.ask(ctx)

    def ask(self, ctx: Context) -> None:
        f, args = self.op
        if f == "await":
            ctx.send(self.store, Read(self.req, args[0]))
        elif self.job_done:
            ctx.send(self.store, Read(self.req, None))
        else:
            ctx.send(self.jobmanager, Status(self.req))
        ctx.set_timer("poll", POLL)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        self.polls += 1
        if self.polls >= MOST_POLLS:
            self.complete(ctx, "info")
        else:
            self.ask(ctx)

    def on_reset(self, ctx: Context, peer: str) -> None:
        if self.op is not None:  # the request or its answer may be lost: ask again
            self.ask(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return
        f, args = self.op
        match msg:
            case StatusResult(_, finished) if finished and not self.job_done:
                self.job_done = True
                self.ask(ctx)
            case ReadResult(_, records) if f == "finish" and self.job_done:
                self.done(ctx, records)
            case ReadResult(_, records) if f == "await" \
                    and any(tuple(r[:2]) == tuple(args) for r in records):
                self.done(ctx, records)

    def done(self, ctx: Context, records: tuple) -> None:
        ctx.cancel_timer("poll")
        self.complete(ctx, "ok", [list(record) for record in records])
