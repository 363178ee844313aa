"""Debezium: change data capture from a database's log into Kafka, and from Kafka into a
search index (Debezium's documentation of its MySQL and PostgreSQL connectors and of Kafka
Connect; Andreakis and Papapanagiotou, "DBLog: A Watermark Based Change-Data-Capture
Framework", 2020, for the snapshot/stream handoff).

The source database commits transactions to tables keyed by primary key and appends each to
its **binlog** at the next **position**. A **connector** (the one task of a Kafka Connect
source connector) turns that log into **change events**: first a consistent **snapshot** —
a repeatable-read view fixed together with the binlog position it corresponds to, one `read`
event per row — then **streaming** from the next position on: one event per row change (op
c, u or d, the row before and after, the source position, the table's schema version).
Events are keyed by primary key into one topic per table, on a Kafka cluster. The connector
commits its **offset** (the position up to which the log has acknowledged every event) to
its offset store, and resumes from it after a crash: events are delivered at least once. A
**sink** task consumes the topics and writes each event to the **index** under its key,
versioned by its source position, so that a redelivered older event changes nothing;
deletes leave tombstones.

The pieces: `database.py` (the source database and its binlog), `connector.py` (snapshot,
streaming, offsets), `sink.py` (the sink task and the index), `workload.py` (the writers),
`checks.py` (the invariants); the model is `models/debezium.py`. Kafka is
`implementations/kafka/`, embedded whole: its controller and brokers are servers of this
system, and the connector and sink use its producer, fetcher and group member. A run: the
database `mysql`, the `connector`, Kafka's `ctl` and brokers `b1`..., the `sink` and the
`index`; writers `w1`, `w2`.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.debezium import checks
from implementations.debezium.connector import (
    CONNECTOR,
    DATABASE,
    Connector,
    OffsetsBeforeAck,
    PositionAfterSnapshot,
    topic_of,
)
from implementations.debezium.database import Database
from implementations.debezium.sink import (
    GROUP,
    INDEX,
    SINK,
    NoPositionCheck,
    SearchIndex,
    SinkTask,
)
from implementations.debezium.workload import Writer
from implementations.kafka import kafka_servers, topic_layout

TABLES = ("customers", "orders")


@attrs.frozen
class Roles:
    """The node classes one variant runs."""

    connector: type[Connector] = Connector
    sink: type[SinkTask] = SinkTask


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """The database holding `tables` with rows 1..`keys` each, the connector, a Kafka
    cluster of `servers` brokers (one topic of `partitions` partitions per table), the sink
    and the index; `clients` writers, each running `ops_per_client` transactions of one or
    two row changes (or, now and then, a DDL statement) and waiting for them to reach the
    index after every second one. The ending's scan reads every table and the index."""
    tables = tuple(config.params.get("tables", TABLES))
    keys = [(table, pk) for table in tables for pk in range(1, config.params.get("keys", 2) + 1)]
    partitions = config.params.get("partitions", 1)
    brokers = [f"b{i + 1}" for i in range(config.servers)]
    layout = {p: replicas for table in tables
              for p, replicas in topic_layout(topic_of(table), partitions, brokers).items()}
    values = iter(range(1, 1000))
    initial = tuple((*key, next(values)) for key in keys)
    writers = [f"w{i + 1}" for i in range(config.clients)]
    workload = {w: _writer_workload(rng, keys, values, config.ops_per_client) for w in writers}
    servers: dict[str, Any] = {
        DATABASE: functools.partial(Database, initial=initial),
        CONNECTOR: functools.partial(roles.connector, partitions=partitions),
        **kafka_servers(layout, groups=(GROUP,)),
        SINK: roles.sink,
        INDEX: SearchIndex,
    }
    return Cluster(servers=servers, clients=dict.fromkeys(writers, Writer), workload=workload,
                   final_ops=[(writers[0], "scan", None)])


def _writer_workload(rng: Any, keys: list, values: Any, transactions: int) -> list:
    """Transactions putting and deleting rows, a sync after every second. Row 1 of a table
    is never deleted: every snapshot then emits a read, and a snapshot's position is always
    in the topics (`models/debezium.py`, phantoms)."""
    ops: list = []
    for i in range(transactions):
        if rng.random() < 0.1:
            ops.append(("txn", [["alter", rng.choice(keys)[0]]]))
        else:
            ops.append(("txn", [["delete", *key] if key[1] > 1 and rng.random() < 0.4
                                else ["put", *key, next(values)]
                                for key in rng.sample(keys, rng.choice((1, 2)))]))
        if i % 2 == 1 or i == transactions - 1:
            ops.append(("sync", None))
    return ops


FAULTS = {"drop": 3, "crash": 3, "pause": 2, "partition": 2, "reset": 3}

SYSTEM = System(
    name="debezium",
    paper="Debezium documentation (MySQL and PostgreSQL connectors, Kafka Connect); "
          "Andreakis, Papapanagiotou: DBLog, a watermark based change-data-capture framework "
          "(2020)",
    summary="change data capture: a consistent snapshot at a binlog position, log "
            "streaming, offsets committed after the log acknowledges, an idempotent sink",
    build=build,
    invariants=(checks.target_never_regresses, checks.target_holds_committed_versions,
                checks.events_match_source, checks.kafka_one_leader_per_epoch,
                checks.sink_commits_applied, checks.source_log, checks.answers_match_requests,
                checks.syncs_read_own_writes, checks.no_change_lost, checks.per_key_order,
                checks.progress, checks.scan_ends_once_drained),
    configs={
        "default": Config("default", servers=3, clients=2, ops_per_client=4, max_steps=600,
                          max_pause=300, faults=FAULTS, quiesce_horizon=800,
                          params={"tables": list(TABLES), "keys": 2, "partitions": 1}),
        "small": Config("small", servers=3, clients=2, ops_per_client=2, max_steps=400,
                        max_pause=300, faults=FAULTS, quiesce_horizon=800,
                        params={"tables": ["orders"], "keys": 2, "partitions": 1}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "position-after-snapshot": Variant(
            "position-after-snapshot", Roles(connector=PositionAfterSnapshot),
            breaks="the snapshot/stream handoff: a transaction committed between fixing the "
                   "snapshot's view and reading the binlog position is in neither the "
                   "snapshot nor the stream",
            caught_by="events-match-source",
            teaches="Debezium's MySQL snapshot: the view and the binlog position are read "
                    "under one global read lock (PostgreSQL: the slot's exported snapshot)"),
        "offsets-before-ack": Variant(
            "offsets-before-ack", Roles(connector=OffsetsBeforeAck),
            breaks="at-least-once delivery: the connector commits an offset past events the "
                   "log has not acknowledged, and a crash loses them for good",
            caught_by="no-change-lost",
            teaches="Kafka Connect: only offsets of acknowledged records are committed "
                    "(WorkerSourceTask's committable offsets)"),
        "sink-no-position-check": Variant(
            "sink-no-position-check", Roles(sink=NoPositionCheck),
            breaks="idempotent apply: a redelivered older event rolls a document back",
            caught_by="target-never-regresses",
            teaches="Debezium's delivery is at least once: sinks must apply by source "
                    "position (external versioning), and keep deletes as tombstones"),
    },
    fifo=True,
)
