"""Workers: map tasks write R intermediate files to the worker's local disk; reduce tasks
fetch their partition of every map output, reduce, write a temporary file and rename it."""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.mapreduce.messages import (
    CHUNK,
    MAP,
    MASTER,
    RETRY,
    STORE,
    Append,
    Appended,
    Assign,
    Attempt,
    Fetch,
    Job,
    Locations,
    MapAt,
    MapOutput,
    Ping,
    Rename,
    Renamed,
    Status,
    WhereIs,
    final_file,
    temp_file,
)
from implementations.mapreduce.program import INPUT, PROGRAMS

FETCHING, WRITING, RENAMING = "fetching", "writing", "renaming"


@attrs.define
class ReduceRun:
    """One reduce attempt in progress on this worker."""

    attempt: Attempt
    job: Job
    maps: dict[int, MapAt]  # map task -> where its output is, as far as this worker knows
    inputs: dict[int, tuple] = attrs.Factory(dict)  # map task -> its records for our partition
    phase: str = FETCHING
    file: str = ""
    chunks: tuple = ()  # the output, CHUNK records to an append
    written: int = 0  # chunks acknowledged by the store


class Worker(Node):
    """The local disk (`disk`: map outputs) is volatile: a crash loses it, as the paper's
    master assumes when it re-executes a failed worker's completed maps. Only the boot count
    is durable, so that each boot is a new `incarnation` the master can tell apart."""

    def on_start(self, ctx: Context) -> None:
        self.incarnation = ctx.storage.get("incarnation", 0) + 1
        ctx.storage.put("incarnation", self.incarnation)
        self.disk: dict[Attempt, tuple] = {}  # map attempt -> its R partitions
        self.finished: list[Attempt] = []  # since this boot
        self.seq = 0  # of the latest assignment taken
        self.reduce: ReduceRun | None = None

    def status(self) -> Status:
        return Status(self.incarnation, self.seq, tuple(self.finished))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Ping):
            ctx.send(src, self.status())
        elif isinstance(msg, Assign):
            self.on_assign(ctx, msg)
        elif isinstance(msg, Fetch):
            ctx.send(src, self.serve(msg))
        elif self.reduce is not None:
            self.on_reduce_message(ctx, self.reduce, msg)

    def on_reduce_message(self, ctx: Context, run: ReduceRun, msg: Any) -> None:
        """What answers the reduce attempt in progress (answers to an earlier one are late)."""
        if isinstance(msg, Locations) and msg.attempt == run.attempt:
            self.learn_locations(ctx, run, msg.maps)
        elif isinstance(msg, MapOutput) and msg.partition == run.attempt.index:
            self.on_map_output(ctx, run, msg)
        elif isinstance(msg, Appended) and msg.writer == run.attempt:
            self.on_appended(ctx, run, msg)
        elif isinstance(msg, Renamed) and msg.writer == run.attempt:
            self.finish(ctx, run.attempt)

    def on_assign(self, ctx: Context, msg: Assign) -> None:
        """Take the master's latest assignment, once (a resent one has its number), dropping
        whatever ran before it: the master assigns only to workers it believes idle, so it
        has given that up."""
        if msg.seq <= self.seq:
            return
        self.seq, self.reduce = msg.seq, None
        if msg.attempt.kind == MAP:
            self.run_map(ctx, msg.attempt, msg.job)
        else:
            self.reduce = ReduceRun(msg.attempt, msg.job, {})
            self.learn_locations(ctx, self.reduce, msg.maps)
            ctx.set_timer("retry", RETRY)

    def finish(self, ctx: Context, attempt: Attempt) -> None:
        self.finished.append(attempt)
        self.reduce = None
        ctx.cancel_timer("retry")
        ctx.send(MASTER, self.status())

    # --- map -----------------------------------------------------------------------------

    def run_map(self, ctx: Context, attempt: Attempt, job: Job) -> None:
        """Map the split, combine, and write one file per reduce partition to local disk."""
        program = PROGRAMS[job.program]
        pairs = program.map(INPUT[attempt.index], ctx.random.randrange(program.choices))
        partitions: list[dict[str, list]] = [{} for _ in range(job.reduces)]
        for key, value in pairs:
            partitions[program.partition(key, job.reduces)].setdefault(key, []).append(value)
        self.disk[attempt] = tuple(
            tuple((key, program.combine(key, values)) for key, values in sorted(part.items()))
            for part in partitions)
        self.finish(ctx, attempt)

    def serve(self, msg: Fetch) -> MapOutput:
        """A read of one intermediate file, which only the boot that wrote it holds."""
        files = self.disk.get(msg.map)
        return MapOutput(msg.map, msg.partition, None if files is None else files[msg.partition])

    # --- reduce: fetch -------------------------------------------------------------------

    def learn_locations(self, ctx: Context, run: ReduceRun, maps: tuple[MapAt, ...]) -> None:
        """Fetch from every map output location that is new to this attempt."""
        for where in maps:
            index = where.attempt.index
            if index not in run.inputs and run.maps.get(index) != where:
                run.maps[index] = where
                self.fetch(ctx, run, where)

    def fetch(self, ctx: Context, run: ReduceRun, where: MapAt) -> None:
        request = Fetch(where.attempt, run.attempt.index)
        if where.worker == self.id:  # a local read
            self.on_map_output(ctx, run, self.serve(request))
        else:
            ctx.send(where.worker, request)

    def on_map_output(self, ctx: Context, run: ReduceRun, msg: MapOutput) -> None:
        """Keep the first output of each map (one execution of it, whichever); a worker that
        no longer holds it means its location is stale: ask the master again later."""
        index = msg.map.index
        if run.phase != FETCHING or index in run.inputs:
            return
        if msg.records is None:
            if index in run.maps and run.maps[index].attempt == msg.map:
                del run.maps[index]
            return
        run.inputs[index] = msg.records
        if len(run.inputs) == run.job.splits:
            self.write_output(ctx, run)

    # --- reduce: sort, reduce, write, commit ---------------------------------------------

    def write_output(self, ctx: Context, run: ReduceRun) -> None:
        """Sort by key, reduce each key, and write the output to this attempt's file."""
        program = PROGRAMS[run.job.program]
        grouped: dict[str, list] = {}
        for index in sorted(run.inputs):
            for key, value in run.inputs[index]:
                grouped.setdefault(key, []).append(value)
        records = tuple((key, program.reduce(key, grouped[key])) for key in sorted(grouped))
        # at least one append, so that an empty output is still a file
        run.chunks = tuple(records[i:i + CHUNK] for i in range(0, max(len(records), 1), CHUNK))
        run.phase, run.file = WRITING, self.output_file(run.attempt)
        self.send_next(ctx, run)

    def output_file(self, attempt: Attempt) -> str:
        """A temporary file private to the attempt; the rename makes it the final one."""
        return temp_file(attempt)

    def send_next(self, ctx: Context, run: ReduceRun) -> None:
        """Appends go one at a time, each after the previous one is acknowledged; then the
        rename that commits the output."""
        if run.written < len(run.chunks):
            ctx.send(STORE, Append(run.file, run.attempt, run.written,
                                   run.chunks[run.written]))
        else:
            run.phase = RENAMING
            ctx.send(STORE, Rename(run.file, final_file(run.attempt.index), run.attempt))

    def on_appended(self, ctx: Context, run: ReduceRun, msg: Appended) -> None:
        if run.phase == WRITING and msg.index == run.written:
            run.written += 1
            self.send_next(ctx, run)

    def on_timer(self, ctx: Context, name: str) -> None:
        """Re-send what is unanswered: fetches (and ask the master where the missing map
        outputs are now), or the pending append or rename."""
        run = self.reduce
        if name != "retry" or run is None:
            return
        if run.phase == FETCHING:
            for index, where in sorted(run.maps.items()):
                if index not in run.inputs:
                    self.fetch(ctx, run, where)
            ctx.send(MASTER, WhereIs(run.attempt))
        else:
            self.send_next(ctx, run)
        ctx.set_timer("retry", RETRY)


class DirectFinalWrite(Worker):
    """Seeded bug: the reduce writes straight into the final output file, so the file is
    visible, partial, while it is written, and a second execution of the task (after a crash,
    or as a backup) appends its records again. The rename that follows finds the final name
    taken and does nothing."""

    def output_file(self, attempt: Attempt) -> str:
        return final_file(attempt.index)
