"""What a Spark job must compute: the same dataflow evaluated at once, in one process, with
no failures (Zaharia et al., "Resilient Distributed Datasets", NSDI 2012, section 2: an RDD
is a deterministic function of its lineage).

`SequentialContext` runs a program written against Spark's API (`text_file`, `filter`,
`map`, `reduce_by_key`, `repartition`, `join`, ...): every dataset is evaluated eagerly,
partition by partition, and each shuffle's reducer reads the map outputs in map order (one
order among those a cluster may produce). It records every named dataset's partitions and
every shuffle's map outputs (buckets), with each one's **determinism level**, as Spark 2.4
defines it:

- an input file is determinate, and so is a dataset read back from a checkpoint;
- a narrow transformation has its parent's level, except that an order-sensitive one (the
  round-robin of `repartition`) over an unordered input is indeterminate;
- a shuffle read is unordered (blocks arrive in any order), or indeterminate when the
  shuffled dataset is.

The declared invariants (`reproduces`, `same_rows`): a determinate partition computed again
is the same rows in the same order; an unordered one the same rows in some order; an
indeterminate one may differ, but the job's result, as a multiset of rows, may not.

A dataset checkpointed in a run is determinate from then on, with whatever order its
partitions were saved in: `SequentialContext(checkpoints=...)` takes the saved partitions
and evaluates what follows from them.

Pure code: imports nothing of the implementation.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DETERMINATE, UNORDERED, INDETERMINATE = "determinate", "unordered", "indeterminate"

Rows = tuple
Partitions = tuple[Rows, ...]


def bucket_of(key: Any, partitions: int) -> int:
    if isinstance(key, int):
        return key % partitions
    return zlib.crc32(str(key).encode()) % partitions


def merged(rows: Rows, merge: Callable[[Any, Any], Any]) -> Rows:
    values: dict[Any, Any] = {}
    for key, value in rows:
        values[key] = merge(values[key], value) if key in values else value
    return tuple(values.items())


class SequentialContext:
    def __init__(self, inputs: Mapping[str, Partitions],
                 checkpoints: Mapping[str, Partitions] | None = None) -> None:
        self.inputs = inputs
        self.checkpoints = dict(checkpoints or {})
        self.datasets: dict[str, Dataset] = {}
        self.shuffles: dict[str, Shuffle] = {}  # by the name of the dataset shuffled
        self.result: Dataset | None = None

    def text_file(self, path: str, partitions: int) -> Dataset:
        assert len(self.inputs[path]) == partitions
        return Dataset(self, path, tuple(tuple(part) for part in self.inputs[path]),
                       DETERMINATE)

    def shuffle(self, data: Dataset, partitions: int,
                merge: Callable[[Any, Any], Any] | None = None) -> Shuffle:
        """Each partition of `data` split into buckets by key (values merged first)."""
        outputs = []
        for rows in data.partitions:
            rows = merged(rows, merge) if merge else rows
            buckets: list[list] = [[] for _ in range(partitions)]
            for row in rows:
                buckets[bucket_of(row[0], partitions)].append(row)
            outputs.append(tuple(tuple(bucket) for bucket in buckets))
        shuffle = Shuffle(tuple(outputs), data.level)
        self.shuffles[data.name] = shuffle
        return shuffle


class Shuffle:
    """The map outputs of one shuffle: `buckets[map][reduce]`, and the level of the map side."""

    def __init__(self, buckets: tuple[Partitions, ...], level: str) -> None:
        self.buckets = buckets
        self.level = level

    def read(self, reduce: int) -> Rows:
        """Reduce partition `reduce`, the blocks in map order."""
        return tuple(row for output in self.buckets for row in output[reduce])

    @property
    def read_level(self) -> str:
        return INDETERMINATE if self.level == INDETERMINATE else UNORDERED


class Dataset:
    def __init__(self, ctx: SequentialContext, name: str, partitions: Partitions,
                 level: str) -> None:
        self.ctx, self.name, self.partitions, self.level = ctx, name, partitions, level
        ctx.datasets[name] = self

    def named(self, name: str) -> Dataset:
        return Dataset(self.ctx, name, self.partitions, self.level)

    def cache(self) -> Dataset:
        return self

    def mark_checkpoint(self) -> Dataset:
        saved = self.ctx.checkpoints.get(self.name)
        return self if saved is None else Dataset(self.ctx, self.name, saved, DETERMINATE)

    def narrow(self, suffix: str, fn: Callable[[int, Rows], Rows],
               order_sensitive: bool = False) -> Dataset:
        level = INDETERMINATE if order_sensitive and self.level == UNORDERED else self.level
        return Dataset(self.ctx, f"{self.name}{suffix}",
                       tuple(fn(i, rows) for i, rows in enumerate(self.partitions)), level)

    def map(self, fn: Callable[[Any], Any]) -> Dataset:
        return self.narrow(".map", lambda _, rows: tuple(fn(row) for row in rows))

    def filter(self, keep: Callable[[Any], bool]) -> Dataset:
        return self.narrow(".filter", lambda _, rows: tuple(r for r in rows if keep(r)))

    def reduce_by_key(self, merge: Callable[[Any, Any], Any], partitions: int) -> Dataset:
        shuffle = self.ctx.shuffle(self, partitions, merge)
        return Dataset(self.ctx, f"{self.name}.reduceByKey",
                       tuple(merged(shuffle.read(r), merge) for r in range(partitions)),
                       shuffle.read_level)

    def repartition(self, partitions: int) -> Dataset:
        """Round-robin from a start fixed by the partition index; order-sensitive."""
        positioned = self.narrow(":round-robin", lambda i, rows: tuple(
            (i % partitions + n, row) for n, row in enumerate(rows)), order_sensitive=True)
        shuffle = self.ctx.shuffle(positioned, partitions)
        return Dataset(self.ctx, f"{self.name}.repartition",
                       tuple(tuple(row for _, row in shuffle.read(r))
                             for r in range(partitions)), shuffle.read_level)

    def join(self, other: Dataset, partitions: int) -> Dataset:
        left, right = (self.ctx.shuffle(side, partitions) for side in (self, other))
        output = []
        for r in range(partitions):
            right_values: dict[Any, list] = {}
            for key, value in right.read(r):
                right_values.setdefault(key, []).append(value)
            output.append(tuple((key, (v, w)) for key, v in left.read(r)
                                for w in right_values.get(key, ())))
        level = max(left.read_level, right.read_level, key=_LEVELS.index)
        return Dataset(self.ctx, f"{self.name}.join", tuple(output), level)


_LEVELS = [DETERMINATE, UNORDERED, INDETERMINATE]


def evaluate(program: Callable[..., Dataset], inputs: Mapping[str, Partitions],
             checkpoints: Mapping[str, Partitions] | None = None,
             **options: Any) -> SequentialContext:
    """Run `program(sc, **options)` sequentially; its datasets and shuffles are in the
    context returned, its result under the name it gives its last dataset."""
    ctx = SequentialContext(inputs, checkpoints)
    ctx.result = program(ctx, **options)
    return ctx


# --- the declared invariants ---------------------------------------------------------------------


def same_rows(rows: Sequence, expected: Sequence) -> bool:
    """Equal as multisets: the same rows, each as often, in any order."""
    return Counter(rows) == Counter(expected)


def reproduces(level: str, rows: Sequence, expected: Sequence) -> bool:
    """What computing a partition again must give, by its determinism level."""
    if level == DETERMINATE:
        return tuple(rows) == tuple(expected)
    if level == UNORDERED:
        return same_rows(rows, expected)
    return True
