"""The serving tree: a root server, intermediate servers, and leaf servers over tablets.

A table is split into *tablets* (horizontal partitions of its records, each striped on its
own). The root receives a query, rewrites it into one over partial aggregates (`query.py`)
and passes it down; each intermediate server passes it to its leaf servers and combines
their answers; each leaf server scans the query's columns of the tablets it is given.

The *query dispatcher* schedules tablets on leaf servers. Each tablet has two replicas, on
its primary leaf server (tablet t on leaf t mod L) and on the next one; a leaf processes one
tablet at a time, in tablet order, one tick each, except that a straggling replica (a tablet
of the `slow` set, on its primary) takes `SLOW_TICKS`. A leaf with nothing left to do backs
up the lowest-numbered tablet that has run a tick or more on another server without
finishing and has a replica here; whichever copy finishes first answers for the tablet, and
the other is cancelled: every tablet is counted once.

The root answers in one of two modes:

- **exact**: when every tablet has been processed;
- **approximate** (a percentage p): as soon as p% of the tablets (rounded up) have been
  processed, over exactly the tablets processed by then, reporting that fraction — the
  paper's trade of a little accuracy for not waiting on the last few stragglers.

All of it is evaluated in process and deterministically (integer ticks, fixed tie-breaks):
a property can run the tree over generated tablets and a generated set of slow tablets.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import attrs

from implementations.dremel import query as q
from implementations.dremel.striping import Columns

SLOW_TICKS = 10  # a tablet on a straggling replica; on any other, 1 tick


@attrs.frozen
class Completion:
    tablet: int
    time: int  # the tick its first copy finished
    server: int  # the leaf server that finished it
    backup: bool  # whether that copy was a backup


@attrs.frozen
class Answer:
    rows: list[list[Any]]  # [[key, result], ...]
    processed: tuple[int, ...]  # the tablets the answer covers
    fraction: Fraction  # of the tablets, as the root reports it


@attrs.frozen
class Running:
    tablet: int
    started: int
    finishes: int
    backup: bool


class ServingTree:
    def __init__(self, leaves: int, fanout: int) -> None:
        self.leaves, self.fanout = leaves, fanout

    def replicas(self, tablet: int) -> tuple[int, int]:
        return tablet % self.leaves, (tablet + 1) % self.leaves

    def intermediates(self) -> list[list[int]]:
        """The leaf servers under each intermediate server."""
        return [list(range(first, min(first + self.fanout, self.leaves)))
                for first in range(0, self.leaves, self.fanout)]

    def execute(self, query: q.Query, tablets: list[Columns], slow: frozenset[int],
                percent: int | None = None) -> Answer:
        """The root's answer: exact when `percent` is None, else after `percent`% of the
        tablets."""
        done = self.dispatch(len(tablets), slow)
        deadline = self.deadline(done, percent)
        answered = [c for c in done if c.time <= deadline]
        leaves = {leaf: q.combine(query.aggregate,
                                  [q.scan(query, tablets[c.tablet])
                                   for c in answered if c.server == leaf])
                  for leaf in range(self.leaves)}
        middle = [q.combine(query.aggregate, [leaves[leaf] for leaf in group])
                  for group in self.intermediates()]
        processed = tuple(sorted(c.tablet for c in answered))
        return Answer(q.final(query.aggregate, q.combine(query.aggregate, middle)), processed,
                      Fraction(len(processed), len(tablets)))

    @staticmethod
    def deadline(done: list[Completion], percent: int | None) -> int:
        """When the root answers: once every tablet is done, or once `percent`% of them."""
        times = sorted(c.time for c in done)
        if not times:
            return 0
        needed = len(times) if percent is None else math.ceil(len(times) * percent / 100)
        return times[max(needed, 1) - 1]

    def dispatch(self, count: int, slow: frozenset[int]) -> list[Completion]:
        """Run every tablet to completion, backing up stragglers; the first copy of each
        tablet to finish, in order of completion."""
        queues = {leaf: [t for t in range(count) if self.replicas(t)[0] == leaf]
                  for leaf in range(self.leaves)}
        running: dict[int, Running] = {}
        done: dict[int, Completion] = {}
        time = 0
        while len(done) < count:
            for leaf in range(self.leaves):
                if leaf not in running:
                    self.start(leaf, queues[leaf], running, slow, time)
            time += 1
            for leaf, work in sorted(running.items()):
                if work.finishes == time and work.tablet not in done:
                    done[work.tablet] = Completion(work.tablet, time, leaf, work.backup)
            for leaf, work in list(running.items()):
                if work.tablet in done:  # finished, or its other copy has
                    del running[leaf]
        return list(done.values())

    def start(self, leaf: int, queue: list[int], running: dict[int, Running],
              slow: frozenset[int], time: int) -> None:
        """An idle leaf takes its next tablet, or else backs up a straggler."""
        if queue:
            tablet = queue.pop(0)
            ticks = SLOW_TICKS if tablet in slow else 1
            running[leaf] = Running(tablet, time, time + ticks, backup=False)
            return
        copied = {work.tablet for work in running.values() if work.backup}
        stragglers = sorted(work.tablet for other, work in running.items()
                            if other != leaf and time - work.started >= 1
                            and leaf in self.replicas(work.tablet)
                            and work.tablet not in copied)
        if stragglers:
            running[leaf] = Running(stragglers[0], time, time + 1, backup=True)
