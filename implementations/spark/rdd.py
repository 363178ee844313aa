"""Resilient distributed datasets: immutable, partitioned collections that know how they were
derived (their lineage), so that any lost partition can be computed again.

An RDD is one of

- `TextFile`: a file of the store, one part per partition (the program's input);
- `MapPartitions`: a **narrow** transformation (map, filter): partition i is computed from
  partition i of its parent alone;
- `Shuffled` and `Joined`: **wide** ones (reduceByKey, repartition, join): each partition
  reads a bucket of every partition of the parent(s), through a `ShuffleDependency`;
- `Checkpointed`: an RDD saved to the store; it replaces that RDD and its whole lineage.

The driver builds RDDs (`SparkContext` and the methods below, which the user program calls),
cuts their lineage into stages at shuffle dependencies and sends each task the RDD it
computes; an executor runs `compute` on what the task fetched. RDDs are values: a checkpoint
does not change one, it builds a new lineage (`truncate`).

Each RDD also has a **determinism level** (Spark 2.4+, `outputDeterministicLevel`): whether
computing a partition again gives the same rows in the same order (determinate), the same
rows in any order (unordered: a shuffle read returns blocks in the order they arrive), or
possibly other rows (indeterminate: an order-sensitive function, like the round-robin of a
repartition, applied to an unordered input).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs

DETERMINATE, UNORDERED, INDETERMINATE = "determinate", "unordered", "indeterminate"
_WORSE = {DETERMINATE: 0, UNORDERED: 1, INDETERMINATE: 2}

Rows = tuple  # a partition: a tuple of rows, each a tuple (key, value) where it is keyed


@attrs.frozen
class HashPartitioner:
    """The bucket of a key: itself modulo n for an integer (a round-robin position), a hash
    that is the same in every process for a string (Python's `hash` of a string is not)."""

    partitions: int

    def bucket(self, key: Any) -> int:
        if isinstance(key, int):
            return key % self.partitions
        return zlib.crc32(str(key).encode()) % self.partitions


@attrs.frozen(repr=False)
class ShuffleDependency:
    """A wide dependency on `rdd` (the map side): every map task splits its partition into
    one bucket per reduce partition, combining values by key first when there is an
    `aggregator`. A shuffle is named by the RDD it shuffles (each is shuffled once here)."""

    rdd: RDD
    partitioner: HashPartitioner
    aggregator: Callable[[Any, Any], Any] | None = None

    @property
    def name(self) -> str:
        return self.rdd.name

    def __repr__(self) -> str:
        return f"shuffle {self.name}"

    def write(self, rows: Rows) -> tuple[Rows, ...]:
        """The map side: (combined) rows split into one bucket per reduce partition."""
        if self.aggregator is not None:
            rows = combine(rows, self.aggregator)
        buckets: list[list] = [[] for _ in range(self.partitioner.partitions)]
        for row in rows:
            buckets[self.partitioner.bucket(row[0])].append(row)
        return tuple(tuple(bucket) for bucket in buckets)


def combine(rows: Rows, merge: Callable[[Any, Any], Any]) -> Rows:
    """Merge the values of each key, keys in the order they first appear."""
    merged: dict[Any, Any] = {}
    for key, value in rows:
        merged[key] = merge(merged[key], value) if key in merged else value
    return tuple(merged.items())


@attrs.frozen(kw_only=True, repr=False)
class RDD:
    name: str
    partitions: int
    cached: bool = False  # kept in the memory of the executor that computed it
    checkpoint: bool = False  # to be saved to the store, and its lineage cut there

    def __repr__(self) -> str:
        return self.name

    # --- the transformations a program calls --------------------------------------------

    def named(self, name: str) -> RDD:
        return attrs.evolve(self, name=name)

    def cache(self) -> RDD:
        return attrs.evolve(self, cached=True)

    def mark_checkpoint(self) -> RDD:
        return attrs.evolve(self, checkpoint=True)

    def map(self, fn: Callable[[Any], Any]) -> RDD:
        return MapPartitions(name=f"{self.name}.map", partitions=self.partitions, parent=self,
                             fn=EachRow(fn))

    def filter(self, keep: Callable[[Any], bool]) -> RDD:
        return MapPartitions(name=f"{self.name}.filter", partitions=self.partitions,
                             parent=self, fn=Kept(keep))

    def reduce_by_key(self, merge: Callable[[Any, Any], Any], partitions: int) -> RDD:
        dep = ShuffleDependency(self, HashPartitioner(partitions), merge)
        return Shuffled(name=f"{self.name}.reduceByKey", partitions=partitions, dep=dep)

    def repartition(self, partitions: int) -> RDD:
        """Spark's `repartition`: each map task deals its rows round-robin over the new
        partitions, from a start fixed by its partition index, keyed by position; the
        shuffle groups them by position modulo n; the positions are dropped after."""
        positioned = MapPartitions(name=f"{self.name}:round-robin", partitions=self.partitions,
                                   parent=self, fn=Deal(partitions), order_sensitive=True)
        dep = ShuffleDependency(positioned, HashPartitioner(partitions))
        shuffled = Shuffled(name=f"{self.name}:dealt", partitions=partitions, dep=dep)
        return MapPartitions(name=f"{self.name}.repartition", partitions=partitions,
                             parent=shuffled, fn=Values())

    def join(self, other: RDD, partitions: int) -> RDD:
        deps = (ShuffleDependency(self, HashPartitioner(partitions)),
                ShuffleDependency(other, HashPartitioner(partitions)))
        return Joined(name=f"{self.name}.join", partitions=partitions, deps=deps)

    # --- what the scheduler and the executors ask of it ----------------------------------

    def narrow_parents(self) -> tuple[RDD, ...]:
        return ()

    def shuffle_deps(self) -> tuple[ShuffleDependency, ...]:
        return ()

    def level(self) -> str:
        """Spark's `outputDeterministicLevel`, as 2.4 defines it."""
        return DETERMINATE

    def compute(self, partition: int, inputs: TaskInputs) -> Rows:
        raise NotImplementedError


# --- what a narrow transformation does to a partition: fn(partition index, rows) ------------


@attrs.frozen
class EachRow:
    fn: Callable[[Any], Any]

    def __call__(self, index: int, rows: Rows) -> Rows:
        return tuple(self.fn(row) for row in rows)


@attrs.frozen
class Kept:
    keep: Callable[[Any], bool]

    def __call__(self, index: int, rows: Rows) -> Rows:
        return tuple(row for row in rows if self.keep(row))


@attrs.frozen
class Deal:
    """Each row keyed by its position, from a start fixed by the partition index (Spark
    draws it from a Random seeded by the index)."""

    partitions: int

    def __call__(self, index: int, rows: Rows) -> Rows:
        start = index % self.partitions
        return tuple((start + i, row) for i, row in enumerate(rows))


@attrs.frozen
class Values:
    def __call__(self, index: int, rows: Rows) -> Rows:
        return tuple(value for _, value in rows)


@attrs.frozen(kw_only=True, repr=False)
class TextFile(RDD):
    path: str

    def compute(self, partition: int, inputs: TaskInputs) -> Rows:
        return inputs.files[part_file(self.path, partition)]


@attrs.frozen(kw_only=True, repr=False)
class Checkpointed(RDD):
    """An RDD read back from its checkpoint files: reliably saved, so determinate, whatever
    the RDD it replaces was."""

    path: str

    def compute(self, partition: int, inputs: TaskInputs) -> Rows:
        return inputs.files[part_file(self.path, partition)]


@attrs.frozen(kw_only=True, repr=False)
class MapPartitions(RDD):
    parent: RDD
    fn: Callable[[int, Rows], Rows]
    order_sensitive: bool = False  # its output depends on the order of its input

    def narrow_parents(self) -> tuple[RDD, ...]:
        return (self.parent,)

    def level(self) -> str:
        parent = self.parent.level()
        return INDETERMINATE if self.order_sensitive and parent == UNORDERED else parent

    def compute(self, partition: int, inputs: TaskInputs) -> Rows:
        return self.fn(partition, inputs.compute(self.parent, partition))


@attrs.frozen(kw_only=True, repr=False)
class Shuffled(RDD):
    dep: ShuffleDependency

    def shuffle_deps(self) -> tuple[ShuffleDependency, ...]:
        return (self.dep,)

    def level(self) -> str:
        return shuffle_read_level(self.dep)

    def compute(self, partition: int, inputs: TaskInputs) -> Rows:
        rows = tuple(row for block in inputs.shuffles[self.dep.name] for row in block)
        return rows if self.dep.aggregator is None else combine(rows, self.dep.aggregator)


@attrs.frozen(kw_only=True, repr=False)
class Joined(RDD):
    """`cogroup` then the pairs of each key's values on the two sides, as Spark's `join`."""

    deps: tuple[ShuffleDependency, ShuffleDependency]

    def shuffle_deps(self) -> tuple[ShuffleDependency, ...]:
        return self.deps

    def level(self) -> str:
        return max((shuffle_read_level(dep) for dep in self.deps), key=_WORSE.__getitem__)

    def compute(self, partition: int, inputs: TaskInputs) -> Rows:
        left, right = ({} for _ in self.deps)
        for side, dep in zip((left, right), self.deps):
            for block in inputs.shuffles[dep.name]:
                for key, value in block:
                    side.setdefault(key, []).append(value)
        return tuple((key, (v, w)) for key, vs in left.items() for v in vs
                     for w in right.get(key, ()))


def shuffle_read_level(dep: ShuffleDependency) -> str:
    """A reducer fetches blocks from many map outputs at once and reads them as they arrive:
    its input is unordered even when every map output is determinate; and indeterminate
    when a map output may differ from one run to the next."""
    return INDETERMINATE if dep.rdd.level() == INDETERMINATE else UNORDERED


def part_file(path: str, partition: int) -> str:
    return f"{path}/part-{partition}"


def checkpoint_dir(rdd: RDD) -> str:
    return f"checkpoint/{rdd.name}"


class SparkContext:
    """What a program starts from: its input files."""

    def text_file(self, path: str, partitions: int) -> RDD:
        return TextFile(name=path, partitions=partitions, path=path)


# --- lineage -----------------------------------------------------------------------------------


def stage_lineage(rdd: RDD) -> Iterator[RDD]:
    """The RDDs a task of `rdd`'s stage computes: `rdd` and its narrow ancestors, up to the
    shuffles it reads and the files it reads."""
    yield rdd
    for parent in rdd.narrow_parents():
        yield from stage_lineage(parent)


def shuffles_read(rdd: RDD) -> list[ShuffleDependency]:
    return [dep for node in stage_lineage(rdd) for dep in node.shuffle_deps()]


def marked_for_checkpoint(rdd: RDD) -> RDD | None:
    """The first RDD of the lineage (closest to the input) marked for checkpointing."""
    parents = [*rdd.narrow_parents(), *(dep.rdd for dep in rdd.shuffle_deps())]
    for parent in parents:
        found = marked_for_checkpoint(parent)
        if found is not None:
            return found
    return rdd if rdd.checkpoint and not isinstance(rdd, Checkpointed) else None


def truncate(rdd: RDD, saved: RDD) -> RDD:
    """The lineage of `rdd` with `saved` read back from its checkpoint files: everything
    that was needed only to compute `saved` is gone from it."""
    if rdd.name == saved.name:
        return Checkpointed(name=saved.name, partitions=saved.partitions, cached=saved.cached,
                            path=checkpoint_dir(saved))
    if isinstance(rdd, MapPartitions):
        return attrs.evolve(rdd, parent=truncate(rdd.parent, saved))
    if isinstance(rdd, Shuffled):
        return attrs.evolve(rdd, dep=_truncated_dep(rdd.dep, saved))
    if isinstance(rdd, Joined):
        return attrs.evolve(rdd, deps=tuple(_truncated_dep(dep, saved) for dep in rdd.deps))
    return rdd


def _truncated_dep(dep: ShuffleDependency, saved: RDD) -> ShuffleDependency:
    return attrs.evolve(dep, rdd=truncate(dep.rdd, saved))


# --- running a task ----------------------------------------------------------------------------


@attrs.define
class TaskInputs:
    """What a task has fetched before it computes: files read from the store, and each
    shuffle's blocks in the order they arrived. `cache` is the executor's memory: cached
    partitions are read from it and put in it as they are computed."""

    files: dict[str, Rows]
    shuffles: dict[str, list[Rows]]
    cache: dict[tuple[str, int], Rows]
    computed: list[str] = attrs.Factory(list)  # names of the cached partitions computed

    def compute(self, rdd: RDD, partition: int) -> Rows:
        block = (rdd.name, partition)
        if rdd.cached and block in self.cache:
            return self.cache[block]
        rows = rdd.compute(partition, self)
        if rdd.cached:
            self.cache[block] = rows
            self.computed.append(rdd.name)
        return rows


def needs(rdd: RDD, partition: int, cache: dict[tuple[str, int], Rows]) -> tuple[
        list[str], list[ShuffleDependency]]:
    """The files and the shuffles a task computing `rdd`'s partition must read: its stage's
    lineage, cut short where a partition is cached in this executor's memory."""
    files: list[str] = []
    shuffles: list[ShuffleDependency] = []

    def walk(node: RDD) -> None:
        if node.cached and (node.name, partition) in cache:
            return
        if isinstance(node, (TextFile, Checkpointed)):
            files.append(part_file(node.path, partition))
        shuffles.extend(node.shuffle_deps())
        for parent in node.narrow_parents():
            walk(parent)

    walk(rdd)
    return files, shuffles
