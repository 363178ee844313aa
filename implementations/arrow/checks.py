"""The properties: every array the library makes from a case must read as the model says
(`models.arrow`: lists with None), count its nulls exactly and obey the format's layout.

They are checked in this order, and a case's verdict is the first one broken. None of them
asks the library whether it is right: values are compared with the model's lists, null
counts with the model's count of None, layouts with the model's rules over the raw buffers.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from checker.properties import property_invariant
from implementations.arrow import ipc
from implementations.arrow.array import Array, Arrow, RecordBatch
from implementations.arrow.cases import Case
from implementations.arrow.flatbuf import FlatbufferError
from implementations.arrow.types import Field
from implementations.arrow.types import from_json as type_from_json
from implementations.arrow.types import to_json as type_to_json
from models import arrow as model

Made = list[tuple[str, Array, list[Any]]]  # what an array is, the array, its model values


class Arrays:
    """What the library makes of one case, each group made once, when a property first asks
    for it (so an exception is charged to the first property that needs the group)."""

    def __init__(self, arrow: Arrow, case: Case) -> None:
        self.arrow, self.case = arrow, case

    @cached_property
    def columns(self) -> Made:
        return [(f"column {name}", self.arrow.from_pylist(type_from_json(c.type), c.values),
                 c.values) for name, c in zip(self.case.names, self.case.columns)]

    @cached_property
    def slices(self) -> Made:
        """Each column's slice, then the slice's pieces (slices of the slice)."""
        offset, length = self.case.slice
        made = []
        for label, array, values in self.columns:
            window = self.arrow.slice(array, offset, length)
            expected = model.sliced(values, offset, length)
            made.append((f"slice({offset}, {length}) of {label}", window, expected))
            made += [(f"slice({start}, {size}) of slice({offset}, {length}) of {label}",
                      self.arrow.slice(window, start, size), model.sliced(expected, start, size))
                     for start, size in self.case.pieces()]
        return made

    @cached_property
    def concatenations(self) -> Made:
        """The pieces of each slice concatenated, and each column followed by its slice."""
        offset, length = self.case.slice
        made = []
        for label, array, values in self.columns:
            window = self.arrow.slice(array, offset, length)
            expected = model.sliced(values, offset, length)
            pieces = [self.arrow.slice(window, start, size)
                      for start, size in self.case.pieces()]
            made += [(f"concat of the pieces of slice({offset}, {length}) of {label}",
                      self.arrow.concat(pieces), expected),
                     (f"concat([{label}, its slice])", self.arrow.concat([array, window]),
                      model.concatenated([values, expected]))]
        return made

    @cached_property
    def in_memory(self) -> Made:
        return self.columns + self.slices + self.concatenations

    @cached_property
    def stream(self) -> bytes:
        """Two batches: the columns, then their slice (written from a bit offset)."""
        fields = tuple(Field(name, type_from_json(c.type))
                       for name, c in zip(self.case.names, self.case.columns))
        whole = tuple(array for _, array, _ in self.columns)
        window = tuple(self.arrow.slice(array, *self.case.slice) for array in whole)
        return ipc.write_stream(self.arrow, fields, [RecordBatch(fields, whole),
                                                     RecordBatch(fields, window)])

    @cached_property
    def read_back(self) -> tuple[tuple[Field, ...], Made]:
        """The stream's schema, and its batches' columns with their model values."""
        fields, batches = ipc.read_stream(self.stream)
        expected = [[c.values for c in self.case.columns],
                    [model.sliced(c.values, *self.case.slice) for c in self.case.columns]]
        made = [(f"column {name} of batch {number} read back", array, values)
                for number, (batch, batch_values) in enumerate(zip(batches, expected))
                for name, array, values in zip(self.case.names, batch.columns, batch_values)]
        return fields, made if len(batches) == 2 else []

    @cached_property
    def damaged(self) -> bytes:
        """The stream with the case's damage: each edit's bytes written from its position
        modulo the stream's length, as far as the stream goes."""
        data = bytearray(self.stream)
        for position, edit in self.case.damage:
            start = position % len(data)
            data[start:start + len(edit)] = edit[:len(data) - start]
        return bytes(data)


_LATEST: list[Arrays] = []  # the properties of one case share what the library made of it


def arrays(arrow: Arrow, case: Case) -> Arrays:
    if not (_LATEST and _LATEST[0].arrow is arrow and _LATEST[0].case is case):
        _LATEST[:] = [Arrays(arrow, case)]
    return _LATEST[0]


def _misread(arrow: Arrow, made: Made) -> str | None:
    for label, array, values in made:
        got = arrow.to_pylist(array)
        if not model.same(got, values):
            return f"{label} reads {_short(got)}, the model says {_short(values)}"
    return None


def _miscounted(made: Made) -> str | None:
    for label, array, values in made:
        if array.null_count != model.null_count(values):
            return f"{label} says null_count {array.null_count}; its values " \
                   f"{_short(values)} hold {model.null_count(values)} None"
    return None


def _short(values: Any) -> str:
    text = repr(values)
    return text if len(text) <= 160 else text[:157] + "..."


@property_invariant("roundtrip")
def roundtrip(arrow: Arrow, case: Case) -> str | None:
    """An array built from a list reads back as that list: to_pylist(from_pylist(values)) ==
    values, nulls where they were, types and all."""
    return _misread(arrow, arrays(arrow, case).columns)


@property_invariant("slice")
def slice_homomorphism(arrow: Arrow, case: Case) -> str | None:
    """Slicing is slicing the list: slice(a, offset, length) reads as values[offset:offset +
    length], nulls included, and so does each piece cut from the slice (a slice of a slice,
    whose offsets add up)."""
    return _misread(arrow, arrays(arrow, case).slices)


@property_invariant("concat")
def concat_homomorphism(arrow: Arrow, case: Case) -> str | None:
    """Concatenation is concatenating the lists: the pieces of the slice, concatenated, read
    as the slice; the column followed by its slice reads as values + the slice's values."""
    return _misread(arrow, arrays(arrow, case).concatenations)


@property_invariant("null-count")
def null_counts(arrow: Arrow, case: Case) -> str | None:
    """Every array in memory -- built, sliced, cut, concatenated -- says it has exactly as
    many nulls as its values hold None."""
    return _miscounted(arrays(arrow, case).in_memory)


@property_invariant("ipc")
def ipc_roundtrip(arrow: Arrow, case: Case) -> str | None:
    """A stream written (the batch, then its slice, from its bit offset) and read back gives
    the same schema, both batches, the same values and exact null counts."""
    fields, made = arrays(arrow, case).read_back
    expected_types = [c.type for c in case.columns]
    got_types = [type_to_json(f.type) for f in fields]
    if [f.name for f in fields] != case.names or got_types != expected_types:
        return f"the schema read back is {got_types}, not {expected_types}"
    if not made:
        return "the stream read back does not hold the two batches written"
    return _misread(arrow, made) or _miscounted(made)


@property_invariant("layout")
def layout(arrow: Arrow, case: Case) -> str | None:
    """Every array obeys the columnar format: each type's buffers, bitmaps of at least
    offset + length bits, values buffers of 8 bytes a slot, offsets monotone and inside their
    data, null counts equal to the zero bits of the array's window, children long enough."""
    made = arrays(arrow, case)
    for label, array, _ in made.in_memory + made.read_back[1]:
        if problems := model.layout_problems(describe(array), label):
            return problems[0]
    return None


@property_invariant("slice-bounds")
def slice_bounds(arrow: Arrow, case: Case) -> str | None:
    """A window that is not inside the array -- one slot past its end, starting before slot
    0, of negative length -- is refused with IndexError (as Arrow C++'s SliceSafe refuses
    it): a slice never names slots its buffers do not hold."""
    offset, length = case.slice
    for label, array, values in arrays(arrow, case).columns:
        for window in ((offset, len(values) - offset + 1), (-1, length), (offset, -1)):
            try:
                arrow.slice(array, *window)
            except IndexError:
                continue
            return f"slice{window} of {label}, an array of {len(values)} slots, was not refused"
    return None


@property_invariant("stream-format")
def stream_format(arrow: Arrow, case: Case) -> str | None:
    """The stream written (the batch, then its slice) obeys the IPC format as the model reads
    it without the library: framing, FlatBuffers alignment, V5 little-endian messages without
    dictionaries, the case's schema, one field node per array and each batch's buffers at
    multiples of 8 inside its body -- what other readers (Arrow C++'s verifier) insist on,
    and this library's own reader forgives."""
    fields = [(name, column.type) for name, column in zip(case.names, case.columns)]
    rows = [len(case.columns[0].values), case.slice[1]]
    problems = model.stream_problems(arrays(arrow, case).stream, fields, rows)
    return problems[0] if problems else None


@property_invariant("damaged-stream")
def damaged_stream(arrow: Arrow, case: Case) -> str | None:
    """The stream with bytes overwritten (the case's damage) is refused with the reader's
    own errors (IpcError, FlatbufferError) or read as arrays that obey the columnar format,
    as Arrow's fuzzed readers must: untrusted bytes never crash the reader, hang it, or come
    out as an array whose buffers do not hold what its fields say."""
    try:
        _, batches = ipc.read_stream(arrays(arrow, case).damaged)
    except (ipc.IpcError, FlatbufferError):
        return None
    for number, batch in enumerate(batches):
        for index, array in enumerate(batch.columns):
            label = f"column {index} of batch {number} read from the damaged stream"
            if problems := model.layout_problems(describe(array), label):
                return problems[0]
    return None


def describe(array: Array) -> model.Layout:
    """The array as the model reads it: its fields and raw buffers, nothing computed."""
    return model.Layout(type_to_json(array.type), array.length, array.offset, array.null_count,
                        array.validity, tuple(array.buffers[1:]),
                        tuple(describe(child) for child in array.children))


PROPERTIES = (roundtrip, slice_homomorphism, concat_homomorphism, null_counts, ipc_roundtrip,
              layout, slice_bounds, stream_format, damaged_stream)
