"""A replica's log of one partition: its records, its leader-epoch cache and its high
watermark, all kept in the broker's storage and written synced (a crash loses none of it;
Kafka itself leaves the fsync to the page cache and counts on replication instead).

The leader-epoch cache maps each leader epoch the replica has records of (or leads) to the
offset where that epoch starts. It answers OffsetsForLeaderEpoch (KIP-101): where does epoch
e end here? A follower truncates to the answer, not to its high watermark, which may lag the
leader's by one fetch. KIP-279 makes that safe when several leaders changed in a row.
"""

from __future__ import annotations

from collections.abc import Iterable

from checker.node import Storage
from implementations.kafka.messages import Record

UNDEFINED = -1  # no such epoch


def log_key(partition: str) -> str:
    return f"log/{partition}"


def epochs_key(partition: str) -> str:
    return f"epochs/{partition}"


def hw_key(partition: str) -> str:
    return f"hw/{partition}"


def end_offset_for(epochs: tuple, leo: int, epoch: int) -> tuple[int, int]:
    """The largest epoch <= `epoch` in the cache and the offset where it ends (the start of
    the next epoch, or the log end offset for the latest); (UNDEFINED, UNDEFINED) for an
    epoch above all known. An epoch below all known ends where the first known one starts."""
    if not epochs or epoch > epochs[-1][0]:
        return UNDEFINED, UNDEFINED
    if epoch == epochs[-1][0]:
        return epoch, leo
    later = next(i for i, (e, _) in enumerate(epochs) if e > epoch)
    floor = epochs[later - 1][0] if later > 0 else epoch
    return floor, epochs[later][1]


def truncation_offset(epochs: tuple, leo: int, asked: int, leader_epoch: int,
                      leader_end: int) -> tuple[int, bool]:
    """Where a follower that asked about its latest epoch `asked` truncates, given the
    leader's answer (its largest epoch <= asked, and where it ends there), and whether the
    logs then agree (KIP-279). When the leader answers with an epoch the follower does not
    have, the follower drops its later epochs and asks again about the one before."""
    if leader_epoch == asked:
        return min(leader_end, leo), True
    own_epoch, own_end = end_offset_for(epochs, leo, leader_epoch)
    if own_epoch != leader_epoch:
        return min(own_end, leo), False
    return min(own_end, leader_end, leo), True


class PartitionLog:
    """One partition's log on one broker, read and written through the broker's storage."""

    def __init__(self, storage: Storage, partition: str) -> None:
        self.storage = storage
        self.partition = partition

    @property
    def records(self) -> tuple:
        return self.storage.get(log_key(self.partition), ())

    @property
    def leo(self) -> int:
        """The log end offset: the offset the next record gets."""
        return len(self.records)

    @property
    def epochs(self) -> tuple:
        return self.storage.get(epochs_key(self.partition), ())

    @property
    def hw(self) -> int:
        return self.storage.get(hw_key(self.partition), 0)

    @property
    def latest_epoch(self) -> int:
        return self.epochs[-1][0] if self.epochs else UNDEFINED

    def end_offset_for(self, epoch: int) -> tuple[int, int]:
        return end_offset_for(self.epochs, self.leo, epoch)

    def append(self, records: Iterable[Record]) -> None:
        """Append, opening a cache entry for each new epoch met."""
        log, epochs = list(self.records), list(self.epochs)
        for record in records:
            if not epochs or record.epoch > epochs[-1][0]:
                epochs.append((record.epoch, len(log)))
            log.append(record)
        self.storage.put(log_key(self.partition), tuple(log))
        self.storage.put(epochs_key(self.partition), tuple(epochs))

    def begin_epoch(self, epoch: int) -> None:
        """A new leader's epoch starts at its log end offset."""
        if epoch > self.latest_epoch:
            self.storage.put(epochs_key(self.partition), (*self.epochs, (epoch, self.leo)))

    def truncate(self, offset: int) -> None:
        """Drop the records from `offset` on, and the cache entries that start there or
        later; the high watermark cannot be past the log end."""
        self.storage.put(log_key(self.partition), self.records[:offset])
        self.storage.put(epochs_key(self.partition),
                         tuple((e, start) for e, start in self.epochs if start < offset))
        self.set_hw(min(self.hw, offset))

    def set_hw(self, hw: int) -> None:
        if hw != self.hw:
            self.storage.put(hw_key(self.partition), hw)

    def offset_of(self, producer: int, seq: int) -> int | None:
        """Where the producer's batch with this sequence number is, if appended."""
        records = self.records
        for offset in range(len(records) - 1, -1, -1):
            if records[offset].producer == producer and records[offset].seq == seq:
                return offset
        return None

    def last_seq(self, producer: int) -> int:
        """The producer's last sequence number in the log (-1: none): the broker's
        idempotence state, rebuilt from the log as Kafka rebuilds it on a new leader."""
        for record in reversed(self.records):
            if record.producer == producer:
                return record.seq
        return -1
