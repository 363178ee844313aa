"""The driver: the process that runs the user's program. It builds the program's lineage,
runs each action as a job (DAGScheduler, TaskScheduler), tracks map outputs and cached
blocks, arbitrates output commits, and watches the executors' heartbeats.

The program's one action saves its result (`saveAsTextFile`); an RDD marked for
checkpointing is saved first, by a job of its own (eagerly, as `Dataset.checkpoint()` does),
and from then on the lineage starts from its checkpoint files. A job that is aborted is run
again as a new job (as the user's program, or the cluster manager's application retry,
would); its committed task outputs were never published. When the saving job's tasks have
all committed, the driver commits the job, and the program returns.

The driver is a client of the simulation: it is never crashed. (A Spark application does not
survive its driver's death; nothing here would either.)
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.spark import program
from implementations.spark.messages import (
    CHECKPOINT,
    EXPIRE,
    HEARTBEAT,
    SAVE,
    SPECULATION_INTERVAL,
    STORE,
    CanCommit,
    CommitJob,
    CommitPermission,
    ExecutorRemoved,
    Heartbeat,
    JobCommitted,
    RegisterExecutor,
)
from implementations.spark.rdd import RDD, SparkContext, marked_for_checkpoint, truncate
from implementations.spark.scheduler import DAGScheduler, Job
from implementations.spark.tasks import TaskScheduler
from implementations.spark.tracking import (
    BlockManagerMaster,
    MapOutputTracker,
    OutputCommitCoordinator,
)


class Driver(Client):
    def __init__(self, node_id: str, executors: tuple[str, ...],
                 dag: type[DAGScheduler] = DAGScheduler,
                 coordinator: type[OutputCommitCoordinator] = OutputCommitCoordinator) -> None:
        super().__init__(node_id)
        self.executors = executors
        self.alive: dict[str, int] = {}  # executor -> the incarnation of its live process
        self.heard: dict[str, int] = {}  # executor -> when it last heartbeat
        self.removed: set[tuple[str, int]] = set()  # processes taken for lost
        self.tracker = MapOutputTracker()
        self.blocks = BlockManagerMaster()
        self.coordinator = coordinator()
        self.tasks = TaskScheduler(self)
        self.dag = dag(self)
        self.final: RDD | None = None  # the program's result, its lineage cut by checkpoints
        self.committing: int | None = None  # the job whose commit awaits the store

    def state(self) -> dict[str, Any]:
        """What reports and state fingerprints show: the schedulers without their link back
        to the driver."""
        parts = {k: v for k, v in vars(self).items() if k not in ("tasks", "dag")}
        for name in ("tasks", "dag"):
            parts[name] = {k: v for k, v in vars(getattr(self, name)).items() if k != "driver"}
        return parts

    # --- the program -----------------------------------------------------------------------

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.final = program.page_views(SparkContext(), checkpoint=args["checkpoint"])
        ctx.set_timer("expire", HEARTBEAT)
        ctx.set_timer("speculation", SPECULATION_INTERVAL)
        self.next_job(ctx)

    def next_job(self, ctx: Context) -> None:
        marked = marked_for_checkpoint(self.final)
        if marked is not None:
            self.dag.submit_job(ctx, CHECKPOINT, marked)
        else:
            self.dag.submit_job(ctx, SAVE, self.final)

    def job_succeeded(self, ctx: Context, job: Job) -> None:
        if job.action == CHECKPOINT:
            self.final = truncate(self.final, job.rdd)
            self.next_job(ctx)
        else:
            self.committing = job.id
            ctx.send(STORE, CommitJob(job.id))

    def job_failed(self, ctx: Context, job: Job) -> None:
        self.next_job(ctx)

    # --- executors -------------------------------------------------------------------------

    def free_executors(self, busy: set[str]) -> list[tuple[str, int]]:
        return [(e, self.alive[e]) for e in self.executors if e in self.alive and e not in busy]

    def register(self, ctx: Context, executor: str, incarnation: int) -> None:
        current = self.alive.get(executor, 0)
        if (executor, incarnation) in self.removed or incarnation <= current:
            return
        if current:
            self.executor_lost(ctx, executor, "a new process of it registered")
        self.alive[executor] = incarnation
        self.heard[executor] = ctx.now()
        self.tasks.offer(ctx)

    def heartbeat(self, ctx: Context, executor: str, incarnation: int) -> None:
        if (executor, incarnation) in self.removed:
            ctx.send(executor, ExecutorRemoved(incarnation))
        elif self.alive.get(executor) == incarnation:
            self.heard[executor] = ctx.now()
        else:  # its registration was lost on a broken connection
            self.register(ctx, executor, incarnation)

    def executor_lost(self, ctx: Context, executor: str, why: str) -> None:
        """Its map outputs and cached partitions are gone, its tasks run elsewhere."""
        incarnation = self.alive.pop(executor)
        self.removed.add((executor, incarnation))
        ctx.note("executor-lost", executor=executor, incarnation=incarnation, why=why)
        self.tracker.remove_executor(executor, incarnation)
        self.blocks.remove_executor(executor, incarnation)
        self.tasks.executor_lost(ctx, executor)
        self.tasks.offer(ctx)

    # --- events ----------------------------------------------------------------------------

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "expire":
            for executor in [e for e in self.executors if e in self.alive]:
                if ctx.now() - self.heard[executor] >= EXPIRE:
                    self.executor_lost(ctx, executor, f"no heartbeat for {EXPIRE} ticks")
            ctx.set_timer("expire", HEARTBEAT)
        elif name == "speculation":
            self.tasks.speculate(ctx)
            ctx.set_timer("speculation", SPECULATION_INTERVAL)
        elif name == "resubmit":
            self.dag.resubmit_failed(ctx)

    def on_reset(self, ctx: Context, peer: str) -> None:
        if peer == STORE and self.committing is not None:
            ctx.send(STORE, CommitJob(self.committing))
        elif peer in self.alive:
            self.executor_lost(ctx, peer, "its connection broke")

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case RegisterExecutor(incarnation):
                self.register(ctx, src, incarnation)
            case Heartbeat(incarnation):
                self.heartbeat(ctx, src, incarnation)
            case JobCommitted(job, files) if job == self.committing:
                self.committing = None
                self.complete(ctx, "ok", list(files))
            case _ if self.alive.get(src) != getattr(msg, "incarnation", None):
                return  # from a process taken for lost
            case CanCommit(tid, _, stage, partition):
                granted = self.tasks.find(tid) is not None and \
                    self.coordinator.can_commit(stage, partition, tid)
                ctx.send(src, CommitPermission(tid, granted))
            case _:
                self.tasks.on_report(ctx, msg)
