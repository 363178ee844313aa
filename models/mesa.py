"""Mesa's data model: a table of aggregated rows, updated in versioned batches.

Gupta et al., "Mesa: Geo-Replicated, Near Real-Time, Scalable Data Warehousing" (VLDB 2014),
section 2. A table maps row keys to values; every value column names an aggregation function
that is associative (and here commutative): SUM for counters such as clicks, MAX for a
high-water mark. Updates arrive in batches, and the n-th batch the system commits is version
n. The table *at version n* is the aggregate, key by key, of batches 1..n (version 0 is the
empty table).

A *delta* [v1, v2] is the aggregate of batches v1..v2. Because aggregation is associative, the
table at n is also the aggregate of any chain of adjacent deltas [0, b0], [b0 + 1, b1], ...,
[bk + 1, n]: that is what lets Mesa answer from a base, a few cumulative deltas and some
singletons, and it is also the only condition under which merging deltas is safe — two
overlapping deltas count the batches they share twice (with SUM), two deltas with a gap
between them drop the batches in the gap.

What a store refining this model must satisfy, as pure functions over what it holds and what
it answered (`implementations/mesa/checks.py` applies them to a run):

- `delta_problem`: a delta holds exactly the aggregate of the batches its range covers;
- `chain_ends`: the versions a set of deltas can answer, by chains from version 0;
- `fewest_deltas`: how few deltas a chain between two versions can combine (what a query
  costs, which compaction keeps down);
- `answer_problem`: a query's answer is the table's value at the answer's version;
- `commit_problem`: versions are given out (and committed) one after the other, each to one
  batch, and no batch in two versions.
"""

from __future__ import annotations

from collections.abc import Iterable

Rows = tuple[tuple[str, int], ...]  # (key, value) pairs sorted by key, no key twice

AGGREGATES = {"sum": lambda a, b: a + b, "max": max}


def aggregate(deltas: Iterable[Rows], how: str) -> Rows:
    """The rows of several deltas combined key by key with the `how` aggregate."""
    combine = AGGREGATES[how]
    merged: dict[str, int] = {}
    for rows in deltas:
        for key, value in rows:
            merged[key] = combine(merged[key], value) if key in merged else value
    return tuple(sorted(merged.items()))


def show(rows: Rows) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in rows) + "}"


class VersionedTable:
    """The batches by version; any delta, and the table at any version, computed from them."""

    def __init__(self, how: str = "sum") -> None:
        if how not in AGGREGATES:
            raise ValueError(f"unknown aggregate {how!r} (known: {', '.join(AGGREGATES)})")
        self.how = how
        self.batches: dict[int, Rows] = {}

    def add(self, version: int, rows: Rows) -> None:
        self.batches[version] = rows

    def missing(self, v1: int, v2: int) -> list[int]:
        """Versions in [v1, v2] with no batch (version 0, the empty table, never misses)."""
        return [v for v in range(max(v1, 1), v2 + 1) if v not in self.batches]

    def delta(self, v1: int, v2: int) -> Rows:
        return aggregate((self.batches[v] for v in range(max(v1, 1), v2 + 1)), self.how)

    def at(self, version: int) -> Rows:
        return self.delta(0, version)

    def value(self, key: str, version: int) -> int | None:
        """What a query of `key` at `version` must answer (None: no batch touched the key)."""
        return dict(self.at(version)).get(key)


# --- the invariants --------------------------------------------------------------------------


def delta_problem(table: VersionedTable, v1: int, v2: int, rows: Rows) -> str | None:
    """What is wrong with a stored delta [v1, v2] holding `rows`, or None."""
    if not 0 <= v1 <= v2:
        return f"[{v1}, {v2}] is not a version range"
    missing = table.missing(v1, v2)
    if missing:
        return f"[{v1}, {v2}] covers version {missing[0]}, which holds no batch"
    expected = table.delta(v1, v2)
    if rows != expected:
        return (f"[{v1}, {v2}] holds {show(rows)}, but batches {max(v1, 1)}..{v2} aggregate "
                f"to {show(expected)}")
    return None


def chain_ends(ranges: Iterable[tuple[int, int]]) -> set[int]:
    """Every version n such that adjacent, non-overlapping ranges [0, b0], [b0 + 1, b1], ...,
    [bk + 1, n] are among `ranges`: the versions their deltas can answer."""
    starts: dict[int, list[int]] = {}
    for v1, v2 in ranges:
        starts.setdefault(v1, []).append(v2)
    reached: set[int] = set()
    frontier = list(starts.get(0, ()))
    while frontier:
        end = frontier.pop()
        if end not in reached:
            reached.add(end)
            frontier.extend(starts.get(end + 1, ()))
    return reached


def fewest_deltas(ranges: Iterable[tuple[int, int]], first: int, last: int) -> int | None:
    """The fewest adjacent, non-overlapping ranges that chain from version `first` to version
    `last` (0 when `last` is `first - 1`, an empty chain; None when no chain reaches it)."""
    starts: dict[int, list[int]] = {}
    for v1, v2 in ranges:
        starts.setdefault(v1, []).append(v2)
    hops, frontier, reached = 0, {first - 1}, {first - 1}
    while frontier:
        if last in frontier:
            return hops
        hops += 1
        frontier = {end for done in frontier for end in starts.get(done + 1, ())
                    if end <= last and end not in reached}
        reached |= frontier
    return None


def answer_problem(table: VersionedTable, key: str, version: int,
                   value: int | None) -> str | None:
    """What is wrong with answering `value` for `key` at `version`, or None."""
    missing = table.missing(0, version)
    if missing:
        return f"version {version} includes version {missing[0]}, which holds no batch"
    expected = table.value(key, version)
    if value != expected:
        return f"{key} at version {version} is {expected}, not {value}"
    return None


def commit_problem(sequence: dict[int, str], version: int, batch: str) -> str | None:
    """What is wrong with `batch` as `version` after the versions in `sequence` (version ->
    batch: those given out, or those committed), or None. The same version with the same
    batch again is no news (a replica replaying its log)."""
    if version in sequence:
        if sequence[version] != batch:
            return f"version {version} is {sequence[version]}, then {batch}"
        return None
    if version != len(sequence) + 1:
        return f"version {version} came after version {len(sequence)}"
    twice = [v for v, b in sequence.items() if b == batch]
    if twice:
        return f"{batch} is version {twice[0]} and again version {version}"
    return None
