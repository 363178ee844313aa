"""Mesa's clients: an upstream system submitting update batches, and queries.

`submit(batch, rows)` goes to the committer and is `ok` with the batch's version once that
version is committed; unanswered after SUBMIT_ATTEMPTS tries it is `info` (the committer may
still commit it). `query(key, version)` asks one instance for the value of `key` at `version`
(None: the latest committed version the instance can answer), and tries the next instance
when refused or unanswered; it is `ok` with (version, value), or `fail` after QUERY_ATTEMPTS
tries.
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.mesa.deployment import Deployment
from implementations.mesa.messages import Query, QueryOk, Refused, Submit, SubmitOk

SUBMIT_TIMEOUT = 400  # a submission unanswered this long is sent again
SUBMIT_ATTEMPTS = 4
QUERY_TIMEOUT = 100  # a query unanswered this long goes to the next instance
QUERY_ATTEMPTS = 6
BACKOFF = 50  # after every instance refused, wait this long before asking again


class MesaClient(Client):
    """One operation at a time: a submission or a query."""

    def __init__(self, node_id: str, deployment: Deployment) -> None:
        super().__init__(node_id)
        self.deployment = deployment

    def on_start(self, ctx: Context) -> None:
        self.instance = ctx.random.choice(self.deployment.instances)
        self.req = 0
        self.attempts = 0
        self.request: Submit | Query | None = None

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        self.attempts = 0
        if f == "submit":
            batch, rows = args
            self.request = Submit(self.req, batch, rows)
        else:
            key, version = args
            self.request = Query(self.req, key, version)
        self.send_request(ctx)

    def send_request(self, ctx: Context) -> None:
        submit = isinstance(self.request, Submit)
        if self.attempts == (SUBMIT_ATTEMPTS if submit else QUERY_ATTEMPTS):
            self.finish(ctx, "info" if submit else "fail")
            return
        self.attempts += 1
        ctx.send(self.deployment.committer if submit else self.instance, self.request)
        ctx.set_timer("timeout", SUBMIT_TIMEOUT if submit else QUERY_TIMEOUT)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return  # an answer to an earlier attempt or operation
        match msg:
            case SubmitOk(_, version):
                self.finish(ctx, "ok", version)
            case QueryOk(_, version, value):
                self.finish(ctx, "ok", (version, value))
            case Refused():
                self.next_instance()
                if self.attempts % len(self.deployment.instances):
                    self.send_request(ctx)
                else:  # every instance refused: give them time to catch up
                    ctx.cancel_timer("timeout")
                    ctx.set_timer("backoff", BACKOFF)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "timeout" and isinstance(self.request, Query):
            self.next_instance()
        self.send_request(ctx)

    def next_instance(self) -> None:
        instances = self.deployment.instances
        self.instance = instances[(instances.index(self.instance) + 1) % len(instances)]

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("timeout")
        ctx.cancel_timer("backoff")
        self.complete(ctx, status, result)
