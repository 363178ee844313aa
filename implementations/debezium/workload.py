"""The hunt's clients: writers of the shop database, which also read the search index.

- `txn` runs a transaction on the database: ok with its binlog position and row changes,
  info if no answer came (it may have committed);
- `sync` waits for the writer's own changes to reach the index (read-your-writes through the
  pipeline, as an application using the index would): ok with the documents once each key
  it wrote holds a version at or after the writer's last change to it, fail if they did not
  within `SYNC_ROUNDS` searches;
- `scan` (the ending's) waits for the pipeline to drain, as an operator watching its lag
  would: it reads every table with the binlog position they are as of, the connector's
  committed offset (Kafka Connect's REST API) until it has reached that position, and the
  whole index, in rounds further and further apart (`SCAN_WAITS`); it ends once the index
  holds exactly the tables' rows with the offset caught up, or after the last round: ok with
  the tables, the position they are as of, the committed offset and the index, which the
  checks compare with the model.
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.debezium.connector import CONNECTOR, DATABASE
from implementations.debezium.messages import (
    Committed,
    Execute,
    GetOffsets,
    Hits,
    Offsets,
    Rows,
    Search,
    Select,
)
from implementations.debezium.sink import INDEX

TXN_TIMEOUT = 40
ROUND = 20  # between two searches of a sync
SYNC_ROUNDS = 12
SCAN_WAITS = (20, 40, 80, 160, 320, 640)  # after each round of a scan
SCANNED = ("source", "position", "offset", "index")  # what a scan answers with


class Writer(Client):
    def on_start(self, ctx: Context) -> None:
        self.req = 0
        self.written: dict[tuple, int] = {}  # key -> position of this writer's last change
        self.rounds = 0
        self.answers: dict[str, Any] = {}  # the current round's readings

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.rounds, self.answers = 0, {}
        if f == "txn":
            self.req += 1
            ctx.send(DATABASE, Execute(self.req, tuple(tuple(op) for op in args)))
            ctx.set_timer("round", TXN_TIMEOUT)
        else:
            self.round(ctx)

    def round(self, ctx: Context) -> None:
        """Search the index (sync); or read the index, and what is not settled yet of the
        tables and the offset (scan: the tables do not change once the writers are done)."""
        self.req, self.rounds = self.req + 1, self.rounds + 1
        if self.op[0] == "sync":
            ctx.send(INDEX, Search(self.req, tuple(sorted(self.written))))
            ctx.set_timer("round", ROUND)
            return
        if "source" not in self.answers:
            ctx.send(DATABASE, Select(self.req, None))
        if not self.offset_caught_up():
            self.answers.pop("offset", None)
            ctx.send(CONNECTOR, GetOffsets(self.req))
        self.answers.pop("index", None)
        ctx.send(INDEX, Search(self.req, None))
        ctx.set_timer("round", SCAN_WAITS[self.rounds - 1])

    def offset_caught_up(self) -> bool:
        return self.answers.get("offset", -1) >= self.answers.get("position", 1)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or getattr(msg, "req", None) != self.req:
            return  # an answer to an operation or a round that is over
        match msg:
            case Committed(_, position, changes):
                ctx.cancel_timer("round")
                for change in changes:
                    self.written[(change.table, change.pk)] = position
                self.complete(ctx, "ok", [position, [[c.op, c.table, c.pk, c.after]
                                                     for c in changes]])
            case Rows(_, position, _, rows):
                self.answers["source"] = [list(row) for row in rows]
                self.answers["position"] = position
                self.judge(ctx)
            case Offsets(_, position):
                self.answers["offset"] = position or 0
                self.judge(ctx)
            case Hits(_, docs):
                self.answers["index"] = [[*key, doc.position, doc.row] for key, doc in docs]
                self.judge(ctx)

    def judge(self, ctx: Context) -> None:
        f, _ = self.op
        if f == "sync" and self.caught_up(self.answers["index"]):
            self.finish(ctx, "ok", self.answers["index"])
        elif f == "scan" and len(self.answers) == 4 and self.drained():
            self.finish(ctx, "ok", self.scanned())

    def caught_up(self, docs: list) -> bool:
        versions = {(table, pk): position for table, pk, position, _ in docs}
        return all(versions.get(key, 0) >= position for key, position in self.written.items())

    def drained(self) -> bool:
        live = [[table, pk, row] for table, pk, _, row in self.answers["index"]
                if row is not None]
        return self.offset_caught_up() and live == self.answers["source"]

    def scanned(self) -> dict:
        return {k: self.answers[k] for k in SCANNED if k in self.answers}

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("round")
        self.complete(ctx, status, result)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        f, _ = self.op
        if f == "txn":
            self.complete(ctx, "info")
        elif f == "sync" and self.rounds >= SYNC_ROUNDS:
            self.finish(ctx, "fail")
        elif f == "scan" and self.rounds >= len(SCAN_WAITS):
            self.finish(ctx, "ok", self.scanned())
        else:
            self.round(ctx)

    def on_reset(self, ctx: Context, peer: str) -> None:
        if self.op is not None and self.op[0] == "txn" and peer == DATABASE:
            self.finish(ctx, "info")
