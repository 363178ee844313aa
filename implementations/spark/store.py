"""The reliable store (an HDFS): the input, checkpoint files, and the job's output, written by
the commit protocol Spark's `saveAsTextFile` uses (Hadoop's FileOutputCommitter):

1. a result task writes its partition to a file private to its attempt,
   `out/_temporary/<job>/_attempt_t<tid>/part-<p>`;
2. if the driver authorizes it, the task **commits**: its file moves into the job's
   committed output, `out/_temporary/<job>/part-<p>-t<tid>`. Nothing stops two attempts
   from both committing: that is the driver's OutputCommitCoordinator's job;
3. once every partition has committed, the driver **commits the job**: the job's committed
   files move to `out/`, `_SUCCESS` is written, `_temporary` is deleted. A job aborted
   before then leaves nothing in `out/`.

A checkpoint part is written to a temporary file and renamed to its final name; the first
rename wins (the file never changes once there). Every change is on disk before it is
acknowledged: the store survives its crashes.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.spark.messages import (
    OUTPUT,
    SUCCESS,
    CommitJob,
    CommitTask,
    FileData,
    JobCommitted,
    Output,
    ReadFile,
    ReadOutput,
    Rename,
    Renamed,
    TaskCommitted,
    WriteFile,
    Written,
    attempt_file,
    committed_file,
    output_file,
    partition_of,
)
from implementations.spark.program import INPUT
from implementations.spark.rdd import part_file

TEMPORARY = f"{OUTPUT}/_temporary/"


class Store(Node):
    def on_start(self, ctx: Context) -> None:
        inputs = {part_file(name, p): rows for name, parts in INPUT.items()
                  for p, rows in enumerate(parts)}
        self.files: dict[str, Any] = dict(ctx.storage.get("files", inputs))

    def save(self, ctx: Context) -> None:
        ctx.storage.put("files", dict(self.files))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case ReadFile(tid, path):
                ctx.send(src, FileData(tid, path, self.files.get(path)))
            case WriteFile(tid, path, rows):
                self.files[path] = rows
                self.save(ctx)
                ctx.send(src, Written(tid, path))
            case Rename(tid, source, target):
                self.rename(ctx, source, target)
                ctx.send(src, Renamed(tid, target))
            case CommitTask(tid, job, partition):
                self.commit_task(ctx, tid, job, partition)
                ctx.send(src, TaskCommitted(tid))
            case CommitJob(job):
                self.commit_job(ctx, job)
                ctx.send(src, JobCommitted(job, self.published()))
            case ReadOutput(req, partition):
                ctx.send(src, Output(req, partition, self.read_output(partition)))

    def rename(self, ctx: Context, source: str, target: str) -> None:
        if source in self.files:
            rows = self.files.pop(source)
            self.files.setdefault(target, rows)
            self.save(ctx)

    def commit_task(self, ctx: Context, tid: int, job: int, partition: int) -> None:
        """The attempt's file moves into the job's output, if it is still there (a job
        commit deletes the attempt files left behind)."""
        source = attempt_file(job, tid, partition)
        if source not in self.files:
            return
        target = committed_file(job, tid, partition)
        self.files[target] = self.files.pop(source)
        self.save(ctx)
        ctx.note("task-committed", job=job, partition=partition, tid=tid,
                 rows=self.files[target])

    def commit_job(self, ctx: Context, job: int) -> None:
        """Publish the job's committed files, once: a resent commit changes nothing."""
        if SUCCESS in self.files:
            return
        prefix = f"{TEMPORARY}{job}/part-"
        for name in sorted(self.files):
            if name.startswith(prefix):
                self.files[output_file(name)] = self.files[name]
        self.files = {name: rows for name, rows in self.files.items()
                      if not name.startswith(TEMPORARY)}
        self.files[SUCCESS] = (job,)
        self.save(ctx)
        ctx.note("job-committed", job=job,
                 files={name: self.files[name] for name in self.published()})

    def published(self) -> tuple[str, ...]:
        return tuple(sorted(name for name in self.files if is_output(name)))

    def read_output(self, partition: int) -> tuple | None:
        """A reader of the output waits for `_SUCCESS`, then reads all files of the
        partition."""
        if SUCCESS not in self.files:
            return None
        return tuple(row for name in self.published() if partition_of(name) == partition
                     for row in self.files[name])


def is_output(name: str) -> bool:
    return name.startswith(f"{OUTPUT}/part-")
