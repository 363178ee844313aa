"""The tasks of the dataflow: what every task does (run the deployed attempt, align barriers),
the sources, and the keyed window operator.

A task runs the attempt of the job the JobManager last deployed to it, from the state it was
handed, and drops messages of any other attempt. A broken connection (`reset`) is a task
failure, reported to the JobManager; a task whose process restarts reports that too. Either
way the JobManager restarts the whole job from its last completed checkpoint.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.flink.messages import (
    Ack,
    Barrier,
    Deploy,
    Failed,
    Record,
    Restarted,
    Result,
    Trigger,
    Watermark,
)
from models.flink import ALLOWED_LATENESS, END, OUT_OF_ORDERNESS, START, WINDOW, Event

READ_EVERY = 2  # ticks between two records a source reads


class Task(Node):
    """A task of the job graph. With several inputs it aligns checkpoint barriers: an input
    whose barrier has arrived is blocked (its messages are buffered) until the barrier has
    arrived on every input; then the task snapshots its state, acknowledges it to the
    JobManager, forwards the barrier and resumes the blocked inputs (Carbone et al., ABS on
    acyclic dataflows)."""

    aligned = True  # block an input from its barrier on until the snapshot

    def __init__(self, node_id: str, jobmanager: str, inputs: tuple[str, ...] = ()) -> None:
        super().__init__(node_id)
        self.jobmanager = jobmanager
        self.inputs = inputs

    def on_start(self, ctx: Context) -> None:
        self.attempt: int | None = None  # nothing deployed yet
        self.early: list[tuple[str, Any]] = []  # sent by a newer attempt, before its Deploy
        self.incarnation = ctx.storage.get("incarnation", 0)

    def on_recover(self, ctx: Context) -> None:
        """A restarted process registers anew: what was deployed to the one that crashed
        (and may still be on its way) was deployed to a process that is gone."""
        ctx.storage.put("incarnation", ctx.storage.get("incarnation", 0) + 1)
        Task.on_start(self, ctx)
        ctx.send(self.jobmanager, Restarted(self.incarnation))

    def on_reset(self, ctx: Context, peer: str) -> None:
        if peer != self.jobmanager:  # the JobManager sees a reset of its own connections
            if self.attempt is not None:
                ctx.send(self.jobmanager, Failed(self.attempt))
        elif self.attempt is None and self.incarnation > 0:  # registration may be lost
            ctx.send(self.jobmanager, Restarted(self.incarnation))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Deploy):
            if msg.incarnation != self.incarnation:
                return
            self.attempt = msg.attempt
            self.barriers: set[str] = set()  # inputs whose barrier arrived
            self.blocked: set[str] = set()
            self.buffered: list[tuple[str, Any]] = []
            self.deploy(ctx, msg)
            early, self.early = self.early, []
            for sender, message in early:
                self.on_message(ctx, sender, message)
        elif msg.attempt == self.attempt:
            if src in self.inputs:
                self.on_input(ctx, src, msg)
            else:
                self.on_control(ctx, src, msg)
        elif self.attempt is None or msg.attempt > self.attempt:
            self.early.append((src, msg))  # its Deploy is on the way: hold it until then

    def on_input(self, ctx: Context, src: str, msg: Any) -> None:
        if src in self.blocked:
            self.buffered.append((src, msg))
        elif isinstance(msg, Barrier):
            self.on_barrier(ctx, src, msg)
        elif isinstance(msg, Watermark):
            self.on_watermark(ctx, src, msg)
        else:
            self.on_record(ctx, src, msg)

    def on_barrier(self, ctx: Context, src: str, barrier: Barrier) -> None:
        self.barriers.add(src)
        if self.aligned:
            self.blocked.add(src)
        if len(self.barriers) < len(self.inputs):
            return
        self.barriers, self.blocked = set(), set()
        self.snapshot(ctx, barrier.checkpoint)
        self.resume(ctx)

    def resume(self, ctx: Context) -> None:
        """Process what the blocked inputs held, in order (a later barrier among it, or a
        snapshot still under way, blocks again)."""
        buffered, self.buffered = self.buffered, []
        for src, msg in buffered:
            self.on_input(ctx, src, msg)

    def ack(self, ctx: Context, checkpoint: int, state: Any, finished: bool = False) -> None:
        ctx.send(self.jobmanager, Ack(self.attempt, checkpoint, state, finished))

    def deploy(self, ctx: Context, msg: Deploy) -> None:
        """Start the attempt from `msg.state`."""
        raise NotImplementedError

    def snapshot(self, ctx: Context, checkpoint: int) -> None:
        """Every input's barrier has arrived: snapshot, acknowledge, forward the barrier."""
        raise NotImplementedError

    def on_record(self, ctx: Context, src: str, msg: Any) -> None:
        raise NotImplementedError

    def on_watermark(self, ctx: Context, src: str, msg: Watermark) -> None:
        raise NotImplementedError

    def on_control(self, ctx: Context, src: str, msg: Any) -> None:
        """A message that is not on a data input: from the JobManager or the store."""


# --- sources ---------------------------------------------------------------------------------


@attrs.frozen
class SourceState:
    """A source's snapshot: where to read on, and the highest event time read so far (from
    which its watermark follows, so that a restored source announces the same one)."""

    offset: int
    highest: int | None


class Source(Task):
    """Reads its input log one record every READ_EVERY ticks and sends it to the operator
    that owns its key, then announces its watermark to every operator: the highest event time
    read minus the bounded out-of-orderness, END once the log is exhausted. On a Trigger it
    snapshots its offset and injects the checkpoint's barrier into every output."""

    def __init__(self, node_id: str, jobmanager: str, log: tuple[Event, ...],
                 route: dict[str, str]) -> None:
        super().__init__(node_id, jobmanager)
        self.log = log
        self.route = route  # key -> the operator that owns it
        self.operators = tuple(sorted(set(route.values())))

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.note("input", log=self.log)  # what this run's input is, for the checks

    def deploy(self, ctx: Context, msg: Deploy) -> None:
        state = msg.state or SourceState(0, None)
        self.offset, self.highest = state.offset, state.highest
        self.announced = START
        self.announce(ctx)
        if self.offset < len(self.log):
            ctx.set_timer("read", READ_EVERY)
        else:
            ctx.cancel_timer("read")

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.attempt is None or self.offset >= len(self.log):
            return
        event = self.log[self.offset]
        ctx.send(self.route[event.key],
                 Record(self.attempt, self.offset, event.key, event.value, event.time))
        self.offset += 1
        self.highest = event.time if self.highest is None else max(self.highest, event.time)
        self.announce(ctx)
        if self.offset < len(self.log):
            ctx.set_timer("read", READ_EVERY)

    def watermark(self) -> int:
        if self.offset >= len(self.log):
            return END
        return START if self.highest is None else self.highest - OUT_OF_ORDERNESS

    def announce(self, ctx: Context) -> None:
        if self.watermark() > self.announced:
            self.announced = self.watermark()
            ctx.note("watermark", attempt=self.attempt, time=self.announced)
            for operator in self.operators:
                ctx.send(operator, Watermark(self.attempt, self.announced))

    def on_control(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Trigger):
            for operator in self.operators:
                ctx.send(operator, Barrier(self.attempt, msg.checkpoint))
            self.ack(ctx, msg.checkpoint, SourceState(self.offset, self.highest),
                     finished=self.offset >= len(self.log))


# --- the keyed window operator ---------------------------------------------------------------


@attrs.frozen
class WindowState:
    """An operator's snapshot: (key, window start, sum, fired) of every window kept."""

    windows: tuple[tuple[str, int, int, bool], ...]


class WindowOperator(Task):
    """Sums the values of each of its keys per tumbling event-time window of WINDOW ticks.

    Its watermark is the minimum of its inputs' watermarks: only then can no input still
    bring an older record. A window fires (its sum goes to the sink) when the watermark
    reaches its end, and is kept ALLOWED_LATENESS longer: a record for it fires it again (a
    late firing). A record whose window is over, lateness included, is dropped as late."""

    def __init__(self, node_id: str, jobmanager: str, inputs: tuple[str, ...],
                 sink: str) -> None:
        super().__init__(node_id, jobmanager, inputs)
        self.sink = sink

    def deploy(self, ctx: Context, msg: Deploy) -> None:
        restored = msg.state.windows if msg.state else ()
        self.windows = {(key, start): [total, fired] for key, start, total, fired in restored}
        self.input_watermarks = dict.fromkeys(self.inputs, START)
        self.watermark = START

    def on_record(self, ctx: Context, src: str, record: Record) -> None:
        start = record.time - record.time % WINDOW
        if start + WINDOW + ALLOWED_LATENESS <= self.watermark:
            ctx.note("dropped", attempt=self.attempt, input=src, offset=record.offset,
                     key=record.key, time=record.time)
            return
        window = self.windows.setdefault((record.key, start), [0, False])
        window[0] += record.value
        if window[1]:
            self.fire(ctx, record.key, start)

    def on_watermark(self, ctx: Context, src: str, msg: Watermark) -> None:
        self.input_watermarks[src] = msg.time
        combined = self.combine(self.input_watermarks.values())
        if combined > self.watermark:
            self.advance(ctx, combined)

    def combine(self, watermarks: Any) -> int:
        """The operator's watermark from its inputs' (Dataflow model: the minimum)."""
        return min(watermarks)

    def advance(self, ctx: Context, watermark: int) -> None:
        """Fire every window the watermark passed, oldest first; forget those whose
        lateness it passed."""
        self.watermark = watermark
        ctx.note("watermark", attempt=self.attempt, time=watermark)
        ending = sorted(self.windows, key=lambda window: (window[1], window[0]))
        for key, start in ending:
            if start + WINDOW <= watermark and not self.windows[(key, start)][1]:
                self.windows[(key, start)][1] = True
                self.fire(ctx, key, start)
        self.windows = {(key, start): window for (key, start), window in self.windows.items()
                        if start + WINDOW + ALLOWED_LATENESS > watermark}

    def fire(self, ctx: Context, key: str, start: int) -> None:
        total = self.windows[(key, start)][0]
        ctx.note("fire", attempt=self.attempt, key=key, start=start, value=total)
        ctx.send(self.sink, Result(self.attempt, key, start, total))

    def snapshot(self, ctx: Context, checkpoint: int) -> None:
        windows = tuple(sorted((key, start, total, fired)
                               for (key, start), (total, fired) in self.windows.items()))
        self.ack(ctx, checkpoint, WindowState(windows))
        ctx.send(self.sink, Barrier(self.attempt, checkpoint))


# --- seeded bugs -----------------------------------------------------------------------------


class UnalignedSnapshot(WindowOperator):
    """Seeded bug: the operator does not block an input whose barrier has arrived; it goes
    on counting that input's records until the other input's barrier arrives, then
    snapshots.

    Breaks: the snapshot holds records from after the cut on the first input, whose source
    offset is before them: after a restore they are read and counted again.
    Caught by: consistent-cut (a completed checkpoint's window sums differ from the
    reference's sums after exactly the records before its offsets).
    Teaches: Carbone et al. 2015, ABS on acyclic dataflows: barrier alignment keeps the
    records from after the cut out of the snapshot.
    """

    aligned = False


class WatermarkMax(WindowOperator):
    """Seeded bug: the operator's watermark is the maximum of its inputs' watermarks.

    Breaks: the fast input drags the watermark past records the slow input has not yet
    delivered: windows fire without them, and they are then dropped as late.
    Caught by: no-early-firing (a window fired before the slow input's watermark reached its
    end); the records it missed are then dropped (on-time-kept) or fire it again.
    Teaches: MillWheel's low watermark and the Dataflow model (Akidau et al. 2013, 2015): an
    operator's event-time clock is the minimum over its inputs.
    """

    def combine(self, watermarks: Any) -> int:
        return max(watermarks)
