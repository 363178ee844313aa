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
