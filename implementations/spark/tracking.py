"""What the driver keeps track of besides stages and tasks: where every map output and every
cached partition is (MapOutputTracker, BlockManagerMaster), and which task attempt may commit
each output partition (OutputCommitCoordinator)."""

from __future__ import annotations

from implementations.spark.messages import MapStatus


class MapOutputTracker:
    """For every shuffle, where each map partition's output is; None while it has none."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[int, MapStatus]] = {}

    def register(self, shuffle: str, partition: int, status: MapStatus) -> None:
        self.outputs.setdefault(shuffle, {})[partition] = status

    def locations(self, shuffle: str, partitions: int) -> tuple[MapStatus | None, ...]:
        known = self.outputs.get(shuffle, {})
        return tuple(known.get(p) for p in range(partitions))

    def missing(self, shuffle: str, partitions: int) -> list[int]:
        return [p for p, status in enumerate(self.locations(shuffle, partitions))
                if status is None]

    def unregister(self, shuffle: str, partition: int, tid: int) -> None:
        """Forget that output, if it is still the one registered."""
        known = self.outputs.get(shuffle, {})
        if partition in known and known[partition].tid == tid:
            del known[partition]

    def unregister_all(self, shuffle: str) -> None:
        self.outputs.pop(shuffle, None)

    def remove_executor(self, executor: str, incarnation: int) -> None:
        """The outputs held by an executor process that is gone, or cannot serve them (and
        by the earlier processes of that executor)."""
        for known in self.outputs.values():
            for partition in [p for p, s in known.items()
                              if s.executor == executor and s.incarnation <= incarnation]:
                del known[partition]


Process = tuple[str, int]  # an executor process: (executor, incarnation)


class BlockManagerMaster:
    """Which executor processes hold a cached partition, as their tasks reported."""

    def __init__(self) -> None:
        self.cached: dict[tuple[str, int], list[Process]] = {}

    def add(self, rdd: str, partition: int, holder: Process) -> None:
        holders = self.cached.setdefault((rdd, partition), [])
        if holder not in holders:
            holders.append(holder)

    def holders(self, rdd: str, partition: int) -> list[Process]:
        return self.cached.get((rdd, partition), [])

    def remove_executor(self, executor: str, incarnation: int) -> None:
        for key, holders in self.cached.items():
            self.cached[key] = [(e, i) for e, i in holders
                                if e != executor or i > incarnation]


class OutputCommitCoordinator:
    """The first task attempt of a result stage's partition to ask is authorized to commit
    its output; every other attempt of that partition is denied (SPARK-4879: speculative
    attempts must not both commit). If the authorized attempt fails, its output may or may
    not be committed, and a second commit would add a second file: the job fails
    (SPARK-39195; Spark reverted it in SPARK-48292 once a retry's commit replaced the first
    one's file rather than adding one, which files named by attempt, as here, do not)."""

    def __init__(self) -> None:
        self.authorized: dict[tuple[int, int], int] = {}  # (stage, partition) -> tid
        self.failed: set[int] = set()

    def can_commit(self, stage: int, partition: int, tid: int) -> bool:
        if tid in self.failed:
            return False
        holder = self.authorized.setdefault((stage, partition), tid)
        return holder == tid

    def attempt_failed(self, stage: int, partition: int, tid: int) -> bool:
        """Whether the failed attempt was the authorized committer."""
        self.failed.add(tid)
        return self.authorized.get((stage, partition)) == tid


class NoCommitArbitration(OutputCommitCoordinator):
    """Seeded bug: every attempt that asks may commit (Spark before SPARK-4879), so a
    straggler and its speculative copy both commit their output."""

    def can_commit(self, stage: int, partition: int, tid: int) -> bool:
        return True
