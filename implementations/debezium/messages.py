"""The messages of the pipeline, in the vocabulary of MySQL, Debezium and the search index.

A key is (table, primary key). A row is its value (an int: every write writes a new one), and
None stands for no row (before an insert, after a delete).
"""

from __future__ import annotations

from typing import Any

import attrs

# the two statements Debezium's MySQL snapshot runs to fix its view and find its position
CONSISTENT_SNAPSHOT = "START TRANSACTION WITH CONSISTENT SNAPSHOT"
MASTER_STATUS = "SHOW MASTER STATUS"


# --- the source database's binlog ----------------------------------------------------------


@attrs.frozen
class Change:
    """One row change of a transaction: op c (insert), u (update) or d (delete)."""

    table: str
    pk: int
    op: str
    before: Any
    after: Any


@attrs.frozen
class Entry:
    """One committed transaction in the binlog, at its position (1, 2, 3, ...): its row
    changes, or a DDL statement (`ddl`: the table and its new schema version)."""

    position: int
    changes: tuple = ()
    ddl: tuple | None = None


# --- writers <-> database ------------------------------------------------------------------


@attrs.frozen
class Execute:
    """A transaction: ("put", table, pk, value) inserts or updates, ("delete", table, pk)
    deletes, ("alter", table) is a DDL statement (which commits on its own)."""

    req: Any
    ops: tuple


@attrs.frozen
class Committed:
    """The transaction committed at `position` (None: it changed nothing)."""

    req: Any
    position: int | None
    changes: tuple


# --- connector (and readers) <-> database --------------------------------------------------


@attrs.frozen
class Query:
    """Statements the database runs one after the other, with no other session's statement
    in between (as under MySQL's global read lock)."""

    req: Any
    statements: tuple


@attrs.frozen
class Answers:
    req: Any
    answers: tuple  # (statement, binlog position)


@attrs.frozen
class Select:
    """Every row of every table, as of binlog position `view` (a repeatable-read
    transaction's snapshot); None: as of now."""

    req: Any
    view: int | None


@attrs.frozen
class Rows:
    req: Any
    position: int  # the binlog position the rows are as of
    schemas: tuple  # (table, schema version)
    rows: tuple  # (table, pk, row)


@attrs.frozen
class ReadBinlog:
    """The binlog entries from `start` on (a replica's binlog dump, in batches)."""

    req: Any
    start: int


@attrs.frozen
class BinlogEvents:
    req: Any
    entries: tuple


# --- what the connector writes to Kafka ----------------------------------------------------


@attrs.frozen
class ChangeEvent:
    """Debezium's change event for one row: op r (snapshot read), c, u or d; the row before
    and after; the source position it comes from (for a read, the snapshot's) and the schema
    version of its table there. Kafka's record key is the row's key: it picks the partition."""

    key: tuple
    op: str
    before: Any
    after: Any
    position: int
    schema: int


@attrs.frozen
class SourceOffset:
    """Where the connector resumes: every change at or before `position` is in Kafka; the
    tables' schema versions there (what Debezium's schema history topic recovers)."""

    connector: str
    position: int
    schemas: tuple


@attrs.frozen
class GetOffsets:
    """Kafka Connect's REST API: the connector's committed offset (KIP-875)."""

    req: Any


@attrs.frozen
class Offsets:
    req: Any
    position: int | None  # None: no offset committed yet


# --- sink <-> search index (and readers) ---------------------------------------------------


@attrs.frozen
class Write:
    """Index `row` (None: a delete, kept as a tombstone) under `key` at version `position`.
    `if_newer`: external versioning, applied only if `position` is above the document's."""

    key: tuple
    position: int
    row: Any
    if_newer: bool = True


@attrs.frozen
class IndexRequest:
    req: Any
    write: Write


@attrs.frozen
class Indexed:
    req: Any


@attrs.frozen
class Doc:
    """A document of the index: the row and the source position it was written at."""

    position: int
    row: Any


@attrs.frozen
class Search:
    """The documents of `keys` (None: all of them, tombstones included)."""

    req: Any
    keys: tuple | None


@attrs.frozen
class Hits:
    req: Any
    docs: tuple  # (key, Doc)
