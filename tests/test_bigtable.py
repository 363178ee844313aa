"""BigTable: the correct system survives the hunt, each seeded bug is found and replays, and the
model, the storage pieces and the invariants behave on hand-made states (they can fail)."""

from __future__ import annotations

import pytest

import implementations
from checker.run import RunResult, execute, new_simulation
from checker.sim import Simulation
from checker.strategies import RandomWalk, Replay
from checker.system import Config
from implementations.bigtable import SYSTEM, checks
from implementations.bigtable.storage import (
    GFS_NODE,
    AppendLog,
    Mutation,
    SplitTablet,
    SSTable,
    TabletFiles,
    major_merge,
    newest_version,
)
from implementations.bigtable.tabletserver import Tablet
from models.bigtable import Table

DEFAULT = SYSTEM.config("default")


def walk(variant: str, seed: int, config: Config = DEFAULT) -> RunResult:
    return execute(SYSTEM, variant, config, seed, RandomWalk(seed, config.max_pause))


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", ["default", "small", "partitions"])
def test_correct_system_survives_a_few_seeds(config: str) -> None:
    for seed in range(20):
        result = walk("correct", seed, SYSTEM.config(config))
        assert not result.verdict.violated, (seed, result.verdict)


def test_correct_runs_exercise_the_protocol() -> None:
    """The hunt is not vacuous: writes are acknowledged, tablets load, split and compact."""
    runs = [walk("correct", seed) for seed in range(30)]
    facts = [kind for r in runs for kind, *_ in r.sim.ghost]
    messages = [type(step.detail).__name__ for r in runs for step in r.sim.trace]
    assert facts.count("acked") > 20 and facts.count("tablet-state") > 10
    for kind in ("TabletSplit", "Compact", "Merge", "Loaded"):
        assert kind in messages, kind


@pytest.mark.parametrize("variant, invariants", [
    ("serves-without-lock", {"one-server-per-row", "linearizable"}),
    ("ack-before-log-sync", {"acked-durable"}),
])
def test_seeded_bug_is_found_and_replays(variant: str, invariants: set[str]) -> None:
    found = next((r for r in (walk(variant, seed) for seed in range(100))
                  if r.verdict.violated), None)
    assert found is not None and found.verdict.invariant in invariants, found
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.verdict == found.verdict
    assert again.sim.fingerprint() == found.sim.fingerprint()


# --- the model ---------------------------------------------------------------------------------


def test_model_reads_the_newest_version() -> None:
    table = Table()
    [(_, state)] = table.apply(table.initial(), "write", ("a", 1))
    [(_, state)] = table.apply(state, "write", ("a", 2))
    assert table.apply(state, "read", ("a",))[0][0] == 2
    [(_, deleted)] = table.apply(state, "delete", ("a",))
    assert table.apply(deleted, "read", ("a",))[0][0] is None
    assert table.apply(deleted, "cas", ("a", None, 3))[0][0] is True
    assert table.apply(state, "cas", ("a", 1, 3)) == [(False, state)]


# --- storage -------------------------------------------------------------------------------------


def test_reads_merge_levels_and_major_compaction_drops_deleted_data() -> None:
    cells = [("a", (1, 1), 10), ("a", (1, 2), None), ("a", (2, 1), 20), ("b", (1, 3), 30),
             ("b", (1, 4), None), ("c", (1, 5), 50)]
    assert newest_version(cells, "a") == ((2, 1), 20)
    assert newest_version(cells, "b") == ((1, 4), None)
    assert major_merge(cells, "", None) == (("a", (2, 1), 20), ("c", (1, 5), 50))
    assert major_merge(cells, "b", None) == (("c", (1, 5), 50),)


def test_recovery_replays_the_log_once_per_request() -> None:
    write = Mutation("c1", 1, "a", (1, 1), 10)
    files = TabletFiles("", None, (SSTable("s", (("a", (0, 1), 5),)),),
                        log=((3, write), (4, write)))
    tablet = Tablet("t", files, epoch=2)
    assert tablet.read("a") == 10 and tablet.memtable == [("a", (1, 1), 10)]
    assert tablet.applied == 4 and tablet.duplicate("c1", 1)


def test_recovery_keeps_the_copy_a_later_owner_served() -> None:
    """c1's write, sent by the owner of epoch 1, reached the log late, after the owner of epoch
    2 had loaded the tablet and served c1's retry; c2's write came between."""
    retry = Mutation("c1", 1, "a", (2, 2), 10)
    late = Mutation("c1", 1, "a", (1, 1), 10)
    files = TabletFiles("", None, log=((1, Mutation("c2", 1, "a", (2, 1), 20)), (2, late),
                                       (3, retry)))
    assert Tablet("t", files, epoch=3).read("a") == 10
    assert Tablet("t", files, epoch=3).memtable == [("a", (2, 1), 20), ("a", (2, 2), 10)]


def gfs_simulation() -> Simulation:
    sim = new_simulation(SYSTEM, "correct", DEFAULT, 0)
    sim.start()
    return sim


def test_gfs_syncs_an_append_only_when_asked() -> None:
    sim = gfs_simulation()
    gfs, ctx = sim.nodes[GFS_NODE], sim.contexts[GFS_NODE]
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 1, "a", (1, 1), 10), sync=False))
    assert len(ctx.storage.get("tablet/t").log) == 1
    assert ctx.storage.durable("tablet/t").log == ()
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 2, "b", (1, 2), 20)))
    assert len(ctx.storage.durable("tablet/t").log) == 2


def test_gfs_splits_a_tablet_once_and_routes_late_appends_to_the_child() -> None:
    sim = gfs_simulation()
    gfs, ctx = sim.nodes[GFS_NODE], sim.contexts[GFS_NODE]
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 1, "a", (1, 1), 10)))
    gfs.on_message(ctx, "ts1", SplitTablet("t", "b"))
    gfs.on_message(ctx, "ts1", SplitTablet("t", "b"))
    assert [r.row for _, r in ctx.storage.get("tablet/t<b").log] == ["a"]
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 2, "b", (1, 2), 20)))
    assert [r.row for _, r in ctx.storage.get("tablet/t>=b").log] == ["b"]


# --- the invariants on hand-made ghost records --------------------------------------------------


def with_facts(*facts: tuple[str, str, dict]) -> Simulation:
    sim = new_simulation(SYSTEM, "correct", DEFAULT, 0)
    sim.ghost.extend((kind, t, node, fact) for t, (kind, node, fact) in enumerate(facts))
    return sim


def loaded(node: str, file: str, newest: tuple = (), epoch: int = 1) -> tuple[str, str, dict]:
    return ("tablet-state", node, {"tablet": "t", "lo": "", "hi": None, "newest": newest,
                                   "file": file, "loaded": True, "epoch": epoch})


def test_one_server_per_row() -> None:
    served = ("served", "ts1", {"row": "a", "file": "servers/ts1.1"})
    assert checks.one_server_per_row.check(with_facts(served, loaded("ts2", "ts2.1"))) is None
    sentence = checks.one_server_per_row.check(with_facts(served, loaded("ts2", "ts2.1"),
                                                          served))
    assert sentence and "two servers serve it" in sentence
    stale = with_facts(loaded("ts1", "ts1.1", epoch=2), loaded("ts2", "ts2.1", epoch=1))
    assert "for assignment 1" in checks.one_server_per_row.check(stale)


def test_no_acked_write_lost_and_deletes_stick() -> None:
    acked = ("acked", "ts1", {"row": "a", "ts": (1, 2), "value": 7})
    delete = ("acked", "ts1", {"row": "a", "ts": (1, 3), "value": None})
    kept = loaded("ts2", "ts2.1", (("a", (1, 2), 7),))
    assert checks.no_acked_write_lost.check(with_facts(acked, kept)) is None
    lost = checks.no_acked_write_lost.check(with_facts(acked, loaded("ts2", "ts2.1")))
    assert lost and "was acknowledged" in lost
    assert checks.deletes_stick.check(with_facts(acked, delete, loaded("ts2", "ts2.1"))) is None
    back = checks.deletes_stick.check(with_facts(acked, delete, kept))
    assert back and "again" in back


def test_acked_durable() -> None:
    sim = gfs_simulation()
    gfs, ctx = sim.nodes[GFS_NODE], sim.contexts[GFS_NODE]
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 1, "a", (1, 1), 10), sync=False))
    sim.ghost.append(("acked", sim.time, "ts1", {"row": "a", "ts": (1, 1), "value": 10}))
    assert "page cache" in checks.acked_durable.check(sim)
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 2, "a", (1, 2), 20)))
    sim.ghost.append(("acked", sim.time, "ts1", {"row": "a", "ts": (1, 2), "value": 20}))
    assert checks.acked_durable.check(sim) is None
