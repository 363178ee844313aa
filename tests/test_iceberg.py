"""Iceberg: the correct system survives the hunt and one that does nothing does not; each
seeded bug is found by its invariant and replays; every metadata file a run writes parses
with pyiceberg's own table-metadata parser and says what ours says; scripted schedules show
the commit protocol's paths (a lost swap answer, a conflict retried, a conflict refused, a
late swap refused); and the pieces (scan planning, the model and its reader, the invariants)
behave on hand-made inputs."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import implementations
from checker.node import Context
from checker.run import execute, new_simulation
from checker.sim import Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config, System, Variant
from implementations.iceberg import SYSTEM, Roles, build, checks
from implementations.iceberg.bugs import RetryWithoutValidation
from implementations.iceberg.catalog import Catalog
from implementations.iceberg.commit import DEADLINE
from implementations.iceberg.messages import (
    CommitTable,
    Committed,
    Delete,
    Done,
    LoadTable,
    Put,
    Refused,
)
from implementations.iceberg.metadata import current_snapshot
from implementations.iceberg.operations import Engine
from implementations.iceberg.scan import Live, applicable, may_match
from implementations.iceberg.store import ObjectStore
from invariants.history import Event
from models.iceberg import (
    DATA,
    EQUALITY_DELETES,
    POSITION_DELETES,
    TableHistory,
    apply,
    lineage_problem,
    operation_problem,
    rows_problem,
    snapshot_rows,
    stats_problem,
    written_for,
)

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")


def walk(variant: str, seed: int, config: Config = DEFAULT, system: System = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", [DEFAULT, SMALL], ids=["default", "small"])
def test_correct_variant_survives_the_hunt(config: Config) -> None:
    for seed in range(100):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariants", [
    ("check-then-write", {"committed-snapshots-reachable"}),
    ("cleanup-after-ambiguous", {"no-dangling-references"}),
    # a retry on an unvalidated base brings back a deleted row, or a row two rewrites of
    # one file both keep (then the model sees it twice)
    ("retry-without-validation", {"committed-deletes-stay-deleted", "snapshots-match-model"}),
    ("orphans-without-age", {"no-dangling-references"}),
])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str,
                                                           invariants: set[str]) -> None:
    found = next(r for r in (walk(variant, seed) for seed in range(300)) if r.violated)
    assert found.verdict.invariant in invariants, found.verdict
    assert SYSTEM.variant(variant).caught_by in invariants
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()
    assert again.verdict.invariant == found.verdict.invariant


class DeafCatalog(Catalog):
    """A catalog that ignores every message: nothing is ever loaded or committed."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


class DeafEngine(Engine):
    """An engine that ignores every message: no operation ever runs."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


def deaf_catalog_build(config: Config, roles: Roles, rng: Any) -> Any:
    cluster = build(config, roles, rng)
    creation = cluster.servers["catalog"].keywords["creation"]
    cluster.servers["catalog"] = lambda node_id: DeafCatalog(node_id, creation)
    return cluster


@pytest.mark.parametrize("system", [
    attrs.evolve(SYSTEM, variants={"deaf": Variant("deaf", Roles(engine=DeafEngine))}),
    attrs.evolve(SYSTEM, build=deaf_catalog_build,
                 variants={"deaf": Variant("deaf", Roles())}),
], ids=["engines", "catalog"])
def test_a_system_that_does_nothing_is_reported(system: System) -> None:
    for seed in range(3):
        verdict = walk("deaf", seed, DEFAULT, system).verdict
        assert verdict.violated and verdict.invariant == "progress-at-quiescence", verdict


# --- the real format -------------------------------------------------------------------------

def written_metadata(sim: Simulation) -> dict[str, str]:
    """Every metadata file the run wrote (committed or not), from the puts the store got."""
    return {step.detail.path: step.detail.content for step in sim.trace
            if step.event[0] == "deliver" and isinstance(step.detail, Put)
            and step.detail.path.endswith(".metadata.json")}


def test_every_metadata_file_parses_with_pyiceberg() -> None:
    """pyiceberg's own parser reads each metadata file runs wrote (of the correct variant and
    of two seeded bugs, whose files are just as well formed) as a format-version 2 table, and
    finds the snapshots, parents, sequence numbers, metadata log and current snapshot our JSON
    says. Run with -s to see how many files it parsed."""
    from pyiceberg.table.metadata import TableMetadataUtil

    parsed = 0
    for variant in ("correct", "check-then-write", "retry-without-validation"):
        for seed in range(20):
            sim = walk(variant, seed).sim
            created = sim.nodes["catalog"].creation
            files = {created.location: created.files[created.location], **written_metadata(sim)}
            for content in files.values():
                ours, theirs = json.loads(content), TableMetadataUtil.parse_raw(content)
                assert theirs.format_version == 2
                assert str(theirs.table_uuid) == ours["table-uuid"]
                assert [(s.snapshot_id, s.parent_snapshot_id, s.sequence_number,
                         s.manifest_list) for s in theirs.snapshots] == \
                    [(s["snapshot-id"], s.get("parent-snapshot-id"), s["sequence-number"],
                      s["manifest-list"]) for s in ours["snapshots"]]
                assert theirs.current_snapshot_id == ours["current-snapshot-id"]
                assert theirs.last_sequence_number == ours["last-sequence-number"]
                assert [e.metadata_file for e in theirs.metadata_log] == \
                    [e["metadata-file"] for e in ours["metadata-log"]]
                assert theirs.current_snapshot().summary.operation.value == \
                    current_snapshot(ours)["summary"]["operation"]
                parsed += 1
    print(f"\npyiceberg parsed {parsed} Iceberg metadata files")
    assert parsed >= 300


# --- scripted schedules ----------------------------------------------------------------------


def cluster_sim(workload: dict[str, list], roles: Roles = Roles(),
                budget: dict[str, int] | None = None) -> Simulation:
    cluster = build(SMALL, roles, random.Random(0))
    cluster.workload = workload
    sim = Simulation(cluster, 0, 0, budget or {"drop": 20})
    sim.start()
    return sim


def run_until(sim: Simulation, stop: Callable[[Any], bool] = lambda msg: False,
              skip: Callable[[Any], bool] = lambda msg: False) -> Any:
    """Invoke, deliver in send order (dropping what `skip` names), fire timers when nothing
    else can happen; return the first message `stop` names, undelivered."""
    for _ in range(5000):
        invokes = sim.enabled("invoke")
        if invokes:
            sim.execute(invokes[0])
            continue
        ready = sim.enabled("deliver")
        if ready:
            msg = sim.network.in_flight[ready[0][1:]].msg
            if stop(msg):
                return msg
            sim.execute(("drop" if skip(msg) else "deliver", *ready[0][1:]))
            if checks.no_dangling_references.check(sim):
                raise AssertionError(checks.no_dangling_references.check(sim))
            continue
        if sim.clients_idle() or not sim.enabled("fire"):
            return None
        sim.execute(sim.enabled("fire")[0])
    raise AssertionError("no progress")


def outcomes(sim: Simulation) -> list[tuple[str, str, str, Any]]:
    return [(op.process, op.f, op.status, op.result) for op in sim.operations()]


def pointer(sim: Simulation) -> str:
    return sim.nodes["catalog"].pointer


def test_two_concurrent_appends_both_commit_one_after_a_retry() -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]])], "c2": [("append", [[11, 2]])]})
    sim.execute(("invoke", "c1"))
    sim.execute(("invoke", "c2"))
    run_until(sim)
    (_, _, s1, first), (_, _, s2, second) = outcomes(sim)
    assert (s1, s2) == ("ok", "ok")
    known = checks.facts(sim)
    assert known.model.ancestry(known.current)[:2] in ([second, first], [first, second])
    assert sorted(known.model.rows[known.current]) == [1, 2, 3, 4, 10, 11]
    assert all(inv.check(sim).ok for inv in SYSTEM.invariants if inv.kind == "history"
               and inv.name != "progress-at-quiescence")


def test_a_lost_swap_answer_is_asked_again_and_found_committed() -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]])]})
    run_until(sim, skip=lambda msg: isinstance(msg, Committed))
    assert outcomes(sim)[0][2] == "ok"  # the resent swap found the pointer on its own file
    assert checks.facts(sim).current == outcomes(sim)[0][3]
    assert sum(isinstance(s.detail, CommitTable) for s in sim.trace) == 2


def test_a_swap_never_answered_ends_unknown_and_deletes_nothing() -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]])]})
    run_until(sim, skip=lambda msg: isinstance(msg, Committed | CommitTable))
    assert outcomes(sim)[0][2] == "info"
    assert not any(isinstance(s.detail, Delete) for s in sim.trace)


def deliver_all_but(sim: Simulation, held: Callable[[Any], bool]) -> None:
    """Invoke and deliver everything but the held messages, firing no timer."""
    while True:
        ready = [e for e in sim.enabled("invoke")] + \
            [e for e in sim.enabled("deliver") if not held(sim.network.in_flight[e[1:]].msg)]
        if not ready:
            return
        sim.execute(ready[0])


def swap_of(engine: str) -> Callable[[Any], bool]:
    return lambda msg: isinstance(msg, CommitTable) and msg.req[0] == engine


@pytest.mark.parametrize("first, reason", [
    ("e2", "removed by a concurrent replace"),  # the compaction commits first
    ("e1", "a concurrent delete added deletes for files this rewrites"),
])
def test_a_position_delete_and_a_compaction_of_its_file_do_not_both_commit(
        first: str, reason: str) -> None:
    """Both plan on the created table and swap; whichever swaps second finds, validating
    against the first, that they conflict: it fails instead of resurrecting the row (the
    delete naming a file compacted away; the compaction rewriting a file with a delete)."""
    sim = cluster_sim({"c1": [("delete", [1, "position-deletes"])], "c2": [("compact", None)]})
    second = "e1" if first == "e2" else "e2"
    deliver_all_but(sim, held=swap_of(second))
    run_until(sim)
    ends = {event.f: (event.type, event.value) for event in sim.history
            if event.type != "invoke"}
    loser, winner = ("delete", "compact") if first == "e2" else ("compact", "delete")
    assert ends[loser][0] == "fail" and reason in ends[loser][1], ends
    assert ends[winner][0] == "ok"
    known = checks.facts(sim)
    assert (1 in known.model.rows[known.current]) == (loser == "delete")
    assert not any(inv.check(sim) for inv in SYSTEM.invariants if inv.kind == "state")


def test_without_validation_the_compaction_brings_the_deleted_row_back() -> None:
    """The schedule above with the delete swapping first, and a compaction that retries
    without validating: its file, compacted before the delete, still holds the row."""
    sim = cluster_sim({"c1": [("delete", [1, "position-deletes"])], "c2": [("compact", None)]},
                      Roles(engine=RetryWithoutValidation))
    deliver_all_but(sim, held=swap_of("e2"))
    run_until(sim)
    problem = checks.committed_deletes_stay_deleted.check(sim)
    assert problem.startswith("row 1 is in snapshot"), problem


def test_a_swap_after_its_deadline_is_refused() -> None:
    catalog = Catalog("catalog", build(SMALL, Roles(), random.Random(0))
                      .servers["catalog"].keywords["creation"])
    sim = cluster_sim({})
    ctx = sim.contexts["catalog"]
    catalog.on_start(ctx)
    base = catalog.pointer
    sim.time = DEADLINE + 1
    refused = catalog.swap(ctx, (), base, "new.metadata.json", deadline=DEADLINE)
    assert isinstance(refused, Refused) and catalog.pointer == base
    assert isinstance(catalog.swap(ctx, (), base, "new.metadata.json", DEADLINE + 1), Committed)


def test_expiry_deletes_only_what_no_retained_snapshot_references() -> None:
    """Created (S0), append (S1), compact (S2), append (S3), expire: S3 and S2 are kept. The
    data files S2 compacted away are referenced only by S0 and S1, so they go; the compacted
    file and the last append's stay, and a read still sees every row."""
    sim = cluster_sim({"c1": [("append", [[10, 1]]), ("compact", None), ("append", [[11, 2]]),
                              ("expire", None), ("read", None)]})
    run_until(sim)
    assert [status for _, _, status, _ in outcomes(sim)] == ["ok"] * 5
    assert outcomes(sim)[3][3] == 2  # two snapshots expired
    deleted = [s.detail.path.rsplit("/", 1)[1] for s in sim.trace
               if isinstance(s.detail, Delete)]
    assert {"init-0.json", "init-1.json", "e1.1-1.json"} <= set(deleted)
    assert not {"e1.1-7.json", "e1.1-9.json"} & set(deleted)  # what compact and append wrote
    rows = checks.facts(sim).model.rows[checks.facts(sim).current]
    assert outcomes(sim)[4][3][1] == [[k, v] for k, v in sorted(rows.items())]
    assert sorted(rows) == [1, 2, 3, 4, 10, 11]
    assert not any(inv.check(sim) for inv in SYSTEM.invariants if inv.kind == "state")


def test_orphan_removal_spares_young_files_and_a_late_swap_is_refused() -> None:
    """An engine writes its files and its swap is delayed. Orphan removal spares the files
    while they are young; once they are older than any commit may take, it deletes them, and
    the swap, arriving after its deadline, is refused: nothing dangles."""
    sim = cluster_sim({"c1": [("append", [[10, 1]])]})
    deliver_all_but(sim, held=swap_of("e1"))
    sim.workload["c2"] = [("remove-orphans", None)]
    deliver_all_but(sim, held=swap_of("e1"))
    sim.time = DEADLINE + 500  # time passes while the swap is delayed
    sim.workload["c2"].append(("remove-orphans", None))
    deliver_all_but(sim, held=swap_of("e1"))
    removals = [value for p, f, _, value in outcomes(sim) if f == "remove-orphans"]
    assert removals == [0, 4]  # the data file, its manifest, the manifest list, the metadata
    run_until(sim)
    fail = next(e for e in sim.history if e.type == "fail")
    assert (fail.f, fail.value) == ("append", "past its deadline")
    assert not any(inv.check(sim) for inv in SYSTEM.invariants if inv.kind == "state")
    assert 10 not in checks.facts(sim).model.rows[checks.facts(sim).current]


# --- scan planning ---------------------------------------------------------------------------


def stats(lower: Any, upper: Any, nulls: int = 0, values: int = 2) -> dict:
    bounds = {} if lower is None else {"1": lower, "2": lower}
    upper_bounds = {} if upper is None else {"1": upper, "2": upper}
    return {"value_counts": {"1": values, "2": values}, "null_value_counts": {"1": 0, "2": nulls},
            "lower_bounds": bounds, "upper_bounds": upper_bounds}


def test_pruning_keeps_inclusive_bounds_and_skips_all_null_columns() -> None:
    assert may_match(stats(3, 5), ["id", 5, 9]) and may_match(stats(3, 5), ["id", 0, 3])
    assert not may_match(stats(3, 5), ["id", 6, 9]) and not may_match(stats(3, 5), ["id", 0, 2])
    assert not may_match(stats(None, None, nulls=2), ["value", 0, 9])
    assert may_match(stats(None, None, nulls=1), ["value", 0, 9])  # no bounds: cannot prune
    assert may_match(stats(3, 5), None)


def test_deletes_apply_by_sequence_number() -> None:
    data = Live({"content": 0, "file_path": "d"}, 5)
    position = {"content": 1, "file_path": "p", "lower_bounds": {"2147483546": "d"},
                "upper_bounds": {"2147483546": "d"}}
    equality = {"content": 2, "file_path": "e"}
    assert [x.path for x in applicable(data, [Live(position, 5), Live(equality, 5)])] == ["p"]
    assert [x.path for x in applicable(data, [Live(position, 4), Live(equality, 6)])] == ["e"]


# --- the model and its reader ----------------------------------------------------------------


def test_the_model_applies_operations_to_the_parent() -> None:
    rows = {1: None, 2: 4}
    assert apply(rows, "append", [[3, 7]]) == {1: None, 2: 4, 3: 7}
    assert apply(rows, "delete", [2, "equality-deletes"]) == {1: None}
    assert apply(rows, "overwrite", [2, 9]) == {1: None, 2: 9}
    assert apply(rows, "overwrite", [5, 9]) == rows and apply(rows, "compact", None) == rows
    history = TableHistory(10, rows)
    history.commit(11, 10, "delete", [1, "copy-on-write"])
    history.commit(12, 11, "append", [[3, 3]])
    assert history.ancestry(12) == [12, 11, 10] and history.rows[12] == {2: 4, 3: 3}


def tree(files: dict[str, Any]) -> Callable[[str], Any]:
    return files.get


def test_the_reader_applies_position_and_equality_deletes_by_sequence() -> None:
    files = {
        "list": {"manifests": [
            {"manifest_path": "m1", "sequence_number": 1},
            {"manifest_path": "m2", "sequence_number": 2}]},
        "m1": {"entries": [{"status": 1, "sequence_number": None,
                            "data_file": {"content": 0, "file_path": "d1"}}]},
        "m2": {"entries": [
            {"status": 1, "sequence_number": None, "data_file": {"content": 0, "file_path": "d2"}},
            {"status": 1, "sequence_number": None, "data_file": {"content": 1, "file_path": "p"}},
            {"status": 1, "sequence_number": None, "data_file": {"content": 2, "file_path": "e"}},
            {"status": 2, "sequence_number": 1, "data_file": {"content": 0, "file_path": "gone"}}]},
        "d1": {"rows": [{"id": 1, "value": 1}, {"id": 2, "value": 2}]},
        "d2": {"rows": [{"id": 3, "value": 3}, {"id": 4, "value": 4}]},
        "p": {"rows": [{"file_path": "d1", "pos": 0}, {"file_path": "d2", "pos": 1}]},
        "e": {"rows": [{"id": 2}, {"id": 3}]},
    }
    rows, missing = snapshot_rows(tree(files), {"manifest-list": "list"})
    # d1 (seq 1): pos 0 deleted, id 2 deleted (1 < 2); d2 (seq 2): pos 1 deleted (2 >= 2),
    # id 3 kept (an equality delete spares data of its own sequence number)
    assert (sorted(rows), missing) == ([(3, 3)], [])
    del files["d2"]
    assert snapshot_rows(tree(files), {"manifest-list": "list"})[1] == ["d2"]


def metadata(*snaps: tuple[int, int | None, int], current: int) -> dict:
    return {"snapshots": [{"snapshot-id": s, "sequence-number": seq, "manifest-list": f"l{s}",
                           **({} if p is None else {"parent-snapshot-id": p})}
                          for s, p, seq in snaps],
            "current-snapshot-id": current, "last-sequence-number": max(q for *_, q in snaps)}


def test_lineage_problems() -> None:
    good = metadata((1, None, 1), (2, 1, 2), current=2)
    assert lineage_problem(good, {}) is None
    assert "listed twice" in lineage_problem(metadata((1, None, 1), (1, None, 1), current=1), {})
    assert "no metadata held" in lineage_problem(metadata((2, 7, 2), current=2), {})
    assert lineage_problem(metadata((2, 7, 2), current=2), {7: (None, 1, "l7")}) is None
    assert "not above" in lineage_problem(metadata((1, None, 2), (2, 1, 2), current=2), {})
    assert "not the newest" in lineage_problem(good | {"current-snapshot-id": 1}, {})
    assert "used before" in lineage_problem(good, {2: (None, 2, "l2")})


def test_stats_and_rows_problems() -> None:
    rows = [{"id": 1, "value": None}, {"id": 3, "value": 5}]
    sound = {"file_path": "d", "record_count": 2, "value_counts": {"1": 2, "2": 2},
             "null_value_counts": {"1": 0, "2": 1}, "lower_bounds": {"1": 1, "2": 5},
             "upper_bounds": {"1": 3, "2": 5}}
    assert stats_problem(sound, rows) is None
    assert "bounds" in stats_problem(sound | {"upper_bounds": {"1": 2, "2": 5}}, rows)
    assert "records" in stats_problem(sound | {"record_count": 3}, rows)
    assert "nulls" in stats_problem(sound | {"null_value_counts": {"1": 0, "2": 0}}, rows)
    assert rows_problem({1: None, 3: 5}, [(3, 5), (1, None)]) is None
    assert "2 times" in rows_problem({1: None}, [(1, None), (1, None)])
    assert rows_problem({1: None, 3: 5}, [(1, None), (3, 6)]) == \
        "missing [[3, 5]], unexpected [[3, 6]]"


# --- the invariants on hand-made states and histories ----------------------------------------


def started() -> Simulation:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    return sim


def test_no_dangling_references_sees_a_deleted_data_file() -> None:
    sim = started()
    assert checks.no_dangling_references.check(sim) is None
    store: ObjectStore = sim.nodes["store"]
    path = next(p for p in store.files if p.endswith("init-1.json"))
    store.on_message(sim.contexts["store"], "e1", Delete(path))
    sim.trace.append(Step(("deliver", "e1", "store", 0), 0, Delete(path)))
    assert path in checks.no_dangling_references.check(sim)


def test_column_stats_sound_sees_bounds_that_exclude_a_value() -> None:
    cluster = build(SMALL, Roles(), random.Random(0))
    files = cluster.servers["store"].keywords["initial"]
    path = next(p for p in files if p.endswith("init-m0.json"))
    manifest = json.loads(files[path])
    manifest["entries"][0]["data_file"]["upper_bounds"]["1"] = 0  # below every id
    files[path] = json.dumps(manifest)
    sim = Simulation(cluster, 0, 0, {})
    sim.start()
    assert "gives id the bounds [1, 0]" in checks.column_stats_sound.check(sim)
    assert checks.snapshots_match_model.check(sim) is None  # the rows are right


def record(sim: Simulation, process: str, type_: str, f: str, value: Any) -> None:
    sim.history.append(Event(process, type_, f, value, sim.time))


def read_sim(*reads: tuple[Any, Any]) -> tuple[Simulation, int, list]:
    """A started run whose history holds the given reads (filter, result) of c1."""
    sim = started()
    for filter_, result in reads:
        record(sim, "c1", "invoke", "read", filter_)
        record(sim, "c1", "ok", "read", result)
    known = checks.facts(sim)
    return sim, known.current, [list(row) for row in sorted(known.model.rows[known.current]
                                                            .items())]


def test_reads_see_their_snapshot() -> None:
    sim, initial, rows = read_sim()
    for result, problem in [([initial, rows], None),
                            ([initial, rows + [[9, 9]]], "unexpected [[9, 9]]"),
                            ([initial, rows + rows[:1]], "2 times"),
                            ([initial, rows[1:]], "missing [[1, None]]"),
                            ([12345, []], "never committed")]:
        sim, _, _ = read_sim((None, result))
        verdict = checks.reads_see_their_snapshot.check(sim)
        assert verdict.ok if problem is None else problem in verdict.explanation, verdict


def test_pruning_keeps_matches() -> None:
    _, initial, rows = read_sim()
    sim, _, _ = read_sim((["id", 1, 2], [initial, rows[:1]]))  # id 2 left out
    assert checks.reads_see_their_snapshot.check(sim).ok  # a subset: not its business
    verdict = checks.pruning_keeps_matches.check(sim)
    assert verdict.violated and "[2, 4]" in verdict.explanation
    sim, _, _ = read_sim((["value", 4, 7], [initial, [[2, 4], [3, 7]]]))
    assert checks.pruning_keeps_matches.check(sim).ok


def test_commits_exactly_once_catches_a_failed_operation_that_committed() -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]])]})
    run_until(sim)
    assert checks.commits_exactly_once.check(sim).ok
    sid = outcomes(sim)[0][3]
    sim.history[-1] = attrs.evolve(sim.history[-1], type="fail", value=None)
    verdict = checks.commits_exactly_once.check(sim)
    assert verdict.violated and "yet its snapshot was committed" in verdict.explanation
    sim.history[-1] = attrs.evolve(sim.history[-1], type="ok", value=sid + 1)
    assert checks.commits_exactly_once.check(sim).violated  # told another snapshot id


def test_committed_snapshots_reachable_catches_a_lost_acknowledged_commit() -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]])]})
    run_until(sim)
    assert checks.committed_snapshots_reachable.check(sim) is None
    record(sim, "c2", "invoke", "append", [[11, 1]])
    record(sim, "c2", "ok", "append", 777)  # told of a snapshot never committed
    sim.trace.append(attrs.evolve(sim.trace[-1]))  # a new step: the facts catch up after it
    assert "777" in checks.committed_snapshots_reachable.check(sim)


def test_progress_at_quiescence_needs_the_final_operations() -> None:
    result = walk("correct", 0)
    assert checks.progress_at_quiescence.check(result.sim).ok
    sim = result.sim
    last_read = max(i for i, e in enumerate(sim.history) if e.f == "read")
    sim.history[last_read] = attrs.evolve(sim.history[last_read], type="fail", value=None)
    assert checks.progress_at_quiescence.check(sim).violated


def content(kind: int) -> dict:
    return {"content": kind}


def test_operation_problems() -> None:
    data, position = content(DATA), content(POSITION_DELETES)
    assert operation_problem("append", [[9, 1]], {"operation": "append"}, [data], []) is None
    assert operation_problem("delete", [1, "position-deletes"], {"operation": "delete"},
                             [position], []) is None
    assert operation_problem("delete", [1, "copy-on-write"], {"operation": "overwrite"},
                             [data], [data]) is None
    assert operation_problem("delete", [1, "copy-on-write"], {"operation": "delete"},
                             [], [data]) is None
    assert operation_problem("compact", None, {"operation": "replace"}, [],
                             [data, position]) is None
    assert "operation 'append'" in operation_problem(
        "delete", [1, "position-deletes"], {"operation": "append"}, [position], [])
    assert "operation 'overwrite'" in operation_problem(  # merge-on-read asked, rewrite done
        "delete", [1, "equality-deletes"], {"operation": "overwrite"}, [data], [data])
    assert "kinds [0]" in operation_problem(
        "delete", [1, "equality-deletes"], {"operation": "delete"}, [data], [])
    assert "kinds [2]" in operation_problem(
        "overwrite", [1, 5], {"operation": "overwrite"}, [content(EQUALITY_DELETES)], [data])
    assert "removed 1 files" in operation_problem("append", [[9, 1]], {"operation": "append"},
                                                  [data], [data])
    assert "'delete' snapshot added data" in operation_problem(
        "delete", [1, "copy-on-write"], {"operation": "delete"}, [data], [data])
    assert "added-data-files 2" in operation_problem(
        "append", [[9, 1]], {"operation": "append", "added-data-files": "2"}, [data], [])


class MislabelsSnapshots(Engine):
    """Every snapshot's summary says `append`, whatever it did."""

    def write_changes(self, ctx: Context, operation: str, *args: Any, **kwargs: Any) -> None:
        super().write_changes(ctx, "append", *args, **kwargs)


@pytest.mark.parametrize("roles, problem", [
    (Roles(), None),
    (Roles(engine=MislabelsSnapshots), "a position-deletes committed as the snapshot "
                                       "operation 'append'"),
])
def test_snapshot_matches_operation(roles: Roles, problem: str | None) -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]]), ("delete", [1, "position-deletes"]),
                              ("delete", [2, "equality-deletes"]),
                              ("delete", [10, "copy-on-write"]), ("overwrite", [3, 0]),
                              ("compact", None)]}, roles)
    run_until(sim)
    assert [status for _, _, status, _ in outcomes(sim)] == ["ok"] * 6
    found = checks.snapshot_matches_operation.check(sim)
    assert found is None if problem is None else problem in found, found


class KeepsEveryFile(Engine):
    """Deletes nothing: not after a failure, not after expiry, not as orphan removal."""

    def delete(self, ctx: Context, paths: list[str]) -> None:
        pass


class FailKeepsItsFiles(Engine):
    """A failed job deletes nothing it wrote (its lost attempts' files still go)."""

    def fail(self, ctx: Context, why: str) -> None:
        self.finish(ctx, "fail", why)


def expired_then_ended(roles: Roles) -> Simulation:
    """Append, compact, append, expire (the created table's manifest list and manifest, and
    the first append's, are then referenced by expired snapshots only), every delete lost;
    then, long after, the ending: each client appends, c2 removes orphans, c1 reads."""
    sim = cluster_sim({"c1": [("append", [[10, 1]]), ("compact", None), ("append", [[11, 2]]),
                              ("expire", None)]}, roles)
    run_until(sim, skip=lambda msg: isinstance(msg, Delete))
    sim.time = DEADLINE + 500
    sim.quiesce(SMALL.quiesce_horizon, SMALL.quiesce_steps)
    return sim


def test_orphans_removed_once_older_than_the_age_limit() -> None:
    sim = expired_then_ended(Roles())
    assert checks.orphans_removed.check(sim).ok
    assert [f for _, f, status, _ in outcomes(sim)][-4:] == \
        ["append", "append", "remove-orphans", "read"]
    assert outcomes(sim)[-2][3] > 0  # the final removal found the expired files
    verdict = checks.orphans_removed.check(expired_then_ended(Roles(engine=KeepsEveryFile)))
    assert verdict.violated and "survived the final" in verdict.explanation, verdict
    assert any(path.endswith("init-m0.json") for path in verdict.witness["orphans"])


@pytest.mark.parametrize("roles, ok", [(Roles(), True), (Roles(engine=FailKeepsItsFiles), False)])
def test_a_failed_write_leaves_nothing_behind(roles: Roles, ok: bool) -> None:
    """The compaction swaps second, finds the delete's delete file, and fails: its data file,
    manifests and manifest list are deleted, unless `fail` forgets to."""
    sim = cluster_sim({"c1": [("delete", [1, "position-deletes"])], "c2": [("compact", None)]},
                      roles)
    deliver_all_but(sim, held=swap_of("e2"))
    run_until(sim)
    assert [status for _, _, status, _ in outcomes(sim)] == ["ok", "fail"]
    verdict = checks.uncommitted_writes_cleaned_up.check(sim)
    assert verdict.ok == ok, verdict
    assert ok or "compact" in verdict.explanation


def test_an_unknown_outcome_may_leave_its_files() -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]])]})
    run_until(sim, skip=lambda msg: isinstance(msg, Committed | CommitTable))
    assert outcomes(sim)[0][2] == "info"
    assert checks.uncommitted_writes_cleaned_up.check(sim).ok


def test_written_for_names_the_snapshot_that_wrote_a_manifest_or_list() -> None:
    rewrite = {"entries": [{"status": 0, "snapshot_id": 1}, {"status": 2, "snapshot_id": 7}]}
    assert written_for(rewrite) == 7 and written_for({"rows": []}) is None
    listing = {"manifests": [{"sequence_number": 1, "added_snapshot_id": 1},
                             {"sequence_number": 3, "added_snapshot_id": 7}]}
    assert written_for(listing) == 7


def test_the_ending_lasts_long_enough_for_a_client_to_give_up() -> None:
    from implementations.iceberg.client import PROBE, STALLS

    assert DEFAULT.quiesce_horizon > PROBE * (STALLS + 1)


def test_done_carries_the_snapshot_the_client_is_told() -> None:
    sim = cluster_sim({"c1": [("append", [[10, 1]])]})
    run_until(sim)
    told = [s.detail for s in sim.trace if isinstance(s.detail, Done)]
    assert told and told[0].result == checks.facts(sim).current
    assert any(isinstance(s.detail, LoadTable) for s in sim.trace)
