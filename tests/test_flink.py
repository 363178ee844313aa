"""Flink: the correct job survives the hunt, each seeded bug is found by its invariant and
replays, a job that does nothing fails, scripted schedules show alignment, recovery and the
two-phase commit at work, the invariants judge hand-made states and histories, and the model
gives one answer whatever order the inputs interleave in."""

from __future__ import annotations

import random
from typing import Any

import attrs
import pytest

import implementations
from checker.node import Context, Node
from checker.run import execute, new_simulation
from checker.sim import Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config, Variant
from implementations.flink import SYSTEM, Roles, checks, input_log
from implementations.flink.client import POLL
from implementations.flink.jobmanager import CompletedCheckpoint
from implementations.flink.messages import (
    Ack,
    Barrier,
    Commit,
    CommitDone,
    Complete,
    Deploy,
    PreCommit,
    PreCommitted,
    Read,
    ReadResult,
    Record,
    Restarted,
    Result,
    Watermark,
)
from implementations.flink.sink import (
    ABORTED,
    COMMITTED,
    PENDING,
    SinkState,
    Transaction,
    TransactionalStore,
    TwoPhaseCommitSink,
)
from implementations.flink.tasks import SourceState, WindowOperator, WindowState
from invariants.history import Event as HistoryEvent
from models.flink import (
    ALLOWED_LATENESS,
    END,
    START,
    WINDOW,
    Event,
    WindowedSum,
    is_late,
    operator_watermark,
    reference,
    source_watermark,
    state_at,
    within_bound,
)

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")


def walk(variant: str, seed: int, config: Config = DEFAULT, system: Any = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered_on_fifo_channels_with_resets() -> None:
    assert SYSTEM in implementations.registered()
    assert SYSTEM.fifo and DEFAULT.faults["reset"] > 0


@pytest.mark.parametrize("config", [DEFAULT, SMALL], ids=["default", "small"])
def test_correct_variant_survives_the_hunt(config: Config) -> None:
    for seed in range(60):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariant", [
    ("unaligned-snapshot", "consistent-cut"),
    ("commit-at-precommit", "committed-output"),
    ("watermark-max", "no-early-firing"),
])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str, invariant: str) -> None:
    assert SYSTEM.variant(variant).caught_by == invariant
    found = next(r for r in (walk(variant, seed) for seed in range(300)) if r.violated)
    assert found.verdict.invariant == invariant, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()
    assert again.verdict.invariant == invariant


def test_watermark_max_drops_on_time_records() -> None:
    """The early firing is the first symptom of a watermark taken as the maximum; the one the
    bug is named for follows: the slow input's records dropped as late."""
    lenient = attrs.evolve(SYSTEM, invariants=(checks.on_time_kept,))
    found = next(r for r in (walk("watermark-max", seed, system=lenient) for seed in range(100))
                 if r.violated)
    assert found.verdict.invariant == "on-time-kept", found.verdict


def test_faults_reach_the_recovery_paths() -> None:
    """The walk restores jobs from completed checkpoints, with pre-committed transactions to
    commit and newer ones to abort: the windows the seeded bugs need."""
    restored, aborted = 0, 0
    for seed in range(60):
        sim = walk("correct", seed).sim
        deploys = [s.detail for s in sim.trace if isinstance(s.detail, Deploy)]
        restored += any(d.checkpoint > 0 for d in deploys)
        aborted += any(t.status == ABORTED for k, t in sim.contexts["store"].storage.items()
                       .items() if k.startswith("txn/"))
    assert restored >= 6 and aborted >= 1


# --- a job that does nothing -----------------------------------------------------------------


class Deaf(Node):
    """Drops every message."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


class DeafOperator(Deaf, WindowOperator):
    pass


class DeafSink(Deaf, TwoPhaseCommitSink):
    pass


def test_a_job_whose_tasks_drop_every_message_is_violated() -> None:
    silent = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants, "deaf": Variant("deaf", Roles(DeafOperator, DeafSink))})
    result = walk("deaf", 0, system=silent)
    assert result.verdict.invariant == "exactly-once" and result.violated
    assert "lost" in result.verdict.explanation
    progress_only = attrs.evolve(silent, invariants=(checks.job_finishes,))
    result = walk("deaf", 0, system=progress_only)
    assert result.violated and "never finished" in result.verdict.explanation


class StoreAnsweringNothing(TransactionalStore):
    """Answers a read of one key with nothing, as a store filtering on the wrong field does;
    the whole output, for `finish`, it still answers."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Read) and msg.key is not None:
            ctx.send(src, ReadResult(msg.req, ()))
        else:
            super().on_message(ctx, src, msg)


def with_store(store: type[TransactionalStore]) -> Any:
    """The system, its runs' store replaced by `store`."""
    def build(config: Config, roles: Roles, rng: Any) -> Any:
        cluster = SYSTEM.build(config, roles, rng)
        return attrs.evolve(cluster, servers={**cluster.servers, "store": store})
    return attrs.evolve(SYSTEM, build=build)


def test_a_store_whose_reads_never_show_a_window_is_violated() -> None:
    """Every wait then ends `info`: safe, and every check at the end passes; reads-answered
    sees a wait go unanswered after its window was committed and the faults ended."""
    blind = with_store(StoreAnsweringNothing)
    results = [walk("correct", seed, system=blind) for seed in range(10)]
    assert all(r.verdict.invariant == "reads-answered" for r in results if r.violated)
    assert sum(r.violated for r in results) >= 5
    found = next(r for r in results if r.violated)
    assert "was due to be answered" in found.verdict.explanation
    without = attrs.evolve(blind, invariants=tuple(
        inv for inv in SYSTEM.invariants if inv.name != "reads-answered"))
    assert walk("correct", found.seed, system=without).verdict.ok


# --- scripted schedules ----------------------------------------------------------------------


def started(config: Config = SMALL, seed: int = 0) -> Simulation:
    sim = new_simulation(SYSTEM, "correct", config, seed)
    sim.start()
    return sim


def deliver_all(sim: Simulation, until: Any = lambda sim: False, fire: bool = True) -> None:
    """Deliver in send order, firing timers when nothing is in flight, until `until`."""
    for _ in range(20_000):
        if until(sim):
            return
        ready = sim.enabled("deliver")
        if ready:
            sim.execute(ready[0])
        elif fire and sim.enabled("fire"):
            sim.execute(sim.enabled("fire")[0])
        else:
            return
    raise AssertionError("no end")


def committed(sim: Simulation) -> list:
    return list(sim.contexts["store"].storage.durable("output", ()))


def expected(sim: Simulation) -> list:
    return sorted((key, start, total)
                  for (key, start), total in reference(list(checks.input_logs(sim).values()))
                  .items())


def test_without_faults_the_job_outputs_the_reference_once_and_finishes() -> None:
    sim = started(DEFAULT, seed=3)
    deliver_all(sim, until=lambda sim: sim.contexts["jm"].storage.get("finished"))
    assert sorted(committed(sim)) == expected(sim)
    completed = sim.contexts["jm"].storage.durable("completed")
    assert completed.final and completed.checkpoint > 1
    assert checks.consistent_cut.check(sim) is None


def test_a_crashed_operator_restarts_the_job_from_the_last_completed_checkpoint() -> None:
    sim = started(DEFAULT, seed=3)
    jm = sim.contexts["jm"].storage
    deliver_all(sim, until=lambda sim: (jm.get("completed") or CompletedCheckpoint(0, (), False))
                .checkpoint >= 2 and committed(sim))
    before = jm.get("completed")
    sim.execute(("crash", "win1"))
    sim.execute(("restart", "win1"))
    deliver_all(sim, until=lambda sim: jm.get("finished"))
    deploys = [step.detail for step in sim.trace
               if isinstance(step.detail, Deploy) and step.detail.attempt == 2]
    assert len(deploys) == 5 and len({d.checkpoint for d in deploys}) == 1
    assert deploys[0].checkpoint >= before.checkpoint
    assert sorted(committed(sim)) == expected(sim)


def operator(sim: Simulation) -> WindowOperator:
    node = sim.nodes["win1"]
    node.on_message(sim.contexts["win1"], "jm", Deploy(1, 0, None))
    return node


def test_alignment_holds_records_behind_a_barrier_until_the_other_barrier() -> None:
    sim = started()
    win, ctx = operator(sim), sim.contexts["win1"]
    win.on_message(ctx, "src1", Record(1, 0, "a", 2, 1))
    win.on_message(ctx, "src1", Barrier(1, 1))
    win.on_message(ctx, "src1", Record(1, 1, "a", 5, 2))  # after the cut: held
    assert win.windows == {("a", 0): [2, False]} and win.blocked == {"src1"}
    win.on_message(ctx, "src2", Record(1, 0, "a", 1, 1))
    win.on_message(ctx, "src2", Barrier(1, 1))
    acks = [e.msg for e in sim.network.in_flight.values() if isinstance(e.msg, Ack)]
    assert acks == [Ack(1, 1, WindowState((("a", 0, 3, False),)))]
    assert win.windows == {("a", 0): [8, False]} and not win.blocked  # then counted


def test_the_watermark_is_the_minimum_over_inputs_and_fires_windows() -> None:
    sim = started()
    win, ctx = operator(sim), sim.contexts["win1"]
    win.on_message(ctx, "src1", Record(1, 0, "a", 2, 4))
    win.on_message(ctx, "src1", Watermark(1, 15))
    assert win.watermark == START  # src2 has said nothing yet
    win.on_message(ctx, "src2", Watermark(1, 12))
    assert win.watermark == 12
    results = [e.msg for e in sim.network.in_flight.values() if isinstance(e.msg, Result)]
    assert results == [Result(1, "a", 0, 2)]
    assert ("a", 0) not in win.windows  # its lateness is over too (10 + 2 <= 12)


def test_a_late_record_is_dropped_and_a_record_within_lateness_fires_again() -> None:
    sim = started()
    win, ctx = operator(sim), sim.contexts["win1"]
    win.on_message(ctx, "src1", Record(1, 0, "a", 2, 4))
    for source in ("src1", "src2"):
        win.on_message(ctx, source, Watermark(1, WINDOW + ALLOWED_LATENESS - 1))
    win.on_message(ctx, "src2", Record(1, 0, "a", 3, 5))  # within lateness: fires again
    for source in ("src1", "src2"):
        win.on_message(ctx, source, Watermark(1, WINDOW + ALLOWED_LATENESS))
    win.on_message(ctx, "src2", Record(1, 1, "a", 7, 6))  # too late: dropped
    results = [e.msg.value for e in sim.network.in_flight.values() if isinstance(e.msg, Result)]
    assert results == [2, 5]
    assert [fact["offset"] for kind, _, _, fact in sim.ghost if kind == "dropped"] == [1]


def test_a_task_drops_an_old_attempt_and_holds_a_newer_one_until_its_deploy() -> None:
    sim = started()
    win, ctx = operator(sim), sim.contexts["win1"]
    win.on_message(ctx, "src1", Record(0, 0, "a", 9, 1))  # an older attempt: dropped
    win.on_message(ctx, "src1", Record(2, 0, "a", 4, 1))  # its Deploy is on the way
    assert win.windows == {}
    win.on_message(ctx, "jm", Deploy(2, 0, None))
    assert win.windows == {("a", 0): [4, False]}


def store_messages(sim: Simulation) -> list:
    return [e.msg for e in sim.network.in_flight.values() if e.dst == "store"]


def test_the_sink_pre_commits_at_the_barrier_and_commits_on_completion() -> None:
    sim = started()
    sink, ctx = sim.nodes["sink"], sim.contexts["sink"]
    sink.on_message(ctx, "jm", Deploy(1, 0, None))
    sink.on_message(ctx, "win1", Result(1, "a", 0, 7))
    sink.on_message(ctx, "win1", Barrier(1, 4))
    assert store_messages(sim)[-1] == PreCommit(1, 4, (("a", 0, 7),))
    sink.on_message(ctx, "win1", Result(1, "a", 10, 1))  # held: the pre-commit is under way
    assert sink.open == [] and sink.blocked == {"win1"}
    sink.on_message(ctx, "store", PreCommitted(1, 4))
    assert sink.open == [("a", 10, 1)] and sink.pending == [4]
    assert not any(isinstance(m, Commit) for m in store_messages(sim))  # not before completion
    sink.on_message(ctx, "jm", Complete(1, 4, final=False))
    assert store_messages(sim)[-1] == Commit(1, 4)
    sink.on_message(ctx, "store", CommitDone(1, 4))
    assert sink.pending == []


def test_a_restored_sink_commits_its_checkpoints_transactions_and_aborts_newer_ones() -> None:
    sim = started()
    store, store_ctx = sim.nodes["store"], sim.contexts["store"]
    for txn in (3, 5):
        store.on_message(store_ctx, "sink", PreCommit(1, txn, (("a", txn, 1),)))
    sink, ctx = sim.nodes["sink"], sim.contexts["sink"]
    sink.on_message(ctx, "jm", Deploy(2, 3, SinkState((3,))))
    for msg in store_messages(sim):
        store.on_message(store_ctx, "sink", msg)
    assert store.transaction(store_ctx, 3).status == COMMITTED
    assert store.transaction(store_ctx, 5).status == ABORTED
    assert committed(sim) == [("a", 3, 1)]
    store.on_message(store_ctx, "sink", Commit(2, 3))  # idempotent
    assert committed(sim) == [("a", 3, 1)]


def test_readers_see_only_committed_output() -> None:
    sim = started()
    store, ctx = sim.nodes["store"], sim.contexts["store"]
    store.on_message(ctx, "sink", PreCommit(1, 1, (("a", 0, 4), ("b", 0, 2))))
    store.on_message(ctx, "c1", Read(1, "a"))
    store.on_message(ctx, "sink", Commit(1, 1))
    store.on_message(ctx, "c1", Read(2, "a"))
    answers = [e.msg.records for e in sim.network.in_flight.values() if e.dst == "c1"]
    assert answers == [(), (("a", 0, 4),)]


def test_the_jobmanager_completes_on_every_ack_and_restarts_on_a_failure() -> None:
    sim = started()
    jm, ctx = sim.nodes["jm"], sim.contexts["jm"]
    jm.on_timer(ctx, "checkpoint")
    for task in jm.tasks:
        jm.on_message(ctx, task, Ack(1, 1, None, finished=task.startswith("src")))
    completed = ctx.storage.durable("completed")
    assert completed.checkpoint == 1 and completed.final
    assert any(e.msg == Complete(1, 1, True) for e in sim.network.in_flight.values())
    jm.on_message(ctx, "win1", Restarted(1))
    deploys = {e.dst: e.msg for e in sim.network.in_flight.values()
               if isinstance(e.msg, Deploy) and e.msg.attempt == 2}
    assert sorted(deploys) == sorted(jm.tasks)
    assert {d.checkpoint for d in deploys.values()} == {1} and deploys["win1"].incarnation == 1


def test_a_restarted_task_ignores_what_was_deployed_to_the_process_that_crashed() -> None:
    sim = started()
    sim.execute(("crash", "win1"))
    sim.execute(("restart", "win1"))
    win, ctx = sim.nodes["win1"], sim.contexts["win1"]
    win.on_message(ctx, "jm", Deploy(1, 0, None))  # sent before the crash
    assert win.attempt is None
    win.on_message(ctx, "jm", Deploy(2, 0, None, incarnation=1))
    assert win.attempt == 2


# --- the invariants on hand-made states ------------------------------------------------------


def with_checkpoint(sim: Simulation, offsets: tuple[int, int], windows: Any = None,
                    pending: tuple = ()) -> None:
    logs = list(checks.input_logs(sim).values())
    sources = [SourceState(o, max((e.time for e in log[:o]), default=None))
               for log, o in zip(logs, offsets)]
    held = state_at(logs, offsets) if windows is None else windows
    states = (("sink", SinkState(pending)), ("src1", sources[0]), ("src2", sources[1]),
              ("win1", WindowState(held)))
    sim.contexts["jm"].storage.put("completed", CompletedCheckpoint(7, states, False))


def test_consistent_cut_accepts_the_reference_state_and_catches_a_double_count() -> None:
    sim = started(DEFAULT)
    with_checkpoint(sim, (3, 2))
    assert checks.consistent_cut.check(sim) is None
    sim = started(DEFAULT)
    good = state_at(list(checks.input_logs(sim).values()), (3, 2))
    key, start, total, fired = good[0]
    with_checkpoint(sim, (3, 2), ((key, start, total * 2, fired), *good[1:]))
    assert "not a consistent cut" in checks.consistent_cut.check(sim)


def test_consistent_cut_wants_the_pending_transactions_in_the_store() -> None:
    sim = started(DEFAULT)
    with_checkpoint(sim, (3, 2), pending=(6,))
    assert "holds it as nothing" in checks.consistent_cut.check(sim)
    sim = started(DEFAULT)
    sim.contexts["store"].storage.put("txn/6", Transaction(PENDING, ()))
    with_checkpoint(sim, (3, 2), pending=(6,))
    assert checks.consistent_cut.check(sim) is None


def noted(sim: Simulation, kind: str, node: str, **fact: Any) -> None:
    sim.ghost.append((kind, sim.time, node, fact))


def delivered(sim: Simulation, src: str, dst: str, msg: Any) -> None:
    """A delivery as the trace records it (what the network did, not the task)."""
    sim.trace.append(Step(("deliver", src, dst, len(sim.trace)), sim.time, msg))


def test_watermarks_monotone_within_an_attempt_only() -> None:
    sim = started()
    noted(sim, "watermark", "win1", attempt=1, time=12)
    noted(sim, "watermark", "win1", attempt=2, time=3)  # a new attempt starts over
    assert checks.watermarks_monotone.check(sim) is None
    noted(sim, "watermark", "win1", attempt=2, time=2)
    assert "went back from 3 to 2" in checks.watermarks_monotone.check(sim)


def fire_of_first_window(sim: Simulation) -> dict:
    logs = checks.input_logs(sim)
    key, start = min(reference(list(logs.values())))
    total = reference(list(logs.values()))[(key, start)]
    return {"attempt": 1, "key": key, "start": start, "value": total}


def test_no_early_firing_wants_every_inputs_watermark_past_the_end() -> None:
    sim = started()
    fire = fire_of_first_window(sim)
    end = fire["start"] + WINDOW
    delivered(sim, "src1", "win1", Watermark(1, end))
    delivered(sim, "src2", "win1", Watermark(2, END))  # of another attempt
    noted(sim, "fire", "win1", **fire)
    assert "src2's watermark had only reached nothing" in checks.no_early_firing.check(sim)
    sim = started()
    delivered(sim, "src1", "win1", Watermark(1, end))
    delivered(sim, "src2", "win1", Watermark(1, end))
    noted(sim, "fire", "win1", **fire)
    assert checks.no_early_firing.check(sim) is None


def test_no_early_firing_names_the_records_still_to_come() -> None:
    sim = started()
    first = checks.input_logs(sim)["src2"][0]
    start = first.time - first.time % WINDOW
    delivered(sim, "src1", "win1", Watermark(1, END))
    noted(sim, "fire", "win1", attempt=1, key=first.key, start=start, value=0)
    assert f"yet to deliver src2#0 (event time {first.time}" in checks.no_early_firing.check(sim)


def test_on_time_kept_judges_a_drop_by_its_sources_watermark() -> None:
    sim = started()
    log = checks.input_logs(sim)["src1"]
    noted(sim, "dropped", "win1", attempt=1, input="src1", offset=1, key=log[1].key,
          time=log[1].time)
    assert "it was on time" in checks.on_time_kept.check(sim)
    late_sim = started()
    mark = source_watermark(log, 1)
    noted(late_sim, "dropped", "win1", attempt=1, input="src1", offset=1, key="a",
          time=mark - WINDOW - ALLOWED_LATENESS)
    assert checks.on_time_kept.check(late_sim) is None


def test_exactly_once_catches_a_duplicate_and_a_loss() -> None:
    sim = started()
    output = tuple(expected(sim))
    sim.contexts["store"].storage.put("output", output)
    assert checks.exactly_once.check(sim).ok
    sim.contexts["store"].storage.put("output", output + output[:1])
    assert "duplicated" in checks.exactly_once.check(sim).explanation
    sim.contexts["store"].storage.put("output", output[1:])
    assert "lost" in checks.exactly_once.check(sim).explanation


def test_committed_output_allows_what_is_still_to_come_but_no_duplicate() -> None:
    sim = started()
    output = tuple(expected(sim))
    sim.contexts["store"].storage.put("output", output[:1])
    assert checks.committed_output.check(sim) is None
    sim.contexts["store"].storage.put("output", output[:1] * 2)
    assert "came out 2 times" in checks.committed_output.check(sim)
    key, start, total = output[0]
    sim = started()
    sim.contexts["store"].storage.put("output", ((key, start, total + 1),))
    assert "reference run gives" in checks.committed_output.check(sim)


def finished_run(seed: int = 0) -> Simulation:
    return walk("correct", seed, SMALL).sim


def test_job_finishes_catches_a_pending_transaction_left_behind() -> None:
    sim = finished_run()
    assert checks.job_finishes.check(sim).ok
    sim.contexts["store"].storage.put("txn/99", Transaction(PENDING, ()))
    assert "still pending" in checks.job_finishes.check(sim).explanation


def test_job_finishes_wants_the_final_read_to_hold_the_whole_output() -> None:
    sim = finished_run()
    last = sim.history[-1]
    assert (last.f, last.type) == ("finish", "ok")
    sim.history[-1] = attrs.evolve(last, value=last.value[1:])
    assert "final read" in checks.job_finishes.check(sim).explanation


def test_reads_exactly_once_catches_a_read_that_saw_a_result_twice() -> None:
    sim = finished_run()
    assert checks.reads_exactly_once.check(sim).ok
    key, start, total = expected(sim)[0]
    sim.history += [HistoryEvent("c1", "invoke", "await", [key, start], sim.time),
                    HistoryEvent("c1", "ok", "await", [[key, start, total]] * 2, sim.time)]
    assert checks.reads_exactly_once.check(sim).violated


def test_reads_exactly_once_wants_a_completed_wait_to_hold_its_window() -> None:
    sim = finished_run()
    (key, start, total), *_ = expected(sim)
    sim.history += [HistoryEvent("c1", "invoke", "await", [key, start], sim.time),
                    HistoryEvent("c1", "ok", "await", [], sim.time)]
    assert "does not hold it" in checks.reads_exactly_once.check(sim).explanation


def test_reads_answered_wants_a_committed_window_by_the_next_poll() -> None:
    sim = finished_run()
    assert sim.phase == "quiesce" and checks.reads_answered.check(sim) is None
    key, start, _ = committed(sim)[0]
    now = sim.time
    sim.history += [HistoryEvent("c1", "invoke", "await", [key, start], now),
                    HistoryEvent("c1", "info", "await", None, now + POLL)]
    assert checks.reads_answered.check(sim) is None  # its last poll raced the commit
    sim.history += [HistoryEvent("c1", "invoke", "await", [key, start], now),
                    HistoryEvent("c1", "info", "await", None, now + POLL + 1)]
    assert "ended info" in checks.reads_answered.check(sim)


def test_reads_answered_names_a_wait_still_open_past_its_poll() -> None:
    sim = finished_run()
    key, start, _ = committed(sim)[0]
    sim.history.append(HistoryEvent("c1", "invoke", "await", [key, start], sim.time))
    sim.time += POLL
    assert checks.reads_answered.check(sim) is None
    sim.time += 1
    assert "still waiting" in checks.reads_answered.check(sim)
    sim = finished_run()
    sim.history.append(HistoryEvent("c1", "invoke", "await", [key, -10], sim.time))
    sim.time += 2 * POLL
    assert checks.reads_answered.check(sim) is None  # a window never committed is not due
    sim = finished_run()
    sim.history.append(HistoryEvent("c1", "invoke", "finish", None, sim.time))
    sim.time += POLL + 1
    assert "the job finished" in checks.reads_answered.check(sim)


def test_reads_answered_judges_nothing_before_the_faults_end() -> None:
    sim = started()
    deliver_all(sim, until=lambda sim: committed(sim))
    key, start, _ = committed(sim)[0]
    sim.history += [HistoryEvent("c1", "invoke", "await", [key, start], 0),
                    HistoryEvent("c1", "info", "await", None, sim.time + 10 * POLL)]
    assert sim.phase == "run" and checks.reads_answered.check(sim) is None


# --- the model -------------------------------------------------------------------------------


def test_generated_logs_respect_the_out_of_orderness_bound() -> None:
    rng = random.Random(1)
    assert all(within_bound(input_log(rng, 12)) for _ in range(200))
    assert not within_bound((Event("a", 1, 20), Event("a", 1, 2)))


def test_watermarks_and_lateness() -> None:
    log = (Event("a", 1, 4), Event("b", 1, 9))
    assert [source_watermark(log, i) for i in range(3)] == [START, 1, END]
    assert operator_watermark([log, log], [2, 1]) == 1
    assert not is_late(5, WINDOW + ALLOWED_LATENESS - 1)
    assert is_late(5, WINDOW + ALLOWED_LATENESS)


def interleaved(logs: list, rng: random.Random) -> tuple[list, dict]:
    """Run the operator over the inputs in a random order: its firings, and its state at
    every cut it passed through."""
    operator, fired, read, states = WindowedSum(), [], [0, 0], {}
    while read != [len(log) for log in logs]:
        i = rng.choice([j for j in (0, 1) if read[j] < len(logs[j])])
        fired += operator.add(logs[i][read[i]])
        read[i] += 1
        fired += operator.advance(operator_watermark(logs, read))
        states[tuple(read)] = operator.state()
    return fired, states


def test_the_reference_does_not_depend_on_how_the_inputs_interleave() -> None:
    rng = random.Random(5)
    for _ in range(100):
        logs = [input_log(rng, 6), input_log(rng, 6)]
        fired, states = interleaved(logs, rng)
        assert {(key, start): total for key, start, total in fired} == reference(logs)
        assert len(fired) == len(reference(logs))  # each window fires once
        for cut, state in states.items():
            assert state == state_at(logs, cut)
