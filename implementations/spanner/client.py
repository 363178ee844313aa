"""Spanner's client library: read-write transactions through a coordinator leader, read-only
transactions as snapshot reads at TT.now().latest from any replica (section 4.2.2)."""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.spanner.group import Directory
from implementations.spanner.messages import (
    Begin,
    NotLeader,
    Outcome,
    ReadDone,
    SnapshotRead,
    Txn,
)

TXN_TIMEOUT = 1500  # a read-write transaction unanswered this long has an unknown outcome
READ_TIMEOUT = 300  # a snapshot read unanswered this long is sent to the next replica
BACKOFF = 50  # asked again after this long when no leader is known
ATTEMPTS = 4  # requests sent for one read-write transaction before giving up
RETRY_AFTER = 200  # a transaction seen through is begun again this long after an abort


class SpannerClient(Client):
    """Runs one transaction at a time. A read-write transaction goes to the leader of its first
    key's group, following redirects; it is `fail` only when an abort was logged, and `info`
    after a timeout or too many redirects (a request still in flight may yet run it). A
    read-only one reads every group at s_read = TT.now().latest, retrying the next replica of
    a group on a timeout, until it is answered.

    A read-write transaction listed in `see_through` is seen through, as a client library
    that retries aborted transactions does: after an abort it begins again, as a new
    transaction, and it follows redirects without limit; only a timeout (the outcome
    unknown) ends it short of a commit."""

    def __init__(self, node_id: str, directory: Directory, see_through: tuple = ()) -> None:
        super().__init__(node_id)
        self.directory = directory
        self.see_through = see_through  # the transactions' micro-ops, as tuples

    def on_start(self, ctx: Context) -> None:
        self.leader = {g: ctx.random.choice(members)
                       for g, members in self.directory.groups.items()}
        self.req = 0

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        self.mops = tuple(tuple(mop) for mop in args)
        self.attempts = 0
        self.read_only = not any(f == "w" for f, _, _ in self.mops)
        self.until_committed = self.mops in self.see_through
        if not self.read_only:
            self.coordinator = self.directory.owner[self.mops[0][1]]
            self.begin(ctx)
        else:
            self.read_ts = ctx.truetime()[1]
            self.waiting = {self.directory.owner[key]: None for _, key, _ in self.mops}
            self.values: dict[str, Any] = {}
            self.snapshot_reads(ctx)

    # --- read-write -----------------------------------------------------------------------

    def begin(self, ctx: Context) -> None:
        if self.attempts == ATTEMPTS and not self.until_committed:
            self.finish(ctx, "info")  # a request still in flight may yet run it
            return
        self.attempts += 1
        ctx.send(self.leader[self.coordinator], Begin(Txn(self.id, self.req), self.mops))
        ctx.set_timer("timeout", TXN_TIMEOUT)

    def on_outcome(self, ctx: Context, msg: Outcome) -> None:
        if msg.ts is None and self.until_committed:
            self.req += 1  # the aborted transaction is decided: begin a new one
            ctx.cancel_timer("timeout")
            ctx.set_timer("backoff", RETRY_AFTER)
            return
        if msg.ts is None:
            self.finish(ctx, "fail")
            return
        values = dict(msg.values)
        done = [[f, key, values.get(key) if f == "r" else value] for f, key, value in self.mops]
        self.finish(ctx, "ok", {"commit_ts": msg.ts, "txn": done})

    # --- read-only ------------------------------------------------------------------------

    def snapshot_reads(self, ctx: Context) -> None:
        """Ask every group still unanswered; retried at the next replica on a timeout, with
        no limit: a read-only transaction takes no locks and harms nothing by waiting, and a
        replica serves it once its safe time passes the read timestamp, which takes as long
        as the group's in-doubt transactions take to resolve."""
        for group in self.waiting:
            keys = tuple(dict.fromkeys(k for _, k, _ in self.mops
                                       if self.directory.owner[k] == group))
            ctx.send(self.leader[group], SnapshotRead(self.req, self.read_ts, keys))
        ctx.set_timer("timeout", READ_TIMEOUT)

    def on_read_done(self, ctx: Context, src: str, msg: ReadDone) -> None:
        group = self.directory.group_of(src)
        if group not in self.waiting:
            return
        del self.waiting[group]
        self.values.update(msg.values)
        if not self.waiting:
            done = [[f, key, self.values[key]] for f, key, _ in self.mops]
            self.finish(ctx, "ok", {"commit_ts": self.read_ts, "txn": done})

    # --- both -----------------------------------------------------------------------------

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return  # an answer to an earlier attempt or transaction
        match msg:
            case Outcome():
                self.on_outcome(ctx, msg)
            case ReadDone():
                self.on_read_done(ctx, src, msg)
            case NotLeader(_, hint):
                self.leader[self.coordinator] = hint or self.next_replica(src)
                ctx.cancel_timer("timeout")
                if hint and hint != src:
                    self.begin(ctx)
                else:  # nobody knows a leader yet
                    ctx.set_timer("backoff", BACKOFF)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "backoff":
            self.begin(ctx)
        elif self.read_only:
            for group in self.waiting:
                self.leader[group] = self.next_replica(self.leader[group])
            self.snapshot_reads(ctx)
        else:
            self.finish(ctx, "info")  # the coordinator may have committed it

    def next_replica(self, replica: str) -> str:
        members = self.directory.groups[self.directory.group_of(replica)]
        return members[(members.index(replica) + 1) % len(members)]

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("timeout")
        ctx.cancel_timer("backoff")
        self.complete(ctx, status, result)
