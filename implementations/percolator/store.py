"""The row store: a minimal Bigtable tablet server, and Percolator's columns on it.

Bigtable offers atomic read-modify-write of one row; every Percolator step on a row (read at
a snapshot, prewrite, commit, ask the primary, roll forward or back) is one such single-row
transaction, run here by the tablet server itself.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node

TTL = 50  # a primary lock older than this (by its tablet server's clock) may be rolled back

# --- the row store: a minimal Bigtable tablet server -----------------------------------------


@attrs.frozen
class Lock:
    """An uncommitted write. `written_at` (the tablet server's clock) tells a reader how old
    the lock is, so that a live transaction is not rolled back at once."""

    primary: str
    written_at: int


@attrs.frozen
class WriteRecord:
    """A committed write (the data cell at `start_ts` is visible from this record's commit
    timestamp on), or a rollback record kept at the aborted transaction's start_ts."""

    start_ts: int
    rolled_back: bool = False


@attrs.define
class Row:
    """Columns of timestamped cells: timestamp -> cell."""

    data: dict[int, Any] = attrs.Factory(dict)
    lock: dict[int, Lock] = attrs.Factory(dict)
    write: dict[int, WriteRecord] = attrs.Factory(dict)
    notify: dict[int, bool] = attrs.Factory(dict)  # commit_ts -> observers must look

    def copy(self) -> Row:
        return Row(dict(self.data), dict(self.lock), dict(self.write), dict(self.notify))


class TabletServer(Node):
    """Rows of timestamped cells and atomic, durable single-row transactions: the part of a
    Bigtable tablet server Percolator needs (a stand-in the BigTable system can replace)."""

    def on_start(self, ctx: Context) -> None:
        self.rows: dict[str, Row] = {}

    def on_recover(self, ctx: Context) -> None:
        stored = ctx.storage.items()
        self.rows = {key.removeprefix("row/"): stored[key].copy()
                     for key in sorted(stored) if key.startswith("row/")}

    def row(self, key: str) -> Row:
        return self.rows.get(key) or Row()

    def row_transaction(self, ctx: Context, key: str, change: Any) -> Any:
        """Read-modify-write one row atomically, durable before anyone hears of it."""
        before = self.row(key)
        row = before.copy()
        result = change(row)
        self.rows[key] = row
        ctx.storage.put(f"row/{key}", row.copy())
        note_cells(ctx, key, before, row)
        return result


def note_cells(ctx: Context, key: str, before: Row, after: Row) -> None:
    """The ghost record of what one single-row transaction did to the row's data, lock and
    write columns: each cell written (and what it holds) or erased (None). The invariants
    rebuild every row from it, in their own code, never reading the store's."""
    for column in ("data", "lock", "write"):
        old, new = getattr(before, column), getattr(after, column)
        for ts in sorted(old.keys() | new.keys()):
            if old.get(ts) != new.get(ts):
                ctx.note("cell", row=key, column=column, ts=ts, cell=new.get(ts))


# --- messages --------------------------------------------------------------------------------


@attrs.frozen
class Get:
    req: tuple
    row: str
    start_ts: int


@attrs.frozen
class Value:
    req: tuple
    value: tuple


@attrs.frozen
class Locked:
    """The read met a lock at or before its start timestamp."""

    req: tuple
    lock_ts: int
    primary: str


@attrs.frozen
class Prewrite:
    req: tuple
    row: str
    start_ts: int
    primary: str
    value: tuple


@attrs.frozen
class Commit:
    req: tuple
    row: str
    start_ts: int
    commit_ts: int


@attrs.frozen
class CheckPrimary:
    """What became of the transaction that started at start_ts? Asked of its primary row."""

    req: tuple
    row: str
    start_ts: int


@attrs.frozen
class Resolve:
    """Roll a lock forward (commit_ts) or back (None)."""

    req: tuple
    row: str
    start_ts: int
    commit_ts: int | None


@attrs.frozen
class Done:
    """The answer to Prewrite, Commit and Resolve: whether it took effect."""

    req: tuple
    ok: bool


@attrs.frozen
class Status:
    """The answer to CheckPrimary: committed (commit_ts), rolled back, or still pending."""

    req: tuple
    commit_ts: int | None
    pending: bool = False


@attrs.frozen
class Scan:
    """An observer looks for notified rows."""

    req: tuple


@attrs.frozen
class Notified:
    """Rows whose `notify` column is set, each with its latest change (commit timestamp)."""

    req: tuple
    changes: tuple


@attrs.frozen
class Acknowledge:
    """An observer has taken the row's changes up to `commit_ts`: clear their notification."""

    req: tuple
    row: str
    commit_ts: int


# --- the Percolator columns on a tablet server -----------------------------------------------


class PercolatorServer(TabletServer):
    """Each Percolator step on one row is one Bigtable single-row transaction."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Get(req, key, start_ts):
                ctx.send(src, self.get(self.row(key), req, start_ts))
            case Prewrite(req, key):
                ctx.send(src, Done(req, self.row_transaction(
                    ctx, key, lambda row: self.prewrite(row, msg, ctx.now()))))
            case Commit(req, key, start_ts, commit_ts):
                ctx.send(src, Done(req, self.row_transaction(
                    ctx, key, lambda row: commit(row, start_ts, commit_ts))))
            case CheckPrimary(req, key, start_ts):
                ctx.send(src, self.row_transaction(
                    ctx, key, lambda row: self.check_primary(row, req, start_ts, ctx.now())))
            case Resolve(req, key, start_ts, commit_ts):
                ctx.send(src, Done(req, self.row_transaction(
                    ctx, key, lambda row: resolve(row, start_ts, commit_ts))))
            case Scan(req):
                ctx.send(src, Notified(req, tuple((key, max(row.notify))
                                                  for key, row in self.rows.items()
                                                  if row.notify)))
            case Acknowledge(req, key, commit_ts):
                ctx.send(src, Done(req, self.row_transaction(
                    ctx, key, lambda row: clear_notify(row, commit_ts))))

    def pending_lock(self, row: Row, start_ts: int) -> int | None:
        """The oldest lock a read at start_ts must wait for: one at or before start_ts."""
        return min((ts for ts in row.lock if ts <= start_ts), default=None)

    def get(self, row: Row, req: tuple, start_ts: int) -> Value | Locked:
        lock_ts = self.pending_lock(row, start_ts)
        if lock_ts is not None:
            return Locked(req, lock_ts, row.lock[lock_ts].primary)
        return Value(req, visible(row, start_ts))

    def prewrite(self, row: Row, msg: Prewrite, now: int) -> bool:
        """Lock the row and write the data, unless another write got there first: a write
        record at or after start_ts (a rollback record of this very transaction included), or
        any other lock. A duplicate of a prewrite that succeeded succeeds again."""
        if msg.start_ts in row.lock:
            return True
        if any(ts >= msg.start_ts for ts in row.write) or row.lock:
            return False
        row.lock[msg.start_ts] = Lock(msg.primary, now)
        row.data[msg.start_ts] = msg.value
        return True

    def check_primary(self, row: Row, req: tuple, start_ts: int, now: int) -> Status:
        """The primary decides: committed if it holds the write record; otherwise rolled back
        now, unless its lock is young enough that the transaction may still be running."""
        commit_ts = committed_at(row, start_ts)
        if commit_ts is not None:
            return Status(req, commit_ts)
        lock = row.lock.get(start_ts)
        if lock is not None and now - lock.written_at < TTL:
            return Status(req, None, pending=True)
        resolve(row, start_ts, None)
        return Status(req, None)


def visible(row: Row, start_ts: int) -> tuple:
    """The snapshot as of start_ts: the data the newest write record at or before it names."""
    commits = [ts for ts, record in row.write.items()
               if ts <= start_ts and not record.rolled_back]
    return row.data[row.write[max(commits)].start_ts] if commits else ()


def committed_at(row: Row, start_ts: int) -> int | None:
    return next((ts for ts, record in row.write.items()
                 if record.start_ts == start_ts and not record.rolled_back), None)


def commit(row: Row, start_ts: int, commit_ts: int) -> bool:
    """Replace the lock by a write record; at the primary this is the commit point. Fails if
    the lock is gone and no write record says it committed: a reader rolled it back."""
    if start_ts not in row.lock:
        return committed_at(row, start_ts) is not None
    del row.lock[start_ts]
    row.write[commit_ts] = WriteRecord(start_ts)
    row.notify[commit_ts] = True
    return True


def resolve(row: Row, start_ts: int, commit_ts: int | None) -> bool:
    """Roll the transaction's lock forward, or back (erasing its data, leaving a rollback
    record so that a prewrite still in flight fails)."""
    if commit_ts is not None:
        return commit(row, start_ts, commit_ts)
    if committed_at(row, start_ts) is not None:
        return False  # too late: committed here
    row.lock.pop(start_ts, None)
    row.data.pop(start_ts, None)
    row.write.setdefault(start_ts, WriteRecord(start_ts, rolled_back=True))
    return True


def clear_notify(row: Row, commit_ts: int) -> bool:
    for ts in [ts for ts in row.notify if ts <= commit_ts]:
        del row.notify[ts]
    return True


# --- seeded bug ----------------------------------------------------------------------------


class ReadsIgnoreLocks(PercolatorServer):
    """Seeded bug: a read returns the newest committed version and never looks at locks.

    Breaks: a transaction whose primary has committed but whose secondary still holds its lock
    is half visible: a reader sees its write to one row and not to the other (fractured read),
    and may then overwrite the write it missed.
    Caught by: snapshot-isolation (a dependency cycle: G-single, or G1c with the overwrite).
    Teaches: Percolator section 2.2: Get must wait on a lock older than its start timestamp,
    because that transaction may commit at a timestamp the reader's snapshot includes.
    """

    def pending_lock(self, row: Row, start_ts: int) -> int | None:
        return None


class MissingLockMeansRunning(PercolatorServer):
    """Seeded bug: asked about a transaction whose primary holds neither a lock nor a commit
    record, the tablet server answers that it is still running.

    Breaks: the primary was rolled back (or never locked), yet every reader that meets one of
    the transaction's secondary locks waits for it forever: the lock is never cleaned up and
    the final read never returns.
    Caught by: progress. Teaches: Percolator section 2.2: the primary decides, and a missing
    primary lock is a decision (rolled back), which cleanup must act on; TiKV's
    CheckTxnStatus writes a rollback record when it finds no lock, for the same reason.
    """

    def check_primary(self, row: Row, req: tuple, start_ts: int, now: int) -> Status:
        if committed_at(row, start_ts) is None and start_ts not in row.lock:
            return Status(req, None, pending=True)
        return super().check_primary(row, req, start_ts, now)
