"""Kafka's log as the specification its replicated brokers refine: per partition, one
append-only sequence of records at dense offsets 0, 1, 2, ...

Producing appends a record and tells the producer its offset; consuming reads the records
from an offset on. Replication must not let a client tell the difference, which comes down to
facts about what clients were told (`Told`):

- once a client has been told that offset o of a partition holds v — a producer's
  acknowledgement, or a consumer's poll — o holds v for ever: no client is told another value
  at o (`Told.learn`), and every replica that may serve the partition (its ISR, and its
  leader) holds v at o (`Told.missing`);
- replicas agree on the records below their high watermarks (`first_divergence`);
- a value sent once is at one offset (idempotence), and each consumer reads a partition in
  offset order without gaps: the log checker's `duplicate`, `poll-skip` and
  `nonmonotonic-poll` (invariants/logs.py) check those on the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PartitionLog:
    """The sequential specification of one partition."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def append(self, value: Any) -> int:
        self.records.append(value)
        return len(self.records) - 1

    def read(self, offset: int, limit: int) -> tuple[tuple[int, Any], ...]:
        return tuple((o, self.records[o])
                     for o in range(offset, min(offset + limit, len(self.records))))


class Told:
    """What clients were told of each partition: offset -> value. The records a replicated
    log may never lose nor change."""

    def __init__(self) -> None:
        self.at: dict[str, dict[int, Any]] = {}

    def learn(self, partition: str, offset: int, value: Any) -> str | None:
        """Record that a client was told `value` at `offset`; a sentence if clients were told
        another value there before (the log changed under them)."""
        known = self.at.setdefault(partition, {})
        if offset in known and known[offset] != value:
            return (f"offset {offset} of {partition} was told as {known[offset]!r} and later "
                    f"as {value!r}")
        known[offset] = value
        return None

    def missing(self, partition: str, values: Sequence[Any]) -> tuple[int, Any] | None:
        """The first told record (offset, value) that a replica whose log holds `values`
        does not hold at its offset, if any."""
        for offset, value in sorted(self.at.get(partition, {}).items()):
            if offset >= len(values) or values[offset] != value:
                return offset, value
        return None


def first_divergence(a: Sequence[Any], b: Sequence[Any], upto: int) -> int | None:
    """The first offset below `upto` where two replicas' logs differ (one of them lacking
    it counts), or None when they agree there."""
    for offset in range(upto):
        if offset >= len(a) or offset >= len(b) or a[offset] != b[offset]:
            return offset
    return None
