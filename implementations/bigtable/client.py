"""The client library: locate a row's tablet (cached), send the operation to its server, and
on silence or a refusal look the row up again. After ATTEMPTS requests a mutation's outcome is
unknown (`info`); a read simply failed. The operation `wait` lets time pass: the ending
uses it to give the cell time to notice lost locks and move tablets before its final reads."""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.bigtable.messages import Locate, Location, NotServing, Reply, Request
from implementations.bigtable.storage import in_range

TIMEOUT = 150  # a client looks the row up again after this long without an answer
BACKOFF = 100  # ... or this long after its server refused, or no server had the tablet
ATTEMPTS = 8


class TableClient(Client):
    def __init__(self, node_id: str, master: str) -> None:
        super().__init__(node_id)
        self.master = master

    def on_start(self, ctx: Context) -> None:
        self.req = 0
        self.attempts = 0
        self.locations: list[Location] = []  # cached tablet locations

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        self.attempts = 0
        if f == "wait":
            ctx.set_timer("wait", args[0])
            return
        self.send_request(ctx)

    def location(self, row: str) -> Location | None:
        return next((loc for loc in self.locations if in_range(row, loc.lo, loc.hi)), None)

    def send_request(self, ctx: Context) -> None:
        f, args = self.op
        if self.attempts == ATTEMPTS:
            self.finish(ctx, "fail" if f == "read" else "info")
            return
        self.attempts += 1
        location = self.location(args[0])
        if location is None:
            ctx.send(self.master, Locate(args[0]))
        else:
            ctx.send(location.server, Request(self.req, location.tablet, f, args))
        ctx.set_timer("timeout", TIMEOUT)

    def forget(self, row: str) -> None:
        self.locations = [loc for loc in self.locations if not in_range(row, loc.lo, loc.hi)]

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None:
            return
        row = self.op[1][0]
        match msg:
            case Location() if msg.row == row and self.location(row) is None:
                if msg.server is None:
                    self.back_off(ctx)
                else:
                    self.locations.append(msg)
                    self.send_request(ctx)
            case Reply(req, result) if req == self.req:
                self.finish(ctx, "ok", result)
            case NotServing(req) if req == self.req:
                self.refused(ctx, row)

    def refused(self, ctx: Context, row: str) -> None:
        """The cached server does not serve the row (any more): look it up again."""
        self.forget(row)
        self.back_off(ctx)

    def back_off(self, ctx: Context) -> None:
        ctx.cancel_timer("timeout")
        ctx.set_timer("backoff", BACKOFF)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "wait":
            self.complete(ctx, "ok")
            return
        if name == "timeout":
            self.forget(self.op[1][0])
        self.send_request(ctx)

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("timeout")
        ctx.cancel_timer("backoff")
        self.complete(ctx, status, result)


# --- seeded bugs --------------------------------------------------------------------------------


class KeepsStaleLocation(TableClient):
    """Seeded bug `stale-location-cache`: a refusal (`NotServing`) is taken for a passing
    hiccup. The client backs off and asks the same server again, keeping the location it
    cached; only a timeout makes it look the row up again.

    Breaks: progress. Once the tablet moves or is split, the server in the cache refuses at
    once, every time, so the timeout never comes: the client spends all its attempts on a
    server that no longer has the tablet, and even the ending's final reads fail on a cell
    that serves every row. Caught by: recovery-bounded (a final read not back
    within RETURNS ticks of its call), and progress-at-quiescence (it fails).
    Teaches: BigTable section 5.1: a client that "discovers that cached location information
    is incorrect" must go back up the location hierarchy; a refusal is that discovery.
    """

    def refused(self, ctx: Context, row: str) -> None:
        self.back_off(ctx)  # and ask the cached server again
