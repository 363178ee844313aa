"""Dremel: the correct code survives the hunt, each seeded bug is found by its property and
shrunk to one field and one record, code that does nothing is caught, the paper's own
example stripes and assembles as its figures show, the model's rules hold on hand-made
columns, and Parquet written by pyarrow agrees with our columns on every level count (and
pyarrow's read of some columns with our partial assembly of them).
"""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import implementations
from checker.hunt import Budget, hunt
from checker.node import Context
from checker.properties import check_input, search
from checker.run import execute
from checker.sim import Step
from checker.strategies import Replay
from implementations.dremel import SYSTEM, cases
from implementations.dremel.assembly import Assembler, FieldReader, construct_fsm
from implementations.dremel.cases import Case
from implementations.dremel.checks import first_missed_backup
from implementations.dremel.engine import Dremel
from implementations.dremel.query import Query
from implementations.dremel.schema import message
from implementations.dremel.serving import (
    ROOT,
    SLOW_TICKS,
    Answer,
    Backup,
    Collect,
    Finished,
    Idle,
    Leaf,
    Root,
    ServingTree,
    Shape,
    Started,
)
from implementations.dremel.striping import (
    DefinitionWrongAncestor,
    Entry,
    NoMissingPlaceholder,
    Striper,
)
from models import dremel as model

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")

# the paper's Figure 2: the Document schema and two sample records
DOCUMENT = [
    {"name": "DocId", "repetition": "required", "type": "int64"},
    {"name": "Links", "repetition": "optional", "fields": [
        {"name": "Backward", "repetition": "repeated", "type": "int64"},
        {"name": "Forward", "repetition": "repeated", "type": "int64"}]},
    {"name": "Name", "repetition": "repeated", "fields": [
        {"name": "Language", "repetition": "repeated", "fields": [
            {"name": "Code", "repetition": "required", "type": "string"},
            {"name": "Country", "repetition": "optional", "type": "string"}]},
        {"name": "Url", "repetition": "optional", "type": "string"}]},
]
R1 = {"DocId": 10, "Links": {"Backward": [], "Forward": [20, 40, 60]},
      "Name": [{"Language": [{"Code": "en-us", "Country": "us"},
                             {"Code": "en", "Country": None}], "Url": "http://A"},
               {"Language": [], "Url": "http://B"},
               {"Language": [{"Code": "en-gb", "Country": "gb"}], "Url": None}]}
R2 = {"DocId": 20, "Links": {"Backward": [10, 30], "Forward": [80]},
      "Name": [{"Language": [], "Url": "http://C"}]}
# the paper's Figure 3: the columns of r1 and r2, (value, r, d)
FIGURE_3 = {
    "DocId": [(10, 0, 0), (20, 0, 0)],
    "Links.Backward": [(None, 0, 1), (10, 0, 2), (30, 1, 2)],
    "Links.Forward": [(20, 0, 2), (40, 1, 2), (60, 1, 2), (80, 0, 2)],
    "Name.Language.Code": [("en-us", 0, 2), ("en", 2, 2), (None, 1, 1), ("en-gb", 1, 2),
                           (None, 0, 1)],
    "Name.Language.Country": [("us", 0, 3), (None, 2, 2), (None, 1, 1), ("gb", 1, 3),
                              (None, 0, 1)],
    "Name.Url": [("http://A", 0, 2), ("http://B", 1, 2), (None, 1, 1), ("http://C", 0, 2)],
}


def levels(columns: dict[str, list[Entry]]) -> dict[str, list[tuple]]:
    return {path: [(e.value, e.r, e.d) for e in entries] for path, entries in columns.items()}


def entries(*triples: tuple) -> list[Entry]:
    return [Entry(*triple) for triple in triples]


def a_case(schema: list[dict], records: list[dict], **changes: Any) -> Case:
    paths = model.leaf_paths(schema)
    fields = {"columns": tuple(paths), "query": Query("COUNT", paths[0]), "cuts": (),
              "slow": (), "percent": 100, "leaves": 1, "fanout": 1, "schedule": 0, **changes}
    return Case(schema, records, **fields)


# --- the hunt ---------------------------------------------------------------------------------


def test_registered_as_a_property_system() -> None:
    assert SYSTEM in implementations.registered() and SYSTEM.kind == "property"
    assert [p.name for p in SYSTEM.invariants] == [
        "roundtrip", "partial-assembly", "levels", "column-query", "serving-exact",
        "serving-backups", "serving-approximate"]


@pytest.mark.parametrize("config, examples", [(DEFAULT, 300), (SMALL, 200)],
                         ids=["default", "small"])
def test_the_correct_code_survives(config, examples: int) -> None:
    searched = search(SYSTEM, "correct", config, 1, examples=examples)
    assert searched.found is None and searched.runs == examples


@pytest.mark.parametrize("variant", ["no-missing-placeholder", "definition-wrong-ancestor"])
def test_seeded_bug_is_found_shrunk_and_replays(variant: str, tmp_path: Path) -> None:
    outcome = hunt(SYSTEM, variant, DEFAULT, budget=Budget(runs=1000), report_dir=tmp_path)
    caught_by = SYSTEM.variant(variant).caught_by
    assert outcome.verdict == "found" and outcome.violation.verdict.invariant == caught_by
    smallest = cases.from_json(outcome.violation.sim.input)
    # one field that is not required, one record that lacks it: nothing smaller breaks
    assert len(smallest.schema) == 1 and len(smallest.records) == 1
    assert smallest.schema[0]["repetition"] != "required"
    assert outcome.after == cases.size(smallest) == 2 <= outcome.before
    example = json.loads(Path(outcome.replay_path).read_text())
    assert example["property"] == caught_by
    again = execute(SYSTEM, variant, DEFAULT, outcome.violation.seed,
                    Replay([("input", example["input"])]))
    assert again.sim.fingerprint() == outcome.violation.sim.fingerprint()


@pytest.mark.parametrize("variant", ["no-missing-placeholder", "definition-wrong-ancestor"])
def test_seeded_bugs_need_a_missing_field(variant: str) -> None:
    """Records that hold every field stripe the same with or without the bugs."""
    full = {"DocId": 1, "Links": {"Backward": [2], "Forward": [3, 4]},
            "Name": [{"Language": [{"Code": "x", "Country": "y"}], "Url": "z"}]}
    assert check_input(SYSTEM, variant, a_case(DOCUMENT, [full, full])).ok
    assert check_input(SYSTEM, variant, a_case(DOCUMENT, [full, R1])).violated


class WritesNothing(Striper):
    def stripe(self, schema: list[dict], records: list[dict]) -> dict:
        return super().stripe(schema, [])


class AssemblesNothing(Assembler):
    def assemble(self, schema: list[dict], columns: dict, paths: list | None = None) -> list:
        return []


class SilentRoot(Root):
    def reply(self, ctx: Context) -> None:
        pass


class AnswersNothing(ServingTree):
    def root(self, shape: Shape, query: Query) -> Root:
        return SilentRoot(ROOT, shape, query)


class SumsEveryScan(Leaf):
    """Answers a collect with every tablet it scanned, its own copies and its backups."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Collect):
            msg = Collect(((self.id, tuple(sorted(self.done))),))
        super().on_message(ctx, src, msg)


class CollectsEveryScan(ServingTree):
    def leaf(self, index: int, shape: Shape, tablets: list, slow: frozenset[int]) -> Leaf:
        leaf = super().leaf(index, shape, tablets, slow)
        return SumsEveryScan(leaf.id, leaf._tablets, leaf.queue, leaf.slow)


class ClaimingRoot(Root):
    def answer(self) -> Answer:
        return attrs.evolve(super().answer(), fraction=Fraction(self.percent or 100, 100))


class ClaimsWhatWasAsked(ServingTree):
    def root(self, shape: Shape, query: Query) -> Root:
        return ClaimingRoot(ROOT, shape, query)


class DeafRoot(Root):
    """Never hears that a leaf is idle, so never backs up a straggler."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if not isinstance(msg, Idle):
            super().on_message(ctx, src, msg)


class NeverBacksUp(ServingTree):
    def root(self, shape: Shape, query: Query) -> Root:
        return DeafRoot(ROOT, shape, query)


@pytest.mark.parametrize("dremel, caught_by", [
    (Dremel(striper=WritesNothing()), "roundtrip"),
    (Dremel(assembler=AssemblesNothing()), "roundtrip"),
    (Dremel(tree=AnswersNothing), "serving-exact"),
    (Dremel(tree=CollectsEveryScan), "serving-approximate"),
    (Dremel(tree=ClaimsWhatWasAsked), "serving-approximate"),
    (Dremel(tree=NeverBacksUp), "serving-backups"),
], ids=["writes-nothing", "assembles-nothing", "answers-nothing", "collects-every-scan",
        "claims-what-was-asked", "never-backs-up"])
def test_code_that_does_nothing_is_caught(dremel: Dremel, caught_by: str) -> None:
    lazy = attrs.evolve(SYSTEM, variants={"correct": SYSTEM.variant("correct"),
                                          "lazy": attrs.evolve(SYSTEM.variant("correct"),
                                                               name="lazy", impl=dremel)})
    found = search(lazy, "lazy", DEFAULT, 0, examples=300).found
    assert found is not None and found.result.verdict.invariant == caught_by


def test_a_query_that_scans_nothing_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Dremel, "query", lambda self, query, columns: [])
    verdict = check_input(SYSTEM, "correct", a_case(DOCUMENT, [R1, R2]))
    assert verdict.invariant == "column-query" and "record by record, [[None, 2]]" in \
        verdict.explanation


# --- the paper's example ----------------------------------------------------------------------


def test_the_paper_example_stripes_as_figure_3() -> None:
    columns = Striper().stripe(DOCUMENT, [R1, R2])
    assert levels(columns) == FIGURE_3 == model.stripe(DOCUMENT, [R1, R2])
    assert model.column_problems(DOCUMENT, FIGURE_3) == []
    assert Assembler().assemble(DOCUMENT, columns) == [R1, R2]


def test_the_assembly_fsm_is_figure_4() -> None:
    readers = [FieldReader(leaf, []) for leaf in message(DOCUMENT).leaves()]
    fsm = {(readers[i].node.path, level): readers[j].node.path if j >= 0 else "end"
           for (i, level), j in construct_fsm(readers).items()}
    assert fsm == {
        ("DocId", 0): "Links.Backward",
        ("Links.Backward", 0): "Links.Forward", ("Links.Backward", 1): "Links.Backward",
        ("Links.Forward", 0): "Name.Language.Code", ("Links.Forward", 1): "Links.Forward",
        **{("Name.Language.Code", r): "Name.Language.Country" for r in (0, 1, 2)},
        ("Name.Language.Country", 0): "Name.Url", ("Name.Language.Country", 1): "Name.Url",
        ("Name.Language.Country", 2): "Name.Language.Code",
        ("Name.Url", 0): "end", ("Name.Url", 1): "Name.Language.Code"}


def test_partial_assembly_is_figure_5() -> None:
    """DocId and Name.Language.Country alone: every Name and Language stays, Country or not."""
    columns = Striper().stripe(DOCUMENT, [R1, R2])
    readers = [FieldReader(leaf, []) for leaf in message(DOCUMENT).leaves()
               if leaf.path in ("DocId", "Name.Language.Country")]
    assert construct_fsm(readers) == {(0, 0): 1, (1, 0): -1, (1, 1): 1, (1, 2): 1}
    assert Assembler().assemble(DOCUMENT, columns, ["DocId", "Name.Language.Country"]) == [
        {"DocId": 10, "Name": [{"Language": [{"Country": "us"}, {"Country": None}]},
                               {"Language": []}, {"Language": [{"Country": "gb"}]}]},
        {"DocId": 20, "Name": [{"Language": []}]}]


def test_without_placeholders_values_move_into_other_records() -> None:
    """r1 has no Links.Backward; without its NULL, r2's backward links are read as r1's,
    and a query over Name.Url sees two Names in r1 where it has three."""
    dremel = Dremel(striper=NoMissingPlaceholder())
    columns = dremel.stripe(DOCUMENT, [R1, R2])
    assert levels(columns)["Links.Backward"] == [(10, 0, 2), (30, 1, 2)]
    with pytest.raises(ValueError, match="column Links.Backward ends inside record 2"):
        dremel.assemble(DOCUMENT, columns)
    urls = dremel.assemble(DOCUMENT, columns, ["DocId", "Name.Url"])
    assert [len(record["Name"]) for record in urls] == [2, 1]


def test_a_null_defined_too_deep_makes_up_a_group() -> None:
    schema = [{"name": "a", "repetition": "optional",
               "fields": [{"name": "b", "repetition": "optional", "type": "int64"}]}]
    dremel = Dremel(striper=DefinitionWrongAncestor())
    columns = dremel.stripe(schema, [{"a": None}])
    assert levels(columns) == {"a.b": [(None, 0, 1)]}  # the paper's definitions give d = 0
    assert dremel.assemble(schema, columns) == [{"a": {"b": None}}]
    verdict = check_input(SYSTEM, "definition-wrong-ancestor", a_case(schema, [{"a": None}]))
    assert verdict.invariant == "roundtrip" and "{'a': {'b': None}}" in verdict.explanation


@pytest.mark.parametrize("column, complaint", [
    (entries((None, 0, 1)), "only a value is defined to d = 1"),
    (entries((5, 0, 0)), "only a value is defined to d = 1"),
    (entries((5, 1, 1)), "first record does not start at r = 0"),
    (entries((5, 0, 2)), "levels beyond the column's r 1, d 1"),
    (entries((5, 0, 1), (6, 0, 1), (7, 0, 1)), "holds entries past the last record"),
])
def test_assembly_refuses_unreadable_columns(column: list[Entry], complaint: str) -> None:
    schema = [{"name": "x", "repetition": "required", "type": "int64"},
              {"name": "y", "repetition": "repeated", "type": "int64"}]
    x = entries((1, 0, 0), (2, 0, 0))
    with pytest.raises(ValueError, match=complaint):
        Assembler().assemble(schema, {"x": x, "y": column})


def test_a_column_that_runs_short_is_refused() -> None:
    schema = [{"name": "x", "repetition": "required", "type": "int64"},
              {"name": "y", "repetition": "optional", "type": "int64"}]
    columns = {"x": entries((1, 0, 0), (2, 0, 0)), "y": entries((5, 0, 1))}
    with pytest.raises(ValueError, match="column y ends inside record 2"):
        Assembler().assemble(schema, columns)


# --- queries and the serving tree ---------------------------------------------------------------


@pytest.mark.parametrize("query, rows", [
    (Query("COUNT", "Name.Language.Code", "DocId"), [[10, 3], [20, 0]]),
    (Query("SUM", "Links.Forward"), [[None, 200]]),
    (Query("MAX", "Name.Url", "DocId"), [[10, "http://B"], [20, "http://C"]]),
    (Query("AVG", "Links.Backward", "DocId"), [[10, None], [20, 20.0]]),
    (Query("MIN", "Name.Language.Country"), [[None, "gb"]]),
])
def test_queries_over_the_paper_records(query: Query, rows: list) -> None:
    columns = Striper().stripe(DOCUMENT, [R1, R2])
    spec = {"aggregate": query.aggregate, "value": query.value, "group_by": query.group_by}
    assert Dremel().query(query, columns) == rows == model.evaluate(DOCUMENT, [R1, R2], spec)


def test_a_straggler_is_backed_up_and_counted_once() -> None:
    tablets = [Striper().stripe(DOCUMENT, [record]) for record in (R1, R2, R1)]
    answered = []
    for schedule in range(20):
        sim = ServingTree(leaves=2, fanout=1).run(Query("COUNT", "Name.Url"), tablets,
                                                  frozenset({0}), schedule=schedule)
        # leaf0 runs tablet 0 (slow) and 2; leaf1 runs tablet 1, then backs up tablet 0
        backups = [s.detail for s in sim.trace
                   if s.event[:3] == ("deliver", ROOT, "leaf1") and isinstance(s.detail, Backup)]
        answer = next(e for e in sim.history if e.type == "ok")
        assert backups[0] == Backup(0)
        assert answer.value.rows == [[None, 5]] and answer.value.processed == (0, 1, 2)
        answered.append(answer.time)
    # messages take time too, but most answers come before the straggler could have finished
    assert sorted(answered)[len(answered) // 2] < SLOW_TICKS


def test_a_missed_backup_is_read_from_the_root_s_messages_and_ticks() -> None:
    def told(src: str, msg: Any, time: int) -> Step:
        return Step(("deliver", src, ROOT, 0), time, msg)

    tick = Step(("fire", ROOT, "dispatch"), 2)
    # leaf0 runs tablet 0 from tick 0; leaf1, its other replica, is idle at tick 1
    trace = [told("leaf0", Started(0), 0), told("leaf1", Started(1), 0),
             told("leaf1", Finished(1), 1), told("leaf1", Idle(), 1), tick]
    missed = first_missed_backup(trace, leaves=2)
    assert missed is not None and "leaf1 was idle" in missed and "tablet 0" in missed
    assert first_missed_backup([*trace[:2], told("leaf0", Finished(0), 1), *trace[2:]],
                                leaves=2) is None  # the straggler finished first
    # of four leaves, tablet 2 is on leaf2 and leaf3: idle leaf1 cannot back it up
    assert first_missed_backup([told("leaf2", Started(2), 0), *trace[1:]], leaves=4) is None
    assert first_missed_backup([*trace[:4], told("leaf1", Started(2), 1), tick],
                                leaves=2) is None  # leaf1 found work of its own


def test_approximate_answers_cover_what_they_say() -> None:
    tablets = [[R1], [R2], [R1]]
    answer = Dremel().serve(DOCUMENT, Query("COUNT", "Name.Url"), tablets, frozenset({1}),
                            leaves=3, fanout=2, percent=50)
    assert answer.processed == (0, 2) and answer.fraction == Fraction(2, 3)
    assert answer.rows == [[None, 4]]  # the two copies of r1: 2 Urls each
    exact = Dremel().serve(DOCUMENT, Query("COUNT", "Name.Url"), tablets, frozenset({1}),
                           leaves=3, fanout=2)
    assert exact.processed == (0, 1, 2) and exact.rows == [[None, 5]]


# --- the model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, column, complaint", [
    ("Links.Backward", [(None, 0, 1), (10, 0, 2), (30, 1, 1)], "a value needs d = 2"),
    ("Links.Backward", [(None, 0, 1), (10, 0, 2), (30, 2, 2)], "levels outside r 0..1"),
    ("Links.Backward", [(10, 0, 2), (30, 1, 2)], "different numbers of records"),
    ("Name.Url", [("A", 1, 2), ("B", 1, 2), (None, 1, 1), ("C", 0, 2)], "starts a record"),
    ("Name.Language.Code", [("en-us", 0, 2), ("en", 2, 1), (None, 1, 1), ("en-gb", 1, 2),
                            (None, 0, 1)], "a value needs d = 2"),
    ("Name.Language.Country", [("us", 0, 3), (None, 2, 1), (None, 1, 1), ("gb", 1, 3),
                               (None, 0, 1)], "repeating at level 2 needs d >= 2"),
])
def test_column_rules_on_hand_made_columns(path: str, column: list, complaint: str) -> None:
    problems = model.column_problems(DOCUMENT, {**FIGURE_3, path: column})
    assert problems and complaint in problems[0], problems


def test_projection_keeps_present_groups_and_drops_the_rest() -> None:
    assert model.project(DOCUMENT, [R2], ["Links.Forward"]) == [{"Links": {"Forward": [80]}}]
    no_links = {**R2, "Links": None}
    assert model.project(DOCUMENT, [no_links], ["Links.Backward"]) == [{"Links": None}]


def test_schemas_and_records_are_checked() -> None:
    assert model.schema_problem(DOCUMENT, 16, 4) is None
    assert "nest more than 2" in model.schema_problem(DOCUMENT, 16, 2)
    assert "distinct names" in model.schema_problem([DOCUMENT[0], DOCUMENT[0]], 16, 4)
    assert "at most 5 fields" in model.schema_problem(DOCUMENT, 5, 4)
    assert model.record_problem(DOCUMENT, R1, 4) is None
    assert "DocId is required" in model.record_problem(DOCUMENT, {**R1, "DocId": None}, 4)
    assert "not a string" in model.record_problem(
        DOCUMENT, {**R2, "Name": [{"Language": [], "Url": 3}]}, 4)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text("abc", max_size=2),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(cases.KEYS + ["name", "repetition",
                                                                     "type", "fields"]),
                                      inner, max_size=4), max_leaves=12)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_from_json_refuses_anything_that_is_not_a_case(data: Any) -> None:
    try:
        case = cases.from_json(data)
    except ValueError:
        return
    assert cases.from_json(cases.to_json(case)) == case


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(cases.inputs(DEFAULT))
def test_cases_survive_their_json_form(case: Case) -> None:
    assert cases.from_json(json.loads(json.dumps(cases.to_json(case)))) == case


def test_a_forged_case_is_refused() -> None:
    good = cases.to_json(a_case(DOCUMENT, [R1]))
    for key, value, complaint in [
            ("columns", ["Name.Url", "DocId"], "in schema order"),
            ("query", {"aggregate": "SUM", "value": "Name.Url", "group_by": None}, "int64"),
            ("query", {"aggregate": "COUNT", "value": "DocId", "group_by": "Name.Url"},
             "does not repeat"),
            ("cuts", [2], "sorted record positions"), ("slow", [1], "tablet numbers"),
            ("percent", 0, "within 1..100"), ("records", [{"DocId": 1}], "record 0")]:
        with pytest.raises(ValueError, match=complaint):
            cases.from_json({**good, key: value})


# --- Parquet, written by pyarrow, as the cross-check --------------------------------------------


def arrow_field(field: dict) -> pa.Field:
    """A Dremel field as Arrow writes it to Parquet: a repeated field is a non-null list of
    non-null elements, an optional one nullable, a group a struct."""
    kind = pa.struct([arrow_field(f) for f in field["fields"]]) if "fields" in field else \
        {"int64": pa.int64(), "string": pa.string()}[field["type"]]
    if field["repetition"] == "repeated":
        return pa.field(field["name"], pa.list_(pa.field("element", kind, nullable=False)),
                        nullable=False)
    return pa.field(field["name"], kind, nullable=field["repetition"] == "optional")


def parquet_of(schema: list[dict], records: list[dict]) -> pq.ParquetFile:
    table = pa.Table.from_pylist(records, schema=pa.schema([arrow_field(f) for f in schema]))
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=max(len(records), 1))
    sink.seek(0)
    return pq.ParquetFile(sink)


def parquet_path(schema: list[dict], path: str) -> str:
    """Arrow's name for a column: each repeated field adds its list's two levels."""
    parts = []
    for field in model.chain(schema, path):
        parts += [field["name"]] + (["list", "element"] if field["repetition"] == "repeated"
                                    else [])
    return ".".join(parts)


def agrees_with_parquet(schema: list[dict], records: list[dict], chosen: list[str]) -> None:
    """Parquet's schema, column chunks and statistics against our columns; and pyarrow's
    read of the chosen columns against our partial assembly of them."""
    striped = Striper().stripe(schema, records)
    ours = levels(striped)
    written = parquet_of(schema, records)
    assert written.read().to_pylist() == records
    projected = written.read(columns=[parquet_path(schema, path) for path in chosen])
    assert projected.to_pylist() == Assembler().assemble(schema, striped, chosen)
    metadata = written.metadata
    assert metadata.num_columns == len(ours)
    for i, (path, column) in enumerate(ours.items()):
        described = written.schema.column(i)
        assert described.path == parquet_path(schema, path)
        assert (described.max_repetition_level, described.max_definition_level) == \
            model.max_levels(schema, path)
        values = [v for v, _, _ in column if v is not None]
        if not records:
            assert column == []
            continue
        chunk = metadata.row_group(0).column(i)
        assert chunk.num_values == len(column)  # one level entry per entry, NULLs included
        stats = chunk.statistics
        assert stats is not None
        assert (stats.null_count, stats.num_values) == (len(column) - len(values), len(values))
        if values:
            assert (stats.min, stats.max) == (min(values), max(values))


def test_the_paper_example_agrees_with_parquet() -> None:
    agrees_with_parquet(DOCUMENT, [R1, R2], ["DocId", "Name.Language.Country"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases.inputs(DEFAULT))
def test_generated_records_agree_with_parquet(case: Case) -> None:
    agrees_with_parquet(case.schema, case.records, list(case.columns))
