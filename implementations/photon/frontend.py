"""The clients: frontends that write both logs in both datacenters, and wait for the pipeline.

- `serve(query_id, ad, click_ids)`: a query and the clicks on its ad are logged. Each click
  goes to both datacenters' click logs (their dispatchers) and the query to both event stores,
  the clicks first: a click often reaches a datacenter before its query, which the pipeline
  must handle. Unacknowledged entries are sent again until every log has them; the operation
  is `ok` once all have.
- `drain(rounds)`: the harness waits for the pipeline to settle. It asks every dispatcher and
  joiner to say when it has nothing left to do; once all have, it asks every registry replica
  how much of its log it has applied, and is done when they are level. It asks again every
  POLL (an answer may be lost, a node may crash) and fails after `rounds` rounds. What it is
  told only decides when to stop waiting: the checks read the output logs themselves.
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.photon.messages import (
    Click,
    HowFar,
    Idle,
    LogClick,
    Logged,
    LogLength,
    LogQuery,
    Query,
)

RESEND = 300  # a frontend sends what is not acknowledged again after this long
POLL = 300  # the harness asks again this often while the pipeline has not settled


class Frontend(Client):
    """A frontend (an ad server, say) logging queries and clicks, and the harness's waits."""

    def __init__(self, node_id: str, dispatchers: tuple[str, ...], event_stores: tuple[str, ...],
                 joiners: tuple[str, ...], registry: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.dispatchers, self.event_stores = dispatchers, event_stores
        self.workers = dispatchers + joiners  # who says when it is idle
        self.registry = registry

    def on_start(self, ctx: Context) -> None:
        self.unacked: dict[tuple[str, str], Any] = {}  # (log, entry id) -> its LogX message
        self.round = 0
        self.rounds_left = 0
        self.quiet: dict[str, None] = {}  # workers idle this round
        self.applied: dict[str, int] = {}  # replica -> its log length, this round

    def start(self, ctx: Context, f: str, args: Any) -> None:
        if f == "serve":
            query_id, ad, click_ids = args
            for click_id in click_ids:
                for dispatcher in self.dispatchers:
                    self.unacked[dispatcher, click_id] = LogClick(Click(click_id, query_id))
            for store in self.event_stores:
                self.unacked[store, query_id] = LogQuery(Query(query_id, ad))
            self.send_unacked(ctx)
        else:
            self.rounds_left = args
            self.ask_workers(ctx)

    def send_unacked(self, ctx: Context) -> None:
        for (log, _), msg in self.unacked.items():
            ctx.send(log, msg)
        ctx.set_timer("resend", RESEND)

    def ask_workers(self, ctx: Context) -> None:
        self.round, self.quiet, self.applied = self.round + 1, {}, {}
        self.rounds_left -= 1
        for node in self.workers:
            ctx.send(node, HowFar(self.round))
        ctx.set_timer("poll", POLL)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        serving = self.op is not None and self.op[0] == "serve"
        draining = self.op is not None and self.op[0] == "drain"
        match msg:
            case Logged(id_) if serving:
                self.unacked.pop((src, id_), None)
                if not self.unacked:
                    self.finish(ctx, "ok")
            case Idle(round_) if draining and round_ == self.round:
                self.quiet[src] = None
                if len(self.quiet) == len(self.workers):
                    for replica in self.registry:
                        ctx.send(replica, HowFar(self.round))
            case LogLength(round_, applied) if draining and round_ == self.round:
                self.applied[src] = applied
                if len(self.applied) == len(self.registry) \
                        and len(set(self.applied.values())) == 1:
                    self.finish(ctx, "ok")

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "resend":
            self.send_unacked(ctx)
        elif self.rounds_left > 0:
            self.ask_workers(ctx)
        else:
            self.finish(ctx, "fail")

    def finish(self, ctx: Context, status: str) -> None:
        ctx.cancel_timer("resend")
        ctx.cancel_timer("poll")
        self.unacked = {}
        self.complete(ctx, status)
