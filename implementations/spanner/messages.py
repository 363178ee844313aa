"""Spanner's messages and the records its Paxos groups log.

Transactions are named by `Txn` (client, request number). Timestamps are integers on the
engine's virtual time scale; TrueTime intervals come from `ctx.truetime()`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import attrs


class Txn(NamedTuple):
    client: str
    req: int

    def __repr__(self) -> str:
        return f"{self.client}/{self.req}"


# --- records in a group's Paxos log -----------------------------------------------------------


@attrs.frozen
class PrepareRecord:
    """A participant's prepare: it holds the locks `reads` and `writes` until the outcome is
    logged, and promises to commit at a timestamp of at least `ts`. The locks are in the
    record so that a new leader holds them too."""

    txn: Txn
    ts: int
    reads: tuple[str, ...]
    writes: tuple[tuple[str, Any], ...]
    coordinator: str


@attrs.frozen
class CommitRecord:
    """The transaction committed at `ts`: install `writes` (this group's keys) at `ts`."""

    txn: Txn
    ts: int
    writes: tuple[tuple[str, Any], ...]


@attrs.frozen
class AbortRecord:
    txn: Txn


@attrs.frozen
class Heartbeat:
    """Logged by a leader only to advance Paxos safe time: no later write it logs will have
    a timestamp at or below `ts`."""

    ts: int


# --- client to group ----------------------------------------------------------------------


@attrs.frozen
class Begin:
    """Run a read-write transaction; the receiving leader's group coordinates it."""

    txn: Txn
    mops: tuple[tuple[str, str, Any], ...]


@attrs.frozen
class SnapshotRead:
    """Read `keys` at timestamp `ts`, from any replica whose safe time has reached `ts`."""

    req: int
    ts: int
    keys: tuple[str, ...]


# --- group to client ----------------------------------------------------------------------


@attrs.frozen
class NotLeader:
    """Try `hint` (None: no idea)."""

    req: int
    hint: str | None


@attrs.frozen
class Outcome:
    """A read-write transaction's outcome: committed at `ts` (None: aborted), with the
    values it read."""

    req: int
    ts: int | None
    values: tuple[tuple[str, Any], ...]


@attrs.frozen
class ReadDone:
    req: int
    values: tuple[tuple[str, Any], ...]


# --- between groups: two-phase commit and safe time ---------------------------------------


@attrs.frozen
class PrepareRequest:
    """From the coordinator leader to a participant group: lock, read and prepare."""

    txn: Txn
    coordinator: str
    reads: tuple[str, ...]
    writes: tuple[tuple[str, Any], ...]


@attrs.frozen
class Prepared:
    txn: Txn
    ts: int
    values: tuple[tuple[str, Any], ...]


@attrs.frozen
class Refused:
    """A participant could not take its locks (no-wait): the coordinator aborts."""

    txn: Txn


@attrs.frozen
class Commit:
    txn: Txn
    ts: int


@attrs.frozen
class Abort:
    txn: Txn


@attrs.frozen
class Inquire:
    """From a participant leader, prepared for long, to the coordinator's group: what became
    of `txn`?"""

    txn: Txn


@attrs.frozen
class AdvanceSafeTime:
    """From a replica holding a snapshot read at `ts` to its leader: log a heartbeat."""

    ts: int
