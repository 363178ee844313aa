"""The task scheduler: each attempt of a stage is a task set (Spark's TaskSetManager) whose
tasks it hands to free executors, one task at a time per executor, preferring one that has
the partition cached (when it is free: no delay scheduling); it re-queues the tasks of
executors that are lost, and runs **speculative** copies of stragglers.

- The first attempt of a partition to finish completes it; the task set kills the others
  and ignores their results.
- A fetch failure makes its task set a **zombie**: it launches nothing more (the DAG
  scheduler resubmits the stage), and the tasks it has running may still finish.
- Speculation: every SPECULATION_INTERVAL, once three quarters of a task set's tasks have
  finished (at least one), a task running for SPECULATE_AFTER with a single attempt gets a
  second attempt on another executor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from implementations.spark.messages import (
    SPECULATE_AFTER,
    CommitDenied,
    FetchFailed,
    KillTask,
    LaunchTask,
    Task,
    TaskFailed,
    TaskFinished,
    TaskKilled,
)
from implementations.spark.rdd import shuffles_read, stage_lineage

if TYPE_CHECKING:
    from checker.node import Context
    from implementations.spark.driver import Driver
    from implementations.spark.scheduler import Stage


@attrs.define
class Attempt:
    tid: int
    partition: int
    executor: str
    incarnation: int
    launched: int


@attrs.define(eq=False)
class TaskSet:
    """The tasks of one attempt of one stage."""

    stage: Stage
    attempt: int
    job: int
    action: str
    partitions: tuple[int, ...]
    pending: list[int]  # partitions waiting for an executor
    running: dict[int, Attempt] = attrs.Factory(dict)  # by tid
    succeeded: set[int] = attrs.Factory(set)
    speculatable: list[int] = attrs.Factory(list)
    zombie: bool = False

    def attempts_of(self, partition: int) -> list[Attempt]:
        return [a for a in self.running.values() if a.partition == partition]


class TaskScheduler:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.task_sets: list[TaskSet] = []
        self.next_tid = 0

    def submit(self, ctx: Context, stage: Stage, job: int, action: str,
               partitions: list[int]) -> None:
        for task_set in self.task_sets:
            if task_set.stage is stage:  # an earlier attempt of the stage
                task_set.zombie = True
        self.task_sets.append(TaskSet(stage, stage.attempt, job, action, tuple(partitions),
                                      list(partitions)))
        self.offer(ctx)

    def cancel(self, ctx: Context, stage: Stage) -> None:
        """Launch nothing more for the stage and kill its running tasks."""
        for task_set in self.task_sets:
            if task_set.stage is stage:
                task_set.zombie = True
                for attempt in task_set.running.values():
                    ctx.send(attempt.executor, KillTask(attempt.tid))

    def find(self, tid: int) -> tuple[TaskSet, Attempt] | None:
        for task_set in self.task_sets:
            if tid in task_set.running:
                return task_set, task_set.running[tid]
        return None

    # --- launching -------------------------------------------------------------------------

    def offer(self, ctx: Context) -> None:
        """Give free executors tasks: first each pending task that would start from a
        partition cached on a free executor, to that one; then any pending task, else a
        speculative copy, to each executor still free."""
        free = self.driver.free_executors(self.busy())
        for task_set in self.live():
            for partition in list(task_set.pending):
                holder = next((h for h in self.preferred(task_set.stage, partition)
                               if h in free), None)
                if holder is not None:
                    free.remove(holder)
                    self.launch(ctx, task_set, partition, *holder, speculative=False)
        for executor, incarnation in free:
            choice = self.any_pending() or self.speculative_copy(executor)
            if choice is not None:
                task_set, partition, speculative = choice
                self.launch(ctx, task_set, partition, executor, incarnation, speculative)
        self.task_sets = [t for t in self.task_sets if t.running or not t.zombie and
                          len(t.succeeded) < len(t.partitions)]

    def busy(self) -> set[str]:
        return {a.executor for t in self.task_sets for a in t.running.values()}

    def live(self) -> list[TaskSet]:
        return [t for t in self.task_sets if not t.zombie]

    def preferred(self, stage: Stage, partition: int) -> list[tuple[str, int]]:
        """The executors holding a cached partition the task would start from."""
        return [holder for rdd in stage_lineage(stage.rdd) if rdd.cached
                for holder in self.driver.blocks.holders(rdd.name, partition)]

    def any_pending(self) -> tuple[TaskSet, int, bool] | None:
        return next(((t, t.pending[0], False) for t in self.live() if t.pending), None)

    def speculative_copy(self, executor: str) -> tuple[TaskSet, int, bool] | None:
        for task_set in self.live():
            for partition in task_set.speculatable:
                if all(a.executor != executor for a in task_set.attempts_of(partition)):
                    return task_set, partition, True
        return None

    def launch(self, ctx: Context, task_set: TaskSet, partition: int, executor: str,
               incarnation: int, speculative: bool) -> None:
        stage, tracker = task_set.stage, self.driver.tracker
        (task_set.speculatable if speculative else task_set.pending).remove(partition)
        self.next_tid += 1
        reads = tuple((dep.name, tracker.locations(dep.name, dep.rdd.partitions))
                      for dep in shuffles_read(stage.rdd))
        task = Task(self.next_tid, task_set.job, stage.id, task_set.attempt, partition,
                    stage.rdd, stage.dep, task_set.action, reads, incarnation)
        task_set.running[task.tid] = Attempt(task.tid, partition, executor, incarnation,
                                             ctx.now())
        ctx.send(executor, LaunchTask(task))

    def speculate(self, ctx: Context) -> None:
        for task_set in self.live():
            done = len(task_set.succeeded)
            if done < max(len(task_set.partitions) * 3 // 4, 1):
                continue
            for attempt in task_set.running.values():
                partition = attempt.partition
                if partition not in task_set.succeeded and partition not in \
                        task_set.speculatable and len(task_set.attempts_of(partition)) == 1 \
                        and ctx.now() - attempt.launched >= SPECULATE_AFTER:
                    task_set.speculatable.append(partition)
        self.offer(ctx)

    # --- what executors report -------------------------------------------------------------

    def on_report(self, ctx: Context, msg: Any) -> None:
        found = self.find(msg.tid)
        if found is None:
            return
        task_set, attempt = found
        del task_set.running[attempt.tid]
        match msg:
            case TaskFinished():
                self.succeeded(ctx, task_set, attempt, msg)
            case FetchFailed():
                task_set.zombie = True
                self.driver.dag.fetch_failed(ctx, task_set, msg)
            case TaskFailed(reason=reason):
                self.failed(ctx, task_set, attempt, reason)
            case TaskKilled() | CommitDenied():
                pass  # another attempt completes the partition
        self.offer(ctx)

    def succeeded(self, ctx: Context, task_set: TaskSet, attempt: Attempt,
                  msg: TaskFinished) -> None:
        partition = attempt.partition
        if partition in task_set.succeeded:
            return  # another attempt finished first
        task_set.succeeded.add(partition)
        for other in task_set.attempts_of(partition):
            ctx.send(other.executor, KillTask(other.tid))
        for queue in (task_set.pending, task_set.speculatable):
            if partition in queue:
                queue.remove(partition)
        for rdd in msg.cached:
            self.driver.blocks.add(rdd, partition, (attempt.executor, attempt.incarnation))
        self.driver.dag.task_succeeded(ctx, task_set, partition, msg.output)

    def failed(self, ctx: Context, task_set: TaskSet, attempt: Attempt, reason: str) -> None:
        """Run it again, unless another attempt has it; an authorized committer's failure
        fails its job."""
        partition = attempt.partition
        if task_set.stage.dep is None and \
                self.driver.coordinator.attempt_failed(task_set.stage.id, partition, attempt.tid):
            self.driver.dag.abort_job(ctx, task_set.job, f"the authorized committer "
                                                         f"t{attempt.tid} of partition "
                                                         f"{partition} failed ({reason})")
            return
        if not task_set.zombie and partition not in task_set.succeeded \
                and not task_set.attempts_of(partition) and partition not in task_set.pending:
            task_set.pending.append(partition)

    def executor_lost(self, ctx: Context, executor: str) -> None:
        for task_set in list(self.task_sets):
            for attempt in [a for a in task_set.running.values() if a.executor == executor]:
                del task_set.running[attempt.tid]
                self.failed(ctx, task_set, attempt, f"{executor} lost")
