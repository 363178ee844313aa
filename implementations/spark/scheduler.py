"""The DAG scheduler: a job's lineage cut into stages at its shuffle dependencies, each stage
run once its parent stages' outputs are all available, and lost outputs recomputed.

- A **shuffle map stage** computes the map side of one shuffle: one task per partition of
  the shuffled RDD, each leaving its buckets in its executor's memory and its location in
  the MapOutputTracker. A **result stage** computes the job's RDD and saves each partition.
  Map stages are shared by the jobs that need their shuffle: a later job skips the ones whose
  outputs are all still there.
- **Fetch failure**: a task could not read a map output. Its stage attempt has failed; that
  output, and every other output of the executor process that held it, are forgotten; after
  RESUBMIT the failed stage is submitted again, which first submits the parent stage for the
  partitions it is missing: they are recomputed from their lineage.
- **Indeterminate stages** (SPARK-23243 in Spark 2.4; SPARK-25341 and SPARK-45182 since
  Spark 3): recomputing some partitions of a map stage whose output may differ from one run
  to the next (a round-robin over an unordered input) would mix two runs' outputs, some
  reducers reading the first and some the second: rows lost and rows duplicated. So when a
  fetch failure hits such a stage, every stage downstream of it is **rolled back** (its
  outputs forgotten, so all of it runs again), and a job whose result stage already saved a
  partition is aborted (its output was never committed, and the driver runs the job again);
  when such a stage is submitted with outputs missing, all of its outputs are forgotten, so
  that all its partitions run again; and a task of an earlier attempt of it that finishes
  late is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from implementations.spark.messages import RESUBMIT, MapStatus
from implementations.spark.rdd import INDETERMINATE, RDD, ShuffleDependency, shuffles_read

if TYPE_CHECKING:
    from checker.node import Context
    from implementations.spark.driver import Driver
    from implementations.spark.messages import FetchFailed
    from implementations.spark.tasks import TaskSet


@attrs.define(eq=False, repr=False)
class Stage:
    id: int
    rdd: RDD  # the RDD its tasks compute: a shuffle's map side, or the job's RDD
    dep: ShuffleDependency | None  # the shuffle it writes; None: a result stage
    parents: list[Stage]
    attempt: int = -1  # its latest attempt
    pending: set[int] = attrs.Factory(set)  # partitions its latest attempt waits for

    @property
    def partitions(self) -> int:
        return self.rdd.partitions

    def __repr__(self) -> str:
        return f"stage {self.id} ({self.dep!r})" if self.dep else f"stage {self.id} ({self.rdd})"


@attrs.define(eq=False)
class Job:
    id: int
    action: str
    rdd: RDD
    stage: Stage  # its result stage
    finished: set[int] = attrs.Factory(set)  # partitions saved


class DAGScheduler:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.stages: dict[str, Stage] = {}  # shuffle map stages, by shuffle
        self.job: Job | None = None  # the active job (the driver runs one at a time)
        self.waiting: list[Stage] = []  # for parent stages
        self.running: list[Stage] = []
        self.failed: list[Stage] = []  # to resubmit
        self.next_stage = self.next_job = 0

    def indeterminate(self, stage: Stage) -> bool:
        return stage.rdd.level() == INDETERMINATE

    # --- stages ----------------------------------------------------------------------------

    def new_stage(self, rdd: RDD, dep: ShuffleDependency | None) -> Stage:
        parents = list({d.name: self.map_stage(d) for d in shuffles_read(rdd)}.values())
        self.next_stage += 1
        return Stage(self.next_stage - 1, rdd, dep, parents)

    def map_stage(self, dep: ShuffleDependency) -> Stage:
        """The stage of a shuffle, made once; it follows the lineage as checkpoints cut it."""
        if dep.name not in self.stages:
            self.stages[dep.name] = self.new_stage(dep.rdd, dep)
        stage = self.stages[dep.name]
        stage.rdd, stage.dep = dep.rdd, dep
        stage.parents = [self.map_stage(d) for d in shuffles_read(dep.rdd)]
        return stage

    def available(self, stage: Stage) -> bool:
        return not self.driver.tracker.missing(stage.dep.name, stage.partitions)

    def missing_partitions(self, stage: Stage) -> list[int]:
        if stage.dep is None:
            return [p for p in range(stage.partitions) if p not in self.job.finished]
        return self.driver.tracker.missing(stage.dep.name, stage.partitions)

    def downstream(self, stage: Stage) -> list[Stage]:
        """The active job's stages that read `stage`'s output, directly or not."""
        found: list[Stage] = []

        def reads(candidate: Stage) -> bool:
            return stage in candidate.parents or any(reads(p) for p in candidate.parents)

        for candidate in [*self.stages.values(), self.job.stage]:
            if candidate is not stage and reads(candidate) and candidate not in found:
                found.append(candidate)
        return found

    # --- jobs ------------------------------------------------------------------------------

    def submit_job(self, ctx: Context, action: str, rdd: RDD) -> None:
        stage = self.new_stage(rdd, None)
        self.next_job += 1
        self.job = Job(self.next_job, action, rdd, stage)
        self.submit_stage(ctx, stage)

    def submit_stage(self, ctx: Context, stage: Stage) -> None:
        if self.job is None or stage in self.waiting or stage in self.running \
                or stage in self.failed:
            return
        missing = [parent for parent in stage.parents if not self.available(parent)]
        for parent in missing:
            self.submit_stage(ctx, parent)
        if missing:
            self.waiting.append(stage)
        else:
            self.submit_missing_tasks(ctx, stage)

    def submit_missing_tasks(self, ctx: Context, stage: Stage) -> None:
        """Run the partitions the stage is missing; all of them for an indeterminate map
        stage with any missing (whatever is left of its earlier run must not be mixed with
        this run's output)."""
        if stage.dep is not None and self.indeterminate(stage) and not self.available(stage):
            self.driver.tracker.unregister_all(stage.dep.name)
        partitions = self.missing_partitions(stage)
        stage.attempt += 1
        stage.pending = set(partitions)
        if not partitions:
            self.submit_waiting(ctx)
            return
        self.running.append(stage)
        self.driver.tasks.submit(ctx, stage, self.job.id, self.job.action, partitions)

    def submit_waiting(self, ctx: Context) -> None:
        waiting, self.waiting = self.waiting, []
        for stage in waiting:
            self.submit_stage(ctx, stage)

    def abort_job(self, ctx: Context, job: int, reason: str) -> None:
        """The job fails (its map outputs stay, for the next job)."""
        if self.job is None or self.job.id != job:
            return
        aborted = self.end_job(ctx)
        ctx.note("job-aborted", job=aborted.id, reason=reason)
        self.driver.job_failed(ctx, aborted)

    def end_job(self, ctx: Context) -> Job:
        """Stop the job's stages: nothing more is launched for them, and what runs is
        killed."""
        for stage in [*self.running, *self.waiting, *self.failed]:
            self.driver.tasks.cancel(ctx, stage)
        self.running, self.waiting, self.failed = [], [], []
        ended, self.job = self.job, None
        return ended

    # --- what tasks report -----------------------------------------------------------------

    def task_succeeded(self, ctx: Context, task_set: TaskSet, partition: int,
                       output: MapStatus | None) -> None:
        stage = task_set.stage
        if stage.dep is None:
            self.result_saved(ctx, task_set.job, partition)
            return
        if self.indeterminate(stage) and task_set.attempt < stage.attempt:
            return  # its earlier run's output: another run replaces it
        stage.pending.discard(partition)
        self.driver.tracker.register(stage.dep.name, partition, output)
        if stage in self.running and not stage.pending:
            self.running.remove(stage)
            if self.available(stage):
                self.submit_waiting(ctx)
            else:  # outputs lost since they were made: run them again
                self.submit_stage(ctx, stage)

    def result_saved(self, ctx: Context, job_id: int, partition: int) -> None:
        job = self.job
        if job is None or job.id != job_id:
            return
        job.finished.add(partition)
        if len(job.finished) == job.stage.partitions:
            self.driver.job_succeeded(ctx, self.end_job(ctx))

    def fetch_failed(self, ctx: Context, task_set: TaskSet, msg: FetchFailed) -> None:
        stage, map_stage = task_set.stage, self.stages[msg.shuffle]
        if self.job is None or task_set.job != self.job.id or task_set.attempt != stage.attempt:
            return  # an earlier attempt's: its failure is being handled
        if stage in self.running:
            self.running.remove(stage)
        if msg.location is not None:
            self.driver.tracker.unregister(msg.shuffle, msg.map, msg.location.tid)
            self.driver.tracker.remove_executor(msg.location.executor,
                                                msg.location.incarnation)
        if self.indeterminate(map_stage) and not self.roll_back(ctx, map_stage):
            return
        self.failed += [s for s in (stage, map_stage) if s not in self.failed]
        ctx.set_timer("resubmit", RESUBMIT)

    def roll_back(self, ctx: Context, map_stage: Stage) -> bool:
        """Forget the outputs of every stage downstream of `map_stage`, so that they all run
        again; False if the job had to be aborted instead (a result stage has saved
        partitions, which cannot be recomputed)."""
        for stage in self.downstream(map_stage):
            if stage.dep is not None:
                self.driver.tracker.unregister_all(stage.dep.name)
            elif self.job.finished:
                self.abort_job(ctx, self.job.id, f"{map_stage} is indeterminate and was "
                                                 f"retried, but {stage} cannot be rolled back")
                return False
        return True

    def resubmit_failed(self, ctx: Context) -> None:
        failed, self.failed = sorted(self.failed, key=lambda s: s.id), []
        for stage in failed:
            self.submit_stage(ctx, stage)


class PartialIndeterminateRetry(DAGScheduler):
    """Seeded bug: every stage is taken for determinate (Spark before 2.4), so after a fetch
    failure only the missing partitions of the round-robin stage run again, while the
    reducers that already read its earlier output keep what they read."""

    def indeterminate(self, stage: Stage) -> bool:
        return False
