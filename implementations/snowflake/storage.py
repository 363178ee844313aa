"""The storage layer: immutable micro-partitions in an object store, and their zone maps.

A table is split horizontally into micro-partitions, each written once as a file of its own,
column by column (the paper's PAX layout: a header, then each column's values together).
Here an insert brings its rows in batches, as a bulk load brings staged files, and each batch
becomes one micro-partition: where the partition boundaries fall is part of the input the
properties draw. A file is never modified: DML writes new files under new names, and a table
version lists the files it is made of (`metadata.py`). For each file the metadata keeps a
zone map per column -- min, max and null count -- computed when the file is written, under
the column's collation (the seeded bug `minmax-other-ordering` takes them in byte order
whatever the collation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

Row = tuple[Any, ...]

# How a collation orders values: by a key. `binary` is code point order (UTF-8 byte order);
# `nocase` compares lower-cased strings (Snowflake's COLLATE 'lower', DuckDB's NOCASE).
COLLATION_KEYS: dict[str, Callable[[Any], Any]] = {
    "binary": lambda value: value,
    "nocase": lambda value: value.lower(),
}


@attrs.frozen
class Column:
    name: str
    type: str  # "int" | "text"
    collation: str = "binary"

    def key(self, value: Any) -> Any:
        return COLLATION_KEYS[self.collation](value)


@attrs.frozen
class ZoneMap:
    """One column of one micro-partition: its smallest and largest non-NULL values under the
    column's collation (None when every value is NULL) and how many values are NULL."""

    min: Any
    max: Any
    null_count: int


@attrs.frozen
class MicroPartition:
    """A file's content: one tuple of values per column (the columnar layout)."""

    name: str
    columns: tuple[tuple[Any, ...], ...]

    def rows(self) -> list[Row]:
        return list(zip(*self.columns))


@attrs.frozen
class FileMeta:
    """What the metadata service keeps about a file: its name, row count and zone maps."""

    name: str
    row_count: int
    zone_maps: tuple[ZoneMap, ...]


class ObjectStore:
    """S3 as the paper uses it: whole files put and got by name. Like S3, a put overwrites; the
    files are immutable because Snowflake never puts a name twice. Every put is logged."""

    def __init__(self) -> None:
        self.files: dict[str, MicroPartition] = {}
        self.puts: list[str] = []

    def put(self, partition: MicroPartition) -> None:
        self.files[partition.name] = partition
        self.puts.append(partition.name)

    def get(self, name: str) -> MicroPartition:
        return self.files[name]


class PartitionWriter:
    """Writes each batch of rows as a micro-partition under a fresh name, and computes the
    zone maps the metadata will keep."""

    def __init__(self, store: ObjectStore, columns: Sequence[Column]) -> None:
        self.store, self.columns = store, tuple(columns)
        self.written = 0

    def write(self, batches: Sequence[Sequence[Row]]) -> list[FileMeta]:
        return [self.write_one(rows) for rows in batches]

    def write_one(self, rows: Sequence[Row]) -> FileMeta:
        self.written += 1
        values = tuple(tuple(row[i] for row in rows) for i in range(len(self.columns)))
        partition = MicroPartition(f"t/mp{self.written:04d}", values)
        self.store.put(partition)
        return FileMeta(partition.name, len(rows),
                        tuple(self.zone_map(column, column_values)
                              for column, column_values in zip(self.columns, values)))

    def zone_map(self, column: Column, values: Sequence[Any]) -> ZoneMap:
        present = [value for value in values if value is not None]
        order = self.ordering(column)
        return ZoneMap(min(present, key=order) if present else None,
                       max(present, key=order) if present else None,
                       len(values) - len(present))

    def ordering(self, column: Column) -> Callable[[Any], Any]:
        """The order min and max are taken in: the column's collation, the one its
        predicates compare under."""
        return column.key


class MinMaxOtherOrdering(PartitionWriter):
    """Seeded bug: min and max taken in the file format's byte order, not under the
    column's collation. On a case-insensitive column, ['B', 'a'] gets min 'B', max 'a': under
    the collation 'a' < 'b', so the zone map claims nothing lies between them."""

    def ordering(self, column: Column) -> Callable[[Any], Any]:
        return lambda value: value
