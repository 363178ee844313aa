"""The names, constants and messages the driver, the executors and the store share."""

from __future__ import annotations

import attrs

from implementations.spark.rdd import RDD, Rows, ShuffleDependency

DRIVER = "driver"
STORE = "hdfs"  # the reliable store: input files, checkpoints, the job's output
OUTPUT = "out"  # the output directory

HEARTBEAT = 10  # an executor heartbeats this often;
EXPIRE = 80  # the driver takes one silent this long for lost
FETCH_TIMEOUT = 40  # a task gives up on a shuffle block it asked for after this long
SPECULATION_INTERVAL = 10  # the driver looks for stragglers this often:
SPECULATE_AFTER = 20  # a task running this long, once most of its stage is done
RESUBMIT = 5  # after a fetch failure, the failed stages are resubmitted after this long

SAVE, CHECKPOINT = "save", "checkpoint"  # what a result stage does with its partitions


@attrs.frozen(repr=False)
class MapStatus:
    """Where a map task's output is: in the memory of one executor process."""

    executor: str
    incarnation: int
    tid: int

    def __repr__(self) -> str:
        return f"t{self.tid}@{self.executor}.{self.incarnation}"


@attrs.frozen(repr=False)
class Task:
    """What an executor runs: partition `partition` of `rdd`, then either its shuffle output
    (`writes`) or the job's action. `reads` gives, for each shuffle the stage reads, where
    every map output is (None: lost)."""

    tid: int
    job: int
    stage: int
    stage_attempt: int
    partition: int
    rdd: RDD
    writes: ShuffleDependency | None
    action: str  # SAVE or CHECKPOINT for a result task
    reads: tuple[tuple[str, tuple[MapStatus | None, ...]], ...]
    incarnation: int  # of the executor it is for

    def __repr__(self) -> str:
        what = repr(self.writes) if self.writes is not None else f"{self.action} {self.rdd}"
        return f"t{self.tid} (stage {self.stage}.{self.stage_attempt} partition " \
               f"{self.partition}: {what})"


@attrs.frozen(repr=False)
class Block:
    """Bucket `reduce` of map task `tid`'s output (map partition `map`) of a shuffle."""

    shuffle: str
    map: int
    tid: int
    reduce: int

    def __repr__(self) -> str:
        return f"t{self.tid}:{self.shuffle}[{self.map}→{self.reduce}]"


# --- executors and the driver ------------------------------------------------------------------


@attrs.frozen
class RegisterExecutor:
    incarnation: int


@attrs.frozen
class Heartbeat:
    incarnation: int


@attrs.frozen
class ExecutorRemoved:
    """The driver has taken this executor process for lost: it exits, and a new one starts."""

    incarnation: int


@attrs.frozen
class LaunchTask:
    task: Task


@attrs.frozen
class KillTask:
    tid: int


@attrs.frozen
class TaskFinished:
    tid: int
    incarnation: int
    output: MapStatus | None  # a map task's
    cached: tuple[str, ...] = ()  # RDDs whose partition it put in the executor's memory


@attrs.frozen
class TaskFailed:
    tid: int
    incarnation: int
    reason: str


@attrs.frozen
class FetchFailed:
    tid: int
    incarnation: int
    shuffle: str
    map: int
    location: MapStatus | None  # None: the driver knew of no output to fetch


@attrs.frozen
class TaskKilled:
    tid: int
    incarnation: int


@attrs.frozen
class CommitDenied:
    tid: int
    incarnation: int


@attrs.frozen
class CanCommit:
    """A result task that wrote its output asks the driver's OutputCommitCoordinator."""

    tid: int
    incarnation: int
    stage: int
    partition: int


@attrs.frozen
class CommitPermission:
    tid: int
    granted: bool


# --- executors with each other: the shuffle ------------------------------------------------------


@attrs.frozen
class FetchBlock:
    tid: int
    block: Block


@attrs.frozen
class BlockData:
    """None: this executor process does not hold the block."""

    tid: int
    block: Block
    rows: Rows | None


# --- the store -----------------------------------------------------------------------------------


@attrs.frozen
class ReadFile:
    tid: int
    path: str


@attrs.frozen
class FileData:
    tid: int
    path: str
    rows: Rows | None


@attrs.frozen
class WriteFile:
    tid: int
    path: str
    rows: Rows


@attrs.frozen
class Written:
    tid: int
    path: str


@attrs.frozen
class Rename:
    """Rename `src` to `dst` unless `dst` exists (then drop `src`): a checkpoint part."""

    tid: int
    src: str
    dst: str


@attrs.frozen
class Renamed:
    tid: int
    dst: str


@attrs.frozen
class CommitTask:
    """Move the task attempt's output file into the job's committed output."""

    tid: int
    job: int
    partition: int


@attrs.frozen
class TaskCommitted:
    tid: int


@attrs.frozen
class CommitJob:
    """Publish the job's committed task outputs in the output directory, with `_SUCCESS`."""

    job: int


@attrs.frozen
class JobCommitted:
    job: int
    files: tuple[str, ...]


@attrs.frozen
class ReadOutput:
    req: int
    partition: int


@attrs.frozen
class Output:
    """None: the output directory has no `_SUCCESS` yet."""

    req: int
    partition: int
    rows: Rows | None


def attempt_file(job: int, tid: int, partition: int) -> str:
    return f"{OUTPUT}/_temporary/{job}/_attempt_t{tid}/part-{partition}"


def committed_file(job: int, tid: int, partition: int) -> str:
    return f"{OUTPUT}/_temporary/{job}/part-{partition}-t{tid}"


def output_file(name: str) -> str:
    """Where a committed task output is published: `out/part-0-t7`."""
    return f"{OUTPUT}/{name.rsplit('/', 1)[1]}"


def partition_of(name: str) -> int:
    """The partition of an output file `.../part-P-tN`."""
    return int(name.rsplit("/", 1)[1].split("-")[1])


SUCCESS = f"{OUTPUT}/_SUCCESS"
