"""The cloud services layer: it plans every statement and commits every write.

A query is planned against the table version it reads (the current one, or one named by time
travel): the pruner drops the files whose zone maps rule the predicate out, and the virtual
warehouse scans the rest, each file on the worker consistent hashing gives it. An insert
writes new micro-partitions, one per batch of rows. A delete or an update is copy-on-write:
the files that may hold matching rows are scanned, each file with a matching row is replaced
by a new file holding its rows as the statement leaves them (none, if every row is deleted),
with zone maps of its own, and the new version is committed at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from implementations.snowflake.metadata import Metadata, TableVersion
from implementations.snowflake.pruning import Pruner
from implementations.snowflake.storage import (
    Column,
    FileMeta,
    ObjectStore,
    PartitionWriter,
    Row,
)
from implementations.snowflake.warehouse import FileScan, VirtualWarehouse


@attrs.frozen
class QueryResult:
    rows: tuple[Row, ...]
    scans: tuple[FileScan, ...]  # the files read, by whom, from cache or not
    pruned: tuple[FileMeta, ...]  # the files skipped


class CloudServices:
    def __init__(self, columns: Sequence[Column], writer: PartitionWriter, pruner: Pruner,
                 warehouse: VirtualWarehouse, store: ObjectStore) -> None:
        self.columns = tuple(columns)
        self.writer, self.pruner, self.warehouse, self.store = writer, pruner, warehouse, store
        self.metadata = Metadata()

    def execute(self, statement: tuple) -> QueryResult | TableVersion | None:
        kind, *args = statement
        if kind == "select":
            return self.select(*args)
        if kind == "resize":
            self.warehouse.resize(*args)
            return None
        return {"insert": self.insert, "delete": self.delete, "update": self.update}[kind](*args)

    def select(self, version: int | None, pred: Any) -> QueryResult:
        table = self.metadata.at(version)
        scan, pruned = self.pruner.split(pred, table.files)
        scans = self.warehouse.scan(scan, pred)
        rows = tuple(row for file in scans for row, hit in zip(file.rows, file.matched) if hit)
        return QueryResult(rows, tuple(scans), tuple(pruned))

    def insert(self, batches: Sequence[Sequence[Row]]) -> TableVersion:
        return self.metadata.commit((), self.writer.write(batches))

    def delete(self, pred: Any) -> TableVersion:
        return self.rewrite_matching(pred, lambda row: None)

    def update(self, column: str, value: Any, pred: Any) -> TableVersion:
        index = [c.name for c in self.columns].index(column)
        return self.rewrite_matching(pred, lambda row: row[:index] + (value,) + row[index + 1:])

    def rewrite_matching(self, pred: Any, change: Callable[[Row], Row | None]) -> TableVersion:
        """Copy-on-write: every file with a row the predicate matches is replaced by a new
        file of its rows changed (`change` returns None for a row deleted)."""
        scan, _ = self.pruner.split(pred, self.metadata.current.files)
        removed, added = [], []
        for file in self.warehouse.scan(scan, pred):
            if not any(file.matched):
                continue
            removed.append(file.meta)
            rows = [change(row) if hit else row for row, hit in zip(file.rows, file.matched)]
            kept = [row for row in rows if row is not None]
            if kept:
                added.append(self.rewrite(file.meta, kept))
        return self.metadata.commit(removed, added)

    def rewrite(self, old: FileMeta, rows: Sequence[Row]) -> FileMeta:
        """The new file replacing `old`: a new name, and zone maps of its own rows."""
        return self.writer.write_one(rows)


class InheritedStats(CloudServices):
    """Seeded bug: the file a delete or update writes keeps the zone maps of the file it
    replaces, as if the statistics belonged to the partition's place rather than its rows.
    An update that moves a value outside [min, max], or that writes a NULL, leaves a zone map
    that rules out rows the file holds."""

    def rewrite(self, old: FileMeta, rows: Sequence[Row]) -> FileMeta:
        return attrs.evolve(self.writer.write_one(rows), zone_maps=old.zone_maps)


@attrs.frozen
class Parts:
    """What a variant changes: the writer (zone maps), the pruner, the services (DML), the
    warehouse (caches)."""

    writer: type[PartitionWriter] = PartitionWriter
    pruner: type[Pruner] = Pruner
    services: type[CloudServices] = CloudServices
    warehouse: type[VirtualWarehouse] = VirtualWarehouse

    def open(self, columns: Sequence[Column], workers: int, cache_files: int) -> CloudServices:
        """A fresh account: an empty table in an empty store, a warehouse with cold caches."""
        store = ObjectStore()
        return self.services(columns, self.writer(store, columns),
                             self.pruner(columns),
                             self.warehouse(store, columns, workers, cache_files), store)
