"""The model of Arrow's columnar format: an array is a Python list with None for null; and the
layout rules any array's buffers must obey.

Types are JSON values: "int64", "float64", "bool", "utf8", "binary", {"list": T} and
{"struct": [[name, T], ...]}. Values: int, float, bool, str, bytes, list and dict (a struct's
members by name), None for null at any depth.

The operations the format must implement are list operations here: a slice of (offset,
length) is `values[offset:offset + length]`, a concatenation is `sum(lists, [])`, the null
count is the number of Nones, and a round trip gives back an equal list (`same`: equal
values of equal types, floats bit for bit).

`layout_problems` is the format's structural spec (Arrow's "Physical memory layout") over a
plain description of an array (`Layout`): which buffers each type has and how large, bitmaps
long enough for offset + length bits, offsets monotone and inside their data, null counts
equal to the zero bits in the array's window of its validity bitmap, children long enough.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any

PRIMITIVES = ("int64", "float64", "bool", "utf8", "binary")
INT64 = (-(2**63), 2**63 - 1)
# the buffers after the validity bitmap, per type
BUFFERS = {"int64": ("values",), "float64": ("values",), "bool": ("values",),
           "utf8": ("offsets", "data"), "binary": ("offsets", "data"), "list": ("offsets",),
           "struct": ()}


# --- types and values ---------------------------------------------------------------------


def type_problem(kind: Any, depth: int = 0, most_depth: int = 4) -> str | None:
    """What is wrong with `kind` as a type, or None."""
    if depth > most_depth:
        return f"types nest more than {most_depth} deep"
    if isinstance(kind, str):
        return None if kind in PRIMITIVES else f"{kind!r} is not a type"
    if isinstance(kind, dict) and list(kind) == ["list"]:
        return type_problem(kind["list"], depth + 1, most_depth)
    if isinstance(kind, dict) and list(kind) == ["struct"] and isinstance(kind["struct"], list):
        members = kind["struct"]
        if not members or not all(isinstance(m, list) and len(m) == 2
                                  and isinstance(m[0], str) for m in members):
            return "a struct is a non-empty list of [name, type]"
        if len({name for name, _ in members}) != len(members):
            return "a struct's members must have distinct names"
        return next((p for _, t in members if (p := type_problem(t, depth + 1, most_depth))),
                    None)
    return f"{str(kind)[:40]} is not a type"


def conforms(kind: Any, value: Any) -> bool:
    """Whether `value` (None allowed at every level) is a value of type `kind`."""
    if value is None:
        return True
    if kind == "int64":
        return type(value) is int and INT64[0] <= value <= INT64[1]
    if kind == "float64":
        return type(value) is float and math.isfinite(value)
    if kind == "bool":
        return type(value) is bool
    if kind == "utf8":
        return type(value) is str and _encodable(value)
    if kind == "binary":
        return type(value) is bytes
    if "list" in kind:
        return type(value) is list and all(conforms(kind["list"], item) for item in value)
    members = kind["struct"]
    return type(value) is dict and list(value) == [name for name, _ in members] and \
        all(conforms(t, value[name]) for name, t in members)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types: True is not 1, 0.0 is not -0.0, a dict's members in the
    same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


def null_count(values: list[Any]) -> int:
    return sum(value is None for value in values)


def sliced(values: list[Any], offset: int, length: int) -> list[Any]:
    return values[offset:offset + length]


def concatenated(lists: list[list[Any]]) -> list[Any]:
    return [value for values in lists for value in values]


# --- the physical layout ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layout:
    """An array as its buffers: what `layout_problems` reads."""

    type: Any  # a JSON type
    length: int
    offset: int
    null_count: int
    validity: bytes | None  # None: no bitmap, every slot valid
    buffers: tuple[bytes, ...]  # the type's own, in BUFFERS order
    children: tuple[Layout, ...] = ()


def layout_problems(array: Layout, where: str = "the array") -> list[str]:
    """Every rule of the columnar format that `array` (and its children) breaks."""
    kind = array.type if isinstance(array.type, str) else next(iter(array.type))
    end = array.offset + array.length
    problems = []
    if array.length < 0 or array.offset < 0:
        problems.append(f"{where} has length {array.length} and offset {array.offset}")
        return problems
    if len(array.buffers) != len(BUFFERS[kind]):
        return [f"{where} ({kind}) has {len(array.buffers)} buffers after its bitmap, not "
                f"{len(BUFFERS[kind])} ({', '.join(BUFFERS[kind]) or 'none'})"]
    problems += _validity_problems(array, end, where)
    if kind in ("int64", "float64") and len(array.buffers[0]) < 8 * end:
        problems.append(f"{where}'s values buffer has {len(array.buffers[0])} bytes, fewer "
                        f"than 8 x {end} (offset + length)")
    if kind == "bool" and 8 * len(array.buffers[0]) < end:
        problems.append(f"{where}'s values bitmap has {8 * len(array.buffers[0])} bits, fewer "
                        f"than {end} (offset + length)")
    if kind in ("utf8", "binary", "list"):
        limit = len(array.buffers[1]) if kind != "list" else \
            array.children[0].length if array.children else 0
        problems += _offsets_problems(array.buffers[0], array.offset, array.length, limit,
                                      where)
    members = array.type["struct"] if kind == "struct" else []
    names = ["item"] if kind == "list" else [name for name, _ in members]
    if len(array.children) != len(names):
        problems.append(f"{where} ({kind}) has {len(array.children)} children, not "
                        f"{len(names)}")
        return problems
    if kind == "struct":
        problems += [f"{where}.{name} has {child.length} slots, fewer than {end} (the "
                     f"struct's offset + length)"
                     for name, child in zip(names, array.children) if child.length < end]
    for name, child in zip(names, array.children):
        problems += layout_problems(child, f"{where}.{name}")
    return problems


def _validity_problems(array: Layout, end: int, where: str) -> list[str]:
    if not 0 <= array.null_count <= array.length:
        return [f"{where} says it has {array.null_count} nulls among {array.length} slots"]
    if array.validity is None:
        return [] if array.null_count == 0 else \
            [f"{where} says it has {array.null_count} nulls but has no validity bitmap"]
    if 8 * len(array.validity) < end:
        return [f"{where}'s validity bitmap has {8 * len(array.validity)} bits, fewer than "
                f"{end} (offset + length)"]
    unset = sum(not array.validity[i >> 3] >> (i & 7) & 1 for i in range(array.offset, end))
    if unset != array.null_count:
        return [f"{where} says it has {array.null_count} nulls, but its bitmap has {unset} "
                f"zero bits in slots {array.offset}..{end - 1}"]
    return []


def _offsets_problems(offsets: bytes, offset: int, length: int, limit: int,
                      where: str) -> list[str]:
    """An offsets buffer holds offset + length + 1 int32s; the window's are monotone and
    point inside the data (or the child) they index."""
    if len(offsets) < 4 * (offset + length + 1):
        return [f"{where}'s offsets buffer has {len(offsets) // 4} entries, fewer than "
                f"{offset + length + 1} (offset + length + 1)"]
    window = struct.unpack_from(f"<{length + 1}i", offsets, 4 * offset)
    if list(window) != sorted(window) or window[0] < 0 or window[-1] > limit:
        return [f"{where}'s offsets {list(window)} are not increasing within 0..{limit}"]
    return []


# --- the IPC stream, read without the library ---------------------------------------------------

TYPE_IDS = {2: "int64", 3: "float64", 4: "binary", 5: "utf8", 6: "bool", 12: "list",
            13: "struct"}  # Schema.fbs's Type union, as far as these types go
V5, SCHEMA, RECORD_BATCH, LITTLE, DOUBLE = 4, 1, 3, 0, 2


class _Malformed(Exception):
    """The first rule of the format a stream breaks."""


def stream_problems(data: bytes, fields: list[tuple[str, Any]], rows: list[int]) -> list[str]:
    """What breaks the IPC streaming format in `data`, which should hold the schema `fields`
    ([name, JSON type] pairs) and one record batch per entry of `rows` (its length): the
    framing (each message's metadata padded so that its body starts at a multiple of 8),
    the FlatBuffers rules (every scalar at a multiple of its size, counted from the
    metadata's start; every field inside its table), the messages' fields (version V5,
    little-endian, no dictionary), and each batch's field nodes and buffers (one node per
    array of the schema, depth first; its type's count of buffers, each starting at a
    multiple of 8 inside the body, in order)."""
    try:
        messages = list(_framed(data))
        if len(messages) != 1 + len(rows):
            raise _Malformed(f"the stream holds {len(messages)} messages, not 1 + {len(rows)}")
        (kind, header, _), batches = messages[0], messages[1:]
        if kind != SCHEMA:
            raise _Malformed(f"the first message's header type is {kind}, not Schema")
        got = _schema(*header)
        if got != [[name, kind] for name, kind in fields]:
            raise _Malformed(f"the schema is {got}, not {fields}")
        for number, ((kind, header, body), length) in enumerate(zip(batches, rows)):
            if kind != RECORD_BATCH:
                raise _Malformed(f"message {number + 1}'s header type is {kind}")
            _record_batch(*header, body, [kind for _, kind in fields], length)
    except _Malformed as problem:
        return [f"the stream: {problem}"]
    return []


def _framed(data: bytes) -> Any:
    """Each message: (header type, (metadata, header table), body)."""
    at = 0
    while at < len(data):  # a stream may also simply end, without the marker
        if data[at:at + 4] != b"\xff\xff\xff\xff" or at + 8 > len(data):
            raise _Malformed(f"no continuation marker and size at byte {at}")
        size = struct.unpack_from("<i", data, at + 4)[0]
        if size == 0:
            if at + 8 != len(data):
                raise _Malformed(f"{len(data) - at - 8} bytes after the end-of-stream marker")
            return
        if size < 0 or size % 8 or at + 8 + size > len(data):
            raise _Malformed(f"metadata of {size} bytes at byte {at}: not a multiple of 8 "
                             f"inside the stream")
        meta = data[at + 8:at + 8 + size]
        message = _table(meta, _read(meta, "<I", 0))
        if _scalar(meta, message, 0, "<h", 0) != V5:
            raise _Malformed("a message's version is not V5")
        body = _scalar(meta, message, 3, "<q", 0)
        start = at + 8 + size
        if body < 0 or body % 8 or start + body > len(data):
            raise _Malformed(f"a body of {body} bytes: not a multiple of 8 inside the stream")
        yield (_scalar(meta, message, 1, "<B", 0), (meta, _child(meta, message, 2)),
               data[start:start + body])
        at = start + body


def _read(buf: bytes, fmt: str, at: int) -> Any:
    size = struct.calcsize(fmt)
    if at < 0 or at + size > len(buf):
        raise _Malformed(f"a read at byte {at} of the metadata runs past its end")
    if at % size:
        raise _Malformed(f"a {size}-byte value at byte {at} of the metadata is not aligned")
    return struct.unpack_from(fmt, buf, at)[0]


def _table(buf: bytes, where: int) -> dict[int, int]:
    """A table's present fields: slot -> position in the metadata."""
    vtable = where - _read(buf, "<i", where)
    entries, size = _read(buf, "<H", vtable), _read(buf, "<H", vtable + 2)
    fields = {}
    for slot in range((entries - 4) // 2):
        offset = _read(buf, "<H", vtable + 4 + 2 * slot)
        if offset >= size:
            raise _Malformed(f"field {slot} of the table at byte {where} lies outside it")
        if offset:
            fields[slot] = where + offset
    return fields


def _scalar(buf: bytes, table: dict[int, int], slot: int, fmt: str, default: Any) -> Any:
    return _read(buf, fmt, table[slot]) if slot in table else default


def _target(buf: bytes, table: dict[int, int], slot: int) -> int:
    if slot not in table:
        raise _Malformed(f"a required field (slot {slot}) is absent")
    return table[slot] + _read(buf, "<I", table[slot])


def _child(buf: bytes, table: dict[int, int], slot: int) -> dict[int, int]:
    return _table(buf, _target(buf, table, slot))


def _children(buf: bytes, table: dict[int, int], slot: int) -> list[dict[int, int]]:
    """A vector of tables (a count past the buffer's size fails at its first read past the
    end, without building a list of a billion references first)."""
    target = _target(buf, table, slot)
    refs = [target + 4 + 4 * i for i in range(min(_read(buf, "<I", target), len(buf)))]
    return [_table(buf, ref + _read(buf, "<I", ref)) for ref in refs]


def _structs(buf: bytes, table: dict[int, int], slot: int) -> list[tuple[int, int]]:
    """A vector of (int64, int64) structs, such as field nodes and buffers."""
    target = _target(buf, table, slot)
    count = min(_read(buf, "<I", target), len(buf))
    return [(_read(buf, "<q", target + 4 + 16 * i), _read(buf, "<q", target + 12 + 16 * i))
            for i in range(count)]


def _schema(buf: bytes, header: dict[int, int]) -> list[list[Any]]:
    if _scalar(buf, header, 0, "<h", LITTLE) != LITTLE:
        raise _Malformed("the schema is not little-endian")
    return [_field(buf, field) for field in _children(buf, header, 1)]


def _field(buf: bytes, field: dict[int, int]) -> list[Any]:
    """[name, JSON type] of a Field table."""
    target = _target(buf, field, 0)
    name = buf[target + 4:target + 4 + _read(buf, "<I", target)].decode("utf-8", "replace")
    if 4 in field:
        raise _Malformed(f"field {name!r} is dictionary-encoded")
    kind = TYPE_IDS.get(_scalar(buf, field, 2, "<B", 0))
    details = _child(buf, field, 3)
    if kind == "int64" and (_scalar(buf, details, 0, "<i", 0),
                            _scalar(buf, details, 1, "<?", False)) != (64, True):
        kind = None
    if kind == "float64" and _scalar(buf, details, 0, "<h", 0) != DOUBLE:
        kind = None
    children = [_field(buf, child) for child in _children(buf, field, 5)]
    if kind == "list" and len(children) == 1:
        return [name, {"list": children[0][1]}]
    if kind == "struct" and children:
        return [name, {"struct": children}]
    return [name, kind if kind in PRIMITIVES and not children else None]


def _record_batch(buf: bytes, header: dict[int, int], body: bytes, types: list[Any],
                  length: int) -> None:
    if 3 in header:
        raise _Malformed("a record batch is compressed")
    nodes, buffers = _structs(buf, header, 1), _structs(buf, header, 2)
    columns = [_depth_first(top) for top in types]
    kinds = [kind for column in columns for kind in column]
    tops = [sum(map(len, columns[:i])) for i in range(len(columns))]  # each column's node
    if _scalar(buf, header, 0, "<q", 0) != length or len(nodes) != len(kinds) or \
            any(nodes[top][0] != length for top in tops):
        raise _Malformed(f"a batch of {length} rows has length "
                         f"{_scalar(buf, header, 0, '<q', 0)} and nodes {nodes}, not one per "
                         f"array of its schema ({len(kinds)})")
    if any(not 0 <= nulls <= slots for slots, nulls in nodes):
        raise _Malformed(f"a batch's nodes {nodes} count more nulls than slots")
    expected = sum(1 + len(BUFFERS[kind]) for kind in kinds)
    end = 0
    for start, size in buffers:
        if start % 8 or start < end or size < 0 or start + size > len(body):
            raise _Malformed(f"buffer ({start}, {size}) is not at a multiple of 8 after the "
                             f"one before, inside the body of {len(body)} bytes")
        end = start + size
    if len(buffers) != expected:
        raise _Malformed(f"a batch has {len(buffers)} buffers, not {expected}")


def _depth_first(kind: Any) -> list[str]:
    """The kind of every array of a column of type `kind`: itself, then its children's."""
    if isinstance(kind, str):
        return [kind]
    if "list" in kind:
        return ["list", *_depth_first(kind["list"])]
    return ["struct", *(k for _, member in kind["struct"] for k in _depth_first(member))]
