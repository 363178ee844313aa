"""Snowflake: the correct implementation survives the hunt, each seeded bug is found by its
property and shrunk to a table of two rows, implementations that do nothing are caught, the
model, the checks, the pruner and the warehouse behave on hand-made inputs, z3 proves the
pruning rules (and refutes the seeded bug's), and DuckDB is the oracle: every query the
properties compare with the model -- the scripts' own and the probes -- gives DuckDB's answer
for the same SQL over the same rows.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import duckdb
import pytest
from hypothesis import given, settings

import implementations
from checker.hunt import Budget, hunt
from checker.properties import check_input, search
from checker.run import execute
from checker.strategies import Replay
from checker.system import Variant
from implementations.snowflake import SYSTEM, cases, checks, soundness
from implementations.snowflake.cases import COLUMNS, Case
from implementations.snowflake.checks import Run
from implementations.snowflake.pruning import NullBlindPruner, Pruner
from implementations.snowflake.services import CloudServices, Parts, QueryResult
from implementations.snowflake.storage import FileMeta, MicroPartition, ObjectStore, ZoneMap
from implementations.snowflake.warehouse import (
    Evaluator,
    FileScan,
    HashRing,
    VirtualWarehouse,
    Worker,
)
from models import snowflake as model
from models import snowflake_sql as sql

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")
MODEL_COLUMNS = checks.MODEL_COLUMNS


def script(*statements: tuple, workers: int = 1, cache_files: int = 1) -> Case:
    return Case(workers, cache_files, tuple(statements))


def insert(*batches: list[tuple]) -> tuple:
    return ("insert", tuple(tuple(batch) for batch in batches))


# --- the hunt --------------------------------------------------------------------------------


def test_registered_as_a_property_system_with_proofs() -> None:
    assert SYSTEM in implementations.registered() and SYSTEM.kind == "property"
    assert [p.name for p in SYSTEM.invariants] == [
        "answers", "versions", "zone-maps", "immutable-files", "fresh-caches",
        "pruning-effective", "warm-cache"]
    assert set(SYSTEM.configs) == {"default", "small"} and SYSTEM.proofs is not None


@pytest.mark.parametrize("config, examples", [(DEFAULT, 200), (SMALL, 100)],
                         ids=["default", "small"])
def test_the_correct_implementation_survives(config, examples: int) -> None:
    searched = search(SYSTEM, "correct", config, 1, examples=examples)
    assert searched.found is None and searched.runs == examples


@pytest.mark.parametrize("variant, smallest", [
    ("minmax-other-ordering",
     {"workers": 1, "cache_files": 1,
      "script": [["insert", [[[None, None, "a"], [None, None, "B"]]]]]}),
    ("null-blind-pruning",
     {"workers": 1, "cache_files": 1,
      "script": [["insert", [[[None, None, None], [None, None, "a"]]]]]}),
    ("inherited-stats",
     {"workers": 1, "cache_files": 1,
      "script": [["insert", [[[1, None, None]]]], ["update", "n", None, ["cmp", "=", "n", 1]]]}),
])
def test_seeded_bug_is_found_shrunk_and_replays(variant: str, smallest: dict,
                                                tmp_path: Path) -> None:
    outcome = hunt(SYSTEM, variant, DEFAULT, budget=Budget(runs=1000), report_dir=tmp_path,
                   shrink_replays=250)
    caught_by = SYSTEM.variant(variant).caught_by
    assert outcome.verdict == "found" and outcome.violation.verdict.invariant == caught_by
    assert outcome.violation.sim.input == smallest
    assert outcome.after == 2 <= outcome.before  # a table of two rows
    example = json.loads(Path(outcome.replay_path).read_text())
    assert (example["property"], example["input"]) == (caught_by, smallest)
    again = execute(SYSTEM, variant, DEFAULT, outcome.violation.seed,
                    Replay([("input", smallest)]))
    assert again.sim.fingerprint() == outcome.violation.sim.fingerprint()
    assert check_input(SYSTEM, "correct", cases.from_json(smallest)).ok


@pytest.mark.parametrize("variant, harmless", [
    # byte order and the collation agree on a binary column, and on one case
    ("minmax-other-ordering", script(insert([(None, "B", "a"), (None, "a", "b")]))),
    # a column all NULL, or without NULLs: the bounds tell the truth about NULLs
    ("null-blind-pruning", script(insert([(None, None, "a"), (None, None, "b")]))),
    # a delete leaves a zone map wider than its rows: less pruning, never a lost row
    ("inherited-stats", script(insert([(1, "a", "a"), (3, "b", "b")]),
                               ("delete", ("cmp", "=", "n", 3)))),
])
def test_seeded_bugs_need_their_window(variant: str, harmless: Case) -> None:
    assert check_input(SYSTEM, variant, harmless).ok


# --- implementations that do nothing are caught -----------------------------------------------


class WritesNothing(CloudServices):
    def insert(self, batches: Any) -> Any:
        return self.metadata.commit((), ())


class AnswersNothing(CloudServices):
    def select(self, version: int | None, pred: Any) -> QueryResult:
        return attrs.evolve(super().select(version, pred), rows=())


class PrunesNothing(Pruner):
    def split(self, pred: Any, files: Any) -> tuple[list, list]:
        return list(files), []


class CachesNothing(VirtualWarehouse):
    def scan(self, files: Any, pred: Any) -> list[FileScan]:
        for worker in self.workers.values():
            worker.cache.clear()
        return super().scan(files, pred)


class CachesBySlot(VirtualWarehouse):
    """Caches a file under its position in the table, as if a slot named its content: after
    a write, the slot holds another file, and the cache serves the old one."""

    def scan(self, files: Any, pred: Any) -> list[FileScan]:
        scans = []
        for slot, meta in enumerate(files):
            worker = self.workers[self.ring.owner(meta.name)]
            hit = f"slot{slot}" in worker.cache
            partition = worker.cache[f"slot{slot}"] if hit else self.store.get(meta.name)
            worker.cache[f"slot{slot}"] = partition
            rows = tuple(partition.rows())
            scans.append(FileScan(meta, worker.name, hit, rows,
                                  tuple(self.evaluator.matches(pred, row) for row in rows)))
        return scans


@pytest.mark.parametrize("parts, caught_by", [
    (Parts(services=WritesNothing), "answers"),
    (Parts(services=AnswersNothing), "answers"),
    (Parts(pruner=PrunesNothing), "pruning-effective"),
    (Parts(warehouse=CachesNothing), "warm-cache"),
    (Parts(warehouse=CachesBySlot), "fresh-caches"),
], ids=["writes-nothing", "answers-nothing", "prunes-nothing", "caches-nothing",
        "caches-by-slot"])
def test_an_implementation_that_does_nothing_is_caught(parts: Parts, caught_by: str) -> None:
    lazy = attrs.evolve(SYSTEM, variants={"correct": SYSTEM.variant("correct"),
                                          "lazy": Variant("lazy", parts)})
    found = search(lazy, "lazy", DEFAULT, 0, examples=300).found
    assert found is not None and found.result.verdict.invariant == caught_by


class AtLeastIsStrict(Evaluator):
    @staticmethod
    def compare(op: str, column: Any, value: Any, literal: Any) -> bool | None:
        return Evaluator.compare(">" if op == ">=" else op, column, value, literal)


class FiltersAtLeastStrictly(VirtualWarehouse):
    def __init__(self, store: Any, columns: Any, workers: int, cache_files: int) -> None:
        super().__init__(store, columns, workers, cache_files)
        self.evaluator = AtLeastIsStrict(columns)


class OrReadsItsRightSide(Pruner):
    def disjunction(self, a: Any, b: Any) -> Any:
        return super().disjunction(b, b)


def verdict_of(parts: Parts, case: Case) -> Any:
    wrong = attrs.evolve(SYSTEM, variants={"correct": SYSTEM.variant("correct"),
                                           "wrong": Variant("wrong", parts)})
    assert check_input(SYSTEM, "correct", case).ok
    return check_input(wrong, "wrong", case)


def test_every_held_value_is_probed_by_every_comparison() -> None:
    """No query in the script: only the probes `n >= 1` and `n >= 2` see a filter that takes
    >= for >."""
    verdict = verdict_of(Parts(warehouse=FiltersAtLeastStrictly),
                         script(insert([(1, "a", "a"), (2, "b", "b")])))
    assert verdict.invariant == "answers"
    assert "WHERE n >= 1 (probe) returned 1 rows where the naive scan gives 2" in \
        verdict.explanation


def test_every_where_clause_is_probed_at_every_version() -> None:
    """The script's one query reads the empty version 0; its WHERE clause, probed at version
    1, shows a pruner that drops the file holding n = 1 because n = 2 is ruled out there."""
    either = ("or", ("cmp", "=", "n", 1), ("cmp", "=", "n", 2))
    verdict = verdict_of(Parts(pruner=OrReadsItsRightSide),
                         script(("select", None, either),
                                insert([(1, "a", "a")], [(2, "b", "b")])))
    assert verdict.invariant == "answers"
    assert "AT(VERSION => 1) WHERE n = 1 OR n = 2 (probe) returned 1 rows" in \
        verdict.explanation


# --- the checks on hand-made bad states -------------------------------------------------------


TWO_VERSIONS = script(insert([(1, "a", "A"), (None, "b", "b")]),
                      ("update", "n", 5, ("is null", "n")),
                      ("select", None, ("cmp", "=", "c", "a")), workers=2, cache_files=2)


def correct_run() -> Run:
    the_run = Run(Parts(), TWO_VERSIONS)
    problems = [problem(the_run) for _, problem in CHECKS]
    assert problems == [None] * len(CHECKS)
    return the_run


CHECKS = [("answers", checks.wrong_answer), ("versions", checks.wrong_version),
          ("zone-maps", checks.uncovered_rows), ("immutable-files", checks.rewritten_file),
          ("fresh-caches", checks.stale_cache), ("pruning-effective", checks.missed_pruning),
          ("warm-cache", checks.cold_cache)]


def test_the_checks_read_what_they_say() -> None:
    assert [name for name, _ in CHECKS] == [p.name for p in SYSTEM.invariants]
    assert [" ".join(problem.__doc__.split()) for _, problem in CHECKS] == \
        [p.description for p in SYSTEM.invariants]


def test_a_wrong_answer_is_caught() -> None:
    the_run = correct_run()
    query = the_run.queries[0]
    the_run.queries[0] = attrs.evolve(query, result=attrs.evolve(query.result, rows=()))
    assert "missing (1, 'a', 'A')" in checks.wrong_answer(the_run)


def test_a_version_that_lost_a_file_is_caught() -> None:
    the_run = correct_run()
    version = the_run.account.metadata.versions[1]
    the_run.account.metadata.versions[1] = attrs.evolve(version, files=version.files[1:])
    assert checks.wrong_version(the_run).startswith("version 1 holds")
    the_run.account.metadata.versions.pop()
    assert "holds 2 versions, the script made 3" in checks.wrong_version(the_run)


def test_a_narrow_zone_map_is_caught_and_a_wide_one_is_not() -> None:
    the_run = correct_run()
    versions = the_run.account.metadata.versions
    meta = versions[1].files[0]
    wide = attrs.evolve(meta, zone_maps=(ZoneMap(-9, 9, 1), *meta.zone_maps[1:]))
    versions[1] = attrs.evolve(versions[1], files=(wide,))
    assert checks.uncovered_rows(the_run) is None
    narrow = attrs.evolve(meta, zone_maps=(ZoneMap(2, 9, 1), *meta.zone_maps[1:]))
    versions[1] = attrs.evolve(versions[1], files=(narrow,))
    assert "1 lies outside [min 2, max 9]" in checks.uncovered_rows(the_run)


def test_a_file_put_twice_is_caught() -> None:
    the_run = correct_run()
    store = the_run.account.store
    store.put(store.files["t/mp0001"])
    assert checks.rewritten_file(the_run) == "t/mp0001 was put in the store 2 times"


def test_a_stale_cache_is_caught() -> None:
    the_run = correct_run()
    worker = next(w for w in the_run.account.warehouse.workers.values() if w.cache)
    name = next(iter(worker.cache))
    worker.cache[name] = MicroPartition(name, ((7,), ("x",), ("x",)))
    the_run._check_caches("now")
    assert f"caches {name} with rows (7, 'x', 'x')" in checks.stale_cache(the_run)


def test_a_file_read_though_its_zone_map_rules_it_out_is_caught() -> None:
    the_run = correct_run()
    query = next(q for q in the_run.queries if q.pred == ("cmp", "=", "n", 5))
    other = next(m for v in the_run.account.metadata.versions for m in v.files
                 if m.zone_maps[0].max == 1)
    read = FileScan(other, "w1", True, (), ())
    index = the_run.queries.index(query)
    the_run.queries[index] = attrs.evolve(query, result=attrs.evolve(
        query.result, scans=query.result.scans + (read,)))
    assert "read t/mp0001, whose zone map for n" in checks.missed_pruning(the_run)


def test_a_warm_run_that_misses_is_caught() -> None:
    the_run = correct_run()
    cold, warm = the_run.warm[0]
    missed = tuple(attrs.evolve(scan, hit=False) for scan in warm.result.scans)
    the_run.warm[0] = (cold, attrs.evolve(warm, result=attrs.evolve(warm.result, scans=missed)))
    assert "from the store, though its 1 file(s)" in checks.cold_cache(the_run)


# --- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize("pred, row, expected", [
    (("cmp", "=", "c", "a"), (None, None, "A"), True),  # no case
    (("cmp", "=", "s", "a"), (None, "A", None), False),  # binary
    (("cmp", "<", "s", "a"), (None, "B", None), True),  # 'B' < 'a' in byte order
    (("cmp", "<", "c", "a"), (None, None, "B"), False),  # but not without case
    (("cmp", "<", "c", "A"), (None, None, "_"), True),  # '_' < 'a'
    (("cmp", "=", "s", "a"), (None, "a ", None), False),  # trailing spaces count
    (("cmp", "=", "n", None), (None, None, None), None),  # NULL = NULL is UNKNOWN
    (("in", "n", (1, None)), (2, None, None), None),
    (("not", ("in", "n", (1, None))), (2, None, None), None),  # NOT IN with a NULL
    (("between", "n", 3, 1), (2, None, None), False),
    (("between", "n", 1, None), (0, None, None), False),  # FALSE AND UNKNOWN
    (("or", ("is null", "n"), ("cmp", "=", "n", None)), (None, None, None), True),
    (("and", ("is not null", "n"), ("cmp", "=", "n", None)), (None, None, None), False),
])
def test_the_model_speaks_sql(pred: tuple, row: tuple, expected: bool | None) -> None:
    assert model.truth(pred, row, MODEL_COLUMNS) is expected


def test_the_model_table_keeps_its_versions() -> None:
    table = model.Table(MODEL_COLUMNS)
    table.insert([(1, "a", "a"), (None, "b", "b")])
    table.update("n", 2, ("is null", "n"))
    table.delete(("cmp", ">", "n", 1))
    assert table.versions == [(), ((1, "a", "a"), (None, "b", "b")),
                              ((1, "a", "a"), (2, "b", "b")), ((1, "a", "a"),)]
    assert table.select(1, ("is null", "n")) == [(None, "b", "b")]
    assert table.select(None, None) == [(1, "a", "a")]


def test_the_covering_rule() -> None:
    assert model.covering_problem(("A", "b", 1), ["a", None, "B"], "nocase", 3) is None
    assert "outside" in model.covering_problem(("B", "a", 0), ["a", "B"], "nocase", 2)
    assert model.covering_problem(("B", "a", 0), ["a", "B"], "binary", 2) is None
    assert "holds a NULL" in model.covering_problem(("a", "a", 0), ["a", None], "binary", 2)
    assert "holds 'a'" in model.covering_problem((None, None, 2), ["a", None], "binary", 2)
    assert "row count 3" in model.covering_problem((1, 1, 0), [1], "binary", 3)


@pytest.mark.parametrize("atom, zone, rows, expected", [
    (("cmp", "=", "n", 5), (1, 3, 0), 2, True),
    (("cmp", "=", "n", 2), (1, 3, 0), 2, False),
    (("cmp", "<>", "n", 2), (2, 2, 0), 2, True),
    (("cmp", "<>", "n", 2), (2, 2, 1), 3, True),  # the NULL makes it UNKNOWN
    (("cmp", "=", "c", "B"), ("a", "b", 0), 2, False),
    (("between", "n", 3, 1), (0, 5, 0), 2, True),
    (("in", "n", (7, None)), (1, 3, 0), 2, True),
    (("is null", "n"), (1, 3, 1), 2, False),
    (("is not null", "n"), (None, None, 2), 2, True),
])
def test_what_a_zone_map_rules_out(atom: tuple, zone: tuple, rows: int, expected: bool) -> None:
    collation = dict(MODEL_COLUMNS)[atom[2] if atom[0] == "cmp" else atom[1]]
    assert model.excluded(atom, zone, collation, rows) is expected


# --- the pruner and the warehouse -------------------------------------------------------------


def file_with(*zones: ZoneMap, rows: int = 2) -> FileMeta:
    return FileMeta("t/f", rows, zones)


NO_NULLS = file_with(ZoneMap(1, 3, 0), ZoneMap("B", "a", 0), ZoneMap("a", "B", 0))
SOME_NULLS = file_with(ZoneMap(1, 1, 1), ZoneMap("a", "a", 1), ZoneMap("a", "a", 1), rows=3)


@pytest.mark.parametrize("pred, meta, scanned", [
    (("cmp", "=", "n", 4), NO_NULLS, False),
    (("cmp", "=", "n", None), NO_NULLS, False),  # never TRUE
    (("cmp", "=", "c", "b"), NO_NULLS, True),  # 'B' is 'b' without case
    (("cmp", "=", "s", "b"), NO_NULLS, False),  # 'B' < 'a' < 'b' in byte order
    (("is null", "n"), NO_NULLS, False),
    (("is null", "n"), SOME_NULLS, True),
    (("not", ("is not null", "n")), SOME_NULLS, True),
    (("not", ("in", "n", (1, None))), SOME_NULLS, False),  # NOT IN with a NULL: never TRUE
    (("not", ("cmp", "=", "n", 1)), SOME_NULLS, False),  # the NULL row is UNKNOWN
    (("or", ("cmp", "=", "n", 4), ("is null", "s")), SOME_NULLS, True),
    (("and", ("cmp", "=", "n", 1), ("cmp", "=", "s", "b")), SOME_NULLS, False),
])
def test_pruning_decisions(pred: tuple, meta: FileMeta, scanned: bool) -> None:
    scan, pruned = Pruner(COLUMNS).split(pred, [meta])
    assert (scan, pruned) == (([meta], []) if scanned else ([], [meta]))


def test_the_null_blind_pruner_drops_a_file_holding_a_null() -> None:
    assert Pruner(COLUMNS).split(("is null", "n"), [SOME_NULLS])[0] == [SOME_NULLS]
    assert NullBlindPruner(COLUMNS).split(("is null", "n"), [SOME_NULLS])[1] == [SOME_NULLS]


def test_consistent_hashing_moves_only_what_the_new_worker_takes() -> None:
    names = [f"t/mp{i:04d}" for i in range(200)]
    three, four = HashRing(["w1", "w2", "w3"], 4), HashRing(["w1", "w2", "w3", "w4"], 4)
    moved = [name for name in names if three.owner(name) != four.owner(name)]
    assert moved and all(four.owner(name) == "w4" for name in moved)
    assert len(moved) < len(names) / 2


def test_a_resized_warehouse_keeps_its_caches_and_reads_what_moved() -> None:
    store = ObjectStore()
    files = []
    for i in range(12):
        store.put(MicroPartition(f"t/mp{i:04d}", ((i,), ("a",), ("a",))))
        files.append(FileMeta(f"t/mp{i:04d}", 1, ()))
    warehouse = VirtualWarehouse(store, COLUMNS, workers=2, cache_files=12)
    assert not any(scan.hit for scan in warehouse.scan(files, None))
    warehouse.resize(3)
    again = warehouse.scan(files, None)
    assert [scan.hit for scan in again] == [scan.worker != "w3" for scan in again]
    assert any(not scan.hit for scan in again)


def test_a_worker_cache_is_lru() -> None:
    store, worker = ObjectStore(), Worker("w1", 2)
    for name in ("a", "b", "c"):
        store.put(MicroPartition(name, ((1,),)))
    hits = [worker.read(name, store)[1] for name in ("a", "b", "a", "c", "a", "b")]
    assert hits == [False, False, True, False, True, False]  # c evicted b, b evicted c
    assert list(worker.cache) == ["a", "b"]


# --- z3 ---------------------------------------------------------------------------------------


def test_z3_proves_every_pruning_rule() -> None:
    verdicts = SYSTEM.proofs(DEFAULT, SYSTEM.variant("correct").impl)
    assert [v.invariant for v in verdicts] == [f"pruning-sound[{f}]" for f in soundness.FORMS]
    assert all(v.ok for v in verdicts), [v.explanation for v in verdicts if not v.ok]


def test_z3_refutes_the_null_blind_rules() -> None:
    verdicts = {v.invariant: v for v in SYSTEM.proofs(DEFAULT, Parts(pruner=NullBlindPruner))}
    is_null = verdicts["pruning-sound[IS NULL]"]
    assert is_null.violated and "x = NULL" in is_null.explanation
    assert "IS NULL is TRUE, and the rule says it cannot be" in is_null.explanation
    assert verdicts["pruning-sound[IS NOT NULL]"].violated
    assert all(verdicts[f"pruning-sound[{f}]"].ok for f in ("NOT", "AND", "OR"))


# --- JSON -------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(cases.inputs(DEFAULT))
def test_json_round_trip(case: Case) -> None:
    assert cases.from_json(json.loads(json.dumps(cases.to_json(case)))) == case


@pytest.mark.parametrize("forged, says", [
    ([], "expected an object"),
    ({"workers": 1, "cache_files": 1, "script": []}, "list of 1 to"),
    ({"workers": 0, "cache_files": 1, "script": [["resize", 1]]}, "workers must be"),
    ({"workers": 1, "cache_files": 1, "script": [["select", 1, None]]}, "version null or 0..0"),
    ({"workers": 1, "cache_files": 1, "script": [["insert", [[[1, 2, "a"]]]]]},
     "not a value of column s"),
    ({"workers": 1, "cache_files": 1, "script": [["delete", ["cmp", "~", "n", 1]]]},
     "is not a predicate"),
    ({"workers": 1, "cache_files": 1, "script": [["delete", ["is null", "z"]]]},
     "is not a column"),
    ({"workers": 1, "cache_files": 1,
      "script": [["delete", ["not"] * 7 + [["is null", "n"]]]]}, "predicate"),
])
def test_a_forged_input_is_refused(forged: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        cases.from_json(forged)


# --- DuckDB as the oracle ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def run_on_duckdb(case: Case, con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB runs the script: table t, and a copy v<k> of every version k."""
    con.execute(sql.create_table(COLUMNS).replace("CREATE TABLE", "CREATE OR REPLACE TABLE"))
    con.execute("CREATE OR REPLACE TABLE v0 AS SELECT * FROM t")
    version = 0
    for stmt in case.statements:
        if stmt[0] in ("insert", "delete", "update"):
            con.execute(sql.statement(stmt))
            version += 1
            con.execute(f"CREATE OR REPLACE TABLE v{version} AS SELECT * FROM t")


def compared_with_duckdb(case: Case, con: duckdb.DuckDBPyConnection) -> int:
    """Every query of the correct run gives DuckDB's answer for its SQL; the model's too.
    Returns how many queries were compared."""
    the_run = Run(Parts(), case)
    run_on_duckdb(case, con)
    for query in the_run.queries:
        text = sql.select(None, query.pred, table=f"v{query.version}")
        oracle = Counter(con.execute(text).fetchall())
        assert Counter(query.result.rows) == oracle, f"{query.label}: {text}"
        assert Counter(query.expected) == oracle, f"the model on {text}"
    return len(the_run.queries)


def test_every_answer_is_duckdbs(duck: duckdb.DuckDBPyConnection) -> None:
    compared = []

    @settings(max_examples=150, deadline=None)
    @given(cases.inputs(DEFAULT))
    def agree(case: Case) -> None:
        compared.append(compared_with_duckdb(case, duck))

    agree()
    print(f"\n{sum(compared)} queries compared with DuckDB over {len(compared)} scripts")
    assert sum(compared) >= 1000


TRAPS = script(insert([(1, "a", "a"), (2, "A", "A"), (None, "B", "B")],
                      [(3, "_", "_"), (4, "a ", "a "), (None, None, None)],
                      [(-4, "", ""), (0, "b", "b")]))


@pytest.mark.parametrize("pred", [
    ("cmp", "=", "c", "a"), ("cmp", "<", "c", "b"), ("cmp", "<", "s", "_"),
    ("cmp", "<", "c", "_"), ("cmp", ">", "c", "a"), ("cmp", "<>", "c", "A"),
    ("cmp", "=", "s", "a"), ("cmp", "<=", "s", "a"), ("cmp", ">=", "n", None),
    ("between", "c", "_", "a"), ("between", "n", 3, 1), ("between", "s", "A", None),
    ("in", "c", ("b", None)), ("not", ("in", "n", (1, None))), ("not", ("in", "c", ("A",))),
    ("is null", "s"), ("not", ("is not null", "c")),
    ("or", ("is null", "n"), ("cmp", "<", "c", "B")),
    ("and", ("not", ("cmp", "=", "s", "a")), ("cmp", ">=", "c", "a")),
])
def test_collation_and_null_traps_agree_with_duckdb(pred: tuple,
                                                    duck: duckdb.DuckDBPyConnection) -> None:
    case = attrs.evolve(TRAPS, statements=TRAPS.statements + (("select", None, pred),))
    assert compared_with_duckdb(case, duck) > 1


def test_the_duckdb_oracle_would_catch_a_seeded_bug(duck: duckdb.DuckDBPyConnection) -> None:
    """The oracle is not a rubber stamp: with a seeded bug's run, DuckDB disagrees."""
    case = cases.from_json({"workers": 1, "cache_files": 1,
                            "script": [["insert", [[[None, None, "a"], [None, None, "B"]]]]]})
    the_run = Run(SYSTEM.variant("minmax-other-ordering").impl, case)
    run_on_duckdb(case, duck)
    disagree = [q for q in the_run.queries
                if Counter(q.result.rows) != Counter(duck.execute(
                    sql.select(None, q.pred, table=f"v{q.version}")).fetchall())]
    assert disagree and disagree[0].pred == ("cmp", "=", "c", "a")
