"""Change data capture as a specification: what a stream of change events, and a target built
from it, must be, given the source database's committed history.

The source commits entries at binlog positions 1, 2, 3, ...: each changes rows (a key is
(table, primary key)) or one table's schema version. So every key has a sequence of
**versions**: the row each of its changes left (None after a delete), at that change's
position. A key's row as of position p is its latest version at or before p.

Each change event **claims** a version of its key: a change event at position c claims the
key's change at c; a snapshot `read` at position p claims the key's version current at p (an
older change, if the key did not change since). The stream refines the source when:

- every event is true (`event_problem`): the key had that change at c (op, row before, row
  after), or that row at p; and the event carries its table's schema version there;
- nothing is lost (`required_versions`): for some snapshot position S (`snapshot_candidates`:
  one the stream's reads name, or one where the source had no row), every row that existed
  at S and every change after S is claimed by some event; events may repeat (delivery is at
  least once);
- each key's versions come in order (`first_out_of_order`): no version of a key first
  appears after a newer version of it (a repeat of a version already seen is harmless).

A transaction's puts and deletes, applied in order to the rows as of the position before it,
make the changes `transaction_changes` gives: what its writer must be told.

A target that applies each event to its key only if the event is newer than the document:

- never goes back to an older version of a document (`regression`);
- holds only versions the source committed, none from after the position it claims
  (`committed_version`);
- at quiescence holds exactly the source's rows (`final_differences`), except for a
  **phantom**: a row deleted before S whose version from before S (a read of an
  interrupted snapshot, or a change a connector streamed before it crashed without
  committing an offset) is in the stream. A new snapshot cannot take back what was emitted
  before it: that is Debezium's behaviour when a snapshot is redone, and a consumer that
  needs more must rebuild from S. Telling a phantom from a lost delete takes the later
  snapshot's reads (S is the position they name): a snapshot of empty tables leaves no trace
  in the stream, so the workloads keep a row in every table.

Pure code: keys, rows and events are plain values.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, NamedTuple

Key = tuple  # (table, primary key)


class Event(NamedTuple):
    """A change event as the stream holds it: op r (snapshot read), c, u or d."""

    key: Key
    op: str
    before: Any
    after: Any
    position: int
    schema: int


class SourceHistory:
    """The source's committed entries, as versions per key and schema versions per table."""

    def __init__(self) -> None:
        self.last = 0  # the last position committed
        self.versions: dict[Key, list[tuple[int, str, Any, Any]]] = {}  # (pos, op, before, after)
        self.schemas: dict[str, list[tuple[int, int]]] = {}  # table -> [(position, version)]
        self.entries: dict[int, tuple] = {}  # position -> (changes, ddl)

    def commit(self, position: int, changes: Iterable[tuple], ddl: tuple | None) -> str | None:
        """Add the entry at `position`: its changes (table, pk, op, before, after) and its DDL
        (table, version), or None. A sentence if the entry cannot follow the history."""
        changes = tuple(changes)
        if position != self.last + 1:
            return f"entry {position} committed after entry {self.last}"
        for table, pk, op, before, after in changes:
            current = self.row_at((table, pk), self.last)
            if before != current or op != _op(before, after):
                return (f"entry {position} changes {table}/{pk} with op {op} from "
                        f"{before!r}, but the row was {current!r}")
        self.last = position
        self.entries[position] = (changes, ddl)
        for table, pk, op, before, after in changes:
            self.versions.setdefault((table, pk), []).append((position, op, before, after))
        if ddl is not None:
            self.schemas.setdefault(ddl[0], []).append((position, ddl[1]))
        return None

    def keys(self) -> list[Key]:
        return sorted(self.versions)

    def version_at(self, key: Key, position: int) -> tuple[int, Any]:
        """(position of the key's latest change at or before `position`, the row it left);
        (0, None) if the key had none."""
        versions = self.versions.get(key, [])
        i = bisect.bisect_right([at for at, _, _, _ in versions], position)
        return (versions[i - 1][0], versions[i - 1][3]) if i else (0, None)

    def row_at(self, key: Key, position: int) -> Any:
        return self.version_at(key, position)[1]

    def change_at(self, key: Key, position: int) -> tuple[str, Any, Any] | None:
        """(op, before, after) of the key's change at `position`, if it has one there."""
        for at, op, before, after in self.versions.get(key, []):
            if at == position:
                return op, before, after
        return None

    def schema_at(self, table: str, position: int) -> int | None:
        versions = [v for at, v in self.schemas.get(table, []) if at <= position]
        return versions[-1] if versions else None

    def rows_at(self, position: int) -> dict[Key, Any]:
        rows = {key: self.row_at(key, position) for key in self.keys()}
        return {key: row for key, row in rows.items() if row is not None}


def _op(before: Any, after: Any) -> str:
    return "c" if before is None else "d" if after is None else "u"


def transaction_changes(rows: dict[Key, Any], ops: Iterable) -> list[list]:
    """The changes [op, table, pk, row after] a transaction's puts ("put", table, pk, row)
    and deletes ("delete", table, pk) make, applied in order to `rows` (key -> row as of
    the position before it); deleting a row that is not there changes nothing."""
    rows, changes = dict(rows), []
    for f, table, pk, *row in ops:
        before, after = rows.get((table, pk)), row[0] if f == "put" else None
        if before is None and after is None:
            continue
        rows[(table, pk)] = after
        changes.append([_op(before, after), table, pk, after])
    return changes


# --- the stream -------------------------------------------------------------------------------


def claimed_version(history: SourceHistory, event: Event) -> int:
    """The position of the change whose row the event claims to carry."""
    if event.op == "r":
        return history.version_at(event.key, event.position)[0]
    return event.position


def snapshot_candidates(history: SourceHistory, events: Iterable[Event]) -> list[int]:
    """The positions a snapshot the stream starts from may have been taken at, latest first:
    those its read events name, and those where the source had no row at all (a snapshot
    there emits no read)."""
    reads = {e.position for e in events if e.op == "r"}
    empty = {p for p in range(history.last + 1) if not history.rows_at(p)}
    return sorted(reads | empty, reverse=True)


def required_versions(history: SourceHistory, snapshot: int) -> list[tuple[Key, int, Any]]:
    """(key, version, row) the stream must claim: every row at the snapshot position, and
    every change after it."""
    required = [(key, *history.version_at(key, snapshot))
                for key in history.keys() if history.row_at(key, snapshot) is not None]
    required += [(key, at, after) for key in history.keys()
                 for at, _, _, after in history.versions[key] if at > snapshot]
    return required


def event_problem(history: SourceHistory, event: Event) -> str | None:
    """What the event says that the source's history does not, or None."""
    table, pk = event.key
    where = f"{event.op} event of {table}/{pk} at position {event.position}"
    if event.op == "r":
        row = history.row_at(event.key, event.position)
        if row is None or event.after != row or event.before is not None:
            return f"the {where} shows {event.after!r}, but the row was {row!r} there"
    else:
        change = history.change_at(event.key, event.position)
        if change != (event.op, event.before, event.after):
            shown = (event.op, event.before, event.after)
            return f"the {where} shows (op, before, after) = {shown!r}, but the source's " \
                   f"change there was {change!r}"
    schema = history.schema_at(table, event.position)
    if event.schema != schema:
        return f"the {where} carries schema version {event.schema}, but {table} was at " \
               f"version {schema} there"
    return None


def first_out_of_order(history: SourceHistory,
                       events: Iterable[Event]) -> tuple[Event, int] | None:
    """The first event (in stream order) claiming a new version of its key older than one
    already claimed, with that newer version; None if every key's versions are in order."""
    newest: dict[Key, int] = {}
    claimed: set[tuple[Key, int]] = set()
    for event in events:
        version = claimed_version(history, event)
        if (event.key, version) in claimed:
            continue  # a duplicate: harmless
        claimed.add((event.key, version))
        if version < newest.get(event.key, -1):
            return event, newest[event.key]
        newest[event.key] = version
    return None


# --- the target -------------------------------------------------------------------------------


def regression(before: dict[Key, tuple[int, Any]],
               after: dict[Key, tuple[int, Any]]) -> tuple[Key, tuple, tuple | None] | None:
    """A key whose document (position, row) went back to an older position, or vanished."""
    for key, (position, row) in sorted(before.items()):
        now = after.get(key)
        if now is None or now[0] < position:
            return key, (position, row), now
    return None


def committed_version(history: SourceHistory, key: Key, position: int, row: Any) -> bool:
    """Whether `row` (None: deleted) is a version the source committed for `key` at or
    before `position`."""
    return any(at <= position and after == row
               for at, _, _, after in history.versions.get(key, []))


def final_differences(history: SourceHistory, docs: dict[Key, tuple[int, Any]],
                      snapshot: int) -> list[tuple[Key, Any, Any]]:
    """(key, source row, target row) for every key where the target's live documents and the
    source's rows differ at the end, except phantoms: a document of a version from before
    the `snapshot` the stream continues from, of a row gone by then."""
    rows = history.rows_at(history.last)
    live = {key: row for key, (_, row) in docs.items() if row is not None}
    differences = []
    for key in sorted(set(rows) | set(live)):
        phantom = key not in rows and docs[key][0] < snapshot \
            and history.row_at(key, snapshot) is None
        if rows.get(key) != live.get(key) and not phantom:
            differences.append((key, rows.get(key), live.get(key)))
    return differences
