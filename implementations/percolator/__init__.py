"""Percolator: snapshot-isolation transactions over a Bigtable-like store, with a timestamp
oracle and the locks kept in the data (Peng & Dabek, "Large-scale Incremental Processing Using
Distributed Transactions and Notifications", OSDI 2010).

Bigtable gives atomic transactions on one row only. Percolator builds multi-row transactions
on top by keeping, for every row, three columns of timestamped cells: `data` (the values, by
the start timestamp of the transaction that wrote them), `lock` (an uncommitted write: who is
the transaction's primary) and `write` (a committed write: which data timestamp is visible
from the commit timestamp on). A transaction

1. takes a start timestamp from the oracle and reads the snapshot as of it: for each row the
   newest `write` record at or before start_ts. A lock at or before start_ts may belong to a
   transaction that commits before start_ts, so the reader waits, then resolves it;
2. buffers its writes, then prewrites them, the primary row first: each row gets a lock and
   its data, unless it holds a write record after start_ts or any lock (write-write conflict:
   abort — the first committer wins);
3. takes a commit timestamp and replaces the primary's lock with a write record: that one
   single-row transaction is the commit point. Then the secondaries, lazily.

A worker that crashes leaves its locks behind. Whoever meets one asks its primary, which
decides: a write record there means the transaction committed (roll the secondary forward); a
stale lock there is rolled back first, and only then the secondary. Rollbacks leave a rollback
record, so that a delayed prewrite cannot bring a rolled-back lock back.

The simulation's clients cannot crash, so transactions run in workers (Percolator's own name
for the processes running its transactions): each client hands its transaction to a worker,
a server node the engine may crash mid-commit, as a Percolator worker machine dies.
Observers scan for the `notify` column a commit sets and run a transaction at most once per
change, recording it in an acknowledgement row.

The pieces: `store.py` (the tablet server, its rows and Percolator's single-row steps),
`oracle.py` (the timestamp oracle), `worker.py` (transactions, observers, the client),
`checks.py` (the invariants). A run: tablet servers t1.., the oracle tso, workers w1.. (one
per client c1..) and observers o1...
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.percolator import checks
from implementations.percolator.oracle import Oracle, OracleReusesBatch
from implementations.percolator.store import (
    MissingLockMeansRunning,
    PercolatorServer,
    ReadsIgnoreLocks,
)
from implementations.percolator.worker import (
    AWAIT_OBSERVERS,
    AckBeforeCommitPoint,
    CleanupSecondaryFirst,
    Observer,
    PercolatorClient,
    Worker,
)
from invariants.transactions import APPEND, READ


@attrs.frozen
class Roles:
    """The node classes one variant runs."""

    tablet: type[PercolatorServer] = PercolatorServer
    worker: type[Worker] = Worker
    oracle: type[Oracle] = Oracle
    observer: type[Observer] = Observer


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """`servers` tablet servers holding the rows (and their acknowledgement rows), one
    oracle, one worker per client, and observers watching the rows. Each transaction reads or
    appends (unique values) to one, two or three of the rows; the ending reads all and, where
    observers run, waits for them to take every change."""
    keys = tuple(config.params.get("keys", ("x", "y")))
    tablets = [f"t{i + 1}" for i in range(config.servers)]
    placement = {row: tablets[i % len(tablets)]
                 for i, key in enumerate(keys) for row in (key, f"ack/{key}")}
    clients = [f"c{i + 1}" for i in range(config.clients)]
    values = iter(range(1, 1 + len(keys) * config.clients * config.ops_per_client))
    workload = {c: [("txn", [[READ, key, None] if rng.random() < 0.4 else
                             [APPEND, key, next(values)] for key in rng.sample(keys, size)])
                    for size in txn_sizes(rng, len(keys), config.ops_per_client)]
                for c in clients}
    servers: dict[str, Any] = {t: roles.tablet for t in tablets}
    servers["tso"] = roles.oracle
    for i in range(config.clients):
        servers[f"w{i + 1}"] = functools.partial(roles.worker, placement=placement,
                                                 oracle="tso")
    for i in range(config.params.get("observers", 0)):
        servers[f"o{i + 1}"] = functools.partial(roles.observer, placement=placement,
                                                 oracle="tso", watched=keys)
    final_ops = [(clients[0], "txn", [[READ, key, None] for key in keys])]
    if config.params.get("observers", 0):
        final_ops.append((clients[-1], AWAIT_OBSERVERS, list(keys)))
    return Cluster(
        servers=servers,
        clients={c: functools.partial(PercolatorClient, worker=f"w{i + 1}",
                                      tablets=tuple(tablets))
                 for i, c in enumerate(clients)},
        workload=workload,
        final_ops=final_ops,
    )


def txn_sizes(rng: Any, rows: int, count: int) -> list[int]:
    """How many rows each of a client's transactions touches: mostly two, some one, some
    three (when there are three rows)."""
    return [min(rows, rng.choice((1, 2, 2, 3))) for _ in range(count)]


FAULTS = {"drop": 4, "duplicate": 4, "crash": 3, "pause": 3, "partition": 2}
OBSERVED_HORIZON = 3000
"""The ending of a run with observers: long enough for their scans to take the notified rows
one per scan, after the final read (`changes-observed`)."""

SYSTEM = System(
    name="percolator",
    paper="Peng, Dabek: Large-scale Incremental Processing Using Distributed Transactions "
          "and Notifications (OSDI 2010)",
    summary="snapshot-isolation transactions over single-row transactions: a timestamp "
            "oracle, locks in the data, primary-first commit and lazy cleanup",
    build=build,
    invariants=(checks.oracle_monotonic, checks.atomic, checks.snapshot_isolation,
                checks.answers_match_requests, checks.reads_see_earlier_commits,
                checks.progress, checks.changes_observed, checks.observed_once),
    configs={
        "default": Config("default", servers=2, clients=2, ops_per_client=3, max_steps=300,
                          max_pause=200, faults=FAULTS, quiesce_horizon=OBSERVED_HORIZON,
                          params={"observers": 1}),
        "small": Config("small", servers=2, clients=2, ops_per_client=1, max_steps=200,
                        max_pause=200, faults=FAULTS, quiesce_horizon=1000),
        # two observers race for every change: only one of them may acknowledge it
        "observers": Config("observers", servers=2, clients=2, ops_per_client=3,
                            max_steps=400, max_pause=200, faults=FAULTS,
                            quiesce_horizon=OBSERVED_HORIZON,
                            params={"observers": 2}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "reads-ignore-locks": Variant(
            "reads-ignore-locks", Roles(tablet=ReadsIgnoreLocks),
            breaks="snapshot reads: a reader sees a committed transaction's write to one row "
                   "but not, behind a lock still pending, to another (fractured read), and "
                   "may overwrite the write it missed",
            caught_by="snapshot-isolation",
            teaches="Percolator (OSDI'10) section 2.2: reads wait on older locks"),
        "cleanup-secondary-first": Variant(
            "cleanup-secondary-first", Roles(worker=CleanupSecondaryFirst),
            breaks="atomicity: a secondary is rolled back while its primary goes on to "
                   "commit (torn transaction)",
            caught_by="atomic",
            teaches="Percolator (OSDI'10) section 2.2: the primary decides, cleanup follows"),
        "oracle-reuses-batch": Variant(
            "oracle-reuses-batch", Roles(oracle=OracleReusesBatch),
            breaks="timestamp order: after a crash the oracle hands out timestamps again",
            caught_by="oracle-monotonic",
            teaches="Percolator (OSDI'10) section 2.3: the oracle's durable bound"),
        "ack-before-commit-point": Variant(
            "ack-before-commit-point", Roles(worker=AckBeforeCommitPoint),
            breaks="durability of acknowledged commits: the client is told ok before the "
                   "primary's write record exists, and a lost Commit or a reader's rollback "
                   "undoes a transaction already acknowledged",
            caught_by="reads-see-earlier-commits",
            teaches="Percolator (OSDI'10) section 2.2: the primary's write record is the "
                    "commit point"),
        "missing-lock-means-running": Variant(
            "missing-lock-means-running", Roles(tablet=MissingLockMeansRunning),
            breaks="progress: a rolled-back primary is reported as still running, so its "
                   "secondary locks are never cleaned up and readers wait on them forever",
            caught_by="progress",
            teaches="Percolator (OSDI'10) section 2.2: a missing primary lock is a decision; "
                    "TiKV's CheckTxnStatus writes a rollback for it"),
    },
)
