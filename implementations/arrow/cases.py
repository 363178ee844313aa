"""The inputs the properties check: a record batch of generated columns, a slice of it, cuts
inside the slice, and damage to the stream they are written to.

A `Case` is one or more columns (a JSON type and a Python list of values, None for null, all
the same length), a window (offset, length) to slice every column at, cut points inside
that window, which split the slice into pieces (slices of the slice) for the concatenation
properties, and damage: bytes to overwrite in the IPC stream of the batch (the reader must
survive untrusted bytes), each edit one byte or a little-endian int32 -- the width of the
format's sizes, offsets, counts and references -- written at a position taken modulo the
stream's length. In a replay file it is JSON: {"columns": [{"type": T, "values": [...]},
...], "slice": [offset, length], "cuts": [...], "damage": [[position, hex], ...]}, binary
values and damage written as hex strings; a case without damage leaves "damage" out.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from typing import Any

import attrs
from hypothesis import strategies as st

from checker.system import Config
from implementations.arrow import bitmap
from implementations.arrow.array import Array, Arrow
from implementations.arrow.types import from_json as type_from_json
from models.arrow import INT64, PRIMITIVES, type_problem

# what a case read from a file may hold: far above what the strategies draw, low enough that
# checking it takes well under a second
MOST_COLUMNS, MOST_ROWS, MOST_ITEMS, MOST_DEPTH, MOST_CUTS = 8, 256, 256, 4, 16
MOST_SLOTS = 4096
MOST_EDITS, MOST_POSITION = 16, 4095  # edits of the stream, and a position before the modulo


@attrs.frozen
class Column:
    type: Any  # JSON
    values: list[Any]


@attrs.frozen
class Case:
    columns: tuple[Column, ...]
    slice: tuple[int, int]  # offset, length
    cuts: tuple[int, ...]  # sorted, within 0..length
    damage: tuple[tuple[int, bytes], ...] = ()  # (position, bytes) overwrites of the stream

    @property
    def names(self) -> list[str]:
        return [chr(ord("a") + i) for i in range(len(self.columns))]

    def pieces(self) -> list[tuple[int, int]]:
        """The (offset, length) of each piece of the slice, in order."""
        bounds = [0, *self.cuts, self.slice[1]]
        return [(start, end - start) for start, end in zip(bounds, bounds[1:])]


# --- drawing cases ------------------------------------------------------------------------------


@functools.cache  # one strategy object per depth: Hypothesis validates each new one
def types(depth: int) -> st.SearchStrategy:
    leaves = st.sampled_from(PRIMITIVES)
    if depth == 0:
        return leaves
    inner = types(depth - 1)
    return st.one_of(leaves, inner.map(lambda item: {"list": item}),
                     st.lists(inner, min_size=1, max_size=3).map(
                         lambda members: {"struct": [[f"f{i}", t]
                                                     for i, t in enumerate(members)]}))


@functools.cache
def _values(kind_json: str) -> st.SearchStrategy:
    """Values of a type (given as its JSON text, to be a cache key), None first."""
    kind = json.loads(kind_json)
    if kind == "int64":
        present = st.integers(*INT64)
    elif kind == "float64":
        present = st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "bool":
        present = st.booleans()
    elif kind == "utf8":
        present = st.text(max_size=4)
    elif kind == "binary":
        present = st.binary(max_size=4)
    elif "list" in kind:
        present = st.lists(values(kind["list"]), max_size=3)
    else:
        names = [name for name, _ in kind["struct"]]
        present = st.tuples(*(values(t) for _, t in kind["struct"])).map(
            lambda members: dict(zip(names, members)))  # members in the type's order
    return st.none() | present


def values(kind: Any) -> st.SearchStrategy:
    return _values(json.dumps(kind))


@functools.cache
def _column(kind_json: str, rows: int) -> st.SearchStrategy:
    return st.lists(_values(kind_json), min_size=rows, max_size=rows)


_EDITS = st.one_of(st.integers(0, 255).map(lambda byte: bytes([byte])),
                   st.integers(-(2**31), 2**31 - 1).map(lambda word: struct.pack("<i", word)))


@st.composite
def cases(draw: st.DrawFn, max_rows: int, max_columns: int, depth: int) -> Case:
    rows = draw(st.integers(0, max_rows))
    columns = []
    for _ in range(draw(st.integers(1, max_columns))):
        kind = draw(types(depth))
        columns.append(Column(kind, draw(_column(json.dumps(kind), rows))))
    offset = draw(st.integers(0, rows))
    length = draw(st.integers(0, rows - offset))
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=2)))
    damage = draw(st.lists(st.tuples(st.integers(0, MOST_POSITION), _EDITS), max_size=3))
    return Case(tuple(columns), (offset, length), tuple(cuts), tuple(damage))


def inputs(config: Config) -> st.SearchStrategy:
    params = config.params
    return cases(params["max_rows"], params["max_columns"], params["type_depth"])


# --- JSON ---------------------------------------------------------------------------------------


def to_json(case: Case) -> dict:
    data = {"columns": [{"type": c.type, "values": [_value_json(c.type, v) for v in c.values]}
                        for c in case.columns],
            "slice": list(case.slice), "cuts": list(case.cuts)}
    if case.damage:
        data["damage"] = [[position, edit.hex()] for position, edit in case.damage]
    return data


def _value_json(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if kind == "binary":
        return value.hex()
    if isinstance(kind, dict) and "list" in kind:
        return [_value_json(kind["list"], item) for item in value]
    if isinstance(kind, dict):
        return {name: _value_json(t, value[name]) for name, t in kind["struct"]}
    return value


def from_json(data: Any, config: Config | None = None) -> Case:
    """The case a JSON value describes; ValueError, saying what is wrong, for anything else."""
    if not isinstance(data, dict) or sorted(set(data) - {"damage"}) != ["columns", "cuts",
                                                                         "slice"]:
        raise ValueError("expected an object of columns, slice, cuts and perhaps damage")
    raw = data["columns"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MOST_COLUMNS:
        raise ValueError(f"columns must be a list of 1 to {MOST_COLUMNS} columns")
    columns = tuple(_read_column(i, column) for i, column in enumerate(raw))
    rows = len(columns[0].values)
    if any(len(c.values) != rows for c in columns):
        raise ValueError("every column must hold as many values as the first")
    window, cuts = data["slice"], data["cuts"]
    if not (_ints(window) and len(window) == 2 and min(window) >= 0
            and sum(window) <= rows):
        raise ValueError(f"slice must be [offset, length] within the {rows} rows")
    if not (_ints(cuts) and len(cuts) <= MOST_CUTS and cuts == sorted(cuts)
            and all(0 <= cut <= window[1] for cut in cuts)):
        raise ValueError(f"cuts must be at most {MOST_CUTS} sorted points within the slice")
    case = Case(columns, (window[0], window[1]), tuple(cuts), _read_damage(data))
    if size(case) > MOST_SLOTS:
        raise ValueError(f"{size(case)} slots in all, more than {MOST_SLOTS}")
    return case


def _read_damage(data: dict) -> tuple[tuple[int, bytes], ...]:
    damage = data.get("damage", [])
    if not (isinstance(damage, list) and len(damage) <= MOST_EDITS
            and all(isinstance(edit, list) and len(edit) == 2 and type(edit[0]) is int
                    and 0 <= edit[0] <= MOST_POSITION and _one_or_four_bytes(edit[1])
                    for edit in damage)):
        raise ValueError(f"damage must be at most {MOST_EDITS} [position, hex] pairs, "
                         f"positions within 0..{MOST_POSITION}, 1 or 4 bytes each")
    return tuple((position, bytes.fromhex(edit)) for position, edit in damage)


def _one_or_four_bytes(text: Any) -> bool:
    return isinstance(text, str) and len(text) in (2, 8) and \
        all(c in "0123456789abcdef" for c in text)


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(type(x) is int for x in value)


def _read_column(index: int, raw: Any) -> Column:
    if not isinstance(raw, dict) or sorted(raw) != ["type", "values"]:
        raise ValueError(f"column {index} must be an object of type and values")
    problem = type_problem(raw["type"], most_depth=MOST_DEPTH)
    if problem:
        raise ValueError(f"column {index}: {problem}")
    if not isinstance(raw["values"], list) or len(raw["values"]) > MOST_ROWS:
        raise ValueError(f"column {index}: values must be a list of at most {MOST_ROWS}")
    try:
        return Column(raw["type"], [_value(raw["type"], v) for v in raw["values"]])
    except ValueError as exc:
        raise ValueError(f"column {index}: {exc}") from None


def _value(kind: Any, value: Any) -> Any:
    """A value of `kind` read from JSON (binary from hex), or ValueError."""
    if value is None:
        return None
    if kind == "int64" and type(value) is int and INT64[0] <= value <= INT64[1]:
        return value
    if kind == "float64" and type(value) in (int, float) and math.isfinite(float(value)):
        return float(value)
    if kind == "bool" and type(value) is bool:
        return value
    if kind == "utf8" and type(value) is str:
        return value
    if kind == "binary" and type(value) is str:
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{value[:20]!r} is not hex") from None
    if isinstance(kind, dict) and "list" in kind and type(value) is list \
            and len(value) <= MOST_ITEMS:
        return [_value(kind["list"], item) for item in value]
    if isinstance(kind, dict) and "struct" in kind and type(value) is dict \
            and list(value) == [name for name, _ in kind["struct"]]:
        return {name: _value(t, value[name]) for name, t in kind["struct"]}
    raise ValueError(f"{json.dumps(value)[:40]} is not a value of type {json.dumps(kind)}")


# --- size and description -------------------------------------------------------------------


def size(case: Case) -> int:
    """The slots of the case's columns, a nested list's or struct's counted in."""
    return sum(_slots(value) for column in case.columns for value in column.values)


def _slots(value: Any) -> int:
    inner = value if isinstance(value, list) else \
        value.values() if isinstance(value, dict) else ()
    return 1 + sum(_slots(item) for item in inner)


def show(case: Case) -> list[str]:
    """The case as the correct library lays it out: each column's buffers, then the slice."""
    arrow, lines = Arrow(), []
    for name, column in zip(case.names, case.columns):
        array = arrow.from_pylist(type_from_json(column.type), column.values)
        lines.append(f"column {name}: {json.dumps(column.type)}, {_slots_of(array)}, "
                     f"null_count {array.null_count}")
        lines += [f"  {line}" for line in buffer_lines(array)]
    offset, length = case.slice
    lines.append(f"slice(offset={offset}, length={length}): the same buffers; its slot i is "
                 f"slot {offset} + i of each column, so its validity starts at bit {offset}")
    if case.cuts:
        lines.append(f"cut at {', '.join(map(str, case.cuts))} into pieces "
                     + ", ".join(f"(offset {start}, length {n})" for start, n in case.pieces()))
    if case.damage:
        lines.append("damage to the stream: " + ", ".join(
            f"{edit.hex(' ')} written at byte {position} (modulo the length)"
            for position, edit in case.damage))
    return lines


def buffer_lines(array: Array) -> list[str]:
    """An array's top-level buffers, bitmaps bit by bit from slot 0."""
    lines = ["validity: none (no nulls)" if array.validity is None else
             f"validity bits: {_bits(array.validity, array.offset + array.length)}"]
    kind = array.type.name
    if kind in ("int64", "float64"):
        lines.append(f"values: {len(array.buffers[1])} bytes (8 per slot)")
    elif kind == "bool":
        lines.append(f"values bits: {_bits(array.buffers[1], array.offset + array.length)}")
    elif kind in ("utf8", "binary", "list"):
        count = len(array.buffers[1]) // 4
        offsets = [int.from_bytes(array.buffers[1][4 * i:4 * i + 4], "little", signed=True)
                   for i in range(count)]
        lines.append(f"offsets: {' '.join(map(str, offsets))}")
        if kind != "list":
            lines.append(f"data: {len(array.buffers[2])} bytes")
    for field, child in zip(array.type.fields, array.children):
        lines.append(f"child {field.name}: {_slots_of(child)}, null_count {child.null_count}")
    return lines


def _slots_of(array: Array) -> str:
    return f"{array.length} slot" + ("" if array.length == 1 else "s")


def _bits(buffer: bytes, count: int) -> str:
    return " ".join(str(int(bit)) for bit in bitmap.bits(buffer, 0, count))
