"""BigTable: tablets served by one tablet server at a time, under locks held in Chubby.

Chang, Dean, Ghemawat, Hsieh, Wallach, Burrows, Chandra, Fikes, Gruber: "Bigtable: A
Distributed Storage System for Structured Data" (OSDI 2006). The pieces:
- `master.py`: the tablet map, assignment, and taking tablets back from a server whose lock it
  could acquire (section 5.2);
- `tabletserver.py`: a server serving only while it holds its lock; commit log, memtable,
  minor and merging compactions, check-and-set, splits, recovery by log replay (section 5.3);
- `storage.py`: SSTables, the merge of levels, and GFS as one shared durable node;
- `client.py`: locate, send, retry; `checks.py`: the invariants.

The lock service is Chubby itself (`implementations.chubby`): its cell and its client library,
which the master and the tablet servers mix in. The cell here is a single replica: a tablet
server's lock is as good as Chubby's session lease whatever the cell's size, and one replica
keeps Paxos traffic out of the traces (Chubby's own lessons show the cell failing over). It
runs without lock-delay: the servers time their own leases, which is what the lock protects.

A run: Chubby `ch1`, GFS `gfs`, the master `m`, tablet servers `ts1`, `ts2`, clients reading,
writing, deleting and check-and-setting a few rows of one table that starts as one tablet and
is split by the master. The ending waits for the longest pause plus SETTLE ticks (the cell
notices lost locks and moves tablets), then reads every row: `progress-at-quiescence` wants
those reads to succeed, with the acknowledged content, and `recovery-bounded` wants every
operation back within a bound of the cell serving every row again. In the `machine-lost`
configuration the first tablet server to crash while serving never comes back
(`OneMachineLost`), not even in the ending: the cell must go on without it, and the clients
that cached it must find its tablets elsewhere.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.node import Node
from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.bigtable import checks
from implementations.bigtable.client import KeepsStaleLocation, TableClient
from implementations.bigtable.master import Master
from implementations.bigtable.storage import GFS, GFS_NODE, SplitLeavesLog
from implementations.bigtable.tabletserver import AckBeforeLogSync, ServesWithoutLock, TabletServer
from implementations.chubby import ChubbyReplica

CHUBBY, MASTER = "ch1", "m"
SETTLE = 1500  # ticks the ending waits, after the longest pause, before its final reads
TABLETS = (("t", "", None),)  # one tablet: every row


class LockCell(ChubbyReplica):
    """Chubby's replica without lock-delay (see the module docstring)."""

    lock_delay = 0


@attrs.define
class OneMachineLost:
    """How the tablet servers are made where one machine is lost for good: the first server
    to crash while it serves tablets never comes back. Each of its restarts boots a machine
    with nothing on it (a bare `Node`), which answers nothing and sends nothing, as a dead
    machine's RPCs time out; the other servers restart as usual. BigTable section 5.2: the
    master notices that the server no longer holds its lock and hands its tablets to the
    others; a client that cached the server's location must look its rows up again.
    Mutable, so a copy of a run (a snapshot) keeps its own."""

    server: Any  # a tablet server's constructor, called with its node id
    made: dict[str, Node] = attrs.Factory(dict)  # node id -> its latest incarnation
    lost: str | None = None

    def __call__(self, node_id: str) -> Node:
        crashed = self.made.get(node_id)  # None at the first boot
        if self.lost is None and getattr(crashed, "tablets", None):
            self.lost = node_id
        self.made[node_id] = Node(node_id) if self.lost == node_id else self.server(node_id)
        return self.made[node_id]


@attrs.frozen
class Parts:
    """The classes a variant runs: a seeded bug replaces one of them."""

    server: type[TabletServer] = TabletServer
    client: type[TableClient] = TableClient
    gfs: type[GFS] = GFS


def build(config: Config, parts: Parts, rng: Any) -> Cluster:
    rows = tuple(config.params.get("rows", ("a", "b")))
    cell = (CHUBBY,)
    servers = tuple(f"ts{i + 1}" for i in range(config.servers))
    clients = [f"c{i + 1}" for i in range(config.clients)]
    values = iter(range(1, 1 + config.clients * config.ops_per_client))
    written: list[int] = []

    def operation() -> tuple[str, tuple]:
        row, draw = rng.choice(rows), rng.random()
        if draw < 0.3:
            return ("read", (row,))
        if draw < 0.45:
            return ("delete", (row,))
        written.append(next(values))
        if draw < 0.6:
            return ("cas", (row, rng.choice([None, *written[:-1]]), written[-1]))
        return ("write", (row, written[-1]))

    workload = {c: [operation() for _ in range(config.ops_per_client)] for c in clients}
    nodes: dict[str, Any] = {
        CHUBBY: functools.partial(LockCell, replicas=cell),
        GFS_NODE: functools.partial(parts.gfs, tablets=TABLETS),
        MASTER: functools.partial(Master, replicas=cell, servers=servers, tablets=TABLETS,
                                  split_key=config.params.get("split_key")),
    }
    server = functools.partial(parts.server, replicas=cell, master=MASTER, gfs=GFS_NODE)
    if config.params.get("machine_lost"):
        server = OneMachineLost(server)
    nodes.update({s: server for s in servers})
    return Cluster(
        servers=nodes,
        clients={c: functools.partial(parts.client, master=MASTER) for c in clients},
        workload=workload,
        final_ops=[(clients[0], "wait", (config.max_pause + SETTLE,))]
        + [(clients[i % len(clients)], "read", (row,)) for i, row in enumerate(rows)],
    )


FAULTS = {"drop": 4, "duplicate": 4, "crash": 6, "partition": 4, "pause": 4, "skew": 20}
PARAMS = {"rows": ("a", "b"), "split_key": "b"}

SYSTEM = System(
    name="bigtable",
    paper="Chang et al.: Bigtable: A Distributed Storage System for Structured Data "
          "(OSDI 2006); Burrows: The Chubby lock service (OSDI 2006)",
    summary="tablets served by one server at a time under Chubby locks: commit log in GFS, "
            "memtable, minor and merging compactions, tombstones, check-and-set, splits, "
            "recovery by log replay on reassignment",
    build=build,
    invariants=(checks.one_server_per_row, checks.acked_durable, checks.no_acked_write_lost,
                checks.deletes_stick, checks.recovery_bounded, checks.progress_at_quiescence,
                checks.linearizable_rows),
    configs={
        "default": Config("default", servers=2, clients=2, ops_per_client=5, max_steps=500,
                          epsilon=50, max_pause=2500, faults=FAULTS, quiesce_horizon=4000,
                          params=PARAMS),
        # network partitions and nothing else: lock loss through the network alone
        "partitions": Config("partitions", servers=2, clients=2, ops_per_client=5,
                             max_steps=500, epsilon=50, max_pause=2500, faults={"partition": 4},
                             quiesce_horizon=4000, params=PARAMS),
        "small": Config("small", servers=2, clients=1, ops_per_client=4, max_steps=400,
                        epsilon=50, max_pause=2500, faults=FAULTS, quiesce_horizon=4000,
                        params=PARAMS),

        # clocks that run fast or slow within epsilon (Chubby sessions and tablet server
        # locks time out on them), and the serving tablet server cut off right after an ack
        "fail-over": Config("fail-over", servers=2, clients=2, ops_per_client=5,
                            max_steps=500, epsilon=50, max_drift=100, max_pause=2500,
                            faults={**FAULTS, "drift": 4, "nemesis": 2},
                            quiesce_horizon=4000, params=PARAMS),
        # the first tablet server to crash while serving is lost for good, even in the ending
        # (twice the crashes: a serving one is more often among them); clients must find its rows
        "machine-lost": Config("machine-lost", servers=2, clients=2, ops_per_client=5,
                               max_steps=500, epsilon=50, max_pause=2500,
                               faults={**FAULTS, "crash": 12}, quiesce_horizon=4000,
                               params={**PARAMS, "machine_lost": True}),
    },
    variants={
        "correct": Variant("correct", Parts()),
        "serves-without-lock": Variant(
            "serves-without-lock", Parts(server=ServesWithoutLock),
            breaks="one server per tablet: a server cut off from Chubby keeps serving after "
                   "the master reassigned its tablet; it acknowledges writes the new server "
                   "never sees and serves stale reads",
            caught_by="one-server-per-row",
            teaches="BigTable section 5.2: a tablet server stops serving when it loses its "
                    "lock"),
        "ack-before-log-sync": Variant(
            "ack-before-log-sync", Parts(server=AckBeforeLogSync),
            breaks="acknowledged writes are durable: the write is only in GFS's page cache; a "
                   "GFS crash drops it, and the log replay on reassignment does not have it",
            caught_by="acked-durable",
            teaches="BigTable section 5.3: acknowledge an update only once it is committed to "
                    "the log"),
        "stale-location-cache": Variant(
            "stale-location-cache", Parts(client=KeepsStaleLocation),
            breaks="progress: a client refused by the server it cached asks that server again "
                   "instead of looking the row up; after a split or a move it never reaches "
                   "the tablet: a final read, on a cell that serves every row, does not "
                   "return within the bound (and then fails)",
            caught_by="recovery-bounded",
            teaches="BigTable section 5.1: a client that finds its cached location wrong goes "
                    "back up the location hierarchy"),
        "split-drops-log": Variant(
            "split-drops-log", Parts(gfs=SplitLeavesLog),
            breaks="acknowledged mutations are durable: a split hands the children the "
                   "parent's SSTables but not its log after the redo point; the server serves "
                   "them from memory, and a crash now would lose them",
            caught_by="acked-durable",
            teaches="BigTable sections 5.3-5.4: a tablet is its SSTables plus its log after "
                    "the redo point; a split must hand on both"),
    },
)
