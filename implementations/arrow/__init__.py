"""Apache Arrow's columnar format: arrays as buffers, zero-copy slices, the IPC stream.

An array of n slots is a handful of contiguous buffers, the same for every array of its type:

| type | buffers after the validity bitmap | children |
|---|---|---|
| int64, float64 | values: 8 bytes a slot, little-endian | |
| bool | values: a bitmap, one bit a slot | |
| utf8, binary | offsets: n + 1 int32s; data: slot i is data[offsets[i]:offsets[i+1]] | |
| list<T> | offsets: n + 1 int32s into the child | item: an array of T |
| struct<...> | none | one array per member, slot for slot |

The validity bitmap (bit i = 1: slot i holds a value; least significant bit first) may be
absent when nothing is null; a null slot's bytes are still there, with any content. Every
array also has a length, a null count and an offset: a slice of (offset, length) is the same
buffers and children with `offset` moved on, so slot i lives at position offset + i -- at bit
offset + i of a bitmap, which need not start on a byte. A struct's offset applies to its
children; a list's offsets point at its child's slots.

A record batch is columns of equal length under a schema; the IPC streaming format sends a
schema message, then one message per batch (FlatBuffers metadata, then a body of 8-byte
aligned buffers, slices rebased to start at 0), then an end-of-stream marker (`ipc.py`).

This is a property system (`checker.properties`): nothing is scheduled. Hypothesis draws
cases (`cases.py`: columns of any type nested two deep, nulls at every level, a slice and
cuts inside it) and the properties (`checks.py`) check what the library makes of them
against the model, `models/arrow.py` (Python lists with None).
"""

from __future__ import annotations

from checker.properties import PropertySystem
from checker.system import Config, Variant
from implementations.arrow import cases
from implementations.arrow.array import Arrow, NullCountFromParent, SliceIgnoresBitOffset
from implementations.arrow.checks import PROPERTIES

CONFIGS = {
    "default": Config("default", params={"max_rows": 8, "max_columns": 2, "type_depth": 2}),
    "small": Config("small", params={"max_rows": 4, "max_columns": 1, "type_depth": 1}),
}

VARIANTS = {
    "correct": Variant("correct", Arrow()),
    "slice-ignores-bit-offset": Variant(
        "slice-ignores-bit-offset", SliceIgnoresBitOffset(),
        breaks="a slice reads validity bits from bit 0 of its parent's bitmap, not from its "
               "offset",
        caught_by="slice",
        teaches="Arrow columnar format, 'Validity bitmaps' and 'Array slicing': a slice "
                "shares its parent's buffers, so every read adds the offset, a bit offset "
                "for bitmaps"),
    "null-count-from-parent": Variant(
        "null-count-from-parent", NullCountFromParent(),
        breaks="a slice reports its parent's null count",
        caught_by="null-count",
        teaches="Arrow columnar format, 'Null count': it belongs to the array's window, and a "
                "slice must count (or mark unknown) its own"),
}

SYSTEM = PropertySystem(
    name="arrow",
    paper="Apache Arrow Columnar Format and IPC specification (arrow.apache.org/docs/format)",
    summary="columnar arrays: validity bitmaps, offsets, zero-copy slices, the IPC stream",
    invariants=PROPERTIES,
    configs=CONFIGS,
    variants=VARIANTS,
    inputs=cases.inputs,
    to_json=cases.to_json,
    from_json=cases.from_json,
    size=cases.size,
    show=cases.show,
)
