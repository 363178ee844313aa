"""The names, constants and messages every part of the job shares."""

from __future__ import annotations

import attrs

MASTER = "master"
STORE = "gfs"  # the shared output store (a GFS-like file system)

PING = 20  # the master pings every worker this often
FAIL_AFTER = 5  # ping periods a worker may stay silent before it counts as failed
STRAGGLER = 20  # an attempt in progress this long, near the end, gets a backup
RETRY = 40  # a reduce worker re-sends what is unanswered (fetches, writes) this often
CHUNK = 2  # records in one append to the output store
RESUBMIT = 40  # the user program re-sends its job after this long, then 2, 4, 8 times it
READ_TIMEOUT = 20  # a reader re-sends a read this often,
READ_TRIES = 3  # and gives up after this many tries

MAP, REDUCE = "map", "reduce"


@attrs.frozen(order=True, repr=False)
class Attempt:
    """One execution of one task: map or reduce task `index`, the master's `n`-th try."""

    kind: str
    index: int
    n: int

    @property
    def task(self) -> str:
        return f"{self.kind}{self.index}"

    def __repr__(self) -> str:
        return f"{self.task}.{self.n}"


@attrs.frozen(repr=False)
class Job:
    """What the user program submits: its functions (by name: the binary every worker runs),
    the first `splits` splits of the input, and R."""

    program: str
    splits: int
    reduces: int

    def __repr__(self) -> str:
        return f"{self.program}(M={self.splits}, R={self.reduces})"


@attrs.frozen(repr=False)
class MapAt:
    """Where a completed map's intermediate files are: the worker's local disk."""

    attempt: Attempt
    worker: str

    def __repr__(self) -> str:
        return f"{self.attempt!r}@{self.worker}"


def final_file(partition: int) -> str:
    return f"out/part-{partition}"


def temp_file(attempt: Attempt) -> str:
    """Private to one reduce attempt, so that two executions never write the same file."""
    return f"tmp/part-{attempt.index}.{attempt.n}"


# --- user program and master -----------------------------------------------------------------


@attrs.frozen
class Submit:
    job: Job


@attrs.frozen
class JobDone:
    files: tuple[str, ...]


# --- master and workers ----------------------------------------------------------------------


@attrs.frozen
class Ping:
    pass


@attrs.frozen
class Status:
    """A worker's answer to a ping, also sent when an attempt finishes: which process this is
    (`incarnation`, new at every boot), the latest assignment it took (`seq`), and the
    attempts it finished since it booted."""

    incarnation: int
    seq: int
    finished: tuple[Attempt, ...]


@attrs.frozen
class Assign:
    """Run `attempt`; `seq` orders the master's assignments, so a late one is ignored. A
    reduce attempt gets the locations of the maps completed so far."""

    seq: int
    attempt: Attempt
    job: Job
    maps: tuple[MapAt, ...] = ()


@attrs.frozen
class WhereIs:
    """A reduce worker asks for the current locations of the map outputs."""

    attempt: Attempt


@attrs.frozen
class Locations:
    attempt: Attempt
    maps: tuple[MapAt, ...]


@attrs.frozen
class Fetch:
    """A remote read of one partition of a map's intermediate output."""

    map: Attempt
    partition: int


@attrs.frozen
class MapOutput:
    """None: this worker does not hold that output (it booted since it wrote it)."""

    map: Attempt
    partition: int
    records: tuple | None


# --- reduce workers, readers and the output store --------------------------------------------


@attrs.frozen
class Append:
    """Append `records` to `file`; `writer` and `index` make a resent append apply once."""

    file: str
    writer: Attempt
    index: int
    records: tuple


@attrs.frozen
class Appended:
    file: str
    writer: Attempt
    index: int


@attrs.frozen
class Rename:
    """Atomically rename `src` to `dst`, unless `dst` exists: then nothing happens."""

    src: str
    dst: str
    writer: Attempt


@attrs.frozen
class Renamed:
    dst: str
    writer: Attempt


@attrs.frozen
class Read:
    req: int
    file: str


@attrs.frozen
class Contents:
    """None: no such file."""

    req: int
    file: str
    records: tuple | None
