"""Record assembly: columns back into records, by the paper's finite-state machine.

One *field reader* per chosen column, in schema order. The FSM says which reader to read
next from the reader just read and the repetition level of its *next* entry (the appendix's
ConstructFSM):

- up to the *barrier level* (the repetition level the reader shares with the next reader)
  go on to the next reader — the rest of this nested record comes from the next columns —
  or, after the last reader, end the record;
- above it, the next value repeats inside a repeated field the next reader does not
  share: go back to the first reader inside that repeated field (the field at that
  repetition level of the reader's path).

AssembleRecord then builds each record by moving through the tree of nested records:
before a value, it opens the nested records on its path (MoveToLevel); a NULL opens only
those its definition level says are present. After each entry it closes what the
transition leaves (ReturnToLevel): going on to the next reader keeps the nested records the
two columns share; going back closes the instance of the repeated field that repeats, so
that the next value opens a new one. Reading any subset of the columns this way gives the
records projected on those fields (partial assembly): only the groups on their paths are
opened, and a group is present whenever a definition level says so, even with no value.

Columns are read as they are, never repaired: the assembler refuses levels a column cannot
hold (beyond its maximums, a NULL defined as deep as a value), a column that runs out in
the middle of a record, and entries left over after the last record.
"""

from __future__ import annotations

from typing import Any

from implementations.dremel.schema import (
    NULL,
    REPEATED,
    REQUIRED,
    Node,
    common_repetition_level,
    message,
    show_value,
)
from implementations.dremel.striping import Columns, Entry

END = -1  # the FSM's final state: the record is complete


class FieldReader:
    def __init__(self, node: Node, column: list[Entry]) -> None:
        self.node, self.column, self.at = node, column, 0
        self.groups = node.ancestors()  # the nested records a value of this column lives in
        self.check_levels()

    def check_levels(self) -> None:
        """Refuse a column whose levels cannot be read rather than guess at its records."""
        max_r, max_d = self.node.repetition_level, self.node.definition_level
        for i, entry in enumerate(self.column):
            if problem := unreadable(entry, i == 0, max_r, max_d):
                raise ValueError(f"column {self.node.path}, entry {i + 1} "
                                 f"({show_value(entry.value)}, r={entry.r}, d={entry.d}): "
                                 f"{problem}")

    def has_data(self) -> bool:
        return self.at < len(self.column)

    def fetch(self, record: int) -> Entry:
        if not self.has_data():
            raise ValueError(f"column {self.node.path} ends inside record {record}")
        self.at += 1
        return self.column[self.at - 1]

    def next_repetition_level(self) -> int:
        """The next entry's repetition level; at the end of the column, 0 (a new record)."""
        return self.column[self.at].r if self.has_data() else 0

    def defined_groups(self, d: int) -> list[Node]:
        """The nested records a definition level says are present."""
        return [group for group in self.groups if group.definition_level <= d]


def unreadable(entry: Entry, first: bool, max_r: int, max_d: int) -> str | None:
    if not (0 <= entry.r <= max_r and 0 <= entry.d <= max_d):
        return f"levels beyond the column's r {max_r}, d {max_d}"
    if first and entry.r != 0:
        return "the column's first record does not start at r = 0"
    if (entry.value is NULL) != (entry.d < max_d):
        return f"only a value is defined to d = {max_d}, the end of its path"
    return None


def construct_fsm(readers: list[FieldReader]) -> dict[tuple[int, int], int]:
    """(reader, next repetition level) -> the reader to read next, or END."""
    fsm = {}
    for i, reader in enumerate(readers):
        barrier = i + 1 if i + 1 < len(readers) else END
        barrier_level = 0 if barrier == END else \
            common_repetition_level(reader.node, readers[barrier].node)
        for level in range(reader.node.repetition_level + 1):
            fsm[i, level] = barrier if level <= barrier_level else next(
                j for j in range(i + 1)
                if common_repetition_level(readers[j].node, reader.node) >= level)
    return fsm


class RecordBuilder:
    """The record being assembled, and the nested records currently open in it."""

    def __init__(self) -> None:
        self.record: dict = {}
        self.open: list[tuple[Node, dict]] = []  # the path of open nested records, from the top

    def move_to(self, groups: list[Node]) -> None:
        """MoveToLevel: end the nested records that are not on `groups`, and start those of
        `groups` not open yet."""
        shared = 0
        while shared < min(len(self.open), len(groups)) and \
                self.open[shared][0] is groups[shared]:
            shared += 1
        self.return_to(shared)
        for group in groups[shared:]:
            nested: dict = {}
            self._put(group, nested)
            self.open.append((group, nested))

    def return_to(self, depth: int) -> None:
        """ReturnToLevel: end every nested record below the first `depth`."""
        del self.open[depth:]

    def append(self, leaf: Node, value: Any) -> None:
        self._put(leaf, value)

    def _put(self, node: Node, value: Any) -> None:
        inner = self.open[-1][1] if self.open else self.record
        if node.repetition == REPEATED:
            inner.setdefault(node.name, []).append(value)
        else:
            inner[node.name] = value


class Assembler:
    def assemble(self, schema: list[dict], columns: Columns,
                 paths: list[str] | None = None) -> list[dict]:
        """AssembleRecord, record after record, over the columns `paths` (all by default)."""
        root = message(schema)
        leaves = [leaf for leaf in root.leaves() if paths is None or leaf.path in paths]
        readers = [FieldReader(leaf, columns[leaf.path]) for leaf in leaves]
        fsm = construct_fsm(readers)
        chosen = {node for leaf in leaves for node in [*leaf.ancestors(), leaf]}
        records = []
        while readers and readers[0].has_data():
            record = self.assemble_record(readers, fsm, len(records) + 1)
            records.append(complete(record, root, chosen))
        for reader in readers:
            if reader.has_data():
                raise ValueError(f"column {reader.node.path} holds entries past the last "
                                 f"record ({len(records)})")
        return records

    def assemble_record(self, readers: list[FieldReader], fsm: dict[tuple[int, int], int],
                        number: int) -> dict:
        builder, i = RecordBuilder(), 0
        while True:
            reader = readers[i]
            entry = reader.fetch(number)
            if entry.value is not NULL:
                builder.move_to(reader.groups)
                builder.append(reader.node, entry.value)
            else:
                builder.move_to(reader.defined_groups(entry.d))
            level = reader.next_repetition_level()
            following = fsm[i, level]
            if following == END:  # the record ends, and every nested record in it
                return builder.record
            builder.return_to(self.kept(readers, i, following, level))
            i = following

    @staticmethod
    def kept(readers: list[FieldReader], i: int, following: int, level: int) -> int:
        """How many open nested records the transition from reader i keeps: going on, those
        it shares with the next column; going back, those above the repeated field of its
        path that repeats at `level`."""
        groups = readers[i].groups
        if following > i:
            return sum(1 for x, y in zip(groups, readers[following].groups) if x is y)
        return sum(1 for group in groups if group.repetition_level < level)


def complete(record: dict, node: Node, chosen: set[Node]) -> dict:
    """Give every nested record the chosen fields (those on the path of a column read) it
    does not hold: an empty list for a repeated field, None for an optional one (a
    required one stays missing: its column failed to say)."""
    for child in node.children:
        if child not in chosen:
            continue
        if child.name not in record:
            if child.repetition == REPEATED:
                record[child.name] = []
            elif child.repetition != REQUIRED:
                record[child.name] = NULL
        elif not child.atomic:
            value = record[child.name]
            instances = value if child.repetition == REPEATED else \
                [] if value is NULL else [value]
            for instance in instances:
                complete(instance, child, chosen)
    return record
