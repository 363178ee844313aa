"""MapReduce: the correct system survives the hunt and a system that does nothing does not;
each seeded bug is found by its invariant and replays; scripted schedules show re-execution
after a worker's crash, a backup task racing a straggler, a master restarting from its
checkpoint, and a direct final write leaving partial then duplicate output; the invariants
and the model behave on hand-made inputs."""

from __future__ import annotations

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
from checker.system import Config, Invariant, Variant
from implementations.mapreduce import SYSTEM, Roles, build, checks
from implementations.mapreduce.master import COMPLETED, LostMapsNotReexecuted, Master, Task
from implementations.mapreduce.messages import (
    FAIL_AFTER,
    MASTER,
    PING,
    READ_TIMEOUT,
    READ_TRIES,
    STORE,
    Append,
    Assign,
    Attempt,
    Fetch,
    Job,
    JobDone,
    Locations,
    MapAt,
    MapOutput,
    Rename,
    Renamed,
    Status,
    final_file,
)
from implementations.mapreduce.program import INPUT, PROGRAMS, SampledWordCount, WordCount
from implementations.mapreduce.store import File, OutputStore
from implementations.mapreduce.worker import DirectFinalWrite, ReduceRun, Worker
from invariants.history import Event
from models.mapreduce import (
    executions,
    from_one_execution,
    partition_from_some_execution,
    run_sequentially,
)

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")
WORDS = ((("cat", 2), ("sat", 2), ("the", 2)), (("a", 2), ("dog", 2), ("ran", 1)))  # 4 splits
THREE = ((("cat", 2), ("sat", 2), ("the", 2)), (("a", 1), ("dog", 1), ("ran", 1)))  # 3 splits


def walk(variant: str, seed: int, config: Config = DEFAULT, system: Any = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", [DEFAULT, SMALL], ids=["default", "small"])
def test_correct_variant_survives_the_hunt(config: Config) -> None:
    for seed in range(60):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)
        assert result.sim.history[-1].type == "ok", seed  # the ending's reads went through


@pytest.mark.parametrize("variant, invariant", [
    ("direct-final-write", "no-partial-final"),
    ("lost-maps-not-reexecuted", "sequential-output"),
    ("nondeterministic-map", "one-execution"),
])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str, invariant: str) -> None:
    found = next(r for r in (walk(variant, seed) for seed in range(200)) if r.violated)
    assert found.verdict.invariant == invariant, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


def test_a_nondeterministic_map_still_gets_the_weak_semantics() -> None:
    """What the atomic commit does promise: the runs whose partitions come from different
    executions, replayed to their end without the strong check, satisfy every other
    invariant, each partition equal to its output in some sequential execution."""
    weak = attrs.evolve(SYSTEM, invariants=tuple(inv for inv in SYSTEM.invariants
                                                 if inv.name != "one-execution"))
    mixed = [r for r in (walk("nondeterministic-map", seed) for seed in range(60))
             if r.violated]
    assert mixed
    for result in mixed:
        assert result.verdict.invariant == "one-execution"
        again = execute(weak, "nondeterministic-map", DEFAULT, result.seed,
                        Replay(result.choices))
        assert again.verdict.ok, again.verdict


class Deaf(Worker):
    """A worker that ignores every message: nothing is ever computed."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


def test_a_system_that_does_nothing_is_reported() -> None:
    system = attrs.evolve(SYSTEM, variants={"deaf": Variant("deaf", Roles(worker=Deaf))})
    for seed in range(3):
        verdict = walk("deaf", seed, SMALL, system).verdict
        assert verdict.violated and verdict.invariant == "sequential-output", verdict
        assert "map0, map1, map2, reduce0, reduce1 not completed" in verdict.explanation


class RenameReplaces(OutputStore):
    """Not seeded: a rename onto an existing final file replaces it."""

    def rename(self, ctx: Context, msg: Rename) -> None:
        if msg.src in self.files:
            self.files.pop(msg.dst, None)
        super().rename(ctx, msg)


class ReexecutesReduces(Master):
    """Not seeded: a failed worker's completed reduce tasks are run again too."""

    def lost_outputs(self, worker: str) -> list[Task]:
        return [task for task in self.tasks.values()
                if task.state == COMPLETED and task.done.worker == worker]


class SuspectsEarly(Master):
    """Not seeded: a status leaves its worker one ping period of silence instead of none,
    so the master takes a worker that answers every ping for failed a period early, before
    it has pinged it again."""

    def on_status(self, ctx: Context, worker: str, status: Status) -> None:
        super().on_status(ctx, worker, status)
        if self.incarnations[worker] == status.incarnation:  # taken, not stale
            self.silent[worker] = 1


class SuspectsLate(Master):
    """Not seeded: a status leaves its worker at minus one ping period of silence, so a
    worker that stops answering is taken for failed a period late."""

    def on_status(self, ctx: Context, worker: str, status: Status) -> None:
        super().on_status(ctx, worker, status)
        if self.incarnations[worker] == status.incarnation:  # taken, not stale
            self.silent[worker] = -1


class TellsOnlyWhenAsked(Master):
    """Not seeded: the master does not wake the user when the job completes; the user
    learns it when it next resubmits the job."""

    answering = False

    def on_submit(self, ctx: Context, user: str, job: Any) -> None:
        self.answering = True
        super().on_submit(ctx, user, job)
        self.answering = False

    def tell_user(self, ctx: Context) -> None:
        if self.answering:
            super().tell_user(ctx)


class NotifiesNobody(Master):
    """Not seeded: reducers learn where a re-executed map is only when they ask."""

    def notify_reducers(self, ctx: Context) -> None:
        pass


class SkipsLostMaps(Worker):
    """Not seeded: a reducer that cannot fetch a map output reduces without it."""

    def on_map_output(self, ctx: Context, run: ReduceRun, msg: MapOutput) -> None:
        super().on_map_output(ctx, run, attrs.evolve(msg, records=msg.records or ()))


@pytest.mark.parametrize("roles, invariant", [
    (Roles(store=RenameReplaces), "one-commit-per-partition"),
    (Roles(master=ReexecutesReduces), "completed-once"),
    (Roles(worker=SkipsLostMaps), "no-partial-final"),
    (Roles(master=SuspectsEarly), "failed-after-silence"),
    (Roles(master=SuspectsLate), "failed-in-time"),
    (Roles(master=TellsOnlyWhenAsked), "user-woken"),
    (Roles(master=NotifiesNobody), "reducers-notified"),
], ids=["rename-replaces", "reexecutes-reduces", "skips-lost-maps", "suspects-early",
        "suspects-late", "tells-only-when-asked", "notifies-nobody"])
def test_bugs_nobody_seeded_are_caught(roles: Roles, invariant: str) -> None:
    system = attrs.evolve(SYSTEM, variants={"mutant": Variant("mutant", roles)})
    found = next(r for r in (walk("mutant", seed, system=system) for seed in range(100))
                 if r.violated)
    assert found.verdict.invariant == invariant, found.verdict


# --- scripted schedules ----------------------------------------------------------------------


JOB = {"program": WordCount.name, "splits": 3, "reduces": 2}


def cluster_sim(roles: Roles = Roles(), job: dict = JOB) -> Simulation:
    cluster = build(SMALL, roles, random.Random(0))
    cluster.workload = {"c1": [("job", job)]}
    sim = Simulation(cluster, 0, 0, {"drop": 10, "crash": 10, "pause": 10})
    sim.start()
    return sim


def run_until(sim: Simulation, stop: Callable[[Any], bool] = lambda msg: False,
              horizon: int = 400) -> Any:
    """Invoke, deliver in send order, fire timers when nothing else can happen; return the
    first message `stop` names, undelivered (None once the clients are idle, or when
    `horizon` more ticks have passed)."""
    deadline = sim.time + horizon
    for _ in range(5000):
        if sim.enabled("invoke"):
            sim.execute(sim.enabled("invoke")[0])
            continue
        ready = sim.enabled("deliver")
        if ready:
            msg = sim.network.in_flight[ready[0][1:]].msg
            if stop(msg):
                return msg
            sim.execute(ready[0])
            continue
        timers = sim.enabled("fire")
        if sim.clients_idle() or not timers or sim.timers.due[timers[0][1:]] > deadline:
            return None
        sim.execute(timers[0])
    raise AssertionError("no progress")


def in_flight(sim: Simulation, wanted: Callable[[Any], bool]) -> tuple:
    return next(key for key, envelope in sim.network.in_flight.items() if wanted(envelope.msg))


def final_records(sim: Simulation) -> tuple:
    files = sim.contexts[STORE].storage.items()["files"]
    return tuple(files[final_file(p)].records for p in range(2))


def facts(sim: Simulation, kind: str) -> list[dict]:
    return [fact for k, _, _, fact in sim.ghost if k == kind]


def finish_with_reads(sim: Simulation) -> None:
    """What the ending does: read every partition once the job is done."""
    run_until(sim)
    sim.workload["c1"] += [("read", 0), ("read", 1)]
    run_until(sim)


def test_a_fault_free_job_computes_the_word_count() -> None:
    sim = cluster_sim()
    finish_with_reads(sim)
    assert final_records(sim) == THREE
    assert [op.status for op in sim.operations()] == ["ok"] * 3
    assert checks.sequential_output.check(sim).ok and checks.one_execution.check(sim) is None
    assert not facts(sim, "reexecute") and len(facts(sim, "committed")) == 2


def crash_a_map_worker_before_the_reducer_fetches(roles: Roles) -> Simulation:
    """Run until a reducer asks another worker for a map output, crash that worker (its
    local disk is gone), and restart it: the master learns of the reboot from its status."""
    sim = cluster_sim(roles)
    fetch = run_until(sim, stop=lambda msg: isinstance(msg, Fetch))
    holder = in_flight(sim, lambda msg: msg == fetch)[1]
    sim.execute(("crash", holder))
    sim.execute(("restart", holder))
    finish_with_reads(sim)
    return sim


def test_a_crashed_workers_completed_maps_are_re_executed() -> None:
    sim = crash_a_map_worker_before_the_reducer_fetches(Roles())
    assert {fact["cause"] for fact in facts(sim, "reexecute")} == {"rebooted"}
    assert final_records(sim) == THREE
    assert checks.sequential_output.check(sim).ok
    assert checks.completed_once.check(sim) is None


def test_without_re_execution_the_reducers_wait_forever() -> None:
    sim = crash_a_map_worker_before_the_reducer_fetches(Roles(master=LostMapsNotReexecuted))
    assert not facts(sim, "reexecute")
    verdict = checks.sequential_output.check(sim)
    assert verdict.violated and "never reported done" in verdict.explanation


def test_a_backup_races_a_straggler_and_one_rename_wins() -> None:
    """A worker stalls for less than it takes to be declared failed: the reduce task still
    running when it comes back gets a backup execution, both executions rename their
    output onto the final name, and the store commits the first rename only."""
    sim = cluster_sim()
    fetch = run_until(sim, stop=lambda msg: isinstance(msg, Fetch))
    straggler = in_flight(sim, lambda msg: msg == fetch)[0]
    sim.execute(("pause", straggler, FAIL_AFTER * PING - 1))
    finish_with_reads(sim)
    renames: dict[str, set[Attempt]] = {}
    for step in sim.trace:
        if step.event[0] == "deliver" and isinstance(step.detail, Rename):
            renames.setdefault(step.detail.dst, set()).add(step.detail.writer)
    assert sorted(len(writers) for writers in renames.values()) == [1, 2]
    assert sorted(fact["file"] for fact in facts(sim, "committed")) == sorted(renames)
    assert final_records(sim) == THREE
    assert checks.one_commit_per_partition.check(sim) is None
    assert not facts(sim, "reexecute")  # a backup, not a failure


def test_a_master_restarts_from_its_checkpoint() -> None:
    sim = cluster_sim()
    run_until(sim, stop=lambda msg: isinstance(msg, Fetch))
    sim.execute(("crash", "master"))
    sim.execute(("restart", "master"))
    finish_with_reads(sim)
    assert final_records(sim) == THREE
    assert len({fact["task"] for fact in facts(sim, "completed")}) == 5


def test_a_direct_final_write_leaves_partial_then_duplicate_output() -> None:
    """The seeded bug with a crash and a retry: the reducer dies after its first append, so
    the final file stays partial; the re-execution appends the whole output after it."""
    sim = cluster_sim(Roles(worker=DirectFinalWrite))
    second = run_until(sim, stop=lambda msg: isinstance(msg, Append) and msg.index == 1)
    assert "holds 2 of its 3 records" in checks.no_partial_final.check(sim)
    writer = in_flight(sim, lambda msg: msg == second)[0]
    sim.execute(("drop", *in_flight(sim, lambda msg: msg == second)))
    sim.execute(("crash", writer))
    sim.execute(("restart", writer))
    finish_with_reads(sim)
    records = final_records(sim)[second.writer.index]
    assert len(records) == 5 and len(set(records)) == 3
    assert "2 times" in checks.no_partial_final.check(sim)
    assert checks.sequential_output.check(sim).violated


# --- the output store ------------------------------------------------------------------------


def test_the_first_rename_wins_and_an_append_applies_once() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    store, ctx = sim.nodes[STORE], sim.contexts[STORE]
    a, b = Attempt("reduce", 0, 1), Attempt("reduce", 0, 2)
    for writer, file, records in ((a, "tmp/a", (("x", 1),)), (b, "tmp/b", (("x", 2),))):
        store.append(ctx, Append(file, writer, 0, records))
        store.append(ctx, Append(file, writer, 0, records))  # resent
    store.rename(ctx, Rename("tmp/a", "out/part-0", a))
    store.rename(ctx, Rename("tmp/b", "out/part-0", b))
    restarted = OutputStore(STORE)
    restarted.on_recover(ctx)
    assert restarted.files["out/part-0"].records == (("x", 1),)
    assert restarted.files["tmp/b"].records == (("x", 2),)
    assert [fact["writer"] for fact in facts(sim, "committed")] == [repr(a)]


def test_every_rename_is_answered() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    writer = Attempt("reduce", 1, 3)
    sim.nodes[STORE].on_message(sim.contexts[STORE], "w1", Rename("tmp/x", "out/x", writer))
    assert [e.msg for e in sim.network.in_flight.values()] == [Renamed("out/x", writer)]


# --- the invariants on hand-made states and histories ----------------------------------------


def hand_made(files: dict[str, tuple], job: dict = JOB) -> Simulation:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    sim.contexts[STORE].storage.put("files", {name: File(records)
                                              for name, records in files.items()})
    sim.history.append(Event("c1", "invoke", "job", job, 0))
    return sim


def test_no_partial_final_accepts_whole_partitions_and_temporary_files() -> None:
    sim = hand_made({final_file(0): THREE[0], "tmp/part-1.1": THREE[1][:1]})
    assert checks.no_partial_final.check(sim) is None
    sim = hand_made({final_file(1): THREE[1][:2]})
    assert "holds 2 of its 3 records (missing ran=1)" in checks.no_partial_final.check(sim)
    sim = hand_made({final_file(0): (("cat", 3), ("sat", 2), ("the", 2))})
    assert "where a sequential run has" in checks.no_partial_final.check(sim)


def test_one_commit_per_partition_reads_the_stores_renames() -> None:
    sim = hand_made({final_file(0): THREE[0]})
    assert "no rename committed it" in checks.one_commit_per_partition.check(sim)
    sim = hand_made({final_file(0): THREE[0]})
    sim.ghost.append(("committed", 5, STORE, {"file": final_file(0), "writer": "reduce0.1",
                                              "records": THREE[0]}))
    assert checks.one_commit_per_partition.check(sim) is None
    sim.ghost.append(("committed", 9, STORE, {"file": final_file(0), "writer": "reduce0.2",
                                              "records": THREE[0]}))
    assert "committed twice" in checks.one_commit_per_partition.check(sim)


def completion(task: str, worker: str) -> tuple:
    return ("completed", 0, "master", {"task": task, "attempt": f"{task}.1", "worker": worker})


def reexecution(task: str, worker: str) -> tuple:
    return ("reexecute", 0, "master", {"task": task, "worker": worker, "cause": "rebooted"})


@pytest.mark.parametrize("ghost, problem", [
    ([completion("map0", "w1"), reexecution("map0", "w1"), completion("map0", "w2")], None),
    ([completion("map0", "w1"), completion("map0", "w2")], "not re-executed"),
    ([completion("map0", "w1"), reexecution("map0", "w2")], "completed by w1"),
    ([completion("reduce0", "w1"), reexecution("reduce0", "w1")], "re-executed reduce0"),
    ([reexecution("map1", "w1")], "completed by nobody"),
])
def test_completed_once_wants_a_cause_for_every_second_completion(ghost: list,
                                                                   problem: str | None) -> None:
    sim = hand_made({})
    sim.ghost += ghost
    sentence = checks.completed_once.check(sim)
    assert sentence is None if problem is None else problem in sentence


def failure(worker: str, time: int, cause: str = "silent for 100 ticks") -> tuple:
    return ("failed", time, "master", {"worker": worker, "cause": cause})


def status_from(worker: str, time: int, incarnation: int = 1) -> Step:
    return Step(("deliver", worker, "master", time), time, Status(incarnation, 0, ()))


@pytest.mark.parametrize("steps, ghost, problem", [
    ([status_from("w1", 10)], [failure("w1", 110)], None),
    ([status_from("w1", 10)], [failure("w1", 90)], "heard from w1 at t=10, only 80 ticks"),
    ([status_from("w1", 10)], [failure("w1", 90, "rebooted")], None),
    ([status_from("w1", 10, 2), status_from("w1", 50, 1)], [failure("w1", 120)], None),
    ([status_from("w1", 10, 1), status_from("w1", 50, 2)], [failure("w1", 120)], "t=50"),
    ([Step(("restart", "master"), 30)], [failure("w2", 110)], "restarted at t=30, only 80"),
    ([status_from("w1", 10), status_from("w1", 110)], [failure("w1", 110)], None),
], ids=["after-silence", "too-soon", "rebooted", "stale-status-ignored", "newer-boot-counts",
        "master-restart-counts", "a-status-in-the-same-tick-may-come-after"])
def test_failed_after_silence_counts_from_the_last_status_the_master_took(
        steps: list[Step], ghost: list, problem: str | None) -> None:
    assert_judged(checks.failed_after_silence, steps, ghost, problem)


def assert_judged(invariant: Invariant, steps: list[Step], ghost: list,
                  problem: str | None) -> None:
    """A hand-made run with these steps and ghost facts: the state check holds (problem
    None), or its sentence says `problem`."""
    sim = hand_made({})
    sim.trace += steps
    sim.ghost += ghost
    sentence = invariant.check(sim)
    assert sentence is None if problem is None else problem in sentence


def ping_rounds(*times: int) -> list[Step]:
    return [Step(("fire", MASTER, "ping"), time) for time in times]


SIX_ROUNDS = ping_rounds(*range(20, 140, 20))  # t=20 .. 120: the sixth is due to fail


@pytest.mark.parametrize("steps, ghost, problem", [
    (SIX_ROUNDS, [failure("w1", 120), failure("w2", 120)], None),
    (SIX_ROUNDS[:5], [], None),
    (SIX_ROUNDS, [failure("w1", 120)], "not heard from w2 for 5 rounds (since t=0)"),
    ([*SIX_ROUNDS[:1], status_from("w2", 30), *SIX_ROUNDS[1:]], [failure("w1", 120)], None),
    ([status_from("w2", 10, 2), *SIX_ROUNDS[:1], status_from("w2", 30, 1), *SIX_ROUNDS[1:]],
     [failure("w1", 120)], "not heard from w2 for 5 rounds (since t=10)"),
    ([status_from("w2", 10, 1), *SIX_ROUNDS[:1], status_from("w2", 30, 2), *SIX_ROUNDS[1:]],
     [failure("w1", 120)], None),
    ([*SIX_ROUNDS, *ping_rounds(140)], [failure("w1", 120), failure("w2", 120)], None),
    ([*SIX_ROUNDS[:5], Step(("restart", MASTER), 110), *ping_rounds(130)], [], None),
    ([Step(("restart", MASTER), 10), *SIX_ROUNDS], [failure("w1", 120), failure("w2", 110)],
     "not heard from w2"),
], ids=["failed-on-time", "not-yet-due", "never-failed", "a-status-counts-afresh",
        "stale-status-does-not-count", "newer-boot-counts", "failed-once-until-heard-from",
        "master-restart-counts-afresh", "failed-in-another-round"])
def test_failed_in_time_wants_the_master_to_fail_a_worker_silent_for_its_rounds(
        steps: list[Step], ghost: list, problem: str | None) -> None:
    assert_judged(checks.failed_in_time, steps, ghost, problem)


def complete_the_job(sim: Simulation, last: str = "reduce1") -> None:
    sim.ghost += [completion(task, "w1") for task in checks.tasks_of(JOB) if task != last]
    assert checks.user_woken.check(sim) is None
    sim.ghost.append(completion(last, "w2"))


def test_user_woken_wants_a_job_done_sent_when_the_last_task_completes() -> None:
    sim = hand_made({})
    complete_the_job(sim)
    assert "sent c1 no JobDone" in checks.user_woken.check(sim)
    sim = hand_made({})
    complete_the_job(sim, last="map2")  # a re-executed map can be the last task
    sim.network.send(MASTER, "c1", JobDone((final_file(0), final_file(1))))
    assert checks.user_woken.check(sim) is None
    sim = hand_made({})
    complete_the_job(sim)
    sim.network.send(MASTER, "c1", JobDone((final_file(0), final_file(1))))
    sim.trace.append(Step(("drop", MASTER, "c1", 0), 0, JobDone(())))
    sim.network.take((MASTER, "c1", 0))
    assert checks.user_woken.check(sim) is None  # sent, then lost: resubmitting makes up


def test_the_user_is_woken_when_a_re_executed_map_completes_the_job() -> None:
    """A run in which the reducers read every map output, the worker holding two of them
    was then taken for failed, and the job's last task was their re-execution (the master
    used to wake the user only on a reduce task's completion)."""
    result = walk("correct", 199)
    assert result.verdict.ok, result.verdict
    done: set[str] = set()
    for kind, _, _, fact in result.sim.ghost:
        checks.count_completions(done, [(kind, 0, "", fact)])
        if done.issuperset(checks.tasks_of(checks.submitted(result.sim))):
            assert fact["task"].startswith("map"), fact
            break
    woken = [step for step in result.sim.trace if isinstance(step.detail, JobDone)]
    assert woken and woken[0].event[0] == "deliver"


def reads(*events: tuple[str, Any, int]) -> Simulation:
    """c2's reads of partition 1: (type, value, time) each."""
    sim = hand_made({})
    sim.history += [Event("c2", type_, "read", value, time) for type_, value, time in events]
    return sim


LAST_POLL = (READ_TRIES - 1) * READ_TIMEOUT


@pytest.mark.parametrize("events, now, problem", [
    ([("invoke", 1, 0), ("ok", None, LAST_POLL)], LAST_POLL, None),
    ([("invoke", 1, 0), ("ok", THREE[1], 0)], 0, None),
    ([("invoke", 1, 0), ("ok", None, LAST_POLL - 1)], LAST_POLL, "found no such file"),
    ([("invoke", 1, 0), ("fail", None, READ_TRIES * READ_TIMEOUT)], 100, None),
    ([("invoke", 1, 0)], READ_TRIES * READ_TIMEOUT, None),
    ([("invoke", 1, 0)], READ_TRIES * READ_TIMEOUT + 1, "has not returned by t=61"),
], ids=["no-file-at-the-last-poll", "found-at-once", "gave-up-early", "failed-in-time",
        "still-in-time", "polls-on"])
def test_read_polls_holds_a_read_to_its_tries(events: list, now: int,
                                              problem: str | None) -> None:
    sim = reads(*events)
    sim.time = now
    sentence = checks.read_polls.check(sim)
    assert sentence is None if problem is None else problem in sentence


REDUCE0 = Attempt("reduce", 0, 1)


def running_reduce(sim: Simulation) -> None:
    """The master hands reduce0.1 to w1 (an `Assign` in flight, read by the check)."""
    sim.network.send(MASTER, "w1", Assign(7, REDUCE0, Job(**JOB), ()))
    assert checks.reducers_notified.check(sim) is None


def test_reducers_notified_wants_each_running_reduce_told_of_a_re_executed_map() -> None:
    again = ("completed", 0, MASTER, {"task": "map1", "attempt": "map1.2", "worker": "w2"})
    sim = hand_made({})
    running_reduce(sim)
    sim.ghost.append(again)
    assert "did not tell w1, running reduce0.1" in checks.reducers_notified.check(sim)
    sim = hand_made({})
    running_reduce(sim)
    sim.ghost.append(again)
    sim.network.send(MASTER, "w1", Locations(REDUCE0, (MapAt(Attempt("map", 1, 2), "w2"),)))
    assert checks.reducers_notified.check(sim) is None
    for ended in (failure("w1", 0), completion("reduce0", "w1")):
        sim = hand_made({})
        running_reduce(sim)
        sim.ghost += [ended, again]
        assert checks.reducers_notified.check(sim) is None, ended
    sim = hand_made({})
    running_reduce(sim)
    sim.network.duplicate((MASTER, "w1", 0))  # a copy repeats its assignment number
    sim.ghost.append(failure("w1", 0))
    assert checks.reducers_notified.check(sim) is None
    sim.ghost.append(again)
    assert checks.reducers_notified.check(sim) is None


def with_ops(files: dict[str, tuple], ops: list[tuple[str, str, Any, Any]]) -> Simulation:
    """A job that returned, then `ops` as (process, f, args, result), each returning."""
    sim = hand_made(files)
    sim.history.append(Event("c1", "ok", "job", [final_file(0), final_file(1)], 1))
    for process, f, args, result in ops:
        sim.history += [Event(process, "invoke", f, args, 2), Event(process, "ok", f, result, 2)]
    return sim


def test_sequential_output_wants_the_job_done_and_whole_partitions_read() -> None:
    whole = {final_file(0): THREE[0], final_file(1): THREE[1]}
    reads = [("c1", "read", 0, THREE[0]), ("c1", "read", 1, THREE[1])]
    assert checks.sequential_output.check(with_ops(whole, reads)).ok
    unread = checks.sequential_output.check(with_ops(whole, reads[:1]))
    assert unread.violated and "no reader confirmed it" in unread.explanation
    partial = checks.sequential_output.check(with_ops(whole, [("c1", "read", 1, THREE[1][:1]),
                                                              *reads]))
    assert partial.violated and "read out/part-1 after the job was done" in partial.explanation
    unfinished = hand_made(whole)
    assert checks.sequential_output.check(unfinished).violated


def test_a_read_during_the_job_may_find_no_file_but_never_part_of_one() -> None:
    whole = {final_file(0): THREE[0], final_file(1): THREE[1]}
    during = [Event("c2", "invoke", "read", 1, 0), Event("c2", "ok", "read", None, 0)]
    sim = with_ops(whole, [("c1", "read", 0, THREE[0]), ("c1", "read", 1, THREE[1])])
    sim.history[1:1] = during
    assert checks.sequential_output.check(sim).ok
    sim.history[1:1] = [Event("c2", "invoke", "read", 1, 0),
                        Event("c2", "ok", "read", THREE[1][1:], 0)]
    verdict = checks.sequential_output.check(sim)
    assert verdict.violated and "read out/part-1 during the job" in verdict.explanation


def test_one_execution_catches_partitions_from_two_executions() -> None:
    job = {"program": SampledWordCount.name, "splits": 2, "reduces": 2}
    program = PROGRAMS[job["program"]]
    first = run_sequentially(program, INPUT[:2], 2, (0, 0))
    second = run_sequentially(program, INPUT[:2], 2, (1, 1))
    assert first[1] != second[1]
    sim = hand_made({final_file(0): first[0]}, job)
    assert checks.one_execution.check(sim) is None  # a single partition: some execution
    sim = hand_made({final_file(0): first[0], final_file(1): second[1]}, job)
    assert "come from different executions" in checks.one_execution.check(sim)
    sim = hand_made({final_file(0): first[0], final_file(1): first[1]}, job)
    assert checks.one_execution.check(sim) is None


# --- the model -------------------------------------------------------------------------------


def test_the_model_is_the_sequential_word_count() -> None:
    assert executions(WordCount(), INPUT, 2) == [WORDS]
    assert len(executions(SampledWordCount(), INPUT, 2)) == 2 ** len(INPUT)


def test_the_combiner_does_not_change_the_model_output() -> None:
    """The model never runs the combiner, so a framework that combines must still match:
    word count's combine and reduce both sum."""
    program = WordCount()
    for split in INPUT:
        pairs = list(program.map(split, 0))
        keys = sorted({key for key, _ in pairs})
        for key in keys:
            values = [v for k, v in pairs if k == key]
            assert program.reduce(key, [program.combine(key, values)]) == \
                program.reduce(key, values)


def test_the_weak_and_strong_semantics() -> None:
    outputs = executions(SampledWordCount(), INPUT[:2], 2)
    one, other = outputs[0], outputs[-1]
    assert partition_from_some_execution(one[0], 0, outputs)
    assert not partition_from_some_execution(one[0] + one[0], 0, outputs)
    assert from_one_execution(dict(enumerate(one)), outputs)
    mixed = (one[0], other[1])
    assert mixed not in outputs and not from_one_execution(dict(enumerate(mixed)), outputs)
    assert from_one_execution({1: other[1]}, outputs)
    assert all(partition_from_some_execution(mixed[p], p, outputs) for p in range(2))
