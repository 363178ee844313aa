"""Debezium: the correct pipeline survives the hunt on both configurations, each seeded bug
is found by its invariant and replays, and a pipeline that moves nothing fails. Scripted
schedules show the snapshot's view and position read as one unit, a restarted connector
resuming from its offset without a new snapshot, and the index rejecting an older event. The
invariants are checked on hand-made states and histories, and the model on its own."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import implementations
from checker.node import Context
from checker.run import execute, new_simulation
from checker.sim import Simulation
from checker.strategies import RandomWalk, Replay
from checker.system import Config, Variant
from implementations.debezium import SYSTEM, Roles, checks
from implementations.debezium.connector import (
    CONNECTOR,
    DATABASE,
    OFFSETS,
    Connector,
    OffsetsBeforeAck,
    PositionAfterSnapshot,
    SourceOffset,
)
from implementations.debezium.database import Database, replay
from implementations.debezium.messages import (
    Answers,
    ChangeEvent,
    Doc,
    Execute,
    Query,
    ReadBinlog,
    Write,
)
from implementations.debezium.sink import GROUP, INDEX, SearchIndex, SinkTask
from implementations.debezium.workload import ROUND, SCAN_WAITS, SYNC_ROUNDS
from implementations.kafka.group import GroupState, group_key
from implementations.kafka.log import hw_key, log_key
from implementations.kafka.messages import CONTROLLER, Record
from invariants.history import Event as HistoryEvent
from models.debezium import (
    Event,
    SourceHistory,
    claimed_version,
    committed_version,
    event_problem,
    final_differences,
    first_out_of_order,
    regression,
    required_versions,
    snapshot_candidates,
    transaction_changes,
)

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")


def walk(variant: str, seed: int, config: Config = DEFAULT, system: Any = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


def test_the_ending_lasts_long_enough_for_the_scan() -> None:
    """The scan starts once the writers' last operations are over (a sync takes at most
    SYNC_ROUNDS rounds) and must end within the ending's second horizon."""
    for config in (DEFAULT, SMALL):
        assert 2 * config.quiesce_horizon - SYNC_ROUNDS * ROUND > sum(SCAN_WAITS)


@pytest.mark.parametrize("config, seeds", [(DEFAULT, 120), (SMALL, 200)],
                         ids=["default", "small"])
def test_correct_variant_survives_the_hunt(config: Config, seeds: int) -> None:
    for seed in range(seeds):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)


def test_correct_variant_survives_with_two_partitions_per_topic() -> None:
    """Keys spread over two partitions of each topic: order holds per key, not per table."""
    config = attrs.evolve(DEFAULT, params={**DEFAULT.params, "partitions": 2})
    for seed in range(15):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)
        assert len(checks.data_partitions(result.sim)) == 4


@pytest.mark.parametrize("variant", ["position-after-snapshot", "offsets-before-ack",
                                     "sink-no-position-check"])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str) -> None:
    found = next(r for r in (walk(variant, seed) for seed in range(300)) if r.violated)
    assert found.verdict.invariant == SYSTEM.variant(variant).caught_by, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


class DeafConnector(Connector):
    """Drops every message and starts nothing: a pipeline that moves nothing."""

    def on_start(self, ctx: Context) -> None:
        pass

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass

    def on_timer(self, ctx: Context, name: str) -> None:
        pass


class DeafSink(SinkTask):
    def on_start(self, ctx: Context) -> None:
        pass

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass

    def on_timer(self, ctx: Context, name: str) -> None:
        pass


@pytest.mark.parametrize("roles, invariant", [
    (Roles(connector=DeafConnector), "no-change-lost"),
    (Roles(sink=DeafSink), "progress"),
], ids=["connector", "sink"])
def test_a_pipeline_that_moves_nothing_fails(roles: Roles, invariant: str) -> None:
    system = attrs.evolve(SYSTEM, variants={"deaf": Variant("deaf", roles)})
    for seed in range(3):
        verdict = walk("deaf", seed, SMALL, system).verdict
        assert verdict.violated and verdict.invariant == invariant, verdict


# --- scripted schedules ----------------------------------------------------------------------


def cluster_sim(workload: dict[str, list], roles: Roles = Roles(),
                config: Config = SMALL) -> Simulation:
    cluster = SYSTEM.build(config, roles, random.Random(0))
    cluster.workload = workload
    sim = Simulation(cluster, 0, 0, {"crash": 10, "drop": 10}, fifo=True)
    sim.start()
    return sim


def run_until(sim: Simulation, stop: Callable[[Any], bool] = lambda msg: False,
              steps: int = 3000) -> Any:
    """Invoke, deliver in send order, fire timers when nothing else can happen; return the
    first message `stop` names, undelivered."""
    for _ in range(steps):
        invokes = sim.enabled("invoke")
        if invokes:
            sim.execute(invokes[0])
            continue
        ready = sim.enabled("deliver")
        if ready:
            msg = sim.network.in_flight[ready[0][1:]].msg
            if stop(msg):
                return msg
            sim.execute(ready[0])
            continue
        if not sim.enabled("fire"):
            return None
        sim.execute(sim.enabled("fire")[0])
    return None


def deliverable(sim: Simulation, kind: type) -> list[tuple]:
    return [event for event in sim.enabled("deliver")
            if isinstance(sim.network.in_flight[event[1:]].msg, kind)]


def deliver(sim: Simulation, kind: type) -> None:
    """Deliver the oldest message of `kind` that can be delivered."""
    sim.execute(deliverable(sim, kind)[0])


@pytest.mark.parametrize("roles, view, position", [
    (Roles(), 2, 2),
    (Roles(connector=PositionAfterSnapshot), 2, 3),
], ids=["one-request", "two-requests"])
def test_a_transaction_commits_between_view_and_position_only_with_two_requests(
        roles: Roles, view: int, position: int) -> None:
    sim = cluster_sim({}, roles)
    run_until(sim, stop=lambda msg: isinstance(msg, Query))
    sim.workload["w1"] = [("txn", [["put", "orders", 1, 50]])]
    sim.execute(("invoke", "w1"))
    deliver(sim, Query)
    deliver(sim, Answers)
    deliver(sim, Execute)  # commits at position 3
    if deliverable(sim, Query):  # the position, asked after the view was fixed
        deliver(sim, Query)
        deliver(sim, Answers)
    connector = sim.nodes["connector"]
    assert (connector.view, connector.position) == (view, position)


def test_a_restarted_connector_resumes_from_its_offset_without_a_new_snapshot() -> None:
    sim = cluster_sim({"w1": [("txn", [["put", "orders", 1, 50]])]})
    run_until(sim, stop=lambda msg: False, steps=600)
    offset = sim.contexts["connector"].storage.get(OFFSETS)
    assert offset is not None and offset.position == 3  # the snapshot and the transaction
    sim.execute(("crash", "connector"))
    sim.execute(("restart", "connector"))
    first = run_until(sim, stop=lambda msg: isinstance(msg, (Query, ReadBinlog)))
    assert first == ReadBinlog((2, 1), offset.position + 1)


def test_only_acknowledged_events_make_an_offset_committable() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    ctx = sim.contexts["connector"]
    for connector_class, expected in [(Connector, 2), (OffsetsBeforeAck, 3)]:
        connector = connector_class("connector", partitions=1)
        connector.on_start(ctx)
        connector.schemas = {"orders": 1}
        read = ChangeEvent(("orders", 1), "r", None, 7, 2, 1)
        update = ChangeEvent(("orders", 1), "u", 7, 8, 3, 1)
        for event, position in [(read, 2), (update, 3)]:
            connector.emit(ctx, event)
            connector.checkpoint(position)
        connector.acked(ctx, "shop.orders-0", read, 0)  # the update is not acknowledged yet
        assert connector.committable() == SourceOffset("shop-connector", expected,
                                                       (("orders", 1),))


def test_the_index_keeps_the_newest_version_and_tombstones() -> None:
    newer = Doc(5, 9)
    assert not SearchIndex.applies(newer, Write(("orders", 1), 4, 3))
    assert not SearchIndex.applies(newer, Write(("orders", 1), 5, 9))  # a duplicate
    assert SearchIndex.applies(newer, Write(("orders", 1), 6, None))  # a delete
    assert not SearchIndex.applies(Doc(6, None), Write(("orders", 1), 5, 9))  # no resurrection
    assert SearchIndex.applies(newer, Write(("orders", 1), 4, 3, if_newer=False))


def test_the_database_commits_to_the_binlog_and_reads_through_views() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    db: Database = sim.nodes[DATABASE]
    ctx = sim.contexts[DATABASE]
    db.on_message(ctx, "w1", Execute(1, (("put", "orders", 1, 10), ("delete", "orders", 2))))
    db.on_message(ctx, "w1", Execute(2, (("delete", "orders", 2),)))  # nothing to delete
    db.on_message(ctx, "w1", Execute(3, (("alter", "orders"),)))
    assert len(db.binlog) == 4  # create table, initial load, the transaction, the DDL
    assert replay(db.binlog, 2) == ({("orders", 1): 1, ("orders", 2): 2}, {"orders": 1})
    assert replay(db.binlog) == ({("orders", 1): 10}, {"orders": 2})


def test_the_ghost_record_and_the_binlog_agree_through_random_transactions() -> None:
    """Differential: the model rebuilt from the database's ghost record of its commits holds
    the rows the database's own replay of its binlog gives, at every position."""
    rng = random.Random(3)
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    db, ctx = sim.nodes[DATABASE], sim.contexts[DATABASE]
    for req in range(40):
        ops = tuple(("put", "orders", pk, 100 + req * 2 + pk) if rng.random() < 0.6
                    else ("delete", "orders", pk) for pk in rng.sample([1, 2], rng.choice((1, 2))))
        db.on_message(ctx, "w1", Execute(req, ops))
    history = checks.source(sim).history
    assert checks.source(sim).problem is None
    for position in range(len(db.binlog) + 1):
        assert history.rows_at(position) == replay(db.binlog, position)[0]


# --- the invariants on hand-made states ------------------------------------------------------


def fresh_sim() -> Simulation:
    """A small run's simulation, started: the database has created and loaded `orders`
    (positions 1 and 2: rows 1 -> 1, 2 -> 2)."""
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    return sim


def commit(sim: Simulation, *ops: tuple) -> None:
    sim.nodes[DATABASE].on_message(sim.contexts[DATABASE], "w1", Execute(0, ops))


def put_docs(sim: Simulation, docs: dict) -> None:
    sim.contexts[INDEX].storage.put("docs", docs)


def put_topic(sim: Simulation, events: list[ChangeEvent], broker: str = "b1") -> None:
    storage = sim.contexts[broker].storage
    storage.put(log_key("shop.orders-0"), tuple(Record(1, e) for e in events))
    storage.put(hw_key("shop.orders-0"), len(events))


def test_target_never_regresses_catches_a_document_going_back() -> None:
    sim = fresh_sim()
    put_docs(sim, {("orders", 1): Doc(2, 1)})
    assert checks.target_never_regresses.check(sim) is None
    put_docs(sim, {("orders", 1): Doc(3, None)})  # a tombstone is newer
    assert checks.target_never_regresses.check(sim) is None
    put_docs(sim, {("orders", 1): Doc(2, 1)})
    assert "went back to 1 of position 2" in checks.target_never_regresses.check(sim)


def test_target_holds_committed_versions_catches_an_invented_row() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))
    put_docs(sim, {("orders", 1): Doc(3, 7), ("orders", 2): Doc(2, 2)})
    assert checks.target_holds_committed_versions.check(sim) is None
    put_docs(sim, {("orders", 1): Doc(2, 7)})  # the row of position 3, claimed at 2
    assert "never committed" in checks.target_holds_committed_versions.check(sim)


def test_events_match_source_catches_a_read_of_the_wrong_row() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))
    put_topic(sim, [ChangeEvent(("orders", 1), "r", None, 1, 2, 1),
                    ChangeEvent(("orders", 1), "u", 1, 7, 3, 1)])
    assert checks.events_match_source.check(sim) is None
    put_topic(sim, [ChangeEvent(("orders", 1), "r", None, 1, 3, 1)], broker="b2")
    assert "shows 1, but the row was 7" in checks.events_match_source.check(sim)


def test_no_change_lost_needs_the_snapshot_and_every_change_after_it() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))
    read1, read2 = (ChangeEvent(("orders", pk), "r", None, pk, 2, 1) for pk in (1, 2))
    update = ChangeEvent(("orders", 1), "u", 1, 7, 3, 1)
    put_topic(sim, [read1, read2, update, update])  # a duplicate is harmless
    assert checks.no_change_lost.check(sim).ok
    put_topic(sim, [read1, update])
    verdict = checks.no_change_lost.check(sim)
    assert verdict.violated and "('orders', 2, 2) was lost" in verdict.explanation


def test_no_change_lost_accepts_a_snapshot_of_empty_tables() -> None:
    sim = fresh_sim()
    commit(sim, ("delete", "orders", 1), ("delete", "orders", 2))  # position 3: empty
    commit(sim, ("put", "orders", 1, 7))
    put_topic(sim, [ChangeEvent(("orders", 1), "c", None, 7, 4, 1)])  # no read: none to emit
    assert checks.no_change_lost.check(sim).ok


def test_per_key_order_catches_an_older_version_first_seen_after_a_newer() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))
    commit(sim, ("put", "orders", 1, 8))
    first, second = (ChangeEvent(("orders", 1), "u", b, a, p, 1) for b, a, p in ((1, 7, 3),
                                                                                 (7, 8, 4)))
    put_topic(sim, [first, second, first])  # a repeat
    assert checks.per_key_order.check(sim).ok
    put_topic(sim, [second, first])
    assert "after a newer version" in checks.per_key_order.check(sim).explanation


def record_scan(sim: Simulation, index: list, offset: int = 2) -> None:
    """The ending's scan: the tables as the binlog's last position (2) has them, `offset`
    as the connector's committed offset, `index` as the index's documents."""
    history = checks.source(sim).history
    source = [["orders", pk, row] for (_, pk), row in sorted(
        history.rows_at(history.last).items())]
    scanned = {"source": source, "position": history.last, "offset": offset, "index": index}
    sim.history += [HistoryEvent("w1", "invoke", "scan", None, 0),
                    HistoryEvent("w1", "ok", "scan", scanned, 0)]


def test_progress_needs_the_index_to_hold_the_source_rows() -> None:
    sim = fresh_sim()
    record_scan(sim, [["orders", 1, 2, 1], ["orders", 2, 2, 2]])
    assert checks.progress.check(sim).ok
    sim = fresh_sim()
    record_scan(sim, [])
    assert "the index ended with orders/1 = None" in checks.progress.check(sim).explanation
    sim = fresh_sim()
    sim.history.append(HistoryEvent("w2", "invoke", "sync", None, 0))
    record_scan(sim, [["orders", 1, 2, 1], ["orders", 2, 2, 2]])
    assert "never returned" in checks.progress.check(sim).explanation


def test_progress_needs_the_connectors_offset_caught_up() -> None:
    """A connector that never commits its offset streams everything (the index is right),
    but a restart would emit it all again: the offset must reach the binlog's end."""
    sim = fresh_sim()
    record_scan(sim, [["orders", 1, 2, 1], ["orders", 2, 2, 2]], offset=0)
    verdict = checks.progress.check(sim)
    assert verdict.violated and "offset ended at 0" in verdict.explanation
    sim = fresh_sim()
    record_scan(sim, [["orders", 1, 2, 1], ["orders", 2, 2, 2]])
    del sim.history[-1].value["position"]  # a scan that lost the tables' position
    assert "did not read" in checks.progress.check(sim).explanation


def test_scan_ends_once_drained_bounds_the_scan_from_the_drain() -> None:
    """In the ending, the scan must return within SCAN_RETURNS of the later of its call and
    the moment the pipeline drained (offset at the binlog's end, index holding the rows)."""
    sim = fresh_sim()
    sim.phase = "quiesce"
    sim.history.append(HistoryEvent("w1", "invoke", "scan", None, 0))
    put_docs(sim, {("orders", 1): Doc(2, 1), ("orders", 2): Doc(2, 2)})
    sim.time = 10_000  # the connector has committed no offset: not drained, no bound
    assert checks.scan_ends_once_drained.check(sim) is None
    sim.contexts[CONNECTOR].storage.put(OFFSETS, SourceOffset("shop-connector", 2, ()))
    assert checks.scan_ends_once_drained.check(sim) is None  # drained now, at t=10000
    sim.time += checks.SCAN_RETURNS
    assert checks.scan_ends_once_drained.check(sim) is None
    sim.time += 1
    explanation = checks.scan_ends_once_drained.check(sim)
    assert "the pipeline recovered (t=10000)" in explanation
    put_docs(sim, {("orders", 1): Doc(2, 1)})  # row 2 missing: not drained any more
    assert checks.scan_ends_once_drained.check(sim) is None
    sim.history.append(HistoryEvent("w1", "ok", "scan", {}, sim.time))
    put_docs(sim, {("orders", 1): Doc(2, 1), ("orders", 2): Doc(2, 2)})
    sim.time += 10 * checks.SCAN_RETURNS  # drained, but no scan in progress
    assert checks.scan_ends_once_drained.check(sim) is None


def record_ops(sim: Simulation, *ops: tuple) -> None:
    """Completed operations (process, f, args, status, result), one after the other."""
    for process, f, args, status, result in ops:
        sim.history += [HistoryEvent(process, "invoke", f, args, 0),
                        HistoryEvent(process, status, f, result, 0)]


def test_answers_match_requests_checks_each_transaction_against_the_model() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7), ("delete", "orders", 2))  # position 3
    commit(sim, ("alter", "orders"))  # position 4
    asked = [["put", "orders", 1, 7], ["delete", "orders", 2]]
    record_ops(sim, ("w1", "txn", asked, "ok", [3, [["u", "orders", 1, 7],
                                                    ["d", "orders", 2, None]]]),
               ("w2", "txn", [["alter", "orders"]], "ok", [4, []]),
               ("w2", "txn", [["delete", "orders", 2]], "ok", [None, []]))
    assert checks.answers_match_requests.check(sim).ok
    wrong_row = [3, [["u", "orders", 1, 1], ["d", "orders", 2, None]]]  # the pk, not the row
    sim.history[1] = HistoryEvent("w1", "ok", "txn", wrong_row, 0)
    verdict = checks.answers_match_requests.check(sim)
    assert verdict.violated and "make [['u', 'orders', 1, 7]" in verdict.explanation
    sim.history[1] = HistoryEvent("w1", "ok", "txn", [None, []], 0)  # a put changed nothing?
    assert "told it changed nothing" in checks.answers_match_requests.check(sim).explanation
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))  # position 3: no DDL there
    record_ops(sim, ("w2", "txn", [["alter", "orders"]], "ok", [3, []]))
    assert "holds DDL None" in checks.answers_match_requests.check(sim).explanation


def test_syncs_read_own_writes_from_the_history() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))  # position 3
    record_ops(sim, ("w1", "txn", [["put", "orders", 1, 7]], "ok", [3, [["u", "orders", 1, 7]]]),
               ("w1", "sync", None, "ok", [["orders", 1, 3, 7]]),
               ("w2", "sync", None, "ok", [["orders", 1, 2, 1]]))  # w2 wrote nothing
    assert checks.syncs_read_own_writes.check(sim).ok
    sim.history[3] = HistoryEvent("w1", "ok", "sync", [["orders", 1, 2, 1]], 0)
    verdict = checks.syncs_read_own_writes.check(sim)
    assert verdict.violated and "changed orders/1 at position 3" in verdict.explanation
    sim.history[3] = HistoryEvent("w1", "ok", "sync", [["orders", 1, 3, 8]], 0)
    assert "never committed there" in checks.syncs_read_own_writes.check(sim).explanation


def commit_group(sim: Simulation, offset: int) -> None:
    """The sink's group committing `offset` for the orders partition, as the coordinator
    stores it."""
    sim.contexts[CONTROLLER].storage.put(group_key(GROUP),
                                         GroupState(offsets=(("shop.orders-0", offset),)))


def test_sink_commits_applied_catches_an_offset_past_a_missing_write() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))  # position 3
    put_topic(sim, [ChangeEvent(("orders", pk), "r", None, pk, 2, 1) for pk in (1, 2)]
              + [ChangeEvent(("orders", 1), "u", 1, 7, 3, 1)])
    put_docs(sim, {("orders", 1): Doc(2, 1), ("orders", 2): Doc(2, 2)})
    commit_group(sim, 2)  # the reads: both in the index
    assert checks.sink_commits_applied.check(sim) is None
    commit_group(sim, 3)  # past the update, which the index does not hold yet
    explanation = checks.sink_commits_applied.check(sim)
    assert "offset 2 (position 3) the index holds its document of position 2" in explanation
    put_docs(sim, {("orders", 1): Doc(3, 7), ("orders", 2): Doc(2, 2)})
    assert checks.sink_commits_applied.check(sim) is None


def test_source_log_checks_what_writers_were_told() -> None:
    sim = fresh_sim()
    commit(sim, ("put", "orders", 1, 7))
    told = [3, [["u", "orders", 1, 7]]]
    sim.history += [HistoryEvent("w1", "invoke", "txn", [["put", "orders", 1, 7]], 0),
                    HistoryEvent("w1", "ok", "txn", told, 0)]
    assert checks.source_log.check(sim).ok
    sim.history[-1] = HistoryEvent("w1", "ok", "txn", [3, [["u", "orders", 1, 8]]], 0)
    assert checks.source_log.check(sim).violated


# --- the model -------------------------------------------------------------------------------


def history_of(*entries: tuple) -> SourceHistory:
    history = SourceHistory()
    for position, changes, ddl in entries:
        assert history.commit(position, changes, ddl) is None
    return history


K = ("orders", 1)
EXAMPLE = ((1, (), ("orders", 1)),
           (2, (("orders", 1, "c", None, 1),), None),
           (3, (("orders", 1, "u", 1, 2),), None),
           (4, (), ("orders", 2)),
           (5, (("orders", 1, "d", 2, None),), None))


def test_the_model_keeps_each_keys_versions_and_each_tables_schema() -> None:
    history = history_of(*EXAMPLE)
    assert [history.row_at(K, p) for p in range(6)] == [None, None, 1, 2, 2, None]
    assert history.version_at(K, 4) == (3, 2)
    assert [history.schema_at("orders", p) for p in (0, 3, 4)] == [None, 1, 2]
    assert history.commit(7, (), None) == "entry 7 committed after entry 5"
    assert "but the row was None" in history.commit(6, (("orders", 1, "u", 2, 3),), None)


def test_the_model_claims_versions_and_requires_them_from_a_snapshot() -> None:
    history = history_of(*EXAMPLE)
    read = Event(K, "r", None, 2, 4, 2)
    assert claimed_version(history, read) == 3 and event_problem(history, read) is None
    assert "schema version 1" in event_problem(history, Event(K, "r", None, 2, 4, 1))
    assert "shows 1" in event_problem(history, Event(K, "r", None, 1, 4, 2))
    assert required_versions(history, 4) == [(K, 3, 2), (K, 5, None)]
    assert required_versions(history, 5) == []
    assert snapshot_candidates(history, [read]) == [5, 4, 1, 0]


def test_the_model_orders_versions_and_ignores_repeats() -> None:
    history = history_of(*EXAMPLE)
    read = Event(K, "r", None, 2, 4, 2)
    delete = Event(K, "d", 2, None, 5, 2)
    update = Event(K, "u", 1, 2, 3, 1)
    assert first_out_of_order(history, [update, read, delete, update]) is None
    assert first_out_of_order(history, [delete, read]) == (read, 5)


def test_the_model_applies_a_transactions_ops_in_order() -> None:
    rows = {("orders", 1): 1}
    ops = [["put", "orders", 1, 5], ["delete", "orders", 2], ["put", "orders", 2, 6],
           ["delete", "orders", 1]]
    assert transaction_changes(rows, ops) == [["u", "orders", 1, 5], ["c", "orders", 2, 6],
                                              ["d", "orders", 1, None]]
    assert rows == {("orders", 1): 1}  # the rows given are left alone


def test_the_model_of_the_target() -> None:
    history = history_of(*EXAMPLE)
    assert regression({K: (3, 2)}, {K: (5, None)}) is None
    assert regression({K: (3, 2)}, {K: (2, 1)}) == (K, (3, 2), (2, 1))
    assert regression({K: (3, 2)}, {}) == (K, (3, 2), None)
    assert committed_version(history, K, 3, 2) and committed_version(history, K, 5, None)
    assert not committed_version(history, K, 2, 2)
    # a row an interrupted snapshot read at 3 and deleted before the snapshot at 5: a phantom
    # a row emitted at 3 and deleted before the snapshot at 5 was redone: a phantom
    assert final_differences(history, {K: (3, 2)}, 5) == []
    # the same row with the stream going on from 3: its delete is missing
    assert final_differences(history, {K: (3, 2)}, 3) == [(K, None, 2)]
