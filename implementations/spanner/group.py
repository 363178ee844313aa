"""A Spanner Paxos group: SSO's replicas with leader leases, holding multi-version data.

Each group is a cell of `sso.Replica`s (Multi-Paxos from `paxos_core`, leader leases timed
with TrueTime). What a Spanner group adds to the cell:

- versioned data: every key a group owns keeps its committed versions by timestamp;
- timestamps: the leader assigns each record it logs a timestamp above every one in its log
  and every one it assigned before (Spanner gets this across leaders from disjoint leases;
  here a new leader also reads it off its log, which holds everything its predecessors chose);
- safe time (section 4.1.3): a replica may serve a read at `t` once t <= t_safe, where
  t_safe = min(t_Paxos, min prepare timestamp of prepared-but-undecided transactions - 1).
  t_Paxos is the highest timestamp applied from the log: no later record is logged below it,
  except the commit of a transaction already prepared, which the second term covers. A
  replica that cannot serve yet holds the read and asks its leader to log a heartbeat at `t`.
"""

from __future__ import annotations

import bisect
from typing import Any

import attrs

from checker.node import Context
from implementations import sso
from implementations.paxos_core import MASTER, NOOP
from implementations.spanner.messages import (
    AbortRecord,
    AdvanceSafeTime,
    CommitRecord,
    Heartbeat,
    PrepareRecord,
    ReadDone,
    SnapshotRead,
    Txn,
)

RENEW = 200  # a leader renews its lease this often (sso.LEASE covers it easily)


@attrs.frozen
class Directory:
    """Which replicas make up each group, and which group owns each key."""

    groups: dict[str, tuple[str, ...]]
    owner: dict[str, str]

    def group_of(self, node: str) -> str:
        return next(g for g, members in self.groups.items() if node in members)


class GroupReplica(sso.Replica):
    """A replica of one Paxos group: SSO's cell with versioned data and safe time."""

    def __init__(self, node_id: str, directory: Directory) -> None:
        self.directory = directory
        self.group = directory.group_of(node_id)
        super().__init__(node_id, replicas=directory.groups[self.group])

    def on_start(self, ctx: Context) -> None:
        """Replicated state first: the log replayed by `boot` rebuilds it."""
        ctx.note("boot")  # held reads are volatile: a restart forgets them
        self.versions: dict[str, list[tuple[int, Any]]] = {}  # key -> [(ts, value)] by ts
        self.prepared: dict[Txn, PrepareRecord] = {}  # prepared, outcome not logged yet
        self.decided: dict[Txn, int | None] = {}  # commit timestamp, or None: aborted
        self.paxos_safe = 0  # the highest timestamp applied from the log
        self.assigned = 0  # the highest timestamp I assigned as leader (volatile)
        self.held_reads: list[tuple[str, SnapshotRead]] = []
        super().on_start(ctx)
        self.note_lease(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case SnapshotRead():
                self.on_snapshot_read(ctx, src, msg)
            case AdvanceSafeTime(ts):
                self.log_heartbeat(ctx, ts)
            case _:
                super().on_message(ctx, src, msg)

    # --- the leader -----------------------------------------------------------------------

    def serving(self, ctx: Context) -> bool:
        """A leader acts for its group only while its lease holds and its log is complete."""
        return self.role == MASTER and self.up_to_date() and self.lease_valid(ctx)

    def next_timestamp(self) -> int:
        """Above every timestamp in my log and every one I assigned."""
        return max(self.paxos_safe, self.assigned) + 1

    def log(self, ctx: Context, record: Any, ts: int) -> None:
        self.assigned = max(self.assigned, ts)
        self.propose(ctx, record)

    def tick_period(self, ctx: Context) -> int:
        if self.role == MASTER and not self.cut_off(ctx):
            return RENEW
        return super().tick_period(ctx)

    def cut_off(self, ctx: Context) -> bool:
        return self.role == MASTER and ctx.now() - self.last_renewal > RENEW + sso.SILENT

    def on_elected(self, ctx: Context) -> None:
        super().on_elected(ctx)
        self.assigned = 0
        self.note_lease(ctx)

    def on_deposed(self, ctx: Context) -> None:
        super().on_deposed(ctx)
        self.note_lease(ctx)

    def on_lease_grant(self, ctx: Context, src: str, msg: Any) -> None:
        super().on_lease_grant(ctx, src, msg)
        self.note_lease(ctx)

    def note_lease(self, ctx: Context) -> None:
        """The ghost record of the lease this replica trusts: until its clock's latest
        reading reaches `expiry` (-inf: none). The invariants judge it in true time."""
        ctx.note("lease", group=self.group, expiry=self.lease_expiry)

    # --- applying the log -----------------------------------------------------------------

    def apply(self, ctx: Context, slot: int, value: Any) -> None:
        match value:
            case PrepareRecord(txn, ts, _, writes) if txn not in self.decided:
                ctx.note("prepared", txn=txn, ts=ts, writes=writes, coordinator=value.coordinator)
                self.prepared[txn] = value
                self.paxos_safe = max(self.paxos_safe, ts)
                self.on_prepare_applied(ctx, value)
            case CommitRecord(txn, ts, writes) if txn not in self.decided:
                ctx.note("committed", txn=txn, ts=ts, writes=writes)
                self.decided[txn] = ts
                self.prepared.pop(txn, None)
                for key, written in writes:
                    self.install(key, ts, written)
                self.paxos_safe = max(self.paxos_safe, ts)
                self.on_commit_applied(ctx, value)
            case AbortRecord(txn) if txn not in self.decided:
                ctx.note("aborted", txn=txn)
                self.decided[txn] = None
                self.prepared.pop(txn, None)
                self.on_abort_applied(ctx, txn)
            case Heartbeat(ts):
                ctx.note("heartbeat", ts=ts)
                self.paxos_safe = max(self.paxos_safe, ts)
        if value is not NOOP:
            self.serve_held_reads(ctx)
        elif self.role == MASTER and slot == self.barrier:
            self.on_log_recovered(ctx)

    def install(self, key: str, ts: int, value: Any) -> None:
        versions = self.versions.setdefault(key, [])
        versions.insert(bisect.bisect(versions, ts, key=lambda version: version[0]), (ts, value))

    def latest(self, key: str) -> Any:
        versions = self.versions.get(key)
        return versions[-1][1] if versions else None

    def value_at(self, key: str, ts: int) -> Any:
        versions = self.versions.get(key, [])
        index = bisect.bisect(versions, ts, key=lambda version: version[0])
        return versions[index - 1][1] if index else None

    def on_prepare_applied(self, ctx: Context, record: PrepareRecord) -> None:
        """Two-phase commit's business (see `txn.py`)."""

    def on_commit_applied(self, ctx: Context, record: CommitRecord) -> None:
        """Two-phase commit's business (see `txn.py`)."""

    def on_abort_applied(self, ctx: Context, txn: Txn) -> None:
        """Two-phase commit's business (see `txn.py`)."""

    def on_log_recovered(self, ctx: Context) -> None:
        """As a new leader, my first no-op is applied: my log holds everything earlier leaders
        may have chosen. Two-phase commit's business (see `txn.py`)."""

    # --- snapshot reads at any replica ------------------------------------------------------

    def safe_time(self) -> int:
        """t_safe = min(t_Paxos, min prepare timestamp of prepared transactions - 1): a read at
        or below it sees every write that will ever commit at or below it."""
        pending = min((record.ts for record in self.prepared.values()), default=None)
        return self.paxos_safe if pending is None else min(self.paxos_safe, pending - 1)

    def on_snapshot_read(self, ctx: Context, src: str, msg: SnapshotRead) -> None:
        if msg.ts <= self.safe_time():
            self.serve(ctx, src, msg)
            return
        ctx.note("read-held", client=src, req=msg.req, ts=msg.ts)
        self.held_reads.append((src, msg))
        if self.role == MASTER:
            self.log_heartbeat(ctx, msg.ts)
        elif self.master_hint is not None:
            ctx.send(self.master_hint, AdvanceSafeTime(msg.ts))
        else:
            for other in self.replicas:
                if other != self.id:
                    ctx.send(other, AdvanceSafeTime(msg.ts))

    def serve(self, ctx: Context, client: str, msg: SnapshotRead) -> None:
        values = tuple((key, self.value_at(key, msg.ts)) for key in msg.keys)
        for key, value in values:
            ctx.note("snapshot-read", group=self.group, key=key, ts=msg.ts, value=value,
                     client=client, req=msg.req)
        ctx.send(client, ReadDone(msg.req, values))

    def serve_held_reads(self, ctx: Context) -> None:
        safe = self.safe_time()
        ready = [(src, msg) for src, msg in self.held_reads if msg.ts <= safe]
        self.held_reads = [(src, msg) for src, msg in self.held_reads if msg.ts > safe]
        for src, msg in ready:
            self.serve(ctx, src, msg)

    def log_heartbeat(self, ctx: Context, ts: int) -> None:
        """As leader: promise that nothing will be logged at or below `ts` (unless a record at
        or above it is on its way already)."""
        if self.serving(ctx) and ts > max(self.paxos_safe, self.assigned):
            self.log(ctx, Heartbeat(ts), ts)
