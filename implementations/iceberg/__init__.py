"""Apache Iceberg: a table format whose only commit point is a pointer swap in a catalog
(the Iceberg table spec, format version 2).

An Iceberg table is a tree of immutable files in an object store. The catalog holds, per
table, the location of the current **metadata file**; that file lists the table's
**snapshots**, each naming a **manifest list**; a manifest list names **manifests**; a manifest
lists **data files** and **delete files**, each with its column statistics. A writer never
changes a file: it writes new ones, bottom up, and commits by swapping the catalog's pointer
from the metadata file it started from to its own with compare-and-swap. Concurrency is
optimistic: a writer whose swap fails refreshes, validates its change against the snapshots
committed in between, and retries or fails. Readers pin a snapshot and see exactly its files.

The pieces:

- `store.py`: the object store (files immutable once written; listings that lag);
- `catalog.py`: the catalog (the pointer, and its compare-and-swap), and the table as created;
- `metadata.py`: the files' layout (the spec's table metadata JSON, manifest lists,
  manifests, statistics); `scan.py`: scan planning, pruning by statistics, deletes;
- `engine.py`: a query engine's plumbing (requests, reading and writing files, jobs);
  `commit.py`: the commit protocol; `operations.py`: appends, copy-on-write and merge-on-read
  deletes, overwrites, compaction, snapshot expiry, orphan removal, reads;
- `client.py`: the client; `bugs.py`: the seeded bugs; `checks.py`: the invariants, against
  `models/iceberg.py`.

A run: the object `store`, the `catalog`, one query engine per client (`e1` for `c1`, ...),
and a table created with four rows in two data files. Each client mixes appends, deletes (of
each kind), overwrites, reads (full scans and filtered ones), compactions, snapshot expiry
and orphan removal. The ending appends once from each client, removes orphans, and reads the
whole table.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.iceberg import checks
from implementations.iceberg.bugs import (
    CheckThenWrite,
    CleanupAfterAmbiguous,
    OrphansWithoutAge,
    RetryWithoutValidation,
)
from implementations.iceberg.catalog import Catalog, create_table
from implementations.iceberg.client import IcebergClient
from implementations.iceberg.operations import Engine
from implementations.iceberg.store import ObjectStore

DELETE_MODES = ("copy-on-write", "position-deletes", "equality-deletes")
OPERATIONS = (("append", 0.26), ("delete", 0.2), ("overwrite", 0.12), ("read", 0.2),
              ("compact", 0.08), ("expire", 0.07), ("remove-orphans", 0.07))


@attrs.frozen
class Roles:
    """The node classes one variant runs."""

    engine: type[Engine] = Engine


class Workload:
    """Draws operations; ids are handed out once, so a deleted row never comes back by
    itself, and deletes and overwrites name ids already handed out."""

    def __init__(self, rng: Any) -> None:
        self.rng = rng
        self.ids = 0

    def rows(self, count: int) -> list[list]:
        drawn = []
        for _ in range(count):
            self.ids += 1
            drawn.append([self.ids, None if self.rng.random() < 0.2 else self.rng.randint(0, 9)])
        return drawn

    def operation(self) -> tuple[str, Any]:
        f = self.rng.choices([f for f, _ in OPERATIONS], [w for _, w in OPERATIONS])[0]
        key = self.rng.randint(1, self.ids)
        if f == "append":
            return f, self.rows(self.rng.randint(1, 2))
        if f == "delete":
            return f, [key, self.rng.choice(DELETE_MODES)]
        if f == "overwrite":
            return f, [key, self.rng.randint(0, 9)]
        if f == "read":
            return f, self.read_filter()
        return f, None

    def read_filter(self) -> list | None:
        draw = self.rng.random()
        if draw < 0.4:
            return None
        if draw < 0.7:
            low = self.rng.randint(1, self.ids)
            return ["id", low, low + self.rng.randint(0, 2)]
        low = self.rng.randint(0, 9)
        return ["value", low, low + self.rng.randint(0, 3)]


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """The store and the catalog, holding a table created with two data files of two rows;
    one engine per client (`servers` engines); each client's operations drawn in turns, so
    that a delete names rows appended by either client before it."""
    draw = Workload(rng)
    creation = create_table(str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                            rng.randrange(1, 2**31),
                            [[{"id": k, "value": v} for k, v in draw.rows(2)] for _ in range(2)])
    clients = [f"c{i + 1}" for i in range(config.clients)]
    engines = [f"e{i + 1}" for i in range(config.servers)]
    workload: dict[str, list] = {c: [] for c in clients}
    for _ in range(config.ops_per_client):
        for c in clients:
            workload[c].append(draw.operation())
    servers: dict[str, Any] = {
        "store": functools.partial(ObjectStore, initial=creation.files),
        "catalog": functools.partial(Catalog, creation=creation)}
    servers.update({e: roles.engine for e in engines})
    return Cluster(
        servers=servers,
        clients={c: functools.partial(IcebergClient, engine=engines[i % len(engines)])
                 for i, c in enumerate(clients)},
        workload=workload,
        final_ops=[*[(c, "append", draw.rows(1)) for c in clients],
                   (clients[-1], "remove-orphans", None), (clients[0], "read", None)],
    )


FAULTS = {"drop": 4, "duplicate": 4, "crash": 2, "pause": 3, "partition": 2}

SYSTEM = System(
    name="iceberg",
    paper="Apache Iceberg table spec, format version 2 (Apache Software Foundation)",
    summary="a table format committed by a catalog pointer swap: immutable metadata trees, "
            "optimistic concurrency with validation, snapshot expiry and orphan removal",
    build=build,
    invariants=(checks.no_dangling_references, checks.snapshot_lineage,
                checks.committed_snapshots_reachable, checks.committed_deletes_stay_deleted,
                checks.snapshots_match_model, checks.snapshot_matches_operation,
                checks.column_stats_sound, checks.commits_exactly_once,
                checks.reads_see_their_snapshot, checks.pruning_keeps_matches,
                checks.progress_at_quiescence, checks.orphans_removed,
                checks.uncommitted_writes_cleaned_up),
    configs={
        "default": Config("default", servers=2, clients=2, ops_per_client=5, max_steps=600,
                          max_pause=600, faults=FAULTS, quiesce_horizon=2000),
        "small": Config("small", servers=2, clients=2, ops_per_client=2, max_steps=200,
                        max_pause=600, faults=FAULTS, quiesce_horizon=2000),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "check-then-write": Variant(
            "check-then-write", Roles(engine=CheckThenWrite),
            breaks="the commit point: the pointer is read, then written blindly, so a commit "
                   "landing in between is lost",
            caught_by="committed-snapshots-reachable",
            teaches="Iceberg spec, Commit Conflict Resolution and Retry: the swap must be "
                    "atomic"),
        "cleanup-after-ambiguous": Variant(
            "cleanup-after-ambiguous", Roles(engine=CleanupAfterAmbiguous),
            breaks="a writer that never hears its swap's answer deletes its files, though the "
                   "swap succeeded: the current metadata references deleted files",
            caught_by="no-dangling-references",
            teaches="Iceberg's CommitStateUnknownException: an unknown outcome cleans up "
                    "nothing"),
        "retry-without-validation": Variant(
            "retry-without-validation", Roles(engine=RetryWithoutValidation),
            breaks="a retry reapplies a change planned on an old snapshot without validating "
                   "it: a file rewritten twice keeps its rows twice, or a deleted row comes "
                   "back",
            caught_by="snapshots-match-model",
            teaches="Iceberg spec, Commit Conflict Resolution and Retry: validate, then "
                    "reapply"),
        "orphans-without-age": Variant(
            "orphans-without-age", Roles(engine=OrphansWithoutAge),
            breaks="orphan removal deletes the files of a commit still in flight",
            caught_by="no-dangling-references",
            teaches="Iceberg's remove_orphan_files older_than: spare files younger than the "
                    "longest write"),
    },
)
