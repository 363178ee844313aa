"""Arrow: the correct library survives the hunt, each seeded bug is found by its property and
shrunk to the smallest array that shows it, libraries that do nothing are caught, the model's
layout rules and the pieces (bitmaps, FlatBuffers, IPC framing) behave on hand-made inputs,
and pyarrow is the oracle for interoperability: every stream we write, pyarrow reads to the
model's values, and every stream pyarrow writes, we read to them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import implementations
from checker.hunt import Budget, hunt
from checker.properties import check_input, search
from checker.run import execute
from checker.strategies import Replay
from implementations.arrow import SYSTEM, bitmap, cases, flatbuf, ipc
from implementations.arrow.array import Array, Arrow, RecordBatch
from implementations.arrow.cases import Case, Column
from implementations.arrow.checks import Arrays
from implementations.arrow.types import DataType, Field, struct_of
from implementations.arrow.types import from_json as type_from_json
from models import arrow as model
from models.arrow import Layout, layout_problems

ROOT = Path(__file__).parent.parent
DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")
INT64 = DataType("int64")


def case_of(kind: Any, values: list, window: tuple[int, int] = (0, 0),
            cuts: tuple[int, ...] = (), damage: tuple[tuple[int, int], ...] = ()) -> Case:
    return Case((Column(kind, values),), window, cuts, damage)


# --- the hunt ---------------------------------------------------------------------------------


def test_registered_as_a_property_system() -> None:
    assert SYSTEM in implementations.registered() and SYSTEM.kind == "property"
    assert [p.name for p in SYSTEM.invariants] == ["roundtrip", "slice", "concat", "null-count",
                                                   "ipc", "layout", "slice-bounds",
                                                   "stream-format", "damaged-stream"]


@pytest.mark.parametrize("config, examples", [(DEFAULT, 400), (SMALL, 200)],
                         ids=["default", "small"])
def test_the_correct_library_survives(config, examples: int) -> None:
    searched = search(SYSTEM, "correct", config, 1, examples=examples)
    assert searched.found is None and searched.runs == examples


@pytest.mark.parametrize("variant, prop, smallest", [
    ("slice-ignores-bit-offset", "slice",
     {"columns": [{"type": "int64", "values": [None, 0, None]}], "slice": [0, 2],
      "cuts": [1]}),
    ("null-count-from-parent", "null-count",
     {"columns": [{"type": "int64", "values": [None]}], "slice": [0, 0], "cuts": []}),
])
def test_seeded_bug_is_found_shrunk_and_replays(variant: str, prop: str, smallest: dict,
                                                tmp_path: Path) -> None:
    outcome = hunt(SYSTEM, variant, DEFAULT, budget=Budget(runs=1000), report_dir=tmp_path)
    assert outcome.verdict == "found" and outcome.violation.verdict.invariant == prop
    assert outcome.violation.sim.input == smallest
    assert outcome.after == cases.size(cases.from_json(smallest)) <= outcome.before
    example = json.loads(Path(outcome.replay_path).read_text())
    assert (example["property"], example["input"]) == (prop, smallest)
    again = execute(SYSTEM, variant, DEFAULT, outcome.violation.seed,
                    Replay([("input", smallest)]))
    assert again.sim.fingerprint() == outcome.violation.sim.fingerprint()


@pytest.mark.parametrize("variant", ["slice-ignores-bit-offset", "null-count-from-parent"])
def test_seeded_bugs_need_a_slice_that_moves(variant: str) -> None:
    """Both bugs are about slices: arrays at offset 0 pass, and so does a slice of a column
    without nulls."""
    at_zero = case_of("int64", [None, 0, None], (0, 3))
    no_nulls = case_of("int64", [1, 2, 3], (1, 2))
    assert check_input(SYSTEM, variant, at_zero).ok
    assert check_input(SYSTEM, variant, no_nulls).ok


class SlicesAnywhere(Arrow):
    """Slices without the bounds check: a window past the end names slots no buffer holds."""

    def slice(self, array: Array, offset: int, length: int) -> Array:
        return attrs.evolve(array, offset=array.offset + offset, length=length,
                            null_count=0)


def test_slice_bounds_says_violated_when_a_window_outside_is_not_refused() -> None:
    case = case_of("int64", [1, 2], (1, 1))
    assert check_input(SYSTEM, "correct", case).ok
    lax = attrs.evolve(SYSTEM, variants={"lax": attrs.evolve(SYSTEM.variant("correct"),
                                                             name="lax", impl=SlicesAnywhere())})
    verdict = check_input(lax, "lax", case)
    assert verdict.invariant == "slice-bounds"
    assert "slice(1, 2) of column a, an array of 2 slots, was not refused" in verdict.explanation


def test_damage_is_applied_modulo_the_streams_length() -> None:
    case = case_of("int64", [1], (0, 1), damage=((0, b"\x7f"), (10**3, b"\x00"),
                                                  (4095, b"\xff\xff\xff\xff")))
    made = Arrays(Arrow(), case)
    expected = bytearray(made.stream)
    expected[0], expected[10**3 % len(expected)] = 0x7F, 0
    at = 4095 % len(expected)
    expected[at:at + 4] = b"\xff" * min(4, len(expected) - at)  # cut at the stream's end
    assert made.damaged == bytes(expected) != made.stream


def test_damaged_stream_accepts_refusals_and_sound_arrays(monkeypatch) -> None:
    case = case_of("utf8", ["ab", None], (0, 2), damage=((7, b"\xff"),))  # a negative size
    assert check_input(SYSTEM, "correct", case).ok
    pristine, read = Arrays(Arrow(), case).stream, ipc.read_stream

    def reads_damage_as_broken(data: bytes) -> tuple:
        if data == pristine:
            return read(data)
        offsets = struct.pack("<3i", 0, 2, 1)  # not increasing
        array = Array(DataType("utf8"), 2, 0, 0, (None, offsets, b"ab"))
        return (Field("a", DataType("utf8")),), [RecordBatch((), (array,))]

    monkeypatch.setattr(ipc, "read_stream", reads_damage_as_broken)
    verdict = check_input(SYSTEM, "correct", case)
    assert verdict.invariant == "damaged-stream"
    assert "column 0 of batch 0 read from the damaged stream's offsets [0, 2, 1]" in \
        verdict.explanation


def test_damaged_stream_finds_a_reader_without_its_defences(monkeypatch) -> None:
    monkeypatch.setattr(ipc, "_check", lambda array: None)
    found = search(SYSTEM, "correct", DEFAULT, 0, examples=1000).found
    assert found is not None and found.result.verdict.invariant == "damaged-stream"


class KeepsNothing(Arrow):
    def from_pylist(self, kind: DataType, values: list) -> Array:
        return super().from_pylist(kind, [])


class NeverNull(Arrow):
    def from_pylist(self, kind: DataType, values: list) -> Array:
        array = super().from_pylist(kind, values)
        return attrs.evolve(array, null_count=0, buffers=(None, *array.buffers[1:]))


class SliceIsParent(Arrow):
    def slice(self, array: Array, offset: int, length: int) -> Array:
        return array


@pytest.mark.parametrize("library, caught_by", [
    (KeepsNothing(), "roundtrip"), (NeverNull(), "roundtrip"),
    (SliceIsParent(), "slice-bounds")])  # it never refuses a window, even on no rows
def test_a_library_that_does_nothing_is_caught(library: Arrow, caught_by: str) -> None:
    lazy = attrs.evolve(SYSTEM, variants={"correct": SYSTEM.variant("correct"),
                                          "lazy": attrs.evolve(SYSTEM.variant("correct"),
                                                               name="lazy", impl=library)})
    found = search(lazy, "lazy", DEFAULT, 0, examples=300).found
    assert found is not None and found.result.verdict.invariant == caught_by


def test_a_writer_that_writes_no_batches_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    write = ipc.write_stream
    monkeypatch.setattr(ipc, "write_stream",
                        lambda arrow, schema, batches: write(arrow, schema, []))
    verdict = check_input(SYSTEM, "correct", case_of("int64", [1], (0, 1)))
    assert verdict.invariant == "ipc" and "two batches" in verdict.explanation


SAME_SEED = """
from checker.hunt import Budget, hunt
from implementations.arrow import SYSTEM
if __import__("sys").argv[1] == "loaded":  # their constants must not change the draws
    import checker.cli, models.kv, tests.test_replay_fuzz
for variant in ("slice-ignores-bit-offset", "null-count-from-parent"):
    o = hunt(SYSTEM, variant, SYSTEM.config("default"), budget=Budget(runs=1000), seed=3)
    print(variant, o.runs, o.before, o.violation.sim.input)
o = hunt(SYSTEM, "correct", SYSTEM.config("default"), budget=Budget(runs=60), seed=3)
print(o.verdict, o.runs)
"""


def test_the_same_seed_gives_the_same_hunt_in_any_process() -> None:
    outputs = []
    for hash_seed, imports in (("1", "bare"), ("777", "loaded")):
        done = subprocess.run([sys.executable, "-c", SAME_SEED, imports], capture_output=True,
                              text=True, env={**os.environ, "PYTHONHASHSEED": hash_seed},
                              cwd=ROOT, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and outputs[0].endswith("clean 60\n")


# --- the library ------------------------------------------------------------------------------


def test_a_slice_shares_its_parents_buffers() -> None:
    arrow = Arrow()
    parent = arrow.from_pylist(struct_of([("x", INT64)]), [{"x": 1}, None, {"x": 3}])
    window = arrow.slice(parent, 1, 2)
    assert window.buffers[0] is parent.buffers[0] and window.children[0] is parent.children[0]
    assert (window.offset, window.length, window.null_count) == (1, 2, 1)
    assert arrow.to_pylist(arrow.slice(window, 1, 1)) == [{"x": 3}]


def test_slicing_out_of_range_is_refused() -> None:
    arrow = Arrow()
    with pytest.raises(IndexError):
        arrow.slice(arrow.from_pylist(INT64, [1, 2]), 1, 2)


def test_concat_rebases_offsets_and_bits() -> None:
    arrow = Arrow()
    strings = arrow.from_pylist(DataType("utf8"), ["ab", None, "c", "", "def"])
    joined = arrow.concat([arrow.slice(strings, 3, 2), arrow.slice(strings, 1, 2)])
    assert arrow.to_pylist(joined) == ["", "def", None, "c"]
    assert joined.offset == 0 and joined.null_count == 1
    assert struct.unpack("<5i", joined.buffers[1]) == (0, 0, 3, 3, 4)


def test_bitmaps_are_least_significant_bit_first() -> None:
    packed = bitmap.pack([True, False, False, False, False, False, False, False, True])
    assert packed == b"\x01\x01" and bitmap.get_bit(packed, 8) and not bitmap.get_bit(packed, 1)
    assert bitmap.copy_bits(b"\xf0", 3, 4) == b"\x0e" and bitmap.count_unset(b"\xf0", 2, 4) == 2


def test_flatbuffers_round_trip_with_aligned_scalars() -> None:
    table = flatbuf.Table((flatbuf.Scalar("<h", 4), "name",
                           flatbuf.Vector((flatbuf.Table((flatbuf.Scalar("<q", -7),)),)),
                           flatbuf.Structs("<qq", ((1, 2), (3, 4))), None,
                           flatbuf.Scalar("<?", True)))
    data = flatbuf.encode(table)
    view = flatbuf.root(data)
    assert view.scalar(0, "<h", 0) == 4 and view.string(1) == "name"
    assert [t.scalar(0, "<q", 0) for t in view.tables(2)] == [-7]
    assert view.structs(3, "<qq") == [(1, 2), (3, 4)]
    assert view.scalar(4, "<i", 99) == 99 and view.scalar(5, "<?", False) is True
    assert view.scalar(9, "<i", 5) == 5  # a slot past the vtable: the default
    assert (view.tables(2)[0].where % 8, (view._target(3) + 4) % 8) == (0, 0)


def test_a_corrupt_flatbuffer_is_refused() -> None:
    data = flatbuf.encode(flatbuf.Table(("name",)))
    with pytest.raises(flatbuf.FlatbufferError):
        flatbuf.root(data[:9]).string(0)


def test_the_stream_is_framed_as_the_format_says() -> None:
    arrow, fields = Arrow(), (Field("a", INT64),)
    column = arrow.slice(arrow.from_pylist(INT64, [1, None, 3]), 1, 2)
    data = ipc.write_stream(arrow, fields, [RecordBatch(fields, (column,))])
    assert data.startswith(ipc.CONTINUATION) and data.endswith(ipc.END_OF_STREAM)
    at, bodies = 0, []
    for _ in range(2):
        size = struct.unpack_from("<i", data, at + 4)[0]
        assert (8 + size) % 8 == 0
        message = flatbuf.root(data[at + 8:at + 8 + size])
        bodies.append(message.scalar(3, "<q", 0))
        at += 8 + size + bodies[-1]
    assert data[at:] == ipc.END_OF_STREAM and bodies[0] == 0
    spans = message.table(2).structs(2, "<qq")
    assert all(start % 8 == 0 for start, _ in spans) and spans[0][1] == 1  # bits 1..2 → 1 byte


def test_a_vector_longer_than_its_buffer_is_refused_at_once() -> None:
    data = bytearray(flatbuf.encode(flatbuf.Table((flatbuf.Vector((flatbuf.Table(()),)),))))
    view = flatbuf.root(bytes(data))
    struct.pack_into("<I", data, view._target(0), 2**32 - 1)  # the count: four billion
    with pytest.raises(flatbuf.FlatbufferError, match="vector of 4294967295 tables"):
        flatbuf.root(bytes(data)).tables(0)


def test_a_null_count_that_is_not_the_bitmaps_is_refused() -> None:
    body = b"\x02" + bytes(7) + struct.pack("<2q", 0, 1)  # slot 0 null, slot 1 valid
    nodes, spans = iter([(2, 0)]), iter([(0, 1), (8, 16)])  # the node says: no nulls
    with pytest.raises(ipc.IpcError, match="null count 0 is not its bitmap's"):
        ipc._read_array(INT64, nodes, spans, body)
    assert ipc._read_array(INT64, iter([(2, 1)]), iter([(0, 1), (8, 16)]), body).null_count == 1


def written(values: list, fields=(Field("a", INT64),)) -> bytes:
    arrow = Arrow()
    column = arrow.slice(arrow.from_pylist(INT64, values), 1, len(values) - 1)
    return ipc.write_stream(arrow, fields, [RecordBatch(fields, (column,))])


def test_the_model_reads_our_streams_as_the_format_says() -> None:
    assert model.stream_problems(written([1, None, 3]), [("a", "int64")], [2]) == []
    ended = written([1, None, 3])[:-len(ipc.END_OF_STREAM)]  # a stream may simply end
    assert model.stream_problems(ended, [("a", "int64")], [2]) == []
    assert "the schema is [['a', 'int64']], not [('a', 'utf8')]" in \
        model.stream_problems(written([1, None, 3]), [("a", "utf8")], [2])[0]
    assert "holds 2 messages, not 1 + 2" in \
        model.stream_problems(written([1, 2]), [("a", "int64")], [1, 1])[0]


def test_the_model_finds_misaligned_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flatbuf, "_align", lambda out, size, before=0: None)
    problems = model.stream_problems(written([1, None, 3]), [("a", "int64")], [2])
    assert problems and "is not aligned" in problems[0]


def test_the_model_finds_a_dictionary_and_misaligned_buffers() -> None:
    schema = ipc._message(ipc.SCHEMA, ipc._schema((Field("a", INT64),)), b"")
    field = ipc._field(Field("a", INT64))
    dictionary = flatbuf.Table((*field.fields[:4], flatbuf.Table(()), field.fields[5]))
    with_dictionary = ipc._message(ipc.SCHEMA, flatbuf.Table((None, flatbuf.Vector(
        (dictionary,)))), b"")
    assert "field 'a' is dictionary-encoded" in \
        model.stream_problems(with_dictionary + ipc.END_OF_STREAM, [("a", "int64")], [])[0]
    header = flatbuf.Table((flatbuf.Scalar("<q", 1), flatbuf.Structs("<qq", ((1, 1),)),
                            flatbuf.Structs("<qq", ((0, 0), (4, 8)))))
    batch = ipc._message(ipc.RECORD_BATCH, header, bytes(16))
    assert "buffer (4, 8) is not at a multiple of 8" in \
        model.stream_problems(schema + batch + ipc.END_OF_STREAM, [("a", "int64")], [1])[0]


def test_a_truncated_stream_is_refused() -> None:
    arrow, fields = Arrow(), (Field("a", INT64),)
    data = ipc.write_stream(arrow, fields, [RecordBatch(fields, (arrow.from_pylist(INT64,
                                                                                   [1]),))])
    for cut in (6, 30, len(data) - 20):
        with pytest.raises(ValueError):
            ipc.read_stream(data[:cut])


# --- the model ---------------------------------------------------------------------------------


def good_strings() -> Layout:
    offsets = struct.pack("<4i", 0, 2, 2, 5)
    return Layout("utf8", 2, 1, 1, bytes([0b101]), (offsets, b"abcde"))


@pytest.mark.parametrize("edit, complaint", [
    ({}, None),
    ({"validity": b""}, "validity bitmap has 0 bits, fewer than 3"),
    ({"null_count": 0}, "says it has 0 nulls, but its bitmap has 1 zero bits in slots 1..2"),
    ({"null_count": 3}, "says it has 3 nulls among 2 slots"),
    ({"validity": None}, "has no validity bitmap"),
    ({"buffers": (struct.pack("<4i", 0, 2, 1, 5), b"abcde")}, "offsets [2, 1, 5] are not"),
    ({"buffers": (struct.pack("<4i", 0, 2, 2, 9), b"abcde")}, "within 0..5"),
    ({"buffers": (struct.pack("<3i", 0, 2, 2), b"abcde")}, "fewer than 4 (offset + length"),
    ({"buffers": (b"",)}, "has 1 buffers after its bitmap, not 2 (offsets, data)"),
])
def test_layout_rules_on_hand_made_arrays(edit: dict, complaint: str | None) -> None:
    problems = layout_problems(dataclasses.replace(good_strings(), **edit))
    assert (problems == []) if complaint is None else complaint in problems[0], problems


def test_layout_rules_for_fixed_width_and_nested_arrays() -> None:
    values = Layout("int64", 2, 1, 0, None, (bytes(16),))
    assert "values buffer has 16 bytes, fewer than 8 x 3" in layout_problems(values)[0]
    item = Layout("int64", 1, 0, 0, None, (bytes(8),))
    listed = Layout({"list": "int64"}, 1, 0, 0, None, (struct.pack("<2i", 0, 2),), (item,))
    assert "within 0..1" in layout_problems(listed)[0]
    member = Layout("bool", 1, 0, 0, None, (b"\x01",))
    shape = {"struct": [["x", "bool"]]}
    assert layout_problems(Layout(shape, 1, 0, 0, None, (), (member,))) == []
    short = layout_problems(Layout(shape, 1, 1, 0, None, (), (member,)))
    assert "the array.x has 1 slots, fewer than 2" in short[0]


def test_same_is_strict_about_types_and_floats() -> None:
    assert model.same([1, None, {"a": b"x"}], [1, None, {"a": b"x"}])
    assert not model.same([True], [1]) and not model.same([0.0], [-0.0])
    assert not model.same([{"a": 1, "b": 2}], [{"b": 2, "a": 1}])


def test_types_and_values_are_checked() -> None:
    assert model.type_problem({"struct": [["a", "int64"], ["a", "bool"]]})
    assert model.type_problem({"list": {"list": {"list": {"list": {"list": {"list": "bool"}}}}}})
    assert model.conforms({"list": "utf8"}, ["x", None]) and not model.conforms("int64", 2**63)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["columns", "slice", "cuts", "type",
                                                       "values", "list", "struct"]),
                                      inner, max_size=3), max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_from_json_refuses_anything_that_is_not_a_case(data: Any) -> None:
    try:
        case = cases.from_json(data)
    except ValueError:
        return
    assert cases.from_json(cases.to_json(case)) == case


@settings(max_examples=100)
@given(cases.inputs(DEFAULT))
def test_cases_survive_their_json_form(case: Case) -> None:
    assert cases.from_json(json.loads(json.dumps(cases.to_json(case)))) == case


# --- interoperability: pyarrow as the oracle ----------------------------------------------------


def pa_type(kind: Any) -> pa.DataType:
    if isinstance(kind, str):
        return {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
                "utf8": pa.string(), "binary": pa.binary()}[kind]
    if "list" in kind:
        return pa.list_(pa_type(kind["list"]))
    return pa.struct([(name, pa_type(t)) for name, t in kind["struct"]])


EXAMPLES = 150  # streams each way; with the hand-picked case, 302 streams cross in all


def test_pyarrow_reads_every_stream_we_write() -> None:
    exchanged = []

    @settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
    @given(cases.inputs(DEFAULT))
    def ours_to_pyarrow(case: Case) -> None:
        stream = Arrays(Arrow(), case).stream
        reader = pa.ipc.open_stream(pa.py_buffer(stream))
        assert [pa_type(c.type) for c in case.columns] == reader.schema.types
        batches = list(reader)
        exchanged.append(stream)
        expected = [[c.values for c in case.columns],
                    [model.sliced(c.values, *case.slice) for c in case.columns]]
        assert len(batches) == 2
        for batch, values in zip(batches, expected):
            batch.validate(full=True)
            for column, column_values in zip(batch.columns, values):
                assert model.same(column.to_pylist(), column_values)
                assert column.null_count == model.null_count(column_values)

    ours_to_pyarrow()
    print(f"{len(exchanged)} streams written here, read by pyarrow")
    assert len(exchanged) == EXAMPLES


@st.composite
def pyarrow_batches(draw: st.DrawFn) -> tuple[list[Case], list[pa.RecordBatch]]:
    """Record batches pyarrow builds from generated columns, each sliced (often at a
    non-zero offset, which pyarrow must rebase when it writes)."""
    case = draw(cases.inputs(DEFAULT))
    parents = [pa.array(c.values, type=pa_type(c.type)) for c in case.columns]
    names = case.names
    whole = pa.RecordBatch.from_arrays(parents, names=names)
    window = pa.RecordBatch.from_arrays([p.slice(*case.slice) for p in parents], names=names)
    return case, [whole, window]


def test_we_read_every_stream_pyarrow_writes() -> None:
    exchanged = []

    @settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
    @given(pyarrow_batches())
    def pyarrow_to_ours(drawn: tuple[Case, list]) -> None:
        case, batches = drawn
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batches[0].schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        stream = sink.getvalue().to_pybytes()
        fields, read = ipc.read_stream(stream)
        exchanged.append(stream)
        assert [f.type for f in fields] == [type_from_json(c.type) for c in case.columns]
        expected = [[c.values for c in case.columns],
                    [model.sliced(c.values, *case.slice) for c in case.columns]]
        arrow = Arrow()
        for batch, values in zip(read, expected, strict=True):
            for array, column_values in zip(batch.columns, values):
                assert model.same(arrow.to_pylist(array), column_values)
                assert array.null_count == model.null_count(column_values)

    pyarrow_to_ours()
    print(f"{len(exchanged)} streams written by pyarrow, read here")
    assert len(exchanged) == EXAMPLES


def test_nested_nulls_and_bit_offsets_cross_both_ways() -> None:
    """A hand-picked case: a struct of a list with nulls at every level, sliced at bit 3."""
    kind = {"struct": [["xs", {"list": "int64"}], ["s", "utf8"]]}
    values = [{"xs": [1, None], "s": None}, None, {"xs": None, "s": "é"},
              {"xs": [], "s": ""}, {"xs": [None], "s": "z"}, None]
    case = case_of(kind, values, (3, 3))
    ours = pa.ipc.open_stream(Arrays(Arrow(), case).stream).read_all()
    assert ours.column("a").to_pylist() == values + values[3:]
    parent = pa.array(values, type=pa_type(kind))
    sink = pa.BufferOutputStream()
    batch = pa.RecordBatch.from_arrays([parent.slice(3, 3)], names=["a"])
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    _, [read] = ipc.read_stream(sink.getvalue().to_pybytes())
    assert Arrow().to_pylist(read.columns[0]) == values[3:]
