"""Spanner: Paxos groups with leader leases, TrueTime, two-phase commit and commit wait.

Corbett et al., "Spanner: Google's Globally-Distributed Database" (OSDI 2012). The pieces:
- `group.py`: a Paxos group (SSO's cell: `paxos_core` with leader leases), multi-version
  data, timestamps, safe time and snapshot reads at any replica;
- `txn.py`: read-write transactions: two-phase locking at leaders, two-phase commit with a
  coordinator leader, commit timestamps from TrueTime, commit wait;
- `client.py`: the client library; `checks.py`: the invariants.

A run: two groups (`a1..a3` own key x, `b1..b3` own key y) and two clients mixing read-write
transactions (some within one group, some across both) with read-only transactions; the
ending reads every key in a read-only transaction, then reads and writes every key in a
read-write transaction that its client sees through to a commit (the `write-first`
configuration runs these two the other way round; the `three-groups` configuration adds a
group `d1..d3` owning key z, so that a transaction may have two participants).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.node import Context
from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.paxos_core import MASTER
from implementations.spanner import checks
from implementations.spanner.client import SpannerClient
from implementations.spanner.group import Directory
from implementations.spanner.messages import AbortRecord, Txn
from implementations.spanner.txn import ABORT_AFTER, INQUIRE_AFTER, SpannerReplica, Work
from invariants.quorum import majority, prove_intersection
from invariants.verdict import Verdict

# group -> the keys it owns; no group is called `c`, the clients' prefix, since a replica's
# group is its name's letters
GROUPS = {"a": ("x",), "b": ("y",), "d": ("z",)}
DEFAULT_GROUPS = ("a", "b")  # the groups a run has, unless its configuration's `groups` says


# --- seeded bugs ------------------------------------------------------------------------------


class NoCommitWait(SpannerReplica):
    """Seeded bug: the coordinator acknowledges as soon as the commit record is logged.

    Breaks: with a fast clock the commit timestamp s = TT.now().latest lies up to 2 epsilon in
    the future; a transaction that starts after the acknowledgement, but before s, gets a
    smaller timestamp and reads the state before the commit.
    Caught by: external-consistency. Teaches: Spanner section 4.1.2, commit wait: waiting
    until TT.after(s) costs about 2 epsilon, the width of the clock uncertainty.
    """

    def after(self, ctx: Context, ts: int) -> bool:
        return True


class CommitTsFromEarliest(SpannerReplica):
    """Seeded bug: the commit timestamp is TT.now().earliest instead of TT.now().latest.

    Breaks: s may lie up to 2 epsilon in the past, so commit wait is over at once; a later
    transaction at another group, whose clock is slow, gets a smaller timestamp.
    Caught by: external-consistency (timestamps against real time). Teaches: Spanner section
    4.1.2: the start rule, s >= TT.now().latest when the commit request arrives.
    """

    def commit_timestamp(self, ctx: Context, work: Work) -> int:
        return max(*work.participants.values(), self.clock(ctx)[0], self.next_timestamp())


class ReadBeforeSafeTime(SpannerReplica):
    """Seeded bug: a replica serves a snapshot read once Paxos safe time passes, ignoring the
    transactions prepared here whose outcome is not logged yet.

    Breaks: a prepared transaction may still commit at a timestamp at or below the read's;
    the read returns the old value, and the same read at the same timestamp later returns
    the new one. Caught by: repeatable-snapshot-reads. Teaches: Spanner section 4.1.3,
    t_safe = min(t_Paxos, t_TM) where t_TM = min prepare timestamp - 1.
    """

    def safe_time(self) -> int:
        return self.paxos_safe


class PreparedIgnoresAbort(SpannerReplica):
    """Seeded bug: a participant leader told to abort only forgets the transaction it is
    running; one already prepared keeps its prepare record, with no abort logged after it.

    Breaks: the prepared participant holds its locks and holds back safe time for good; its
    inquiries are answered with the same Abort, ignored again. Nothing at that group that
    conflicts can commit, and snapshot reads above the prepare timestamp wait forever.
    Caught by: prepared-resolved. Teaches: Spanner section 4.2.1 and two-phase commit itself:
    a prepared participant gave up its right to decide, and must log the coordinator's
    decision, abort as well as commit, to release what it holds.
    """

    def on_abort(self, ctx: Context, txn: Txn) -> None:
        if self.role == MASTER:
            self.abandoned[txn] = None
            self.work.pop(txn, None)


class HeuristicAbort(SpannerReplica):
    """Seeded bug: a participant prepared for INQUIRE_AFTER without hearing the outcome
    aborts on its own instead of asking the coordinator's group.

    Breaks: the coordinator may have committed already (its Commit was lost or is late):
    the transaction is committed in one group and aborted in another, half of its writes
    gone. Caught by: atomic-commit. Teaches: Spanner section 4.2.1 and Gray's two-phase
    commit: a prepared participant is in doubt and must wait for the coordinator; the
    "heuristic" decisions XA lets a participant take are exactly what breaks atomicity.
    """

    def inquire(self, ctx: Context, txn: Txn) -> None:
        if self.role == MASTER and txn in self.prepared:
            self.propose(ctx, AbortRecord(txn))


# --- the system -------------------------------------------------------------------------------


def directory(config: Config) -> Directory:
    names = config.params.get("groups", DEFAULT_GROUPS)
    groups = {g: tuple(f"{g}{i + 1}" for i in range(config.servers)) for g in names}
    owner = {key: g for g in names for key in GROUPS[g]}
    return Directory(groups, owner)


def transaction(rng: Any, keys: list[str], values: Any) -> list[list]:
    """A read-only transaction (reads of every key, 20%) or a read-write one over one key (at
    least half of them) or more, up to every key, each read, written, or read then written."""
    if rng.random() < 0.2:
        return [["r", key, None] for key in keys]
    chosen = rng.sample(keys, rng.choice((1, 1, *range(2, len(keys) + 1))))
    mops = []
    for key in chosen:
        kind = rng.choice(("r", "w", "rw"))
        if "r" in kind:
            mops.append(["r", key, None])
        if "w" in kind or key == chosen[-1] and not any(m[0] == "w" for m in mops):
            mops.append(["w", key, next(values)])
    return mops


def build(config: Config, impl: type[SpannerReplica], rng: Any) -> Cluster:
    where = directory(config)
    keys = sorted(where.owner)
    clients = [f"c{i + 1}" for i in range(config.clients)]
    values = iter(range(1, 1000))
    workload = {c: [("txn", transaction(rng, keys, values))
                    for _ in range(config.ops_per_client)] for c in clients}
    final_write = [[f, key, next(values) if f == "w" else None]
                   for key in keys for f in ("r", "w")]
    see_through = (tuple(tuple(mop) for mop in final_write),)
    replicas = [r for members in where.groups.values() for r in members]
    final_ops = [(clients[0], "txn", [["r", key, None] for key in keys]),
                 (clients[-1], "txn", final_write)]
    if config.params.get("write_first"):
        final_ops.reverse()
    return Cluster(
        servers={r: functools.partial(impl, directory=where) for r in replicas},
        clients={c: functools.partial(SpannerClient, directory=where, see_through=see_through)
                 for c in clients},
        workload=workload,
        final_ops=final_ops,
    )


def proofs(config: Config, impl: type[SpannerReplica]) -> list[Verdict]:
    """In every group, any two quorums intersect (z3): leader election, leases and every
    logged record rest on it."""
    return [attrs.evolve(proof, invariant=f"{proof.invariant} (group {group})")
            for group, members in directory(config).groups.items()
            for proof in [prove_intersection(
                majority(members, threshold=impl.quorum_size(len(members))))]]


FAULTS = {"drop": 4, "duplicate": 4, "crash": 3, "partition": 4, "pause": 4, "skew": 30}
# After the final operations the groups rest this long (`coordinator-decided`, and
# `prepared-resolved` of every prepared transaction): a participant in doubt when the rest
# begins asks within INQUIRE_AFTER; its coordinator may still be running the transaction (an
# abort timer, ABORT_AFTER at most, or commit wait) and then tells it, or its group logs an
# abort that the participant's next inquiry, INQUIRE_AFTER later, hears.
REST = 2 * INQUIRE_AFTER + ABORT_AFTER

SYSTEM = System(
    name="spanner",
    paper="Corbett et al.: Spanner: Google's Globally-Distributed Database (OSDI 2012)",
    summary="Paxos groups with leader leases; read-write transactions with two-phase locking, "
            "two-phase commit and commit wait on TrueTime; snapshot reads at safe time",
    build=build,
    invariants=(checks.disjoint_leases, checks.atomic_commit, checks.replicas_agree,
                checks.backs_one_candidate,
                checks.commits_above_safe_time, checks.repeatable_snapshot_reads,
                checks.reads_at_timestamp, checks.held_reads_served,
                checks.prepared_locks_compatible, checks.external_consistency,
                checks.serializable, checks.commit_timestamps, checks.answers_match_requests,
                checks.prepared_resolved, checks.coordinator_decided,
                checks.renewals_paced_at_rest, checks.progress),
    configs={
        "default": Config("default", servers=3, clients=2, ops_per_client=4, max_steps=300,
                          epsilon=100, max_pause=1500, faults=FAULTS, quiesce_horizon=2000,
                          rest=REST),
        "small": Config("small", servers=3, clients=2, ops_per_client=2, max_steps=250,
                        epsilon=100, max_pause=1500, faults=FAULTS, quiesce_horizon=2000,
                        rest=REST),
        # clocks running fast or slow within TrueTime's epsilon, and a group leader cut off
        # right after a client is told ok
        "fail-over": Config("fail-over", servers=3, clients=2, ops_per_client=4,
                            max_steps=300, epsilon=100, max_drift=100, max_pause=1500,
                            faults={**FAULTS, "drift": 4, "nemesis": 2},
                            quiesce_horizon=2000, rest=REST),
        # the ending's read-write transaction first, before the final read has waited for
        # the groups to recover: it may meet a group with no leader yet, or the locks of a
        # transaction still in doubt, and its client sees it through an abort and a retry
        "write-first": Config("write-first", servers=3, clients=2, ops_per_client=4,
                              max_steps=300, epsilon=100, max_pause=1500, faults=FAULTS,
                              quiesce_horizon=2000, rest=REST, params={"write_first": True}),
        # a third group: a transaction over all three keys has two participants, and one that
        # refuses its locks aborts a transaction the other has prepared, so a prepared
        # participant must log the coordinator's abort in several times as many runs
        "three-groups": Config("three-groups", servers=3, clients=2, ops_per_client=4,
                               max_steps=300, epsilon=100, max_pause=1500, faults=FAULTS,
                               quiesce_horizon=2000, rest=REST, params={"groups": ["a", "b", "d"]}),
    },
    variants={
        "correct": Variant("correct", SpannerReplica),
        "no-commit-wait": Variant(
            "no-commit-wait", NoCommitWait,
            breaks="external consistency: a transaction that starts after another's "
                   "acknowledgement gets a smaller timestamp and misses its writes",
            caught_by="external-consistency",
            teaches="Spanner (OSDI'12) 4.1.2: commit wait, about 2 epsilon"),
        "commit-ts-from-earliest": Variant(
            "commit-ts-from-earliest", CommitTsFromEarliest,
            breaks="external consistency: a commit timestamp in the past lets a later "
                   "transaction at a slow-clocked group take a smaller one",
            caught_by="external-consistency",
            teaches="Spanner (OSDI'12) 4.1.2: s >= TT.now().latest"),
        "snapshot-read-before-safe-time": Variant(
            "snapshot-read-before-safe-time", ReadBeforeSafeTime,
            breaks="repeatable snapshot reads: a read served while a transaction is prepared "
                   "misses its commit at a lower timestamp",
            caught_by="repeatable-snapshot-reads",
            teaches="Spanner (OSDI'12) 4.1.3: safe time counts prepared transactions"),
        "prepared-ignores-abort": Variant(
            "prepared-ignores-abort", PreparedIgnoresAbort,
            breaks="progress of two-phase commit: a prepared participant never logs the "
                   "coordinator's abort and holds its locks and safe time forever",
            caught_by="prepared-resolved",
            teaches="Spanner (OSDI'12) 4.2.1: a prepared participant logs the outcome, "
                    "abort as well as commit"),
        "heuristic-abort": Variant(
            "heuristic-abort", HeuristicAbort,
            breaks="atomicity of two-phase commit: a participant tired of waiting aborts a "
                   "transaction its coordinator committed",
            caught_by="atomic-commit",
            teaches="Spanner (OSDI'12) 4.2.1; Gray's two-phase commit: a prepared "
                    "participant is in doubt and must ask, never decide"),
    },
    proofs=proofs,
)
