"""A virtual warehouse: worker nodes that scan files, each caching the files it has read.

The optimizer hands each file to a worker by consistent hashing of the file's name, so a file
read again -- by the next query, or a concurrent one -- is read by the same worker, from its
cache. The caches are LRU and hold whole files here (the paper's workers cache file headers
and the columns a query reads). Files are immutable and a new table version names new files,
so a cached file is never stale: no invalidation at all.

Consistent hashing is lazy: when the warehouse is resized, nothing moves. The files whose
owner changed are read from the store by their new owner on its next scan, and the old
copies age out of the LRU caches (a worker removed takes its cache with it).
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs

from implementations.snowflake.storage import Column, FileMeta, MicroPartition, ObjectStore, Row


def ring_position(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    """Each worker owns `vnodes` points on a ring; a file belongs to the first point at or
    after its name's position, going round."""

    def __init__(self, workers: Sequence[str], vnodes: int) -> None:
        self.points = sorted((ring_position(f"{worker}#{i}"), worker)
                             for worker in workers for i in range(vnodes))

    def owner(self, file_name: str) -> str:
        at = bisect.bisect_left(self.points, (ring_position(file_name), ""))
        return self.points[at % len(self.points)][1]


class Worker:
    def __init__(self, name: str, cache_files: int) -> None:
        self.name, self.capacity = name, cache_files
        self.cache: OrderedDict[str, MicroPartition] = OrderedDict()  # least recent first

    def read(self, name: str, store: ObjectStore) -> tuple[MicroPartition, bool]:
        """The file, from the cache when it is there (a hit), else from the store."""
        if name in self.cache:
            self.cache.move_to_end(name)
            return self.cache[name], True
        partition = store.get(name)
        self.cache[name] = partition
        while len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        return partition, False


@attrs.frozen
class FileScan:
    """One file as a worker scanned it: who, whether from its cache, and which rows matched."""

    meta: FileMeta
    worker: str
    hit: bool
    rows: tuple[Row, ...]
    matched: tuple[bool, ...]


class VirtualWarehouse:
    def __init__(self, store: ObjectStore, columns: Sequence[Column], workers: int,
                 cache_files: int, vnodes: int = 4) -> None:
        self.store, self.cache_files, self.vnodes = store, cache_files, vnodes
        self.evaluator = Evaluator(columns)
        self.workers: dict[str, Worker] = {}
        self.resize(workers)

    def resize(self, size: int) -> None:
        """Workers w1..w<size>: the ones kept keep their caches, new ones start cold."""
        names = [f"w{i + 1}" for i in range(size)]
        self.workers = {name: self.workers.get(name) or Worker(name, self.cache_files)
                        for name in names}
        self.ring = HashRing(names, self.vnodes)

    def scan(self, files: Sequence[FileMeta], pred: Any) -> list[FileScan]:
        scans = []
        for meta in files:
            worker = self.workers[self.ring.owner(meta.name)]
            partition, hit = worker.read(meta.name, self.store)
            rows = tuple(partition.rows())
            scans.append(FileScan(meta, worker.name, hit, rows,
                                  tuple(self.evaluator.matches(pred, row) for row in rows)))
        return scans


class Evaluator:
    """A worker's filter: the WHERE clause on one row, in three-valued logic (None is
    UNKNOWN); a row is returned only when it is TRUE."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = {column.name: (i, column) for i, column in enumerate(columns)}

    def matches(self, pred: Any, row: Row) -> bool:
        return pred is None or self.value(pred, row) is True

    def value(self, pred: Any, row: Row) -> bool | None:
        kind = pred[0]
        if kind == "not":
            inner = self.value(pred[1], row)
            return None if inner is None else not inner
        if kind in ("and", "or"):
            left, right = self.value(pred[1], row), self.value(pred[2], row)
            decisive = kind == "or"  # TRUE decides an OR, FALSE an AND
            if decisive in (left, right):
                return decisive
            return None if None in (left, right) else not decisive
        index, column = self.columns[pred[2] if kind == "cmp" else pred[1]]
        value = row[index]
        if kind in ("is null", "is not null"):
            return (value is None) == (kind == "is null")
        if kind == "cmp":
            return self.compare(pred[1], column, value, pred[3])
        if kind == "between":
            return self.value(("and", ("cmp", ">=", pred[1], pred[2]),
                               ("cmp", "<=", pred[1], pred[3])), row)
        return self.value(_as_disjunction(pred[1], pred[2]), row)

    @staticmethod
    def compare(op: str, column: Column, value: Any, literal: Any) -> bool | None:
        if value is None or literal is None:
            return None
        a, b = column.key(value), column.key(literal)
        return {"=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                ">=": a >= b}[op]


def _as_disjunction(column: str, literals: Sequence[Any]) -> Any:
    pred = ("cmp", "=", column, literals[0])
    for literal in literals[1:]:
        pred = ("or", pred, ("cmp", "=", column, literal))
    return pred
