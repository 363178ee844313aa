"""The serving tree: a root server, intermediate servers, and leaf servers over tablets,
run as nodes on the simulation engine.

A table is split into *tablets* (horizontal partitions of its records, each striped on its
own). A client sends the root a query; the root, which is also the *query dispatcher*,
passes it down through the intermediate servers to the leaf servers, and each leaf scans the
query's columns of its tablets (`query.py`), one tablet at a time, keeping one partial
aggregate per tablet.

Each tablet has two replicas, on its primary leaf (tablet t on leaf t mod L) and on the next
one. A leaf scans its primary tablets in order, one tick each, except that a tablet of the
`slow` set straggles on its primary (`SLOW_TICKS`). Leaves tell the dispatcher when they
start and finish a tablet and when they run out of work; every tick the dispatcher gives an
idle leaf a *backup* of a tablet that has run a tick or more elsewhere without finishing and
has a replica on that leaf. The first copy of a tablet whose `Finished` reaches the
dispatcher is the one counted; the other copy is cancelled.

The root answers in one of two modes:

- **exact**: once every tablet is counted;
- **approximate** (a percentage p): as soon as p% of the tablets (rounded up) are counted,
  over exactly those tablets, reporting that fraction — the paper's trade of a little
  accuracy for not waiting on the last few stragglers.

To answer, the root asks each intermediate server to `Collect` the counted tablets; each leaf
combines its counted tablets' partials into one, each intermediate server combines its
leaves', and the root combines theirs and finishes the aggregate: aggregation is pushed down
to the data, and only one partial per server travels up.

`ServingTree.run` runs the tree on the engine, its servers talking over FIFO channels (RPCs
over TCP: a leaf sees the query before the request to collect it): which message or timer
comes next is drawn from the `schedule` seed by the random walk (no faults: the stragglers
are the case's slow tablets).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import attrs

from checker.client import Client
from checker.node import Context, Node
from checker.sim import Cluster, Simulation
from checker.strategies import RandomWalk
from implementations.dremel import query as q
from implementations.dremel.striping import Columns

SLOW_TICKS = 10  # a tablet on a straggling replica; on any other, 1 tick
ROOT, USER = "root", "user"
MAX_STEPS = 5_000  # far more than any case drawn or read needs


@attrs.frozen
class Answer:
    rows: list[list[Any]]  # [[key, result], ...]
    processed: tuple[int, ...]  # the tablets the answer covers
    fraction: Fraction  # of the tablets, as the root reports it


# --- messages -------------------------------------------------------------------------------


@attrs.frozen
class Ask:  # user -> root
    percent: int | None  # None: exact


@attrs.frozen
class Scan:  # root -> intermediate -> leaf
    query: q.Query


@attrs.frozen
class Started:  # leaf -> root
    tablet: int


@attrs.frozen
class Finished:  # leaf -> root
    tablet: int


@attrs.frozen
class Idle:  # leaf -> root
    pass


@attrs.frozen
class Backup:  # root -> leaf
    tablet: int


@attrs.frozen
class Cancel:  # root -> leaf
    tablet: int


@attrs.frozen
class Collect:  # root -> intermediate: each leaf's counted tablets; -> leaf: its own
    tablets: tuple[tuple[str, tuple[int, ...]], ...]


@attrs.frozen
class Partial:  # leaf -> intermediate -> root
    partials: q.Partials


# --- the tree's shape -----------------------------------------------------------------------


def leaf_name(i: int) -> str:
    return f"leaf{i}"


def middle_name(i: int) -> str:
    return f"mid{i}"


@attrs.frozen
class Shape:
    tablets: int
    leaves: int
    fanout: int

    def replicas(self, tablet: int) -> tuple[str, str]:
        return leaf_name(tablet % self.leaves), leaf_name((tablet + 1) % self.leaves)

    def groups(self) -> dict[str, list[str]]:
        """The leaf servers under each intermediate server."""
        return {middle_name(i): [leaf_name(j) for j in range(first,
                                                             min(first + self.fanout,
                                                                 self.leaves))]
                for i, first in enumerate(range(0, self.leaves, self.fanout))}


# --- the nodes ------------------------------------------------------------------------------


class Root(Node):
    """The root server and query dispatcher."""

    def __init__(self, node_id: str, shape: Shape, query: q.Query) -> None:
        super().__init__(node_id)
        self.shape, self.query = shape, query
        self.percent: int | None = None
        self.asked = False
        self.running: dict[int, tuple[str, int]] = {}  # tablet -> (leaf, started at)
        self.backed_up: set[int] = set()
        self.counted: dict[int, str] = {}  # tablet -> the leaf whose copy counts
        self.idle: set[str] = set()
        self.collecting: tuple[int, ...] | None = None  # the tablets the answer covers
        self.partials: dict[str, q.Partials] = {}  # intermediate server -> its partial

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Ask) and not self.asked:
            self.asked, self.percent = True, msg.percent
            for middle in self.shape.groups():
                ctx.send(middle, Scan(self.query))
            ctx.set_timer("dispatch", 1)
            self.answer_if_enough(ctx)
        elif isinstance(msg, Started):
            self.running.setdefault(msg.tablet, (src, ctx.now()))
            self.idle.discard(src)
        elif isinstance(msg, Finished):
            self.count(ctx, src, msg.tablet)
        elif isinstance(msg, Idle):
            self.idle.add(src)
        elif isinstance(msg, Partial) and self.collecting is not None:
            self.partials[src] = msg.partials
            if len(self.partials) == len(self.shape.groups()):
                self.reply(ctx)

    def count(self, ctx: Context, leaf: str, tablet: int) -> None:
        """The first copy of a tablet to finish is the one counted; the other is cancelled."""
        if tablet in self.counted:
            return
        self.counted[tablet] = leaf
        for other in self.shape.replicas(tablet):
            if other != leaf:
                ctx.send(other, Cancel(tablet))
        self.answer_if_enough(ctx)

    def needed(self) -> int:
        total = self.shape.tablets
        if self.percent is None:
            return total
        return max(1, math.ceil(total * self.percent / 100))

    def answer_if_enough(self, ctx: Context) -> None:
        if self.collecting is not None or len(self.counted) < self.needed():
            return
        self.collecting = tuple(sorted(self.counted))
        ctx.cancel_timer("dispatch")
        for middle, leaves in self.shape.groups().items():
            ctx.send(middle, Collect(tuple(
                (leaf, tuple(t for t in self.collecting if self.counted[t] == leaf))
                for leaf in leaves)))

    def on_timer(self, ctx: Context, name: str) -> None:
        """Every tick, an idle leaf backs up a straggler it holds a replica of."""
        for leaf in sorted(self.idle):
            stragglers = [t for t, (owner, since) in sorted(self.running.items())
                          if t not in self.counted and t not in self.backed_up
                          and owner != leaf and leaf in self.shape.replicas(t)
                          and ctx.now() - since >= 1]
            if stragglers:
                self.backed_up.add(stragglers[0])
                self.idle.discard(leaf)
                ctx.send(leaf, Backup(stragglers[0]))
        ctx.set_timer("dispatch", 1)

    def reply(self, ctx: Context) -> None:
        ctx.send(USER, self.answer())

    def answer(self) -> Answer:
        assert self.collecting is not None
        total = q.combine(self.query.aggregate, [self.partials[m] for m in sorted(self.partials)])
        return Answer(q.final(self.query.aggregate, total), self.collecting,
                      Fraction(len(self.collecting), self.shape.tablets))


class Intermediate(Node):
    """Passes the query down and combines its leaves' partials into one."""

    def __init__(self, node_id: str, leaves: list[str], aggregate: str) -> None:
        super().__init__(node_id)
        self.leaves, self.aggregate = leaves, aggregate
        self.partials: dict[str, q.Partials] = {}

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Scan):
            for leaf in self.leaves:
                ctx.send(leaf, msg)
        elif isinstance(msg, Collect):
            for leaf, tablets in msg.tablets:
                ctx.send(leaf, Collect(((leaf, tablets),)))
        elif isinstance(msg, Partial):
            self.partials[src] = msg.partials
            if len(self.partials) == len(self.leaves):
                ctx.send(ROOT, Partial(q.combine(
                    self.aggregate, [self.partials[leaf] for leaf in self.leaves])))


class Leaf(Node):
    """Scans its tablets one at a time and keeps one partial aggregate per tablet."""

    def __init__(self, node_id: str, tablets: dict[int, Columns], primary: list[int],
                 slow: frozenset[int]) -> None:
        super().__init__(node_id)
        self._tablets = tablets  # its replicas' columns
        self.queue = list(primary)
        self.slow = slow
        self.query: q.Query | None = None
        self.scanning: int | None = None
        self.done: dict[int, q.Partials] = {}

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Scan) and self.query is None:
            self.query = msg.query
            self.next(ctx)
        elif isinstance(msg, Backup) and self.scanning is None:
            self.scan(ctx, msg.tablet, ticks=1)
        elif isinstance(msg, Cancel):
            if msg.tablet in self.queue:
                self.queue.remove(msg.tablet)
            if self.scanning == msg.tablet:
                ctx.cancel_timer("scan")
                self.scanning = None
                self.next(ctx)
        elif isinstance(msg, Collect) and self.query is not None:
            (_, tablets), = msg.tablets
            ctx.send(src, Partial(q.combine(self.query.aggregate,
                                            [self.done[t] for t in tablets])))

    def next(self, ctx: Context) -> None:
        if self.queue:
            tablet = self.queue.pop(0)
            self.scan(ctx, tablet, SLOW_TICKS if tablet in self.slow else 1)
        else:
            ctx.send(ROOT, Idle())

    def scan(self, ctx: Context, tablet: int, ticks: int) -> None:
        self.scanning = tablet
        ctx.send(ROOT, Started(tablet))
        ctx.set_timer("scan", ticks)

    def on_timer(self, ctx: Context, name: str) -> None:
        assert self.query is not None and self.scanning is not None
        tablet, self.scanning = self.scanning, None
        self.done[tablet] = q.scan(self.query, self._tablets[tablet])
        ctx.send(ROOT, Finished(tablet))
        self.next(ctx)


class User(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        ctx.send(ROOT, Ask(args))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Answer) and not self.idle:
            self.complete(ctx, "ok", msg)


# --- running it -----------------------------------------------------------------------------


@attrs.frozen
class ServingTree:
    """The tree's nodes for one query over striped tablets. The seeded bugs and the tests'
    broken trees override `root`, `intermediate` or `leaf`."""

    leaves: int
    fanout: int

    def root(self, shape: Shape, query: q.Query) -> Root:
        return Root(ROOT, shape, query)

    def intermediate(self, name: str, leaves: list[str], query: q.Query) -> Node:
        return Intermediate(name, leaves, query.aggregate)

    def leaf(self, index: int, shape: Shape, tablets: list[Columns],
             slow: frozenset[int]) -> Node:
        name = leaf_name(index)
        held = {t: tablets[t] for t in range(shape.tablets) if name in shape.replicas(t)}
        primary = [t for t in range(shape.tablets) if shape.replicas(t)[0] == name]
        return Leaf(name, held, primary, slow)

    def cluster(self, query: q.Query, tablets: list[Columns], slow: frozenset[int],
                percent: int | None) -> Cluster:
        shape = Shape(len(tablets), self.leaves, self.fanout)
        servers: dict[str, Any] = {ROOT: lambda _: self.root(shape, query)}
        for name, leaves in shape.groups().items():
            servers[name] = lambda n, leaves=leaves: self.intermediate(n, leaves, query)
        for i in range(self.leaves):
            servers[leaf_name(i)] = lambda _, i=i: self.leaf(i, shape, tablets, slow)
        return Cluster(servers, {USER: User}, {USER: [("query", percent)]})

    def run(self, query: q.Query, tablets: list[Columns], slow: frozenset[int],
            percent: int | None = None, schedule: int = 0) -> Simulation:
        """Run the tree on the engine until its user has an answer, or nothing more can
        happen. `schedule` seeds the order in which messages and timers are taken."""
        sim = Simulation(self.cluster(query, tablets, slow, percent), schedule, epsilon=0,
                         budget={}, fifo=True)
        sim.start()
        walk = RandomWalk(schedule, swarm=False)
        for _ in range(MAX_STEPS):
            event = walk.next(sim)
            if event is None:
                break
            sim.execute(event)
        return sim


def answer_given(sim: Simulation) -> Answer | None:
    """The answer a run of the tree gave its user (None: it never came)."""
    return next((e.value for e in sim.history if e.type == "ok"), None)
