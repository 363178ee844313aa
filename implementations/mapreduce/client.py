"""Clients: the user program that submits the job and waits for it, and readers of the
output files."""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.mapreduce.messages import (
    MASTER,
    READ_TIMEOUT,
    READ_TRIES,
    RESUBMIT,
    STORE,
    Contents,
    Job,
    JobDone,
    Read,
    Submit,
    final_file,
)


class JobClient(Client):
    """`job` submits a job (re-sending until the master says it is done: the call returns
    only then, as the paper's MapReduce call does). `read` waits for one output partition as
    a downstream job would: it polls the store until the file exists, READ_TRIES times at
    most, and returns its records (`ok` None: still no such file)."""

    def on_start(self, ctx: Context) -> None:
        self.reqs = 0
        self.tries = 0

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.reqs += 1
        self.tries = 0
        self.send(ctx)

    def send(self, ctx: Context) -> None:
        f, args = self.op
        self.tries += 1
        if f == "job":  # backing off: the master keeps the job through its crashes
            ctx.send(MASTER, Submit(Job(**args)))
            ctx.set_timer("resend", RESUBMIT * 2 ** min(self.tries - 1, 3))
        else:
            ctx.send(STORE, Read(self.reqs, final_file(args)))
            ctx.set_timer("resend", READ_TIMEOUT)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None:
            return
        if isinstance(msg, JobDone) and self.op[0] == "job":
            ctx.cancel_timer("resend")
            self.complete(ctx, "ok", list(msg.files))
        elif isinstance(msg, Contents) and msg.req == self.reqs and self.op[0] == "read":
            if msg.records is None and self.tries < READ_TRIES:
                return  # poll again when the timer fires
            ctx.cancel_timer("resend")
            self.complete(ctx, "ok", msg.records)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if self.op[0] == "read" and self.tries >= READ_TRIES:
            self.complete(ctx, "fail")  # the last try went unanswered: a read changes nothing
        else:
            self.send(ctx)
