"""Arrays: buffers, an offset and a length; and the operations of the library on them.

An `Array` is the physical layout of one column (see the package docstring for the buffers
of each type). It never copies on slicing: a slice is the same buffers and children with
another `offset` and `length`, so every read adds `offset` to the slot it wants. The library
class `Arrow` builds arrays from Python lists, reads them back, slices and concatenates them
(`ipc.py` writes and reads them as streams); the seeded bugs are subclasses of it that
override one method.
"""

from __future__ import annotations

import struct
from typing import Any

import attrs

from implementations.arrow import bitmap
from implementations.arrow.types import FIXED_WIDTH, VARIABLE, DataType, Field

OFFSET = "<i"  # list and string offsets are signed 32-bit, little-endian


@attrs.frozen
class Array:
    type: DataType
    length: int
    offset: int  # of slot 0 in the buffers (and, for a struct, in its children)
    null_count: int
    buffers: tuple[bytes | None, ...]  # validity first (None: no nulls), then the type's own
    children: tuple[Array, ...] = ()

    @property
    def validity(self) -> bytes | None:
        return self.buffers[0]


@attrs.frozen
class RecordBatch:
    """Columns of equal length under a schema: the unit the IPC format sends."""

    schema: tuple[Field, ...]
    columns: tuple[Array, ...]

    @property
    def length(self) -> int:
        return self.columns[0].length if self.columns else 0


def offset_at(array: Array, j: int) -> int:
    """The j-th entry of a list's or a string's offsets buffer (j counts from the buffer's
    start, so a caller adds the array's offset)."""
    return struct.unpack_from(OFFSET, array.buffers[1], 4 * j)[0]


def pack_offsets(offsets: list[int]) -> bytes:
    return struct.pack(f"<{len(offsets)}i", *offsets)


class Arrow:
    """The correct library."""

    # --- reading a slot: the only places that decide nullness and null counts -----------

    def is_valid(self, array: Array, i: int) -> bool:
        """Slot i of the array (counted from its offset) holds a value."""
        return array.validity is None or bitmap.get_bit(array.validity, array.offset + i)

    def slice_null_count(self, array: Array, offset: int, length: int) -> int:
        """The nulls among slots offset..offset+length-1 of `array`: the zero bits in that
        window of the shared bitmap."""
        return bitmap.count_unset(array.validity, array.offset + offset, length)

    def value(self, array: Array, i: int) -> Any:
        if not self.is_valid(array, i):
            return None
        j = array.offset + i  # where slot i sits in the buffers
        kind = array.type.name
        if kind in FIXED_WIDTH:
            return struct.unpack_from(FIXED_WIDTH[kind], array.buffers[1], 8 * j)[0]
        if kind == "bool":
            return bitmap.get_bit(array.buffers[1], j)
        if kind in VARIABLE:
            raw = bytes(array.buffers[2][offset_at(array, j):offset_at(array, j + 1)])
            return raw.decode("utf-8") if kind == "utf8" else raw
        if kind == "list":
            items = array.children[0]
            return [self.value(items, k) for k in range(offset_at(array, j),
                                                        offset_at(array, j + 1))]
        return {f.name: self.value(child, j) for f, child in zip(array.type.fields,
                                                                  array.children)}

    def to_pylist(self, array: Array) -> list[Any]:
        return [self.value(array, i) for i in range(array.length)]

    # --- building ------------------------------------------------------------------------

    def from_pylist(self, kind: DataType, values: list[Any]) -> Array:
        """An array at offset 0 holding `values` (None for null); a null slot's bytes are
        zero, and an array without nulls has no validity bitmap."""
        nulls = sum(v is None for v in values)
        validity = bitmap.pack(v is not None for v in values) if nulls else None
        buffers, children = self._layout(kind, values)
        return Array(kind, len(values), 0, nulls, (validity, *buffers), children)

    def _layout(self, kind: DataType, values: list[Any]) -> tuple[tuple, tuple]:
        if kind.name in FIXED_WIDTH:
            fmt = FIXED_WIDTH[kind.name]
            return (b"".join(struct.pack(fmt, 0 if v is None else v) for v in values),), ()
        if kind.name == "bool":
            return (bitmap.pack(bool(v) for v in values),), ()
        if kind.name in VARIABLE:
            raws = [b"" if v is None else v.encode("utf-8") if kind.name == "utf8" else v
                    for v in values]
            return (pack_offsets(_running(len(raw) for raw in raws)), b"".join(raws)), ()
        if kind.name == "list":
            items = [item for v in values if v is not None for item in v]
            child = self.from_pylist(kind.fields[0].type, items)
            return (pack_offsets(_running(len(v or ()) for v in values)),), (child,)
        return (), tuple(self.from_pylist(f.type, [None if v is None else v[f.name]
                                                   for v in values])
                         for f in kind.fields)

    # --- slicing and concatenating ----------------------------------------------------------

    def slice(self, array: Array, offset: int, length: int) -> Array:
        """Slots offset..offset+length-1, zero-copy: the same buffers and children."""
        if offset < 0 or length < 0 or offset + length > array.length:
            raise IndexError(f"slice({offset}, {length}) of an array of {array.length}")
        return attrs.evolve(array, offset=array.offset + offset, length=length,
                            null_count=self.slice_null_count(array, offset, length))

    def concat(self, arrays: list[Array]) -> Array:
        """One array at offset 0 holding the arrays' slots in order: bitmaps are re-packed
        from each array's offset, offsets rebased, children concatenated."""
        kind = arrays[0].type
        nulls = sum(a.null_count for a in arrays)
        validity = bitmap.pack(bit for a in arrays
                               for bit in bitmap.bits(a.validity, a.offset, a.length)) \
            if nulls else None
        buffers, children = self._concat_layout(kind, arrays)
        return Array(kind, sum(a.length for a in arrays), 0, nulls, (validity, *buffers),
                     children)

    def _concat_layout(self, kind: DataType, arrays: list[Array]) -> tuple[tuple, tuple]:
        if kind.name in FIXED_WIDTH:
            return (b"".join(a.buffers[1][8 * a.offset:8 * (a.offset + a.length)]
                             for a in arrays),), ()
        if kind.name == "bool":
            return (bitmap.pack(bit for a in arrays
                                for bit in bitmap.bits(a.buffers[1], a.offset, a.length)),), ()
        if kind.name in VARIABLE or kind.name == "list":
            offsets, pieces = [0], []
            for a in arrays:
                bounds = [offset_at(a, a.offset + i) for i in range(a.length + 1)]
                offsets += [offsets[-1] + end - bounds[0] for end in bounds[1:]]
                pieces.append((a, bounds[0], bounds[-1] - bounds[0]))
            if kind.name == "list":
                items = self.concat([self.slice(a.children[0], start, size)
                                     for a, start, size in pieces])
                return (pack_offsets(offsets),), (items,)
            data = b"".join(a.buffers[2][start:start + size] for a, start, size in pieces)
            return (pack_offsets(offsets), data), ()
        return (), tuple(self.concat([self.slice(a.children[k], a.offset, a.length)
                                      for a in arrays])
                         for k in range(len(kind.fields)))

class SliceIgnoresBitOffset(Arrow):
    """Seeded bug: a slot's validity is read at bit i of the bitmap, not at offset + i --
    right for an array built at offset 0, wrong for every slice that does not start at 0."""

    def is_valid(self, array: Array, i: int) -> bool:
        return array.validity is None or bitmap.get_bit(array.validity, i)


class NullCountFromParent(Arrow):
    """Seeded bug: a slice keeps its parent's null count instead of counting its window."""

    def slice_null_count(self, array: Array, offset: int, length: int) -> int:
        return array.null_count


def _running(sizes: Any) -> list[int]:
    offsets = [0]
    for size in sizes:
        offsets.append(offsets[-1] + size)
    return offsets

