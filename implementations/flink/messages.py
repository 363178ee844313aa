"""The messages of the job: the data plane (records, watermarks, barriers, results), the
control plane (deployments, checkpoints), the sink's two-phase commit, and the clients'.

Every message between the JobManager and the tasks, and between tasks, carries the job's
`attempt`: a restarted job is a new attempt, and a task drops what an earlier one sent.
"""

from __future__ import annotations

from typing import Any

import attrs

# --- the dataflow ----------------------------------------------------------------------------


@attrs.frozen
class Record:
    """An input event, forwarded by the source that read it at `offset` of its log."""

    attempt: int
    offset: int
    key: str
    value: int
    time: int


@attrs.frozen
class Watermark:
    """No record with an event time below `time` will follow on this channel."""

    attempt: int
    time: int


@attrs.frozen
class Barrier:
    """Checkpoint `checkpoint`'s cut: what came before it on a channel is in the snapshot."""

    attempt: int
    checkpoint: int


@attrs.frozen
class Result:
    """A window's sum, from the window operator to the sink."""

    attempt: int
    key: str
    start: int
    value: int


# --- the JobManager and its tasks ------------------------------------------------------------


@attrs.frozen
class Deploy:
    """Run attempt `attempt` of the job from `state` (this task's part of the restored
    checkpoint, None for a fresh start); `final`: that checkpoint covers all the input.
    `incarnation`: the task process it is meant for (how often it had restarted)."""

    attempt: int
    checkpoint: int
    state: Any
    final: bool = False
    incarnation: int = 0


@attrs.frozen
class Trigger:
    """JobManager -> source: inject the barrier of `checkpoint`."""

    attempt: int
    checkpoint: int


@attrs.frozen
class Ack:
    """A task's snapshot for `checkpoint`; `finished`: a source that has read all its input."""

    attempt: int
    checkpoint: int
    state: Any
    finished: bool = False


@attrs.frozen
class Complete:
    """JobManager -> sink: `checkpoint` is complete; commit what it pre-committed."""

    attempt: int
    checkpoint: int
    final: bool


@attrs.frozen
class Committed:
    """Sink -> JobManager: everything up to the final `checkpoint` is committed."""

    attempt: int
    checkpoint: int


@attrs.frozen
class Failed:
    """A task -> JobManager: the task failed (a broken connection) in `attempt`."""

    attempt: int


@attrs.frozen
class Restarted:
    """A task -> JobManager: the task's process came back without its state, as its
    `incarnation`-th restart: it runs only what is deployed to that incarnation."""

    incarnation: int


# --- the sink and the store ------------------------------------------------------------------


@attrs.frozen
class PreCommit:
    """Flush transaction `txn`'s records to the store, pending: not visible yet."""

    attempt: int
    txn: int
    records: tuple[tuple[str, int, int], ...]  # (key, window start, sum)


@attrs.frozen
class PreCommitted:
    attempt: int
    txn: int


@attrs.frozen
class Commit:
    attempt: int
    txn: int


@attrs.frozen
class CommitDone:
    attempt: int
    txn: int


@attrs.frozen
class AbortAfter:
    """Abort every pending transaction newer than `txn` (a restored sink's lingering ones)."""

    attempt: int
    txn: int


# --- clients ---------------------------------------------------------------------------------


@attrs.frozen
class Read:
    """Read the committed output of `key` (None: of every key)."""

    req: int
    key: str | None


@attrs.frozen
class ReadResult:
    req: int
    records: tuple[tuple[str, int, int], ...]


@attrs.frozen
class Status:
    req: int


@attrs.frozen
class StatusResult:
    req: int
    finished: bool
