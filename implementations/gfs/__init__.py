"""The Google File System: a master, chunkservers holding three replicas of each chunk, leases
to a primary that orders mutations, and record append at the offset the primary chooses.

Ghemawat, Gobioff, Leung, "The Google File System" (SOSP 2003). One file, `/log`, made of
small chunks (CHUNK_SIZE bytes, so that the primary pads often), appended to by clients.

- The **master** keeps the namespace (the file's chunk handles), each chunk's version number
  and replicas (durable; see `Master` on why the replicas too), and which chunkservers are
  alive (from their heartbeats). To let a client
  mutate a chunk it grants a **lease** to one replica, the primary: it first raises the
  chunk's version and tells every reachable replica (`NewVersion`), then hands the lease
  (`Lease`) to one that acknowledged. A replica that missed the bump is **stale**: the master
  drops it from the chunk's replicas and tells it to delete its copy when it next reports.
- A lease lasts LEASE ticks of true time, measured with TrueTime intervals on both sides: the
  master computes `until = earliest(now) + LEASE` and grants no other lease for the chunk until
  `earliest(now) > until`; the primary trusts its lease while `latest(now) < until`. So at most
  one unexpired lease per chunk exists at any true time, whatever the clocks' drift within
  epsilon and however late the `Lease` message arrives.
- A **client** asks the master for the primary, pushes the record to every replica
  (`PushData`, acknowledged), then sends `AppendRecord` to the primary. The primary picks the
  offset (its end of the chunk), gives the mutation the next serial number, applies it and
  forwards it to the secondaries, which apply mutations in serial order at the primary's
  offset; it answers `AppendOk(offset)` once every secondary applied it. If the record does
  not fit, the primary pads the chunk, has the secondaries pad it too, and answers
  `ChunkFull`: the client retries on the next chunk. Any failure makes the client retry the
  whole append, so a record may land more than once (at-least-once).
- Secondaries apply a mutation only while the lease it was ordered under runs, so once the
  master may grant a new lease, the old primary's mutations are over everywhere.
- **Re-replication**: a chunk with fewer than three live replicas is cloned, between leases,
  from a live replica to another chunkserver; the master adds the copy only if the chunk's
  version did not move meanwhile.
- **Checksums**: each replica keeps a CRC per BLOCK bytes, verified before serving a read or a
  clone. (The engine has no disk-corruption fault, so in these runs they always verify.)
- **Reads** go to any replica the master names, with the version the master named: a replica
  at another version refuses, and the master names only current replicas. (As in the paper, a
  read the master answered just before a new lease may still be served at the old version.)

The pieces: `messages.py` (with the constants every part shares), `master.py`,
`chunkserver.py`, `client.py`, and `checks.py` (the invariants); each seeded bug sits beside
the code it mutates.

Left out: writes at a client-chosen offset (the workload only appends), the chained data
push (the client pushes to each replica directly), lease extensions (a lease that runs out
is simply granted again, with a new version), master replication and snapshots.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.gfs.checks import (
    appends_at_offset,
    chunk_versions,
    client_gives_up,
    fixed_size_chunks,
    mutations_within_lease,
    one_lease_per_chunk,
    progress_at_quiescence,
    prompt_re_replication,
    reads_see_appends,
    serial_order,
    stale_replica_reads,
    takers_kept,
)
from implementations.gfs.chunkserver import ChunkServer, SecondaryOwnOffset
from implementations.gfs.client import GFSClient
from implementations.gfs.master import (
    Master,
    RegrantUnreachable,
    ReplaceOnlyDead,
    VersionLoggedLazily,
)
from implementations.gfs.messages import LEASE, MASTER, MAX_CHUNKS

# --- the cluster and its workload --------------------------------------------------------------


@attrs.frozen
class Roles:
    """What a variant runs: the master's class and the chunkservers'."""

    master: type[Master] = Master
    chunkserver: type[ChunkServer] = ChunkServer


def chunkserver_ids(config: Config) -> tuple[str, ...]:
    return tuple(f"cs{i + 1}" for i in range(config.servers))


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """A master and `config.servers` chunkservers; each client appends records such as
    `[c1.2]` (six bytes, three to a chunk) and now and then reads a chunk; the ending appends
    once more (`[c1.f]`), asks the master until every chunk has its replicas back, then reads
    every chunk."""
    clients = [f"c{i + 1}" for i in range(config.clients)]
    workload = {c: [("read", (rng.randrange(2),)) if rng.random() < 0.2
                    else ("append", (f"[{c}.{k + 1}]",)) for k in range(config.ops_per_client)]
                for c in clients}
    servers: dict[str, Any] = {MASTER: roles.master}
    servers.update({s: roles.chunkserver for s in chunkserver_ids(config)})
    return Cluster(
        servers=servers,
        clients={c: GFSClient for c in clients},
        workload=workload,
        final_ops=[(clients[0], "append", (f"[{clients[0]}.f]", FINAL_TRIES)),
                   (clients[0], "replicated", ()),
                   *[(clients[(i + 1) % len(clients)], "read", (i,)) for i in range(MAX_CHUNKS)]],
    )


FINAL_TRIES = 12  # the ending's append outlasts a restarted master's wait (LEASE, and more)
# the ending's time: a lease still running must run out (LEASE) before the master clones
ENDING = 3 * LEASE
FAULTS = {"drop": 4, "duplicate": 4, "crash": 4, "partition": 4, "pause": 4, "skew": 20}

SYSTEM = System(
    name="gfs",
    paper="Ghemawat, Gobioff, Leung: The Google File System (SOSP 2003)",
    summary="a master, chunkservers with three replicas per chunk, leases to a primary that "
            "orders mutations, and at-least-once record append at the primary's offset",
    build=build,
    invariants=(one_lease_per_chunk, serial_order, mutations_within_lease, stale_replica_reads,
                chunk_versions, takers_kept, prompt_re_replication, appends_at_offset,
                reads_see_appends, fixed_size_chunks, client_gives_up, progress_at_quiescence),
    configs={  # `servers` counts the chunkservers; the master comes on top
        "default": Config("default", servers=4, clients=2, ops_per_client=4, max_steps=600,
                          epsilon=50, max_pause=2 * LEASE, faults=FAULTS,
                          quiesce_horizon=ENDING),
        "small": Config("small", servers=3, clients=1, ops_per_client=2, max_steps=200,
                        epsilon=50, max_pause=2 * LEASE, faults=FAULTS,
                        quiesce_horizon=ENDING),

        # clocks that run fast or slow within epsilon, and the primary cut off right after
        # a client is told its write went through
        "fail-over": Config("fail-over", servers=4, clients=2, ops_per_client=4,
                            max_steps=600, epsilon=50, max_drift=100, max_pause=2 * LEASE,
                            faults={**FAULTS, "drift": 4, "nemesis": 2},
                            quiesce_horizon=ENDING),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "regrant-unreachable": Variant(
            "regrant-unreachable", Roles(master=RegrantUnreachable),
            breaks="at most one unexpired lease per chunk: the master grants a new lease while "
                   "a primary it cannot reach still trusts its own",
            caught_by="one-lease-per-chunk",
            teaches="GFS (SOSP'03) section 3.1: wait for the lease to expire"),
        "secondary-own-offset": Variant(
            "secondary-own-offset", Roles(chunkserver=SecondaryOwnOffset),
            breaks="record append at the primary's offset: a secondary that missed a failed "
                   "append writes later records elsewhere than the offset returned",
            caught_by="appends-at-offset",
            teaches="GFS (SOSP'03) section 3.3: secondaries write at the primary's offset"),
        "version-logged-lazily": Variant(
            "version-logged-lazily", Roles(master=VersionLoggedLazily),
            breaks="the master's version is the authority: it tells replicas a new version "
                   "that is not yet on its own disk, so a crash would leave it behind them "
                   "(and deleting their copies as stale)",
            caught_by="chunk-versions",
            teaches="GFS (SOSP'03) section 4.5: the new version is persistent on the master "
                    "before anyone hears of the lease"),
        "replace-only-dead": Variant(
            "replace-only-dead", Roles(master=ReplaceOnlyDead),
            breaks="the replication level is restored: re-replication counts against the "
                   "replica set on record, so a replica dropped as stale is never replaced",
            caught_by="progress-at-quiescence",
            teaches="GFS (SOSP'03) sections 4.3 and 4.5: re-replicate below the goal, "
                    "whatever the cause; stale replicas count as lost"),
    },
)
