"""The JobManager: deploys the job, coordinates its checkpoints, restarts it after a failure.

Its checkpoint coordinator triggers a checkpoint every `interval` ticks, with at most
`concurrent` of them under way at once: the sources inject the barrier; each task
acknowledges with its snapshot once the barrier has passed it. When every task has
acknowledged, the checkpoint is **complete**: stored durably (as Flink keeps completed
checkpoints in its high-availability store), older ones still under way are subsumed, and
the sink, whose transactions wait for it, is told. A failure of any task (a crash, a broken
connection) restarts the whole job as a new attempt, every task from its part of the last
completed checkpoint.

The job ends once a checkpoint completes after both sources read all their input (the
*final* checkpoint: every result is in a transaction it covers) and the sink reports that
those transactions are committed.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.flink.messages import (
    Ack,
    Committed,
    Complete,
    Deploy,
    Failed,
    Restarted,
    Status,
    StatusResult,
    Trigger,
)


@attrs.frozen
class CompletedCheckpoint:
    checkpoint: int
    states: tuple[tuple[str, Any], ...]  # (task, snapshot), by task
    final: bool  # every source had read all its input

    def state(self, task: str) -> Any:
        return dict(self.states)[task]


class JobManager(Node):
    def __init__(self, node_id: str, sources: tuple[str, ...], tasks: tuple[str, ...],
                 sink: str, interval: int, concurrent: int) -> None:
        super().__init__(node_id)
        self.sources, self.tasks, self.sink = sources, tasks, sink
        self.interval, self.concurrent = interval, concurrent

    def leads(self) -> bool:
        return True

    def on_start(self, ctx: Context) -> None:
        ctx.storage.put("attempt", 0)
        ctx.storage.put("next-checkpoint", 1)
        self.on_recover(ctx)

    def on_recover(self, ctx: Context) -> None:
        self.attempt = ctx.storage.get("attempt")
        self.completed: CompletedCheckpoint | None = ctx.storage.get("completed")
        self.finished = ctx.storage.get("finished", False)
        self.incarnations: dict[str, int] = ctx.storage.get("incarnations", {})
        self.restart_job(ctx)

    def restart_job(self, ctx: Context) -> None:
        """A new attempt, every task from the last completed checkpoint (or from scratch)."""
        if self.finished:
            return
        self.attempt += 1
        ctx.storage.put("attempt", self.attempt)
        self.pending: dict[int, dict[str, Any]] = {}  # checkpoint -> its snapshots so far
        self.finishing: dict[int, set[str]] = {}  # checkpoint -> sources at their input's end
        restored = self.completed
        for task in self.tasks:
            incarnation = self.incarnations.get(task, 0)
            if restored is None:
                ctx.send(task, Deploy(self.attempt, 0, None, incarnation=incarnation))
            else:
                ctx.send(task, Deploy(self.attempt, restored.checkpoint, restored.state(task),
                                      restored.final, incarnation))
        ctx.set_timer("checkpoint", self.interval)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.finished or (self.completed is not None and self.completed.final):
            return
        if len(self.pending) < self.concurrent:
            self.trigger(ctx)
        ctx.set_timer("checkpoint", self.interval)

    def trigger(self, ctx: Context) -> None:
        checkpoint = ctx.storage.get("next-checkpoint")
        ctx.storage.put("next-checkpoint", checkpoint + 1)  # ids never repeat
        self.pending[checkpoint], self.finishing[checkpoint] = {}, set()
        for source in self.sources:
            ctx.send(source, Trigger(self.attempt, checkpoint))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Ack(attempt, checkpoint, state, finished) if attempt == self.attempt \
                    and checkpoint in self.pending:
                self.pending[checkpoint][src] = state
                if finished:
                    self.finishing[checkpoint].add(src)
                if len(self.pending[checkpoint]) == len(self.tasks):
                    self.complete(ctx, checkpoint)
            case Committed(attempt, checkpoint) if attempt == self.attempt \
                    and self.completed is not None and checkpoint == self.completed.checkpoint:
                self.finished = True
                ctx.storage.put("finished", True)
                ctx.cancel_timer("checkpoint")
            case Failed(attempt) if attempt == self.attempt:
                self.restart_job(ctx)
            case Restarted(incarnation):
                self.incarnations = {**self.incarnations, src: incarnation}
                ctx.storage.put("incarnations", self.incarnations)
                self.restart_job(ctx)
            case Status(req):
                ctx.send(src, StatusResult(req, self.finished))

    def complete(self, ctx: Context, checkpoint: int) -> None:
        self.completed = CompletedCheckpoint(
            checkpoint, tuple(sorted(self.pending[checkpoint].items())),
            final=len(self.finishing[checkpoint]) == len(self.sources))
        ctx.storage.put("completed", self.completed)
        for older in [c for c in self.pending if c <= checkpoint]:  # subsumed
            del self.pending[older], self.finishing[older]
        ctx.send(self.sink, Complete(self.attempt, checkpoint, self.completed.final))

    def on_reset(self, ctx: Context, peer: str) -> None:
        if peer in self.tasks:
            self.restart_job(ctx)
