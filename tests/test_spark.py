"""Spark: the correct system survives the hunt and a system that does nothing does not; each
seeded bug is found by its invariant and replays; bugs nobody seeded are caught; scripted
schedules show stages and their recomputation from lineage, a checkpoint cutting the
lineage, the whole retry of the indeterminate stage (and the partial one of the seeded bug),
a speculative copy denied its commit, and a cached partition read from memory; the
invariants, the lineage and the model behave on hand-made inputs."""

from __future__ import annotations

import functools
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
from checker.system import Config, Variant
from implementations.spark import SYSTEM, Roles, build, checks
from implementations.spark.driver import Driver
from implementations.spark.executor import Executor
from implementations.spark.messages import (
    DRIVER,
    EXPIRE,
    SAVE,
    SPECULATE_AFTER,
    STORE,
    SUCCESS,
    CanCommit,
    CommitPermission,
    FetchBlock,
    FetchFailed,
    Heartbeat,
    LaunchTask,
    ReadFile,
    RegisterExecutor,
    TaskFailed,
    TaskFinished,
    attempt_file,
    committed_file,
    output_file,
)
from implementations.spark.program import INPUT, page_views
from implementations.spark.rdd import (
    DETERMINATE,
    INDETERMINATE,
    UNORDERED,
    Checkpointed,
    SparkContext,
    TextFile,
    marked_for_checkpoint,
    needs,
    shuffles_read,
    truncate,
)
from implementations.spark.scheduler import DAGScheduler, PartialIndeterminateRetry
from implementations.spark.store import Store
from implementations.spark.tasks import TaskScheduler
from invariants.history import Event
from models.spark import evaluate, reproduces, same_rows

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")
ALWAYS = attrs.evolve(DEFAULT, name="checkpointed", params={"checkpoint_percent": 100})
RESULT = ((("home", (2, "Home")), ("faq", (1, "FAQ")), ("shop", (2, "Shop"))),
          (("docs", (2, "Docs")), ("blog", (2, "Blog")), ("about", (1, "About"))))


def walk(variant: str, seed: int, config: Config = DEFAULT, system: Any = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


def first_violation(variant: str, seeds: int, system: Any = SYSTEM) -> Any:
    return next(r for r in (walk(variant, seed, system=system) for seed in range(seeds))
                if r.violated)


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", [DEFAULT, SMALL, ALWAYS], ids=lambda c: c.name)
def test_correct_variant_survives_the_hunt(config: Config) -> None:
    for seed in range(60):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)
        assert result.sim.history[-1].type == "ok", seed  # the ending's reads went through


@pytest.mark.parametrize("variant, invariant", [
    ("partial-indeterminate-retry", "output-is-the-result"),
    ("no-commit-arbitration", "one-commit-per-partition"),
])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str, invariant: str) -> None:
    found = first_violation(variant, 300)
    assert found.verdict.invariant == invariant, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


def test_a_checkpoint_before_the_repartition_makes_the_partial_retry_safe() -> None:
    """Spark's advice: with the counts read back from their checkpoint, the round-robin is
    determinate, and recomputing some of its partitions is harmless."""
    for seed in range(80):
        result = walk("partial-indeterminate-retry", seed, ALWAYS)
        assert result.verdict.ok, (seed, result.verdict)


class Deaf(Executor):
    """An executor that ignores every message: nothing is ever computed."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


def test_a_system_that_does_nothing_is_reported() -> None:
    system = attrs.evolve(SYSTEM, variants={"deaf": Variant("deaf", Roles(executor=Deaf))})
    for seed in range(3):
        verdict = walk("deaf", seed, SMALL, system).verdict
        assert verdict.violated and verdict.invariant == "saved-result", verdict
        assert "the program never returned" in verdict.explanation


class ForgottenPartition(dict):
    """A cache keyed by the RDD alone: a hit for any partition of it."""

    def __contains__(self, key: object) -> bool:
        return any(name == key[0] for name, _ in self.keys())

    def __getitem__(self, key: tuple[str, int]) -> Any:
        return next(rows for (name, _), rows in self.items() if name == key[0])


class CacheForgetsPartition(Executor):
    """Not seeded: the block manager finds a cached RDD by its name alone."""

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.cache = ForgottenPartition()


class CommitsIntoOutput(Store):
    """Not seeded: a task commit moves its file straight into the output directory (a
    'direct' committer): the output is visible before the job commits, job or no job."""

    def commit_task(self, ctx: Context, tid: int, job: int, partition: int) -> None:
        source = attempt_file(job, tid, partition)
        if source in self.files:
            self.files[output_file(committed_file(job, tid, partition))] = \
                self.files.pop(source)
            self.save(ctx)


class FinishesAtFirstPartition(DAGScheduler):
    """Not seeded: the job counts as done when its first partition is saved."""

    def result_saved(self, ctx: Context, job_id: int, partition: int) -> None:
        if self.job is not None and self.job.id == job_id:
            self.job.finished.update(range(self.job.stage.partitions))
        super().result_saved(ctx, job_id, partition)


@pytest.mark.parametrize("roles, invariant", [
    (Roles(executor=CacheForgetsPartition), "lineage-reproduces"),
    (Roles(store=CommitsIntoOutput), "output-never-changes"),
    (Roles(dag=FinishesAtFirstPartition), "output-is-the-result"),
], ids=["cache-forgets-partition", "commits-into-output", "finishes-at-first-partition"])
def test_bugs_nobody_seeded_are_caught(roles: Roles, invariant: str) -> None:
    system = attrs.evolve(SYSTEM, variants={"mutant": Variant("mutant", roles)})
    found = first_violation("mutant", 100, system)
    assert found.verdict.invariant == invariant, found.verdict


class ForgetsHeartbeats(Driver):
    """Not seeded: the driver times an executor's silence from its registration, deaf to
    its heartbeats, and so takes live executors for lost."""

    def heartbeat(self, ctx: Context, executor: str, incarnation: int) -> None:
        if self.alive.get(executor) != incarnation:
            super().heartbeat(ctx, executor, incarnation)


def build_with_driver(driver: type[Driver]) -> Callable[..., Any]:
    """The system's build with another driver class (the driver is not one of the Roles)."""

    def build_it(config: Config, roles: Roles, rng: Any) -> Any:
        cluster = build(config, roles, rng)
        made = cluster.clients[DRIVER]
        cluster.clients[DRIVER] = functools.partial(driver, *made.args, **made.keywords)
        return cluster
    return build_it


def test_a_driver_deaf_to_heartbeats_is_caught() -> None:
    system = attrs.evolve(SYSTEM, build=build_with_driver(ForgetsHeartbeats),
                          variants={"mutant": Variant("mutant", Roles())})
    found = first_violation("mutant", 100, system)
    assert found.verdict.invariant == "lost-only-when-gone-or-silent", found.verdict


class AbortsAtAnyResultFailure(TaskScheduler):
    """Not seeded: any failure of a result task aborts its job, not only the failure of the
    attempt authorized to commit."""

    def failed(self, ctx: Context, task_set: Any, attempt: Any, reason: str) -> None:
        if task_set.stage.dep is None:
            self.driver.dag.abort_job(ctx, task_set.job, f"t{attempt.tid} failed ({reason})")
            return
        super().failed(ctx, task_set, attempt, reason)


class AbortingDriver(Driver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tasks = AbortsAtAnyResultFailure(self)


def test_a_driver_that_aborts_at_any_result_failure_is_caught() -> None:
    system = attrs.evolve(SYSTEM, build=build_with_driver(AbortingDriver),
                          variants={"mutant": Variant("mutant", Roles())})
    found = first_violation("mutant", 300, system)
    assert found.verdict.invariant == "abort-only-when-needed", found.verdict


# --- scripted schedules ----------------------------------------------------------------------


def cluster_sim(roles: Roles = Roles(), checkpoint: bool = False,
                executors: int = 3) -> Simulation:
    config = attrs.evolve(SMALL, servers=executors)
    cluster = build(config, roles, random.Random(0))
    cluster.workload = {DRIVER: [("run", {"checkpoint": checkpoint})],
                        "r1": []}
    sim = Simulation(cluster, 0, 0, {"crash": 10, "pause": 10, "reset": 10}, fifo=True)
    sim.start()
    return sim


def run_until(sim: Simulation, stop: Callable[[Any], bool] = lambda msg: False,
              horizon: int = 400) -> Any:
    """Invoke, deliver the oldest deliverable message, fire timers when nothing else can
    happen; return the first message `stop` names, undelivered (None once the clients are
    idle, or `horizon` ticks on)."""
    deadline = sim.time + horizon
    for _ in range(5000):
        if sim.enabled("invoke"):
            sim.execute(sim.enabled("invoke")[0])
            continue
        ready = sorted(sim.enabled("deliver"), key=lambda e: e[3])
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


def launched(sim: Simulation, since: int = 0) -> list[Any]:
    return [step.detail.task for step in sim.trace[since:]
            if step.event[0] == "deliver" and isinstance(step.detail, LaunchTask)]


def ghost(sim: Simulation, kind: str) -> list[dict]:
    return [fact for k, _, _, fact in sim.ghost if k == kind]


def output(sim: Simulation) -> dict[str, Any]:
    return {name: rows for name, rows in checks.stored(sim).items()
            if name.startswith("out/part-")}


def saved_the_result(sim: Simulation) -> bool:
    """The output directory holds the result: each partition's rows, in any order."""
    saved = checks.by_partition(output(sim))
    return all(same_rows(saved[p], RESULT[p]) for p in range(2))


def test_a_fault_free_run_cuts_five_stages_and_saves_the_result() -> None:
    sim = cluster_sim()
    run_until(sim)
    sim.workload["r1"] += [("read", 0), ("read", 1)]
    run_until(sim)
    stages = {task.stage: task.writes.name if task.writes else task.action
              for task in launched(sim)}
    assert sorted(stages.values()) == ["counts:round-robin", "hits", "save", "spread",
                                       "titles"]
    assert all(task.stage_attempt == 0 for task in launched(sim))
    assert [len(ghost(sim, "task-committed")), len(ghost(sim, "job-committed"))] == [2, 1]
    assert saved_the_result(sim)
    assert [op.status for op in sim.operations()] == ["ok"] * 3
    assert checks.saved_result.check(sim).ok


def test_a_checkpoint_job_runs_first_and_cuts_the_lineage() -> None:
    sim = cluster_sim(checkpoint=True)
    run_until(sim)
    tasks = launched(sim)
    saving = [t for t in tasks if t.job == 2]
    assert {t.action for t in tasks if t.job == 1 and not t.writes} == {"checkpoint"}
    assert all("hits" not in dict(t.reads) for t in saving)  # the counts come from files
    reads = [s.detail.path for s in sim.trace
             if s.event[0] == "deliver" and isinstance(s.detail, ReadFile)]
    assert "checkpoint/counts/part-0" in reads and "checkpoint/counts/part-1" in reads
    files = checks.stored(sim)
    counts = evaluate(page_views, INPUT, checkpoint=False).datasets["counts"].partitions
    assert all(same_rows(files[f"checkpoint/counts/part-{p}"], counts[p]) for p in range(2))
    assert saved_the_result(sim)


def crash_before_spread_reads(roles: Roles) -> Simulation:
    """Run until a task of the stage after the repartition fetches a round-robin output from
    another executor, then crash that executor: its map outputs are gone."""
    sim = cluster_sim(roles)
    fetch = run_until(sim, stop=lambda msg: isinstance(msg, FetchBlock)
                      and msg.block.shuffle == "counts:round-robin")
    victim = next(key for key, e in sim.network.in_flight.items() if e.msg == fetch)[1]
    sim.execute(("crash", victim))
    sim.execute(("restart", victim))
    run_until(sim)
    return sim


def test_a_lost_executors_outputs_are_recomputed_from_lineage() -> None:
    sim = crash_before_spread_reads(Roles())
    assert ghost(sim, "executor-lost")
    assert any(task.stage_attempt > 0 for task in launched(sim))
    assert saved_the_result(sim)
    assert sim.operations()[0].status == "ok"


def round_robin_reruns(sim: Simulation) -> set[int]:
    return {t.partition for t in launched(sim) if t.writes is not None
            and t.writes.name == "counts:round-robin" and t.stage_attempt > 0}


def test_an_indeterminate_stage_is_retried_whole() -> None:
    """After the fetch failure the lost round-robin output is recomputed, and so is the other
    one, and every partition of the stage that read them."""
    sim = crash_before_spread_reads(Roles())
    assert round_robin_reruns(sim) == {0, 1}
    assert checks.output_is_the_result.check(sim) is None


def test_the_seeded_bug_retries_only_the_lost_partition() -> None:
    sim = crash_before_spread_reads(Roles(dag=PartialIndeterminateRetry))
    assert len(round_robin_reruns(sim)) == 1


def test_a_speculative_copy_is_denied_the_commit_the_straggler_holds() -> None:
    """The executor of a result task stalls after the driver authorized its commit; the
    driver runs a copy elsewhere, which is denied; the straggler commits once it resumes."""
    sim = cluster_sim()
    permission = run_until(sim, stop=lambda msg: isinstance(msg, CommitPermission))
    straggler = [key for key, e in sim.network.in_flight.items() if e.msg == permission][0][1]
    sim.execute(("pause", straggler, 3 * SPECULATE_AFTER))
    run_until(sim)
    answers = [s.detail for s in sim.trace
               if s.event[0] == "deliver" and isinstance(s.detail, CommitPermission)]
    assert [a.granted for a in answers].count(False) >= 1
    assert any(task.partition == permission_partition(sim, permission.tid)
               and task.tid != permission.tid for task in launched(sim))
    assert len(ghost(sim, "task-committed")) == 2  # one per partition
    assert saved_the_result(sim)


def permission_partition(sim: Simulation, tid: int) -> int:
    return next(task.partition for task in launched(sim) if task.tid == tid)


def test_a_rerun_prefers_the_executor_with_the_partition_cached() -> None:
    """A broken connection makes the driver forget an executor's map outputs, not its
    memory: the titles task that runs again goes where the titles partition is cached, and
    reads no file."""
    sim = cluster_sim()
    fetch = run_until(sim, stop=lambda msg: isinstance(msg, FetchBlock)
                      and msg.block.shuffle == "titles")
    fetcher, server, _ = next(k for k, e in sim.network.in_flight.items() if e.msg == fetch)
    sim.execute(("reset", *sorted((fetcher, server))))
    before = len(sim.trace)
    run_until(sim)
    again = [t for t in launched(sim, before) if t.writes and t.writes.name == "titles"]
    assert again and all(t.incarnation == sim.nodes[server].incarnation for t in again)
    assert all(("titles", t.partition) in sim.nodes[server].cache for t in again)
    files = [s.detail.path for s in sim.trace[before:]
             if s.event[0] == "deliver" and isinstance(s.detail, ReadFile)]
    assert not any(path.startswith("pages/") for path in files)
    assert saved_the_result(sim)


# --- the store -------------------------------------------------------------------------------


def test_a_job_commit_publishes_its_committed_files_once() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    store, ctx = sim.nodes[STORE], sim.contexts[STORE]
    for tid, partition in ((7, 0), (8, 1), (9, 1)):
        store.files[attempt_file(1, tid, partition)] = RESULT[partition]
    store.commit_task(ctx, 7, 1, 0)
    store.commit_task(ctx, 8, 1, 1)
    store.commit_job(ctx, 1)
    store.commit_task(ctx, 9, 1, 1)  # a straggler's attempt file was deleted with the job's
    store.commit_job(ctx, 1)
    restarted = Store(STORE)
    restarted.on_recover(ctx)
    assert restarted.published() == ("out/part-0-t7", "out/part-1-t8")
    assert restarted.read_output(1) == RESULT[1] and SUCCESS in restarted.files
    assert [f["tid"] for f in ghost(sim, "task-committed")] == [7, 8]
    assert len(ghost(sim, "job-committed")) == 1


# --- the invariants on hand-made states and histories ----------------------------------------


def hand_made(files: dict[str, Any] | None = None) -> Simulation:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    sim.contexts[STORE].storage.put("files", {**checks.stored(sim), **(files or {})})
    return sim


def test_one_commit_per_partition_reads_the_stores_commits() -> None:
    sim = hand_made()
    sim.ghost.append(("task-committed", 3, STORE, {"job": 1, "partition": 0, "tid": 5}))
    sim.ghost.append(("task-committed", 4, STORE, {"job": 2, "partition": 0, "tid": 9}))
    assert checks.one_commit_per_partition.check(sim) is None
    sim.ghost.append(("task-committed", 5, STORE, {"job": 2, "partition": 0, "tid": 10}))
    assert "committed twice: by t9, then by t10" in checks.one_commit_per_partition.check(sim)


def test_output_is_the_result_as_a_multiset_once_published() -> None:
    part0 = {"out/part-0-t1": RESULT[0][::-1], "out/part-1-t2": RESULT[1]}
    assert checks.output_is_the_result.check(hand_made(part0)) is None  # not published yet
    assert checks.output_is_the_result.check(hand_made({**part0, SUCCESS: (1,)})) is None
    twice = hand_made({**part0, "out/part-1-t3": RESULT[1][:1], SUCCESS: (1,)})
    assert "(docs, (2, Docs)) too many" in checks.output_is_the_result.check(twice)
    short = hand_made({**part0, "out/part-1-t2": RESULT[1][1:], SUCCESS: (1,)})
    assert "(docs, (2, Docs)) missing" in checks.output_is_the_result.check(short)


def test_output_never_changes_after_its_job_commit() -> None:
    files = {"out/part-0-t1": RESULT[0], "out/part-1-t2": RESULT[1]}
    sim = hand_made(files)
    assert "no job published" in checks.output_never_changes.check(sim)
    sim = hand_made(files)
    sim.ghost.append(("job-committed", 1, STORE, {"job": 1, "files": files}))
    assert checks.output_never_changes.check(sim) is None
    sim.contexts[STORE].storage.put("files", {**checks.stored(sim),
                                              "out/part-1-t2": RESULT[1][:1]})
    assert "out/part-1-t2 changed" in checks.output_never_changes.check(sim)
    sim.ghost.append(("job-committed", 2, STORE, {"job": 2, "files": files}))
    assert "published the output again" in checks.output_never_changes.check(sim)


def with_memory(cache: dict, shuffle: dict) -> Simulation:
    sim = hand_made()
    executor = sim.nodes["e1"]
    executor.cache.update(cache)
    executor.shuffle.update(shuffle)
    return sim


def test_lineage_reproduces_by_determinism_level() -> None:
    model = evaluate(page_views, INPUT, checkpoint=False)
    hits = model.shuffles["hits"].buckets[0]
    titles = model.datasets["titles"].partitions[1]
    assert checks.lineage_reproduces.check(with_memory(
        {("titles", 1): titles}, {("hits", 0, 3): hits})) is None
    assert "partition 1 of titles" in checks.lineage_reproduces.check(with_memory(
        {("titles", 1): titles[::-1]}, {}))  # determinate: the order matters too
    assert "hits partition 0" in checks.lineage_reproduces.check(with_memory(
        {}, {("hits", 0, 3): (hits[0], hits[1][1:])}))
    spread = model.shuffles["spread"].buckets[1]  # indeterminate: anything goes
    assert checks.lineage_reproduces.check(with_memory(
        {}, {("spread", 1, 4): (spread[1], spread[0])})) is None


def test_lineage_reproduces_checks_checkpoint_files_and_reads_from_them() -> None:
    counts = evaluate(page_views, INPUT, checkpoint=False).datasets["counts"].partitions
    saved = {f"checkpoint/counts/part-{p}": counts[p][::-1] for p in range(2)}  # unordered
    assert checks.lineage_reproduces.check(hand_made(saved)) is None
    wrong = hand_made({**saved, "checkpoint/counts/part-1": counts[1][1:]})
    assert "checkpoint of counts partition 1" in checks.lineage_reproduces.check(wrong)
    model = evaluate(page_views, INPUT, {"counts": tuple(saved.values())}, checkpoint=True)
    dealt = model.shuffles["counts:round-robin"]
    assert dealt.level == DETERMINATE  # read back from the files: the dealing is determinate
    sim = hand_made(saved)
    sim.nodes["e1"].shuffle[("counts:round-robin", 0, 5)] = dealt.buckets[0][::-1]
    assert "counts:round-robin partition 0" in checks.lineage_reproduces.check(sim)


def with_ops(ops: list[tuple[str, str, Any, Any]], files: dict[str, Any]) -> Simulation:
    """The program ran and returned `files`; then `ops` as (process, f, args, result)."""
    sim = hand_made(files)
    sim.history += [Event(DRIVER, "invoke", "run", {"checkpoint": False}, 0),
                    Event(DRIVER, "ok", "run", sorted(f for f in files if "part-" in f), 1)]
    for process, f, args, result in ops:
        sim.history += [Event(process, "invoke", f, args, 2), Event(process, "ok", f, result, 2)]
    return sim


def test_lost_only_when_gone_or_silent_reads_the_heartbeats_delivered() -> None:
    sim = cluster_sim()
    run_until(sim)
    last = max(step.time for step in sim.trace if step.event[0] == "deliver"
               and step.event[1] == "e1" and isinstance(step.detail, (RegisterExecutor, Heartbeat)))
    sim.time = last + 1
    sim.ghost.append(("executor-lost", sim.time, DRIVER, {"executor": "e1", "incarnation": 1}))
    assert f"heard from at t={last}, 1 < {EXPIRE} ticks" in \
        checks.lost_only_when_gone_or_silent.check(sim)
    sim.time = last + EXPIRE  # silent long enough
    sim.ghost.append(("executor-lost", sim.time, DRIVER, {"executor": "e1", "incarnation": 1}))
    assert checks.lost_only_when_gone_or_silent.check(sim) is None
    sim.time = last + 1
    sim.execute(("crash", "e2"))  # a crashed process is lost, heard from or not
    sim.ghost.append(("executor-lost", sim.time, DRIVER, {"executor": "e2", "incarnation": 1}))
    assert checks.lost_only_when_gone_or_silent.check(sim) is None


def deliver(sim: Simulation, src: str, dst: str, msg: Any) -> None:
    """A delivery appended to the trace, as the simulation records one."""
    sim.trace.append(Step(("deliver", src, dst, len(sim.trace)), sim.time, msg))


def abort(sim: Simulation, job: int) -> str | None:
    sim.ghost.append(("job-aborted", sim.time, DRIVER, {"job": job, "reason": "test"}))
    return checks.abort_only_when_needed.check(sim)


def test_abort_only_when_a_committer_fails_or_a_retry_passes_saved_output() -> None:
    fault_free = cluster_sim()
    run_until(fault_free)
    task = next(t for t in launched(fault_free) if t.writes is None and t.action == SAVE)
    sim = hand_made()

    def launch(tid: int, executor: str = "e1") -> None:
        deliver(sim, DRIVER, executor, LaunchTask(attrs.evolve(task, tid=tid, job=3)))

    def ask(tid: int, executor: str = "e1") -> None:
        deliver(sim, executor, DRIVER, CanCommit(tid, 1, task.stage, task.partition))

    launch(7)
    assert "aborted job 3" in abort(sim, 3)  # t7 runs, nothing failed
    deliver(sim, "e1", DRIVER, TaskFailed(7, 1, "connection to the store reset"))
    assert "aborted job 3" in abort(sim, 3)  # t7 failed before it asked to commit
    launch(8)
    ask(8)
    deliver(sim, "e1", DRIVER, TaskFailed(8, 1, "connection to the store reset"))
    assert abort(sim, 3) is None  # the committer t8 failed
    launch(9, "e2")
    ask(9, "e2")
    sim.ghost.append(("executor-lost", sim.time, DRIVER, {"executor": "e2", "incarnation": 1}))
    assert abort(sim, 3) is None  # the committer t9 was lost with its process
    launch(10)
    ask(10)
    deliver(sim, "e1", DRIVER, TaskFinished(10, 1, None))
    launch(11)
    deliver(sim, "e1", DRIVER, FetchFailed(11, 1, "s", 0, None))
    assert abort(sim, 3) is None  # a retry after partition 0 was saved
    launch(12, "e2")
    ask(12, "e2")
    deliver(sim, "e2", DRIVER, TaskFailed(12, 1, "from a process taken for lost"))
    assert "aborted job 3" in abort(sim, 3)


def test_saved_result_wants_the_program_done_and_every_partition_read() -> None:
    files = {"out/part-0-t1": RESULT[0], "out/part-1-t2": RESULT[1], SUCCESS: (1,)}
    reads = [("r1", "read", 0, list(RESULT[0])), ("r1", "read", 1, list(RESULT[1][::-1]))]
    assert checks.saved_result.check(with_ops(reads, files)).ok
    unread = checks.saved_result.check(with_ops(reads[:1], files))
    assert unread.violated and "partition 1 was never read" in unread.explanation
    partial = checks.saved_result.check(with_ops([("r1", "read", 1, list(RESULT[1][1:])),
                                                  *reads], files))
    assert partial.violated and "after the program returned" in partial.explanation
    empty = checks.saved_result.check(with_ops([("r1", "read", 0, None), *reads], files))
    assert empty.violated and "nothing" in empty.explanation
    sim = hand_made(files)
    sim.history.append(Event(DRIVER, "invoke", "run", {"checkpoint": False}, 0))
    assert "never returned" in checks.saved_result.check(sim).explanation


def test_a_read_while_the_program_runs_may_find_nothing() -> None:
    files = {"out/part-0-t1": RESULT[0], "out/part-1-t2": RESULT[1], SUCCESS: (1,)}
    sim = with_ops([("r1", "read", 0, list(RESULT[0])), ("r1", "read", 1, list(RESULT[1]))],
                   files)
    sim.history[1:1] = [Event("r1", "invoke", "read", 1, 0), Event("r1", "ok", "read", None, 0)]
    assert checks.saved_result.check(sim).ok
    sim.history[1:3] = [Event("r1", "invoke", "read", 1, 0),
                        Event("r1", "ok", "read", list(RESULT[1][:1]), 0)]
    verdict = checks.saved_result.check(sim)
    assert verdict.violated and "while it ran" in verdict.explanation


# --- the lineage -----------------------------------------------------------------------------


def test_the_lineage_and_its_determinism_levels() -> None:
    joined = page_views(SparkContext(), checkpoint=False)
    assert [dep.name for dep in shuffles_read(joined)] == ["spread", "titles"]
    levels = {}

    def walk_lineage(rdd: Any) -> None:
        levels[rdd.name] = rdd.level()
        for parent in rdd.narrow_parents():
            walk_lineage(parent)
        for dep in rdd.shuffle_deps():
            walk_lineage(dep.rdd)

    walk_lineage(joined)
    assert levels["hits"] == levels["titles"] == DETERMINATE
    assert levels["counts"] == UNORDERED
    assert levels["counts:round-robin"] == levels["spread"] == levels["joined"] == INDETERMINATE
    model = evaluate(page_views, INPUT, checkpoint=False)
    for name in ("hits", "counts", "counts:round-robin", "spread", "titles", "joined"):
        assert model.datasets[name].level == levels[name], name


def test_a_checkpoint_cuts_the_lineage_and_makes_it_determinate() -> None:
    joined = page_views(SparkContext(), checkpoint=True)
    counts = marked_for_checkpoint(joined)
    assert counts.name == "counts" and counts.level() == UNORDERED
    cut = truncate(joined, counts)
    assert marked_for_checkpoint(cut) is None
    assert cut.level() == UNORDERED  # no longer indeterminate
    spread = cut.deps[0].rdd
    assert isinstance(spread.parent.dep.rdd.parent, Checkpointed)
    files, shuffles = needs(spread.parent.dep.rdd, 0, {})
    assert (files, shuffles) == (["checkpoint/counts/part-0"], [])


def test_a_task_reads_a_cached_partition_instead_of_its_lineage() -> None:
    titles = page_views(SparkContext(), checkpoint=False).deps[1].rdd
    assert needs(titles, 1, {}) == (["pages/part-1"], [])
    assert needs(titles, 1, {("titles", 1): ()}) == ([], [])
    assert needs(titles, 1, {("titles", 0): ()}) == (["pages/part-1"], [])
    assert isinstance(titles.parent, TextFile)


# --- the model -------------------------------------------------------------------------------


def test_the_model_computes_the_page_views() -> None:
    model = evaluate(page_views, INPUT, checkpoint=False)
    assert model.result.name == "joined"
    assert all(same_rows(model.result.partitions[p], RESULT[p]) for p in range(2))


def test_reproduces_by_level() -> None:
    rows, shuffled = ((1, "a"), (2, "b")), ((2, "b"), (1, "a"))
    assert reproduces(DETERMINATE, rows, rows) and not reproduces(DETERMINATE, shuffled, rows)
    assert reproduces(UNORDERED, shuffled, rows) and not reproduces(UNORDERED, rows[:1], rows)
    assert reproduces(INDETERMINATE, rows[:1], rows)
    assert not same_rows(rows + rows[:1], rows)


def test_the_repartition_deals_by_arrival_order() -> None:
    """Two orders of the same counts deal the rows to different partitions: why the
    round-robin over an unordered input is indeterminate."""
    counts = evaluate(page_views, INPUT, checkpoint=False).datasets["counts"].partitions[1]
    first = evaluate(page_views, INPUT, {"counts": (counts, counts)},
                     checkpoint=True).shuffles["counts:round-robin"].buckets[1]
    second = evaluate(page_views, INPUT, {"counts": (counts, counts[1:] + counts[:1])},
                      checkpoint=True).shuffles["counts:round-robin"].buckets[1]
    def dealt(bucket: tuple) -> list:
        return [row for _, row in bucket]

    assert same_rows(dealt(first[0] + first[1]), dealt(second[0] + second[1]))
    assert not same_rows(dealt(first[0]), dealt(second[0]))

