"""Snapshot isolation, the guarantee Percolator gives, as an executable multi-version store.

Every transaction reads the snapshot as of its start timestamp (plus its own writes) and, at
commit, installs its writes at a commit timestamp later than every timestamp issued before
— unless another transaction committed a write to one of its keys after it started: first
committer wins, so no update is lost. Write skew remains allowed (two transactions that read
both keys and each write a different one), which is what separates snapshot isolation from
serializability.

Histories of a store that refines this model have no cycle of dependencies with fewer than
two anti-dependencies (Adya's G0, G1 and G-single: write cycles, circular information flow,
read skew) and no lost update: the anomalies `LEVEL` names in `invariants.transactions`.
"""

from __future__ import annotations

from typing import Any

LEVEL = "snapshot-isolation"


class SnapshotStore:
    """Keys hold versions (commit_ts, value); one clock stamps starts and commits."""

    def __init__(self) -> None:
        self.clock = 0
        self.versions: dict[Any, list[tuple[int, Any]]] = {}

    def begin(self) -> int:
        """A new start timestamp: the snapshot holds every commit before it."""
        self.clock += 1
        return self.clock

    def read(self, start_ts: int, key: Any, default: Any = None) -> Any:
        """The newest version committed before start_ts."""
        seen = [value for ts, value in self.versions.get(key, ()) if ts < start_ts]
        return seen[-1] if seen else default

    def conflicts(self, start_ts: int, writes: dict[Any, Any]) -> list[Any]:
        """Keys some other transaction wrote after start_ts: a commit now would lose it."""
        return [key for key in writes
                if any(ts > start_ts for ts, _ in self.versions.get(key, ()))]

    def commit(self, start_ts: int, writes: dict[Any, Any]) -> int | None:
        """Install the writes at a fresh commit timestamp, or abort (None) on a conflict."""
        if self.conflicts(start_ts, writes):
            return None
        self.clock += 1
        for key, value in writes.items():
            self.versions.setdefault(key, []).append((self.clock, value))
        return self.clock


class Columns:
    """Percolator's columns of every row, rebuilt from the ghost record of the cells the
    tablet servers wrote and erased (`cell` facts), and what they mean, read independently of
    the store's own code: which transactions committed where, which locks remain, what a
    snapshot sees."""

    COLUMNS = ("data", "lock", "write")

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], dict[int, Any]] = {}  # (row, column) -> ts -> cell

    def record(self, row: str, column: str, ts: int, cell: Any) -> None:
        """A cell written (or erased: None) by one single-row transaction."""
        cells = self.cells.setdefault((row, column), {})
        if cell is None:
            cells.pop(ts, None)
        else:
            cells[ts] = cell

    def column(self, row: str, column: str) -> dict[int, Any]:
        return self.cells.get((row, column), {})

    def locks(self, row: str) -> list[int]:
        """Start timestamps of the locks the row still holds."""
        return sorted(self.column(row, "lock"))

    def commit_ts(self, row: str, start_ts: int) -> int | None:
        """The commit timestamp of the write record naming start_ts in the row, if any."""
        return next((ts for ts, record in sorted(self.column(row, "write").items())
                     if record.start_ts == start_ts and not record.rolled_back), None)

    def decided(self, row: str, start_ts: int) -> bool:
        """Whether the row holds a record of start_ts's fate: a commit or a rollback."""
        return any(record.start_ts == start_ts for record in self.column(row, "write").values())

    def snapshot(self, row: str, ts: float) -> tuple:
        """What a read at ts sees: the data named by the newest commit record at or before ts."""
        commits = [(commit_ts, record.start_ts)
                   for commit_ts, record in self.column(row, "write").items()
                   if commit_ts <= ts and not record.rolled_back]
        return self.column(row, "data").get(max(commits)[1], ()) if commits else ()

    def rows(self) -> list[str]:
        return sorted({row for row, _ in self.cells})
