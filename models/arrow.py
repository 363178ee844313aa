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
