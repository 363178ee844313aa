"""BigTable: the correct system survives the hunt, each seeded bug is found and replays, and the
model, the storage pieces and the invariants behave on hand-made states (they can fail)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import implementations
from checker.hunt import Budget, hunt
from checker.node import Context, Node
from checker.run import RunResult, execute, new_simulation
from checker.sim import Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config, Variant
from implementations.bigtable import SYSTEM, OneMachineLost, Parts, checks
from implementations.bigtable.client import TableClient
from implementations.bigtable.messages import Split, SplitDone
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
from implementations.bigtable.tabletserver import Tablet, TabletServer
from invariants.history import Event
from models.bigtable import Table

DEFAULT = SYSTEM.config("default")


def walk(variant: str, seed: int, config: Config = DEFAULT) -> RunResult:
    return execute(SYSTEM, variant, config, seed, RandomWalk(seed, config.max_pause))


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", ["default", "small", "partitions", "machine-lost"])
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
    ("stale-location-cache", {"recovery-bounded", "progress-at-quiescence"}),
    ("split-drops-log", {"acked-durable"}),
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
    assert "row 'a' is empty" in checks.acked_durable.check(sim)
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 2, "a", (1, 2), 20)))
    sim.ghost.append(("acked", sim.time, "ts1", {"row": "a", "ts": (1, 2), "value": 20}))
    assert checks.acked_durable.check(sim) is None


def test_acked_durable_watches_every_step_not_only_the_acknowledgement() -> None:
    """A version acknowledged while synced is lost later when the files change under it: here
    a split that hands the children no log (what `split-drops-log` does)."""
    sim = gfs_simulation()
    gfs, ctx = sim.nodes[GFS_NODE], sim.contexts[GFS_NODE]
    gfs.on_message(ctx, "ts1", AppendLog("t", Mutation("c1", 1, "b", (1, 1), 10)))
    sim.ghost.append(("acked", sim.time, "ts1", {"row": "b", "ts": (1, 1), "value": 10}))
    assert checks.acked_durable.check(sim) is None
    files = ctx.storage.get("tablet/t")
    ctx.storage.put("tablet/t>=b", attrs.evolve(files, lo="b", log=()))
    ctx.storage.put("tablet/t", attrs.evolve(files, split_into=(("t>=b", "b", None),)))
    assert checks.acked_durable.check(sim) is None  # no step of GFS's: not looked at again
    sim.trace.append(Step(("deliver", "ts1", GFS_NODE, 2), sim.time))
    assert "row 'b' is empty" in checks.acked_durable.check(sim)
    ctx.storage.put("tablet/t", files)  # both the parent and its child live: 'b' twice
    sim.trace.append(Step(("deliver", "ts1", GFS_NODE, 3), sim.time))
    assert "2 live tablets" in checks.acked_durable.check(sim)


def test_acked_durable_accepts_a_logged_delete_after_a_merge_dropped_the_row() -> None:
    sim = gfs_simulation()
    ctx = sim.contexts[GFS_NODE]
    sim.ghost += [("acked", 0, "ts1", {"row": "a", "ts": (1, 1), "value": 10}),
                  ("logged", 0, GFS_NODE, {"tablet": "t", "row": "a", "ts": (1, 2),
                                           "value": None, "writes": True})]
    ctx.storage.put("tablet/t", TabletFiles("", None))  # merged away: no version at all
    assert checks.acked_durable.check(sim) is None


# --- bounded recovery ----------------------------------------------------------------------------


def test_recovery_bounded_wants_each_operation_back_soon_after_the_cell_recovered() -> None:
    """A correct run passes; the same run with one more write, called once the cell had
    recovered and never answered, fails; so does a cell whose map is not confirmed loaded."""
    sim = walk("correct", 3).sim
    assert checks.recovery_bounded.check(sim) is None
    recovered = sim.invariant_state("bigtable-recovery", lambda: None).recovered
    assert recovered is not None and sim.time > recovered + checks.RETURNS + 2 * sim.epsilon
    sim.history.append(Event("c2", "invoke", "write", ("a", 99), recovered))
    sentence = checks.recovery_bounded.check(sim)
    assert sentence and "c2's write" in sentence and "has not returned" in sentence
    assert checks._cell_problem(sim) is None
    sim.nodes[checks.MASTER].confirmed.clear()
    assert "not confirmed loaded" in checks._cell_problem(sim)


# --- progress at quiescence ----------------------------------------------------------------------


class NeverLoads(TabletServer):
    """Does nothing useful: takes its lock and answers pings, but never loads a tablet."""

    def on_assign(self, ctx: Context, src: str, tablet: str, file: str, epoch: int) -> None:
        pass


def test_a_cell_that_serves_nothing_fails_progress() -> None:
    system = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants, "never-loads": Variant("never-loads", Parts(server=NeverLoads))})
    outcome = hunt(system, "never-loads", DEFAULT, budget=Budget(runs=20), shrink_replays=0)
    assert outcome.violation is not None
    verdict = outcome.violation.verdict
    assert verdict.invariant == "progress-at-quiescence" and "final read" in verdict.explanation


def test_progress_compares_the_final_read_with_what_the_server_holds() -> None:
    result = walk("correct", 3)
    assert checks.progress_at_quiescence.check(result.sim).ok
    sim = result.sim
    final = next(e for e in reversed(sim.history) if e.type == "ok" and e.f == "read")
    sim.history[sim.history.index(final)] = attrs.evolve(final, value="not written")
    verdict = checks.progress_at_quiescence.check(sim)
    assert verdict.violated and "serves tablet" in verdict.explanation


def test_correct_runs_end_with_a_split_table_served() -> None:
    """The ending's wait lets the cell settle: every final read succeeds (the split's notice
    is sent again if lost, so no row is left to a tablet nobody serves)."""
    for seed in range(10):
        sim = walk("correct", seed).sim
        finals = [op for op in sim.operations() if op.f == "read"][-2:]
        assert all(op.status == "ok" for op in finals), seed


def test_a_lost_split_notice_is_sent_again() -> None:
    sim = gfs_simulation()
    server, ctx = sim.nodes["ts1"], sim.contexts["ts1"]
    server.split_into["t"] = (("t<b", "", "b"), ("t>=b", "b", None))
    server.generation = 1
    sent: list[Any] = []
    ctx.send = lambda dst, msg: sent.append((dst, msg))  # type: ignore[method-assign]
    server.lease_valid = lambda ctx: True  # type: ignore[method-assign]
    server.on_message(ctx, "m", Split("t", "b"))
    assert sent == [("m", SplitDone("t", server.split_into["t"], server.file, True))]


# --- a machine lost for good ---------------------------------------------------------------------


def test_the_first_server_to_crash_serving_is_lost_for_good() -> None:
    """A server that crashes with no tablets comes back; the first that crashes serving boots
    a bare machine at every restart; the other server comes back as before."""
    made = OneMachineLost(lambda node_id: TabletServer(node_id, ("ch1",), "m", "gfs"))
    first = made("ts1")
    first.tablets = {}
    assert type(made("ts1")) is TabletServer  # crashed serving nothing: restarted
    made("ts2").tablets = {"t": None}
    assert type(made("ts2")) is Node and type(made("ts2")) is Node
    made("ts1").tablets = {"t": None}
    assert type(made("ts1")) is TabletServer and made.lost == "ts2"


def test_a_cell_that_lost_a_machine_still_serves_every_row_and_replays() -> None:
    machine_lost = SYSTEM.config("machine-lost")
    result = walk("correct", 7, machine_lost)
    assert type(result.sim.nodes["ts1"]) is Node or type(result.sim.nodes["ts2"]) is Node
    assert not result.verdict.violated, result.verdict
    again = execute(SYSTEM, "correct", machine_lost, 7, Replay(result.choices))
    assert again.sim.fingerprint() == result.sim.fingerprint()


class AsksTheSameServerAgain(TableClient):
    """A client that, when its cached server does not answer, asks it again instead of
    looking the row up (BigTable section 5.1 says a miss sends it back up the hierarchy)."""

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is not None and name == "timeout":
            self.send_request(ctx)
        else:
            super().on_timer(ctx, name)


def test_only_a_lost_machine_shows_a_client_that_keeps_asking_it() -> None:
    """Every other fault ends in the ending, where the cached server answers or refuses; a
    machine lost for good never does, and the client's final read never returns."""
    system = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants,
        "asks-again": Variant("asks-again", Parts(client=AsksTheSameServerAgain))})

    def first_violation(config: Config) -> RunResult | None:
        runs = (execute(system, "asks-again", config, seed, RandomWalk(seed, config.max_pause))
                for seed in range(50))
        return next((r for r in runs if r.verdict.violated), None)

    assert first_violation(DEFAULT) is None
    found = first_violation(SYSTEM.config("machine-lost"))
    assert found is not None and found.verdict.invariant == "recovery-bounded", found
