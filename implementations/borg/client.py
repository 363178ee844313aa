"""A Borg user: submits and kills jobs, and asks where its tasks run.

- `submit(job)`: `ok` with "admitted" once the job is in the Borgmaster's log, `fail` with
  the reason when admission control rejected it, `info` if no answer came;
- `kill(job)`: `ok` with "killed", `fail` with the reason (no such job, jobs still run in
  the alloc), or `info`;
- `status()`: `ok` with (task, machine or None for pending) for each of the user's tasks,
  once the master says the cell has settled; `fail` if it never did.

Requests go to the replica believed to be master, follow its redirections, and go to the
next replica when unanswered.
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.borg.cell import Deployment
from implementations.borg.messages import (
    KillJob,
    NotMaster,
    NotSettled,
    Outcome,
    Status,
    StatusOk,
    Submit,
)

TIMEOUT = 200  # an unanswered request goes to the next replica after this long
ATTEMPTS = 6  # requests per submission or kill before the outcome is unknown
BACKOFF = 50  # nobody knows a master: ask again after this long
STATUS_RETRY = 100  # the cell has not settled: ask again after this long
STATUS_ATTEMPTS = 60


class BorgClient(Client):
    def __init__(self, node_id: str, deployment: Deployment) -> None:
        super().__init__(node_id)
        self.deployment = deployment
        self.replicas = deployment.replicas

    def on_start(self, ctx: Context) -> None:
        self.target = ctx.random.choice(self.replicas)
        self.req = 0
        self.attempts = 0
        self.request: Submit | KillJob | Status | None = None

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        self.attempts = 0
        if f == "submit":
            self.request = Submit(self.id, self.req, args[0])
        elif f == "kill":
            self.request = KillJob(self.id, self.req, args[0])
        else:
            self.request = Status(self.req)
        self.send_request(ctx)

    def send_request(self, ctx: Context) -> None:
        status = isinstance(self.request, Status)
        if self.attempts == (STATUS_ATTEMPTS if status else ATTEMPTS):
            self.finish(ctx, "fail" if status else "info")
            return
        self.attempts += 1
        ctx.send(self.target, self.request)
        ctx.set_timer("timeout", TIMEOUT)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return  # an answer to an earlier attempt or operation
        match msg:
            case Outcome(_, outcome) if outcome in ("admitted", "killed"):
                self.finish(ctx, "ok", outcome)
            case Outcome(_, outcome):
                self.finish(ctx, "fail", outcome)
            case StatusOk(_, tasks):
                self.finish(ctx, "ok", tasks)
            case NotSettled():
                self.wait(ctx, STATUS_RETRY)
            case NotMaster(_, hint) if hint is not None and hint != src:
                self.target = hint
                self.send_request(ctx)
            case NotMaster(_, hint):  # nobody knows a master, or it is not ready yet
                self.target = hint or self.next_replica(src)
                self.wait(ctx, BACKOFF)

    def wait(self, ctx: Context, delay: int) -> None:
        ctx.cancel_timer("timeout")
        ctx.set_timer("retry", delay)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "timeout":
            self.target = self.next_replica(self.target)
        self.send_request(ctx)

    def next_replica(self, replica: str) -> str:
        return self.replicas[(self.replicas.index(replica) + 1) % len(self.replicas)]

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("timeout")
        ctx.cancel_timer("retry")
        self.complete(ctx, status, result)
