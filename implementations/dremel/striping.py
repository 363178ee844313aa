"""Column striping: records into columns of (value, repetition level, definition level).

The paper's algorithm (its appendix, "Splitting records into columns") walks each record
once, with a tree of *field writers* shaped like the schema, one per field; the writers of
atomic fields hold the columns. `dissect` is DissectRecord: a *record decoder* yields the
fields present in a nested record, in order, one value per instance of a repeated field;
the first time a field is seen in this nested record it is written at the repetition level
the nested record was entered with, every later time (it repeats) at the field's own
repetition level. Values are written with their column's full definition level.

A field that the nested record does not hold still owes every column beneath it one entry,
or the columns would lose track of which record a later value belongs to: a NULL at the
current repetition level, whose definition level says how far down the path the record is
defined — the definition level of the nested record being dissected, the deepest ancestor
that is present. (The paper's writers defer these NULLs and flush them lazily, which saves
work for sparse schemas; writing them at once gives the same columns.)

The seeded bugs override one method each: `write_missing` (no placeholder at all) and
`missing_definition_level` (the level counted at the missing field instead of its parent).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from implementations.dremel.schema import NULL, REPEATED, Node, message


@attrs.frozen
class Entry:
    value: Any  # NULL (None) when the field is missing
    r: int  # repetition level
    d: int  # definition level


Columns = dict[str, list[Entry]]  # column path -> its entries, records one after another


class FieldWriter:
    """One field of the writer tree; an atomic field's writer holds its column."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.children = {child.name: FieldWriter(child) for child in node.children}
        self.column: list[Entry] = []
        self.leaves: list[FieldWriter] = [self] if node.atomic else \
            [leaf for child in self.children.values() for leaf in child.leaves]


class Striper:
    def stripe(self, schema: list[dict], records: list[dict]) -> Columns:
        root = FieldWriter(message(schema))
        for record in records:
            self.dissect(record, root, 0)
        return {writer.node.path: writer.column for writer in root.leaves}

    def dissect(self, record: dict, writer: FieldWriter, repetition_level: int) -> None:
        """DissectRecord: write one nested record, entered at `repetition_level` (the level
        at which it, or an ancestor, repeated)."""
        seen: set[str] = set()
        for name, value in self.decode(writer, record):
            child = writer.children[name]
            level = child.node.repetition_level if name in seen else repetition_level
            seen.add(name)
            if child.node.atomic:
                child.column.append(Entry(value, level, child.node.definition_level))
            else:
                self.dissect(value, child, level)
        for name, child in writer.children.items():
            if name not in seen:
                self.write_missing(child, repetition_level,
                                   self.missing_definition_level(writer, child))

    @staticmethod
    def decode(writer: FieldWriter, record: dict) -> Iterator[tuple[str, Any]]:
        """The record decoder: the field values a nested record holds, in schema order, one
        per instance of a repeated field; missing fields yield nothing."""
        for name, child in writer.children.items():
            value = record[name]
            if child.node.repetition == REPEATED:
                yield from ((name, instance) for instance in value)
            elif value is not NULL:
                yield name, value

    def write_missing(self, writer: FieldWriter, repetition_level: int, level: int) -> None:
        """A missing field leaves a NULL in each column beneath it."""
        for leaf in writer.leaves:
            leaf.column.append(Entry(NULL, repetition_level, level))

    def missing_definition_level(self, parent: FieldWriter, missing: FieldWriter) -> int:
        """How far down its path a missing field's NULL is defined: to the nested record
        that lacks it."""
        return parent.node.definition_level


class NoMissingPlaceholder(Striper):
    """Seeded bug: a missing field writes nothing, so its columns skip the record."""

    def write_missing(self, writer: FieldWriter, repetition_level: int, level: int) -> None:
        return None


class DefinitionWrongAncestor(Striper):
    """Seeded bug: a NULL's definition level is counted down to the missing field itself,
    as if it were present, instead of to its parent."""

    def missing_definition_level(self, parent: FieldWriter, missing: FieldWriter) -> int:
        return missing.node.definition_level
