"""What a MapReduce job must produce: the sequential map and reduce of the same input.

Dean and Ghemawat, "MapReduce: Simplified Data Processing on Large Clusters" (OSDI 2004),
section 3.3: when the user's map and reduce operators are deterministic functions of their
input, the distributed execution produces the same output as a non-faulting sequential
execution of the whole program. When they are not, the paper promises less: each reduce
partition's output equals that partition's output in *some* sequential execution, but two
partitions may come from two different executions.

A program is anything with

- `map(split, draw)`: the (key, value) pairs of one input split; `draw` is the map's one
  non-deterministic choice, an integer below `choices` (a deterministic map has one choice);
- `reduce(key, values)`: the value reduced from every value of one key, in the order the
  splits hold them;
- `partition(key, reduces)`: the reduce partition of a key.

A sequential execution maps every split with one draw each, groups the pairs by key, reduces
each key, and writes partition r as its records (key, value) in key order. The model does
not run the combiner: a combiner is an optimization that must not change the output, and the
distributed run that applies it must still equal this.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

Records = tuple[tuple[Any, Any], ...]  # one partition's output file: (key, value) in key order


def run_sequentially(program: Any, splits: Sequence[str], reduces: int,
                     draws: Sequence[int]) -> tuple[Records, ...]:
    """The output partitions of the sequential execution in which split i's map drew
    `draws[i]`."""
    grouped: dict[Any, list[Any]] = {}
    for split, draw in zip(splits, draws, strict=True):
        for key, value in program.map(split, draw):
            grouped.setdefault(key, []).append(value)
    partitions: list[list[tuple[Any, Any]]] = [[] for _ in range(reduces)]
    for key in sorted(grouped):
        record = (key, program.reduce(key, grouped[key]))
        partitions[program.partition(key, reduces)].append(record)
    return tuple(tuple(records) for records in partitions)


def executions(program: Any, splits: Sequence[str], reduces: int) -> list[tuple[Records, ...]]:
    """Every sequential execution's output, one per combination of the maps' draws (a single
    one for a deterministic program)."""
    draws = itertools.product(range(program.choices), repeat=len(splits))
    return [run_sequentially(program, splits, reduces, combination) for combination in draws]


# --- the invariants: the output the paper promises --------------------------------------------


def partition_from_some_execution(records: Records, partition: int,
                                  outputs: Sequence[tuple[Records, ...]]) -> bool:
    """The weak semantics, which hold for any program: this partition's file equals its
    output in some sequential execution (for a deterministic program, the one result)."""
    return any(output[partition] == records for output in outputs)


def from_one_execution(files: Mapping[int, Records],
                       outputs: Sequence[tuple[Records, ...]]) -> bool:
    """The strong semantics, promised for deterministic programs only: the partitions
    written so far (partition -> its file) all equal one single sequential execution's."""
    return any(all(output[partition] == records for partition, records in files.items())
               for output in outputs)
