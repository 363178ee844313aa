"""The master: task states, pings, re-execution after worker failures, backup tasks."""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.mapreduce.messages import (
    FAIL_AFTER,
    MAP,
    PING,
    REDUCE,
    STRAGGLER,
    Assign,
    Attempt,
    Job,
    JobDone,
    Locations,
    MapAt,
    Ping,
    Status,
    Submit,
    WhereIs,
    final_file,
)

IDLE, IN_PROGRESS, COMPLETED = "idle", "in-progress", "completed"
RESEND = 2 * PING  # an Assign the worker has not taken by then is sent again


@attrs.frozen
class Execution:
    """One in-progress attempt: where it runs, and the `Assign` that started it."""

    attempt: Attempt
    worker: str
    seq: int
    started: int
    sent: int  # when the Assign was last sent


@attrs.frozen
class Task:
    """The paper's per-task record: its state and, unless idle, the workers running it (two
    when a backup runs) or the worker whose execution completed it."""

    kind: str
    index: int
    state: str = IDLE
    running: tuple[Execution, ...] = ()
    done: MapAt | None = None  # the execution that completed it
    tries: int = 0  # attempts handed out so far

    @property
    def name(self) -> str:
        return f"{self.kind}{self.index}"


class Master(Node):
    """The master's task table, the job and the workers' boot counts are checkpointed at
    every change (the paper's periodic checkpoint, with one change as the period): a master
    that restarts resumes the job instead of aborting it. Which workers look alive is
    volatile, learnt again from pings."""

    def __init__(self, node_id: str, workers: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.workers = workers

    def leads(self) -> bool:
        return True

    def on_start(self, ctx: Context) -> None:
        checkpoint = ctx.storage.get("checkpoint", {})
        self.job: Job | None = checkpoint.get("job")
        self.user: str = checkpoint.get("user", "")
        self.tasks: dict[str, Task] = dict(checkpoint.get("tasks", {}))
        self.incarnations: dict[str, int] = dict(checkpoint.get("incarnations", {}))
        self.seq: int = checkpoint.get("seq", 0)  # assignments handed out
        self.silent = dict.fromkeys(self.workers, 0)  # pings' time since its last Status
        self.taken = dict.fromkeys(self.workers, 0)  # the latest Assign each says it took
        self.failed: set[str] = set()
        if self.job is not None:
            ctx.set_timer("ping", PING)

    def checkpoint(self, ctx: Context) -> None:
        ctx.storage.put("checkpoint", {"job": self.job, "user": self.user,
                                       "tasks": dict(self.tasks),
                                       "incarnations": dict(self.incarnations),
                                       "seq": self.seq})

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Submit):
            self.on_submit(ctx, src, msg.job)
        elif isinstance(msg, Status) and src in self.silent:
            self.on_status(ctx, src, msg)
        elif isinstance(msg, WhereIs):
            ctx.send(src, Locations(msg.attempt, self.map_locations()))

    def on_submit(self, ctx: Context, user: str, job: Job) -> None:
        if self.job is None:
            self.job, self.user = job, user
            self.tasks = {t.name: t for t in [Task(MAP, i) for i in range(job.splits)]
                          + [Task(REDUCE, r) for r in range(job.reduces)]}
            self.checkpoint(ctx)
            ctx.set_timer("ping", PING)
            self.schedule(ctx)
        elif self.job_done():
            self.tell_user(ctx)

    def job_done(self) -> bool:
        return all(task.state == COMPLETED for task in self.tasks.values())

    def tell_user(self, ctx: Context) -> None:
        ctx.send(self.user, JobDone(tuple(final_file(r) for r in range(self.job.reduces))))

    # --- failure detection ---------------------------------------------------------------

    def on_timer(self, ctx: Context, name: str) -> None:
        """Ping the workers. One that has not answered for FAIL_AFTER pings' time has
        failed. A ping still unanswered is not repeated until then (it may be lost)."""
        for worker in self.workers:
            if self.silent[worker] >= FAIL_AFTER and worker not in self.failed:
                self.worker_failed(ctx, worker, f"silent for {FAIL_AFTER * PING} ticks")
            if self.silent[worker] % FAIL_AFTER == 0:
                ctx.send(worker, Ping())
            self.silent[worker] += 1
        self.resend_lost_assignments(ctx)
        self.schedule(ctx)
        ctx.set_timer("ping", PING)

    def on_status(self, ctx: Context, worker: str, status: Status) -> None:
        known = self.incarnations.get(worker, status.incarnation)
        if status.incarnation < known:
            return  # from a process that has rebooted since
        if status.incarnation > known:  # it rebooted: its local disk is gone
            self.worker_failed(ctx, worker, "rebooted")
        self.incarnations[worker] = status.incarnation
        self.silent[worker] = 0
        self.taken[worker] = status.seq
        self.failed.discard(worker)
        for attempt in status.finished:
            self.attempt_finished(ctx, worker, attempt)
        self.checkpoint(ctx)
        self.schedule(ctx)

    def worker_failed(self, ctx: Context, worker: str, cause: str) -> None:
        """Its in-progress tasks go back to idle, and so do the map tasks it completed: their
        output was on its local disk."""
        self.failed.add(worker)
        ctx.note("failed", worker=worker, cause=cause)
        for task in list(self.tasks.values()):
            still = tuple(run for run in task.running if run.worker != worker)
            if still != task.running:
                self.tasks[task.name] = attrs.evolve(
                    task, running=still, state=IN_PROGRESS if still else IDLE)
        for task in self.lost_outputs(worker):
            self.tasks[task.name] = attrs.evolve(task, state=IDLE, done=None)
            ctx.note("reexecute", task=task.name, worker=worker, cause=cause)
        self.checkpoint(ctx)

    def lost_outputs(self, worker: str) -> list[Task]:
        """The completed map tasks whose output was on `worker`'s local disk."""
        return [task for task in self.tasks.values() if task.kind == MAP
                and task.state == COMPLETED and task.done.worker == worker]

    def resend_lost_assignments(self, ctx: Context) -> None:
        """An `Assign` the worker has not said it took for RESEND ticks is lost, or late:
        send it again, with its number (a worker takes it once, however many copies come)."""
        for task in list(self.tasks.values()):
            for run in task.running:
                if self.taken[run.worker] < run.seq and ctx.now() - run.sent >= RESEND:
                    self.send_assign(ctx, task, attrs.evolve(run, sent=ctx.now()))

    # --- completion ----------------------------------------------------------------------

    def attempt_finished(self, ctx: Context, worker: str, attempt: Attempt) -> None:
        """The first of its executions to finish completes the task. A completion for a task
        already completed (a backup's, say) is ignored, and so is one of an execution given
        up when its worker was taken for failed. The completion that leaves no task to do
        wakes the user program, whichever kind it is: the last may be a map re-executed
        after its worker failed, once the reducers had already read its first output."""
        task = self.tasks[attempt.task]
        if task.state == COMPLETED or attempt not in [run.attempt for run in task.running]:
            return
        self.tasks[task.name] = attrs.evolve(task, state=COMPLETED, running=(),
                                             done=MapAt(attempt, worker))
        ctx.note("completed", task=task.name, attempt=repr(attempt), worker=worker)
        if task.kind == MAP:
            self.notify_reducers(ctx)
        if self.job_done():
            self.tell_user(ctx)

    def map_locations(self) -> tuple[MapAt, ...]:
        return tuple(task.done for task in self.tasks.values()
                     if task.kind == MAP and task.state == COMPLETED)

    def notify_reducers(self, ctx: Context) -> None:
        """Reduce workers learn of every map (re-)execution that completes."""
        for task in self.tasks.values():
            for run in task.running:
                if task.kind == REDUCE:
                    ctx.send(run.worker, Locations(run.attempt, self.map_locations()))

    # --- scheduling ----------------------------------------------------------------------

    def idle_workers(self) -> list[str]:
        busy = {run.worker for task in self.tasks.values() for run in task.running}
        return [w for w in self.workers if w not in busy and w not in self.failed]

    def assignable(self) -> list[Task]:
        """Idle map tasks first; reduce tasks once every map task has completed."""
        maps = [t for t in self.tasks.values() if t.kind == MAP]
        if any(t.state != COMPLETED for t in maps):
            return [t for t in maps if t.state == IDLE]
        return [t for t in self.tasks.values() if t.kind == REDUCE and t.state == IDLE]

    def stragglers(self, now: int) -> list[Task]:
        """Near the end of a phase (nothing idle left to hand out), the tasks whose only
        execution has run for STRAGGLER ticks get a backup execution."""
        return [t for t in self.tasks.values() if t.state == IN_PROGRESS
                and len(t.running) == 1 and now - t.running[0].started >= STRAGGLER]

    def schedule(self, ctx: Context) -> None:
        if self.job is None:
            return
        idle = self.idle_workers()
        todo = self.assignable() or self.stragglers(ctx.now())
        for task, worker in zip(todo, idle):
            self.start_attempt(ctx, task, worker)

    def start_attempt(self, ctx: Context, task: Task, worker: str) -> None:
        self.seq += 1  # assignments are numbered, so a worker can tell a late one
        run = Execution(Attempt(task.kind, task.index, task.tries + 1), worker, self.seq,
                        ctx.now(), ctx.now())
        task = attrs.evolve(task, state=IN_PROGRESS, tries=run.attempt.n)
        self.send_assign(ctx, task, run)

    def send_assign(self, ctx: Context, task: Task, run: Execution) -> None:
        """Record the execution and send its `Assign`."""
        others = tuple(r for r in task.running if r.attempt != run.attempt)
        self.tasks[task.name] = attrs.evolve(task, running=(*others, run))
        self.checkpoint(ctx)
        maps = self.map_locations() if run.attempt.kind == REDUCE else ()
        ctx.send(run.worker, Assign(run.seq, run.attempt, self.job, maps))


class LostMapsNotReexecuted(Master):
    """Seeded bug: when a worker fails, only its in-progress tasks are re-executed. Its
    completed map tasks stay completed, pointing reducers at a local disk that is gone."""

    def lost_outputs(self, worker: str) -> list[Task]:
        return []
