"""Executors: processes that run tasks and hold, in memory, the cached partitions and the
shuffle outputs of the tasks they ran. All of it is lost when the process dies.

A task runs in three steps:

1. **fetch**: read the files its stage's lineage starts from (input or checkpoint parts, from
   the store) and, for each shuffle it reads, its bucket of every map output (`FetchBlock`
   to the executor holding it; a local block is read at once). Blocks are used in the order
   they arrive, local ones first, as Spark's ShuffleBlockFetcherIterator does. A block the
   holder no longer has, a connection that breaks, or no answer within FETCH_TIMEOUT, and
   the task fails with a **FetchFailed**: the driver must recompute that map output;
2. **compute** the partition from its lineage (`rdd.TaskInputs.compute`), putting the
   partitions of cached RDDs in memory on the way;
3. a map task splits the partition into the buckets of its shuffle and keeps them; a result
   task writes its partition to the store: a checkpoint part (write, then rename), or the
   job's output (write its attempt file, ask the driver for permission to commit, commit).

An executor process registers with the driver and heartbeats; each process is a new
`incarnation` (a durable boot count), so that messages to or from an earlier one are told
apart. One that the driver has taken for lost exits, and a new one takes its place.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.spark.messages import (
    CHECKPOINT,
    DRIVER,
    FETCH_TIMEOUT,
    HEARTBEAT,
    STORE,
    Block,
    BlockData,
    CanCommit,
    CommitDenied,
    CommitPermission,
    CommitTask,
    ExecutorRemoved,
    FetchBlock,
    FetchFailed,
    FileData,
    Heartbeat,
    KillTask,
    LaunchTask,
    MapStatus,
    ReadFile,
    RegisterExecutor,
    Rename,
    Renamed,
    Task,
    TaskCommitted,
    TaskFailed,
    TaskFinished,
    TaskKilled,
    WriteFile,
    Written,
    attempt_file,
)
from implementations.spark.rdd import Rows, TaskInputs, checkpoint_dir, needs, part_file

FETCHING, WRITING, ASKING, COMMITTING = "fetching", "writing", "asking", "committing"


@attrs.define
class Running:
    """One task in progress: what it still waits for, and what it has read."""

    task: Task
    files: dict[str, Rows | None]  # path -> rows, None until read
    blocks: dict[Block, MapStatus]  # shuffle blocks still awaited, and where from
    shuffles: dict[str, list[Rows]]  # blocks read, per shuffle, in arrival order
    phase: str = FETCHING
    computed: tuple[str, ...] = ()

    def fetched(self) -> bool:
        return not self.blocks and all(rows is not None for rows in self.files.values())

    def waits_on_store(self) -> bool:
        return self.phase in (WRITING, COMMITTING) or \
            (self.phase == FETCHING and not self.fetched() and None in self.files.values())


class Executor(Node):
    def on_start(self, ctx: Context) -> None:
        self.incarnation = ctx.storage.get("incarnation", 0) + 1
        ctx.storage.put("incarnation", self.incarnation)
        self.cache: dict[tuple[str, int], Rows] = {}  # (rdd, partition) -> rows
        self.shuffle: dict[tuple[str, int, int], tuple[Rows, ...]] = {}  # (shuffle, map,
        # tid) -> the buckets of a map task's output
        self.tasks: dict[int, Running] = {}
        ctx.send(DRIVER, RegisterExecutor(self.incarnation))
        ctx.set_timer("heartbeat", HEARTBEAT)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "heartbeat":
            ctx.send(DRIVER, Heartbeat(self.incarnation))
            ctx.set_timer("heartbeat", HEARTBEAT)
        elif name.startswith("fetch-"):
            self.fetch_timed_out(ctx, int(name.removeprefix("fetch-")))

    def on_reset(self, ctx: Context, peer: str) -> None:
        """A broken connection: to the driver, the process exits (Spark's executor does when
        the driver disassociates); otherwise the tasks waiting on that peer fail."""
        if peer == DRIVER:
            self.on_start(ctx)
            return
        for tid, run in list(self.tasks.items()):
            if peer == STORE and run.waits_on_store():
                self.finish(ctx, run, TaskFailed(tid, self.incarnation,
                                                 "connection to the store reset"))
            elif peer != STORE:
                lost = next((block for block, holder in run.blocks.items()
                             if holder.executor == peer), None)
                if lost is not None:
                    self.fetch_failed(ctx, run, lost)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case LaunchTask(task) if task.incarnation == self.incarnation:
                self.launch(ctx, task)
            case KillTask(tid) if tid in self.tasks:
                self.finish(ctx, self.tasks[tid], TaskKilled(tid, self.incarnation))
            case ExecutorRemoved(incarnation) if incarnation == self.incarnation:
                self.on_start(ctx)  # this process exits; the cluster manager starts another
            case FetchBlock(tid, block):
                ctx.send(src, BlockData(tid, block, self.serve(block)))
            case _ if getattr(msg, "tid", None) in self.tasks:
                self.on_task_message(ctx, self.tasks[msg.tid], msg)

    def serve(self, block: Block) -> Rows | None:
        """A bucket of a map output this process wrote, or None."""
        output = self.shuffle.get((block.shuffle, block.map, block.tid))
        return None if output is None else output[block.reduce]

    # --- 1. fetch --------------------------------------------------------------------------

    def launch(self, ctx: Context, task: Task) -> None:
        files, shuffles = needs(task.rdd, task.partition, self.cache)
        run = Running(task, dict.fromkeys(files), {}, {dep.name: [] for dep in shuffles})
        self.tasks[task.tid] = run
        for path in files:
            ctx.send(STORE, ReadFile(task.tid, path))
        locations = dict(task.reads)
        for dep in shuffles:
            for map_index, status in enumerate(locations[dep.name]):
                if status is None:  # the driver has no output for it: the output was lost
                    self.finish(ctx, run, FetchFailed(task.tid, self.incarnation, dep.name,
                                                      map_index, None))
                    return
                block = Block(dep.name, map_index, status.tid, task.partition)
                if status.executor == self.id and status.incarnation == self.incarnation:
                    rows = self.serve(block)
                    if rows is None:
                        self.fetch_failed(ctx, run, block, status)
                        return
                    run.shuffles[dep.name].append(rows)
                else:
                    run.blocks[block] = status
                    ctx.send(status.executor, FetchBlock(task.tid, block))
        ctx.set_timer(f"fetch-{task.tid}", FETCH_TIMEOUT)
        self.maybe_compute(ctx, run)

    def on_task_message(self, ctx: Context, run: Running, msg: Any) -> None:
        match msg:
            case FileData(_, path, rows) if run.phase == FETCHING:
                if rows is None:
                    self.finish(ctx, run, TaskFailed(run.task.tid, self.incarnation,
                                                     f"no file {path}"))
                    return
                run.files[path] = rows
                self.maybe_compute(ctx, run)
            case BlockData(_, block, rows) if block in run.blocks:
                if rows is None:
                    self.fetch_failed(ctx, run, block)
                    return
                del run.blocks[block]
                run.shuffles[block.shuffle].append(rows)
                self.maybe_compute(ctx, run)
            case Written(_, path) if run.phase == WRITING:
                self.written(ctx, run, path)
            case Renamed() if run.phase == COMMITTING:
                self.succeed(ctx, run)
            case CommitPermission(tid, granted) if run.phase == ASKING:
                if granted:
                    run.phase = COMMITTING
                    ctx.send(STORE, CommitTask(tid, run.task.job, run.task.partition))
                else:
                    self.finish(ctx, run, CommitDenied(tid, self.incarnation))
            case TaskCommitted() if run.phase == COMMITTING:
                self.succeed(ctx, run)

    def fetch_timed_out(self, ctx: Context, tid: int) -> None:
        run = self.tasks.get(tid)
        if run is not None and run.phase == FETCHING and run.blocks:
            self.fetch_failed(ctx, run, next(iter(run.blocks)))

    def fetch_failed(self, ctx: Context, run: Running, block: Block,
                     location: MapStatus | None = None) -> None:
        self.finish(ctx, run, FetchFailed(run.task.tid, self.incarnation, block.shuffle,
                                          block.map, location or run.blocks[block]))

    # --- 2. compute, 3. write ---------------------------------------------------------------

    def maybe_compute(self, ctx: Context, run: Running) -> None:
        if run.phase != FETCHING or not run.fetched():
            return
        ctx.cancel_timer(f"fetch-{run.task.tid}")
        task = run.task
        inputs = TaskInputs(dict(run.files), run.shuffles, self.cache)
        rows = inputs.compute(task.rdd, task.partition)
        run.computed = tuple(inputs.computed)
        if task.writes is not None:
            key = (task.writes.name, task.partition, task.tid)
            self.shuffle[key] = task.writes.write(rows)
            self.succeed(ctx, run)
            return
        run.phase = WRITING
        path = self.result_file(task)
        ctx.send(STORE, WriteFile(task.tid, path, rows))

    def result_file(self, task: Task) -> str:
        if task.action == CHECKPOINT:
            return f"{checkpoint_dir(task.rdd)}/.t{task.tid}-part-{task.partition}"
        return attempt_file(task.job, task.tid, task.partition)

    def written(self, ctx: Context, run: Running, path: str) -> None:
        task = run.task
        if task.action == CHECKPOINT:
            run.phase = COMMITTING
            final = part_file(checkpoint_dir(task.rdd), task.partition)
            ctx.send(STORE, Rename(task.tid, path, final))
        else:
            run.phase = ASKING
            ctx.send(DRIVER, CanCommit(task.tid, self.incarnation, task.stage, task.partition))

    def succeed(self, ctx: Context, run: Running) -> None:
        task = run.task
        output = None if task.writes is None else \
            MapStatus(self.id, self.incarnation, task.tid)
        self.finish(ctx, run, TaskFinished(task.tid, self.incarnation, output, run.computed))

    def finish(self, ctx: Context, run: Running, report: Any) -> None:
        del self.tasks[run.task.tid]
        ctx.cancel_timer(f"fetch-{run.task.tid}")
        ctx.send(DRIVER, report)

