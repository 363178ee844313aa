"""FlatBuffers, as much of the format as Arrow's metadata uses: tables, vectors of tables,
vectors of structs, strings, scalars.

The layout, all little-endian:

- the buffer starts with a uint32: where the root table is;
- a table starts with an int32 `soffset`: its vtable is at (table - soffset). The vtable is
  uint16s: its own size, the table's inline size, then one entry per field slot, the field's
  position inside the table (0: absent, the reader takes the default);
- a field that refers to something (a table, a vector, a string) holds a uint32 counted
  from the field's own position, forward;
- a vector is a uint32 count, then its elements (uint32 references for tables, inline bytes
  for structs); a string is a uint32 length, UTF-8 bytes and a NUL.

Every scalar sits at a position that is a multiple of its size, counted from the buffer's
start (readers such as Arrow's C++ verify it). Writing goes front to back: each object is
laid out after the one that refers to it, breadth first, and the reference patched in.
"""

from __future__ import annotations

import struct
from typing import Any

import attrs

REF = "<I"


class FlatbufferError(ValueError):
    """Bytes that are not the flatbuffer a reader expects."""


# --- writing ------------------------------------------------------------------------------


@attrs.frozen
class Scalar:
    fmt: str  # a struct format of one value: "<b", "<h", "<i", "<q", "<B", "<?"
    value: Any


@attrs.frozen
class Table:
    fields: tuple[Any, ...]  # per slot: None (absent), a Scalar, or a Table/Vector/str


@attrs.frozen
class Vector:
    tables: tuple[Table, ...]


@attrs.frozen
class Structs:
    fmt: str  # one element, e.g. "<qq"
    rows: tuple[tuple, ...]
    align: int = 8


def encode(root: Table) -> bytes:
    out = bytearray(4)
    pending: list[tuple[int, Any]] = [(0, root)]  # (where a reference is, what it refers to)
    while pending:
        at, thing = pending.pop(0)
        where = _place(out, thing, pending)
        struct.pack_into(REF, out, at, where - at)
    return bytes(out)


def _align(out: bytearray, size: int, before: int = 0) -> None:
    """Pad so that the next write lands `before` bytes ahead of a multiple of `size`."""
    while (len(out) + before) % size:
        out.append(0)


def _place(out: bytearray, thing: Any, pending: list) -> int:
    if isinstance(thing, Table):
        return _place_table(out, thing, pending)
    if isinstance(thing, str):
        data = thing.encode("utf-8")
        _align(out, 4)
        where = len(out)
        out += struct.pack("<I", len(data)) + data + b"\0"
        return where
    if isinstance(thing, Vector):
        _align(out, 4)
        where = len(out)
        out += struct.pack("<I", len(thing.tables))
        for table in thing.tables:
            pending.append((len(out), table))
            out += bytes(4)
        return where
    _align(out, thing.align, before=4)  # the elements, after the count, are aligned
    where = len(out)
    out += struct.pack("<I", len(thing.rows))
    for row in thing.rows:
        out += struct.pack(thing.fmt, *row)
    return where


def _place_table(out: bytearray, table: Table, pending: list) -> int:
    """The vtable, then the table (8-aligned), each field at a multiple of its size."""
    layout, size = [], 4  # the soffset comes first
    for thing in table.fields:
        width = 0 if thing is None else struct.calcsize(thing.fmt) \
            if isinstance(thing, Scalar) else 4
        if width:
            size += -size % width
            layout.append(size)
            size += width
        else:
            layout.append(0)
    _align(out, 2)
    vtable = len(out)
    out += struct.pack(f"<{2 + len(layout)}H", 4 + 2 * len(layout), size, *layout)
    _align(out, 8)
    where = len(out)
    out += struct.pack("<i", where - vtable) + bytes(size - 4)
    for thing, position in zip(table.fields, layout):
        if isinstance(thing, Scalar):
            struct.pack_into(thing.fmt, out, where + position, thing.value)
        elif thing is not None:
            pending.append((where + position, thing))
    return where


# --- reading --------------------------------------------------------------------------------


def _unpack(buf: bytes, fmt: str, at: int) -> Any:
    if at < 0 or at + struct.calcsize(fmt) > len(buf):
        raise FlatbufferError(f"a read at {at} runs past the end ({len(buf)} bytes)")
    return struct.unpack_from(fmt, buf, at)[0]


class TableView:
    """One table of a flatbuffer, read field by field, every position checked."""

    def __init__(self, buf: bytes, where: int) -> None:
        self.buf, self.where = buf, where
        self.vtable = where - _unpack(buf, "<i", where)
        self.vtable_size = _unpack(buf, "<H", self.vtable)
        self.size = _unpack(buf, "<H", self.vtable + 2)

    def _position(self, slot: int) -> int | None:
        entry = 4 + 2 * slot
        if entry + 2 > self.vtable_size:
            return None
        offset = _unpack(self.buf, "<H", self.vtable + entry)
        if offset and offset >= self.size:
            raise FlatbufferError(f"field {slot} lies outside its table")
        return self.where + offset if offset else None

    def scalar(self, slot: int, fmt: str, default: Any) -> Any:
        at = self._position(slot)
        return default if at is None else _unpack(self.buf, fmt, at)

    def _target(self, slot: int) -> int | None:
        at = self._position(slot)
        return None if at is None else at + _unpack(self.buf, REF, at)

    def table(self, slot: int) -> TableView | None:
        target = self._target(slot)
        return None if target is None else TableView(self.buf, target)

    def tables(self, slot: int) -> list[TableView]:
        target = self._target(slot)
        if target is None:
            return []
        count = _unpack(self.buf, "<I", target)
        if target + 4 + 4 * count > len(self.buf):
            raise FlatbufferError(f"a vector of {count} tables runs past the end")
        refs = [target + 4 + 4 * i for i in range(count)]
        return [TableView(self.buf, ref + _unpack(self.buf, REF, ref)) for ref in refs]

    def structs(self, slot: int, fmt: str) -> list[tuple]:
        target = self._target(slot)
        if target is None:
            return []
        count, width = _unpack(self.buf, "<I", target), struct.calcsize(fmt)
        start = target + 4
        if start + count * width > len(self.buf):
            raise FlatbufferError(f"a vector of {count} structs runs past the end")
        return [struct.unpack_from(fmt, self.buf, start + i * width) for i in range(count)]

    def string(self, slot: int) -> str | None:
        target = self._target(slot)
        if target is None:
            return None
        length = _unpack(self.buf, "<I", target)
        data = self.buf[target + 4:target + 4 + length]
        if len(data) != length:
            raise FlatbufferError("a string runs past the end")
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise FlatbufferError("a string is not UTF-8") from None


def root(buf: bytes) -> TableView:
    return TableView(buf, _unpack(buf, REF, 0))
