"""The source database: a MySQL-like server with tables keyed by primary key and a binlog.

Each transaction runs alone (the node handles one request at a time), so transactions are
serial; one that changes anything is appended to the binlog as one entry at the next
position, durably, before the client is answered. The tables are what the binlog says: the
rows as of position v are the entries up to v replayed, which is also how a repeatable-read
transaction with view v reads (MVCC, with the whole history kept).
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.debezium.messages import (
    Answers,
    BinlogEvents,
    Change,
    Committed,
    Entry,
    Execute,
    Query,
    ReadBinlog,
    Rows,
    Select,
)

DUMP_BATCH = 3  # binlog entries in one answer to a binlog read


def replay(binlog: tuple, view: int | None = None) -> tuple[dict, dict]:
    """The rows ((table, pk) -> row) and schema versions (table -> version) after the
    entries at positions up to `view` (all of them for None)."""
    rows: dict[tuple, Any] = {}
    schemas: dict[str, int] = {}
    for entry in binlog[:view]:
        if entry.ddl is not None:
            table, version = entry.ddl
            schemas[table] = version
        for change in entry.changes:
            key = (change.table, change.pk)
            if change.after is None:
                rows.pop(key, None)
            else:
                rows[key] = change.after
    return rows, schemas


class Database(Node):
    def __init__(self, node_id: str, initial: tuple) -> None:
        super().__init__(node_id)
        self.initial = initial  # ((table, pk, row), ...): the data before capture starts

    def on_start(self, ctx: Context) -> None:
        self.binlog: tuple = ctx.storage.get("binlog", ())
        if not self.binlog:  # first boot: create the tables and load them
            tables = sorted({table for table, _, _ in self.initial})
            self.commit(ctx, [Entry(1 + i, ddl=(table, 1)) for i, table in enumerate(tables)]
                        + [Entry(1 + len(tables), tuple(
                            Change(table, pk, "c", None, row) for table, pk, row in self.initial))])

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Execute(req, ops):
                entry = self.execute(ops)
                if entry is not None:
                    self.commit(ctx, [entry])
                ctx.send(src, Committed(req, None if entry is None else entry.position,
                                        () if entry is None else entry.changes))
            case Query(req, statements):
                # both statements answer with the position of the last entry: a
                # repeatable-read transaction's view sees the entries committed so far
                ctx.send(src, Answers(req, tuple((s, len(self.binlog)) for s in statements)))
            case Select(req, view):
                rows, schemas = replay(self.binlog, view)
                ctx.send(src, Rows(req, len(self.binlog) if view is None else view,
                                   tuple(sorted(schemas.items())),
                                   tuple((*key, row) for key, row in sorted(rows.items()))))
            case ReadBinlog(req, start):
                ctx.send(src, BinlogEvents(req, self.binlog[start - 1:start - 1 + DUMP_BATCH]))

    def execute(self, ops: tuple) -> Entry | None:
        """The binlog entry of a transaction, or None if it changes nothing."""
        position = len(self.binlog) + 1
        if ops[0][0] == "alter":
            table = ops[0][1]
            return Entry(position, ddl=(table, replay(self.binlog)[1][table] + 1))
        rows = replay(self.binlog)[0]
        changes = []
        for op in ops:
            key = (op[1], op[2])
            before = rows.get(key)
            after = op[3] if op[0] == "put" else None
            if before is None and after is None:
                continue  # deleting a row that is not there
            rows[key] = after
            changes.append(Change(*key, "c" if before is None else "d" if after is None
                                  else "u", before, after))
        return Entry(position, tuple(changes)) if changes else None

    def commit(self, ctx: Context, entries: list[Entry]) -> None:
        self.binlog = (*self.binlog, *entries)
        ctx.storage.put("binlog", self.binlog)
        for entry in entries:
            ctx.note("commit", position=entry.position, ddl=entry.ddl,
                     changes=tuple((c.table, c.pk, c.op, c.before, c.after)
                                   for c in entry.changes))
