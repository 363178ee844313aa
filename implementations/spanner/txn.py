"""Read-write transactions: two-phase locking at group leaders, two-phase commit across
groups, commit timestamps from TrueTime, and commit wait (Spanner, OSDI'12, section 4.2.1).

A client sends the whole transaction to the leader of the group owning its first key: that
leader is the *coordinator*, the other groups it touches are *participants*.

1. Locks (two-phase locking, no-wait): each leader takes read locks on the keys it reads and
   write locks on those it writes; a conflict aborts the transaction at once (no waiting, so
   no deadlock). Reads are done under the locks, at the leader.
2. Prepare: each participant leader picks a prepare timestamp above every timestamp it has
   assigned, logs a prepare record (with its locks) through Paxos, and sends `Prepared` to the
   coordinator. The coordinator itself skips the prepare.
3. Commit: once every participant has prepared, the coordinator picks the commit timestamp
   s >= every prepare timestamp, s >= TT.now().latest, s > every timestamp it assigned, and
   logs a commit record.
4. Commit wait: the coordinator waits until TT.after(s) — s has surely passed everywhere —
   and only then tells the client and the participants and releases its locks. Participants
   log their own commit record and release theirs.

A participant prepared for INQUIRE_AFTER without an outcome asks the coordinator's group
(`Inquire`), whose leader answers from its log (a commit only once commit wait is over); if
the log has no outcome and the leader runs no such transaction (its coordinator lost office),
the leader logs an abort: a commit record can only come later in the log, and is then void.

Any conflict, or a participant that does not prepare within ABORT_AFTER, aborts the
transaction: the coordinator logs an abort record and tells the client once it is chosen (a
duplicate of the client's request reaching a later leader then finds the transaction decided),
and tells the participants, which log an abort if they had prepared. A leader that loses its
office drops what it has not yet committed; its client will not hear from it (the outcome is
unknown to the client: a duplicate request might still run the transaction elsewhere). What
it committed waits for the record; elected again, it drops that work, locks and all, once its
log is recovered without the record, which then never will be chosen.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context
from implementations.paxos_core import MASTER
from implementations.spanner.group import GroupReplica
from implementations.spanner.messages import (
    Abort,
    AbortRecord,
    Begin,
    Commit,
    CommitRecord,
    Inquire,
    NotLeader,
    Outcome,
    Prepared,
    PrepareRecord,
    PrepareRequest,
    Refused,
    Txn,
)

ABORT_AFTER = 400  # a coordinator aborts a transaction not prepared everywhere by then
INQUIRE_AFTER = 500  # a participant prepared this long asks the coordinator's group


@attrs.define
class Work:
    """A transaction a leader is running: its locks here, the values it read, and, at the
    coordinator, the participants' prepare timestamps and the commit timestamp."""

    txn: Txn
    coordinator: str
    reads: tuple[str, ...]
    writes: tuple[tuple[str, Any], ...]
    values: dict[str, Any]
    participants: dict[str, int | None] = attrs.Factory(dict)  # group -> prepare timestamp
    commit_ts: int | None = None  # chosen: the commit record is logged or on its way


def split(mops: tuple, owner: dict[str, str]) -> dict[str, tuple[tuple, tuple]]:
    """Per group, in order of first use: (keys read before being written, last writes)."""
    parts: dict[str, tuple[dict, dict]] = {}
    for f, key, value in mops:
        reads, writes = parts.setdefault(owner[key], ({}, {}))
        if f == "r" and key not in writes:
            reads[key] = None
        elif f == "w":
            writes[key] = value
    return {g: (tuple(reads), tuple(writes.items())) for g, (reads, writes) in parts.items()}


def parse_txn(text: str) -> Txn:
    """The transaction a timer is named after (`repr(txn)`)."""
    client, req = text.split("/")
    return Txn(client, int(req))


class SpannerReplica(GroupReplica):
    """A group replica that also runs read-write transactions as leader."""

    def on_start(self, ctx: Context) -> None:
        self.work: dict[Txn, Work] = {}  # volatile: lost with the leader's office
        self.abandoned: dict[Txn, None] = {}  # aborted before their prepare record applied
        self.aborting: dict[Txn, None] = {}  # coordinated here, abort record on its way
        super().on_start(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Begin():
                self.on_begin(ctx, src, msg)
            case PrepareRequest():
                self.on_prepare_request(ctx, msg)
            case Prepared(txn, ts, values):
                self.on_prepared(ctx, self.directory.group_of(src), txn, ts, values)
            case Refused(txn) if txn in self.work and self.work[txn].commit_ts is None:
                self.abort(ctx, self.work[txn])
            case Commit(txn, ts):
                self.on_commit(ctx, txn, ts)
            case Abort(txn):
                self.on_abort(ctx, txn)
            case Inquire(txn):
                self.on_inquire(ctx, src, txn)
            case _:
                super().on_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        kind, _, txn = name.partition(" ")
        work = self.work.get(parse_txn(txn)) if txn else None
        if kind == "abort" and work is not None and work.commit_ts is None:
            self.abort(ctx, work)
        elif kind == "wait" and work is not None:
            self.commit_wait(ctx, work)
        elif kind == "inquire":
            self.inquire(ctx, parse_txn(txn))
        elif not txn:
            super().on_timer(ctx, name)

    # --- two-phase locking (no-wait) -------------------------------------------------------

    def lock_holders(self) -> list[tuple[Txn, tuple, tuple]]:
        """(txn, keys read, writes) of every transaction holding locks here: the prepared
        ones (replicated) and those this leader runs (volatile)."""
        held = [(txn, r.reads, r.writes) for txn, r in self.prepared.items()]
        return held + [(txn, w.reads, w.writes) for txn, w in self.work.items()
                       if txn not in self.prepared]

    def conflicts(self, txn: Txn, reads: tuple, writes: tuple) -> bool:
        mine_written = {key for key, _ in writes}
        for other, their_reads, their_writes in self.lock_holders():
            theirs_written = {key for key, _ in their_writes}
            if other != txn and (mine_written & (theirs_written | set(their_reads))
                                 or set(reads) & theirs_written):
                return True
        return False

    # --- the coordinator ---------------------------------------------------------------------

    def on_begin(self, ctx: Context, client: str, msg: Begin) -> None:
        if not self.serving(ctx):
            ctx.send(client, NotLeader(msg.txn.req, self.master_hint))
            return
        if msg.txn in self.work or msg.txn in self.decided or msg.txn in self.aborting:
            return  # a duplicate (or one whose abort is on its way into the log)
        parts = split(msg.mops, self.directory.owner)
        reads, writes = parts.pop(self.group)
        if self.conflicts(msg.txn, reads, writes):
            self.log_abort(ctx, msg.txn)
            return
        work = Work(msg.txn, self.id, reads, writes, {key: self.latest(key) for key in reads},
                    dict.fromkeys(parts))
        self.work[msg.txn] = work
        for group, (their_reads, their_writes) in parts.items():
            request = PrepareRequest(msg.txn, self.id, their_reads, their_writes)
            for replica in self.directory.groups[group]:
                ctx.send(replica, request)
        ctx.set_timer(f"abort {msg.txn!r}", ABORT_AFTER)
        self.commit_when_prepared(ctx, work)

    def on_prepared(self, ctx: Context, group: str, txn: Txn, ts: int, values: tuple) -> None:
        work = self.work.get(txn)
        if work is not None and work.commit_ts is None and work.coordinator == self.id:
            work.participants[group] = ts
            work.values.update(values)
            self.commit_when_prepared(ctx, work)

    def commit_when_prepared(self, ctx: Context, work: Work) -> None:
        if any(ts is None for ts in work.participants.values()):
            return
        ctx.cancel_timer(f"abort {work.txn!r}")
        work.commit_ts = self.commit_timestamp(ctx, work)
        ctx.note("commit-ts", txn=work.txn, ts=work.commit_ts,
                 reads=tuple(sorted(work.values.items())))
        self.log(ctx, CommitRecord(work.txn, work.commit_ts, work.writes), work.commit_ts)

    def commit_timestamp(self, ctx: Context, work: Work) -> int:
        """s >= every prepare timestamp, s >= TT.now().latest, s > all I assigned."""
        return max(*work.participants.values(), self.clock(ctx)[1], self.next_timestamp())

    def on_commit_applied(self, ctx: Context, record: CommitRecord) -> None:
        work = self.work.get(record.txn)
        if work is not None and work.coordinator == self.id:
            self.commit_wait(ctx, work)
        elif work is not None:
            del self.work[record.txn]

    def commit_wait(self, ctx: Context, work: Work) -> None:
        """Acknowledge only once TT.after(s): s has surely passed on every clock."""
        earliest = self.clock(ctx)[0]
        if self.after(ctx, work.commit_ts):
            self.finish(ctx, work)
        else:
            ctx.set_timer(f"wait {work.txn!r}", work.commit_ts - earliest + 1)

    def after(self, ctx: Context, ts: int) -> bool:
        """TT.after(ts): true time is surely past `ts`."""
        return self.clock(ctx)[0] > ts

    def finish(self, ctx: Context, work: Work) -> None:
        del self.work[work.txn]
        for group in work.participants:
            for replica in self.directory.groups[group]:
                ctx.send(replica, Commit(work.txn, work.commit_ts))
        values = tuple(sorted(work.values.items()))
        ctx.send(work.txn.client, Outcome(work.txn.req, work.commit_ts, values))

    def abort(self, ctx: Context, work: Work) -> None:
        del self.work[work.txn]
        ctx.cancel_timer(f"abort {work.txn!r}")
        for group in work.participants:
            for replica in self.directory.groups[group]:
                ctx.send(replica, Abort(work.txn))
        if self.role == MASTER:
            self.log_abort(ctx, work.txn)

    def log_abort(self, ctx: Context, txn: Txn) -> None:
        self.aborting[txn] = None
        self.propose(ctx, AbortRecord(txn))

    def on_abort_applied(self, ctx: Context, txn: Txn) -> None:
        if txn in self.aborting:
            del self.aborting[txn]
            ctx.send(txn.client, Outcome(txn.req, None, ()))

    def on_deposed(self, ctx: Context) -> None:
        """What I coordinate and have not committed aborts (unlogged: I no longer lead);
        what I only took part in is dropped (its coordinator times out); committed work waits
        for its record."""
        for work in list(self.work.values()):
            if work.coordinator != self.id:
                del self.work[work.txn]
            elif work.commit_ts is None:
                self.abort(ctx, work)
        super().on_deposed(ctx)

    # --- a participant -----------------------------------------------------------------------

    def on_prepare_request(self, ctx: Context, msg: PrepareRequest) -> None:
        known = msg.txn in self.work or msg.txn in self.prepared or msg.txn in self.decided
        if not self.serving(ctx) or known or msg.txn in self.abandoned:
            return
        if self.conflicts(msg.txn, msg.reads, msg.writes):
            ctx.send(msg.coordinator, Refused(msg.txn))
            return
        values = {key: self.latest(key) for key in msg.reads}
        self.work[msg.txn] = Work(msg.txn, msg.coordinator, msg.reads, msg.writes, values)
        ts = self.next_timestamp()
        self.log(ctx, PrepareRecord(msg.txn, ts, msg.reads, msg.writes, msg.coordinator), ts)

    def on_prepare_applied(self, ctx: Context, record: PrepareRecord) -> None:
        work = self.work.pop(record.txn, None)
        if self.role != MASTER:
            return
        ctx.set_timer(f"inquire {record.txn!r}", INQUIRE_AFTER)
        if record.txn in self.abandoned:
            self.propose(ctx, AbortRecord(record.txn))
        elif work is not None:
            ctx.send(work.coordinator, Prepared(record.txn, record.ts,
                                                tuple(sorted(work.values.items()))))

    def on_commit(self, ctx: Context, txn: Txn, ts: int) -> None:
        if self.role == MASTER and txn in self.prepared:
            self.propose(ctx, CommitRecord(txn, ts, self.prepared[txn].writes))

    def on_elected(self, ctx: Context) -> None:
        super().on_elected(ctx)
        for txn in self.prepared:
            ctx.set_timer(f"inquire {txn!r}", INQUIRE_AFTER)

    def on_log_recovered(self, ctx: Context) -> None:
        """As a new leader, my log now holds every record earlier terms may have chosen: work
        I committed in an earlier term whose record is not in it, and aborts I was logging,
        never will be. Kept, that work would hold its locks for good. (Its participants ask;
        its client hears nothing, as from a deposed leader.)"""
        for txn in [txn for txn in self.work if txn not in self.decided]:
            del self.work[txn]
        self.aborting.clear()

    def inquire(self, ctx: Context, txn: Txn) -> None:
        if self.role == MASTER and txn in self.prepared:
            group = self.directory.group_of(self.prepared[txn].coordinator)
            for replica in self.directory.groups[group]:
                ctx.send(replica, Inquire(txn))
            ctx.set_timer(f"inquire {txn!r}", INQUIRE_AFTER)

    def on_inquire(self, ctx: Context, participant: str, txn: Txn) -> None:
        """As the coordinator's group: the outcome from my log; none, and I do not run the
        transaction: it cannot commit before an abort I log now."""
        if not self.serving(ctx) or txn in self.work or txn in self.aborting:
            return
        if txn not in self.decided:
            self.propose(ctx, AbortRecord(txn))
        elif self.decided[txn] is None:
            ctx.send(participant, Abort(txn))
        elif self.after(ctx, self.decided[txn]):
            ctx.send(participant, Commit(txn, self.decided[txn]))

    def on_abort(self, ctx: Context, txn: Txn) -> None:
        if self.role != MASTER:
            return
        self.abandoned[txn] = None
        self.work.pop(txn, None)
        if txn in self.prepared:
            self.propose(ctx, AbortRecord(txn))
