"""Transactional anomalies, Elle-style: infer who-saw-whom from the reads, then look for cycles.

A transaction is an `Operation` with `f == "txn"` whose args (and, once it completes `ok`, its
result) are micro-ops: `["append", k, v]` and `["r", k, list]` for list-append keys, where a read
returns the whole list; `["w", k, v]` and `["r", k, v]` for read-write registers. `fail` means
aborted; `info` means unknown — such a transaction counts as committed only once a read saw one
of its writes.

Values must be unique per key (the workload's job), so every value read names the transaction
that wrote it. For a list-append key every read is a prefix of the key's final list, hence the
longest read *is* the version order (reads that are not prefixes of each other are themselves
an anomaly, `incompatible-order`; the rest of the graph is still inferred and searched). For a
register key only what is known is used: the initial value (nil unless `initial` says
otherwise) precedes every write; with `writes_follow_reads`, a transaction that read v and then
wrote the key put its version after v; with `sequential_keys`, the versions one process saw or
wrote of a key, transaction after transaction, are in version order. Both options are off by
default, as in Elle.

From these, Adya's dependency graph over committed transactions: ww (b installed the version
right after a's), wr (b read a's version), rw (b installed the version right after the one a
read: a must come first), optionally process-order and real-time edges. Cycles are named as
Elle names them (`invariants/txn_cycles.py`): G0, G1c, G-single-item, G-nonadjacent-item,
G2-item, with a `-process` or `-realtime` suffix when they need an order edge. The other
anomalies (aborted, intermediate and garbage reads, dirty updates, lost updates, internal and
future reads, duplicated elements) need no cycle and are checked directly. Which anomalies a
level forbids is `LEVELS` (following the hierarchy Elle and jepsen.io/consistency publish).

A value the checker cannot read (an unknown micro-op, a micro-op that is not [f, key, value], a
key or value that cannot be compared) raises `MalformedTransaction`: nothing is skipped.

Every phase (reading the micro-ops, inferring the graph, searching for cycles) spends from one
budget, in wall-clock seconds and in steps. A step is one unit of work on the input: a micro-op
read, a value of a list read or of a version order examined, a dependency edge added or
followed, a transaction visited. Steps are deterministic, so simulations budget in steps and a
hunt's verdicts do not depend on the machine; seconds suit people. Both are looked at wherever
the work is, and a spent budget answers `unknown`.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import networkx as nx

from invariants import txn_cycles as cycles
from invariants.budget import Budget, BudgetSpent, MalformedOperation
from invariants.history import FAIL, INFO, OK, Operation
from invariants.txn_cycles import PROCESS as _PROCESS_BIT
from invariants.txn_cycles import REALTIME as _REALTIME_BIT
from invariants.txn_cycles import RW as _RW_BIT
from invariants.txn_cycles import WR as _WR_BIT
from invariants.txn_cycles import WW as _WW_BIT
from invariants.verdict import Verdict, passed, unknown, violated

TXN = "txn"
READ, APPEND, WRITE = "r", "append", "w"
MICRO_OPS = (READ, APPEND, WRITE)
WW, WR, RW, PROCESS, REALTIME = "ww", "wr", "rw", "process", "realtime"
_BITS = {WW: _WW_BIT, WR: _WR_BIT, RW: _RW_BIT, PROCESS: _PROCESS_BIT, REALTIME: _REALTIME_BIT}
_DATA_BITS = (_WW_BIT, _WR_BIT, _RW_BIT)

# -- levels --------------------------------------------------------------------------------

_VARIANTS = ("", "-process", "-realtime")


def _cycles_up_to(weakest: str) -> frozenset[str]:
    """Every cycle type at least as severe as `weakest`, with its order variants."""
    bases = cycles.CYCLE_BASES[:cycles.CYCLE_BASES.index(weakest) + 1]
    return frozenset(base + suffix for base in bases for suffix in _VARIANTS)


_READ_UNCOMMITTED = frozenset({"garbage-read", "duplicate-elements"}) | _cycles_up_to("G0")
_READ_COMMITTED = _READ_UNCOMMITTED | {"G1a", "G1b", "dirty-update", "incompatible-order",
                                       "future-read"} | _cycles_up_to("G1c")
_CURSOR_STABILITY = _READ_COMMITTED | {"lost-update"}
_READ_ATOMIC = _READ_COMMITTED | {"internal"}
_REPEATABLE_READ = _CURSOR_STABILITY | _cycles_up_to("G2-item")
_SNAPSHOT_ISOLATION = (_CURSOR_STABILITY | _READ_ATOMIC
                       | _cycles_up_to("G-nonadjacent-item"))
_SERIALIZABLE = _SNAPSHOT_ISOLATION | _REPEATABLE_READ
LEVELS: dict[str, frozenset[str]] = {
    "read-uncommitted": _READ_UNCOMMITTED,
    "read-committed": _READ_COMMITTED,
    "cursor-stability": _CURSOR_STABILITY,
    "read-atomic": _READ_ATOMIC,
    "repeatable-read": _REPEATABLE_READ,
    "snapshot-isolation": _SNAPSHOT_ISOLATION,
    "strong-session-snapshot-isolation": _SNAPSHOT_ISOLATION,
    "strong-snapshot-isolation": _SNAPSHOT_ISOLATION,
    "serializable": _SERIALIZABLE,
    "strong-session-serializable": _SERIALIZABLE,
    "strict-serializable": _SERIALIZABLE,
}
"""The anomalies each level forbids. A cycle's `-process` or `-realtime` variant is forbidden
with its base type; such cycles exist only when the graph has process or real-time edges,
which the strong-session levels (and `process_order`) and the strong and strict levels (and
`realtime`) add. Which anomaly each level forbids, and why, is tabled in
docs/history-format.md."""
PROCESS_LEVELS = frozenset({"strong-session-snapshot-isolation", "strong-session-serializable"})
REALTIME_LEVELS = frozenset({"strong-snapshot-isolation", "strict-serializable"})

CYCLE_MEANING = {
    "G0": "write cycle: the transactions' writes interleave",
    "G1c": "circular information flow: each transaction saw or overwrote the other's effects",
    "G-single-item": "read skew: a cycle with exactly one anti-dependency (rw)",
    "G-nonadjacent-item": "a cycle whose anti-dependencies (rw) are never consecutive, which "
                          "snapshot isolation forbids",
    "G2-item": "write skew: a cycle with two consecutive anti-dependencies (rw)",
}
_REPORTED_PER_TYPE = 20
_SPEND_EVERY = 1024  # steps a loop over the history gathers before spending them at once
_EXPLAINED = 10
_SHOWN_CHARS = 60  # of a malformed value, in messages


def txn_op(id_: int, mops: Sequence[Sequence], *, status: str = OK, process: str | None = None,
           call: int = 0, ret: int | None = 1) -> Operation:
    """A transaction for tests: `mops` as completed, reads carrying what they saw.

    The args are the same micro-ops with the read values blanked; only an `ok` transaction has
    a result. By default every transaction overlaps every other in real time.
    """
    args = [[f, key, None if f == READ else value] for f, key, value in mops]
    result = [list(mop) for mop in mops] if status == OK else None
    return Operation(id_, process or f"p{id_}", TXN, args, result, status, call,
                     None if status == INFO else ret)


class Options(NamedTuple):
    """What Elle leaves optional, with Elle's defaults.

    `initial`: a register's value before any write (reading it is reading the initial version,
    not garbage). `writes_follow_reads`: a transaction that read a register and then wrote it
    installed the version right after the one it read. `sequential_keys`: each key is
    sequentially consistent, so the versions a process reads or writes of it, transaction after
    transaction, follow each other in version order.
    """

    initial: Any = None
    writes_follow_reads: bool = False
    sequential_keys: bool = False


def check_transactions(ops: Iterable[Operation], level: str = "serializable", *,
                       realtime: bool = False, process_order: bool = False,
                       max_seconds: float | None = 10.0, max_steps: int | None = None,
                       max_cycles: int = 20, initial: Any = None,
                       writes_follow_reads: bool = False,
                       sequential_keys: bool = False) -> Verdict:
    """Check the `txn` operations among `ops` against an isolation level (see `LEVELS`).

    The strong and strict levels add real-time edges (as does `realtime=True` at any level),
    the strong-session levels process-order edges (as does `process_order=True`): edges
    between consecutive transactions of one process. Every strongly connected component of the
    graph is searched for every forbidden cycle type; at most `max_cycles` cycles are kept in
    the witness (every type found is counted). The whole check spends at most `max_seconds`
    and `max_steps` (None: no such limit; steps are defined above); once either runs out the
    answer is `unknown`, unless a forbidden anomaly was already certain. `initial`,
    `writes_follow_reads` and `sequential_keys` are the `Options`. Raises
    `MalformedTransaction` for a txn value it cannot read.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    budget = Budget(max_seconds, max_steps)
    options = Options(initial, writes_follow_reads, sequential_keys)
    with _collector_paused():
        return _check(list(ops), level, realtime or level in REALTIME_LEVELS,
                      process_order or level in PROCESS_LEVELS, budget, max_cycles, options)


def _check(ops: list[Operation], level: str, realtime: bool, process_order: bool,
           budget: Budget, max_cycles: int, options: Options) -> Verdict:
    """The check proper; the history's indexes are freed when it returns, before the garbage
    collector resumes (else resuming it would trace them all)."""
    try:
        history = _History(ops, realtime=realtime, process_order=process_order, budget=budget,
                           options=options)
        search = _search_cycles(history, LEVELS[level], budget, max_cycles)
    except _Ambiguous as why:
        return unknown(level, f"cannot attribute reads to writes: {why}")
    except BudgetSpent as spent:
        return unknown(level, f"{spent} before the dependency graph was inferred and "
                              f"searched: no verdict")
    return _verdict(level, history, search, budget)


def transactional(level: str = "serializable", **budget: Any) -> Callable[[list[Operation]],
                                                                         Verdict]:
    """The check as a history invariant: `transactional("snapshot-isolation")(ops) -> Verdict`."""
    def check(ops: list[Operation]) -> Verdict:
        return check_transactions(ops, level, **budget)
    check.__name__ = level.replace("-", "_")
    return check


def dependency_graph(ops: Iterable[Operation], *, realtime: bool = False,
                     process_order: bool = False, **options: Any) -> nx.DiGraph:
    """The inferred graph over committed transactions (ids as nodes).

    Each edge carries `types` and `deps`: one `{"type", "key", "why"}` per edge type that
    justifies it. Raises ValueError if a value was written twice to a key.
    """
    history = _History(list(ops), realtime=realtime, process_order=process_order,
                       budget=Budget(None, None), options=Options(**options))
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(history.nodes))
    reasons = history.reasons({(a, b, bit) for a, out in history.succ.items()
                               for b, kinds in out.items() for bit in _DATA_BITS if kinds & bit})
    for a, out in history.succ.items():
        for b in out:
            if a in history.nodes and b in history.nodes:
                deps = history.deps_of(a, b, reasons)
                graph.add_edge(a, b, types=sorted(dep.type for dep in deps),
                               deps=[_dep_json(dep, a, b) for dep in deps])
    return graph


def realtime_precedence(intervals: Iterable[tuple[int, int, int | None]]) -> list[tuple[int, int]]:
    """Edges whose transitive closure is real-time precedence among (id, call, ret) intervals.

    a precedes b when a returned strictly before b was called; `ret=None` never returned, so
    precedes nothing. Each op gets edges from the completed ops no later completion has
    superseded (Elle's trick), so there are about n x concurrency edges instead of n^2.
    """
    return [(a, b) for b, before in _realtime_predecessors(intervals) for a in before]


def _realtime_predecessors(intervals: Iterable[tuple[int, int, int | None]]
                           ) -> Iterator[tuple[int, list[int]]]:
    """For each op (as it is called), the completed ops it gets real-time edges from.

    Calls and returns are swept in time order, ties by id; at equal times calls come first:
    touching intervals are concurrent."""
    by_id = sorted(intervals)
    calls = sorted(by_id, key=itemgetter(1))  # stable: ties stay in id order
    returns = sorted((interval for interval in by_id if interval[2] is not None),
                     key=itemgetter(2))
    frontier: dict[int, None] = {}  # completed ops with no successor yet
    running: dict[int, list[int]] = {}  # called, not yet returned -> its predecessors
    returned = 0
    for id_, call, _ in calls:
        while returned < len(returns) and returns[returned][2] < call:
            done = returns[returned][0]
            returned += 1
            for earlier in running.pop(done):
                frontier.pop(earlier, None)  # reachable through done from now on
            frontier[done] = None
        before = running[id_] = list(frontier)
        yield id_, before


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, which would otherwise rescan the history's millions
    of list references every few thousand allocations (3-4x slower); the check makes no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Dep(NamedTuple):
    """Why an edge exists: its type, the key, and the facts (`detail[0]` says which kind)."""

    type: str
    key: Any
    detail: tuple


_Link = Callable[[int, int, int, tuple], None]  # a, b, the edge's kind (bit), its reason
_Reasons = dict[tuple[int, int, int], tuple]  # (a, b, bit) -> (key, *detail) of its `_Dep`


class _Read(NamedTuple):
    """A list-append read by a committed transaction."""

    txn: int
    index: int  # position of the read among its transaction's micro-ops
    value: list


class _RegisterRead(NamedTuple):
    key: Any
    value: Any
    index: int


class MalformedTransaction(MalformedOperation):
    """A txn operation whose value the checker cannot read."""


class _Ambiguous(ValueError):
    """A value was written twice, so a read of it cannot name its writer."""


_SIMPLE = (str, int)  # keys and values checked without hashing (bool is an int too)
_SEQUENCES = (list, tuple)
_WRITES = (APPEND, WRITE)
_KEY = itemgetter(1)  # of a micro-op


def _plainly_readable(mops: list | tuple) -> bool:
    """Whether every micro-op is [f, key, value] with a known f and plain (str or int) key
    and written value: the common case, told without `_micro_op_problem`'s hashing."""
    for mop in mops:
        if type(mop) not in _SEQUENCES or len(mop) != 3:
            return False
        f, key, value = mop
        if type(key) not in _SIMPLE or not (f == READ or (f in _WRITES
                                                          and type(value) in _SIMPLE)):
            return False
    return True


class _Batched:
    """Steps a loop over the history counts as it goes, spent `_SPEND_EVERY` at a time (a
    spend per operation cost more than the operation's own work); `done` spends the rest."""

    def __init__(self, budget: Budget) -> None:
        self.budget, self.steps = budget, 0

    def add(self, steps: int) -> None:
        self.steps += steps
        if self.steps >= _SPEND_EVERY:
            self.budget.spend(self.steps)
            self.steps = 0

    def done(self) -> None:
        self.budget.spend(self.steps)


class _History:
    """Everything inferred from one history: writers, version orders, anomalies, edges."""

    def __init__(self, ops: list[Operation], *, realtime: bool, process_order: bool,
                 budget: Budget, options: Options) -> None:
        self.budget, self.options = budget, options
        self.ops = {op.id: op for op in ops if op.f == TXN}
        self.mops = self._read_micro_ops()
        self.committed = [id_ for id_, op in self.ops.items() if op.status == OK]
        self.anomalies: list[dict] = []
        self.succ: dict[int, dict[int, int]] = defaultdict(dict)  # a -> b -> kinds (bits)
        self.present = ((_REALTIME_BIT if realtime else 0)
                        | (_PROCESS_BIT if process_order else 0))
        self._index_writes()
        self.intermediate = self._intermediate_values()
        self._collect_reads()
        self.observed: dict[Any, set] = defaultdict(set)  # key -> values read, writer known
        self.order: dict[Any, list] = {}  # list key -> version order all reads agree on
        self.position: dict[Any, dict[Any, int]] = {}
        self.complete_order: set[Any] = set()  # list keys whose reads are mutually compatible
        self.read_keys = sorted(self.list_reads, key=repr)  # list keys read, in a stable order
        for key in self.read_keys:
            self._infer_list_order(key)
        self.budget.spend(len(self.register_reads))
        for reads in self.register_reads.values():
            for read in reads:
                self.observed[read.key].add(read.value)
        self.seen_unknown = self._seen_unknowns()
        self.nodes = set(self.committed) | set(self.seen_unknown)
        self._check_intermediate_reads()
        self._check_register_reads()
        self._data_edges(self._link, self.budget)
        self._check_within_transactions()
        if process_order:
            self._process_edges()
        if realtime:
            self._realtime_edges()

    # -- what each transaction did -----------------------------------------------------

    def _read_micro_ops(self) -> dict[int, list]:
        """Each transaction's micro-ops: as completed if `ok`; otherwise the invoked writes
        (what the reads saw is unknown).

        Both the invocation's micro-ops and the completion's are read whole, so that nothing
        the checker cannot interpret passes unseen.
        """
        mops = {}
        spent = _Batched(self.budget)
        for id_, op in self.ops.items():
            invoked = self._parsed(op, op.args, in_completion=False)
            spent.add(len(invoked) + 1)
            if op.status == OK:
                mops[id_] = self._parsed(op, op.result, in_completion=True)
                spent.add(len(mops[id_]) + 1)
            else:
                mops[id_] = [mop for mop in invoked if mop[0] != READ]
        spent.done()
        return mops

    def _parsed(self, op: Operation, value: Any, in_completion: bool) -> list:
        if not isinstance(value, (list, tuple)):
            raise MalformedTransaction(op, in_completion, f"expected a list of micro-ops "
                                       f"[f, key, value], found {_brief(value)}")
        if not _plainly_readable(value):
            for index, mop in enumerate(value):
                problem = _micro_op_problem(mop)
                if problem is not None:
                    raise MalformedTransaction(op, in_completion, f"micro-op {index} {problem}")
        return value

    def _seen_unknowns(self) -> list[int]:
        """The transactions of unknown outcome some of whose writes were seen: committed."""
        self.budget.spend(len(self.writer))
        return [id_ for id_, op in self.ops.items()
                if op.status == INFO and any(value in self.observed.get(key, ())
                                             for _, key, value in self.mops[id_])]

    # -- who wrote what --------------------------------------------------------------------

    def _index_writes(self) -> None:
        self.writer: dict[tuple[Any, Any], int] = {}  # (key, value) -> ok or info txn
        self.failed_writer: dict[tuple[Any, Any], int] = {}
        self.appends: dict[tuple[int, Any], list] = {}  # (txn, key) -> values, in order
        self.last_write: dict[tuple[int, Any], Any] = {}  # (txn, key) -> its final value
        self.list_keys: set[Any] = set()
        self.register_keys: set[Any] = set()
        writer, failed, appends, last_write = (self.writer, self.failed_writer, self.appends,
                                               self.last_write)
        list_keys, register_keys, initial = self.list_keys, self.register_keys, self.options.initial
        self.budget.spend(sum(map(len, self.mops.values())))
        for id_, op in self.ops.items():
            aborted = op.status == FAIL
            index = failed if aborted else writer
            for f, key, value in self.mops[id_]:
                if f == READ:
                    continue
                txn_key = (id_, key)
                if f == APPEND:
                    list_keys.add(key)
                    if not aborted:
                        if txn_key in appends:
                            appends[txn_key].append(value)
                        else:
                            appends[txn_key] = [value]
                else:
                    register_keys.add(key)
                    if value == initial:
                        raise _Ambiguous(f"T{id_} wrote {_show(value)} to {_key(key)}, which "
                                         f"reads cannot tell from the initial value")
                pair = (key, value)
                if pair in writer or pair in failed:
                    other = writer.get(pair, failed.get(pair))
                    if other != id_ or f == APPEND:
                        raise _Ambiguous(f"{value!r} was written to {_key(key)} by both "
                                         f"T{other} and T{id_}; values must be unique per key")
                index[pair] = id_
                last_write[txn_key] = value
        both = self.list_keys & self.register_keys
        if both:
            raise _Ambiguous(f"key {_key(min(both, key=repr))} is both appended to and written")

    def _intermediate_values(self) -> dict[Any, set]:
        """Per list key, the values a transaction followed with another append to the key:
        only a read ending in one of these can be an intermediate read (`_check_intermediate`)."""
        intermediate: dict[Any, set] = defaultdict(set)
        for (_, key), values in self.appends.items():
            if len(values) > 1:
                intermediate[key].update(values[:-1])
        return intermediate

    def _collect_reads(self) -> None:
        """Reads of committed transactions, by key; list reads normalised to lists.

        Only a transaction that touches some key twice can contradict itself (internal and
        future reads, lost updates), so only those (`revisiting`) have their list reads
        indexed by position too (`read_at`). Reads ending in a value whose writer appended to
        the key again after it are `ending_early`: the candidates for intermediate reads."""
        self.list_reads: dict[Any, list[_Read]] = defaultdict(list)
        self.ending_early: dict[Any, list[_Read]] = defaultdict(list)
        self.register_reads: dict[int, list[_RegisterRead]] = defaultdict(list)
        self.read_at: dict[tuple[int, int], _Read] = {}
        self.revisiting: list[int] = []
        register_keys, list_keys, list_reads = self.register_keys, self.list_keys, self.list_reads
        intermediate = self.intermediate
        spent = _Batched(self.budget)
        for id_ in self.committed:
            mops = self.mops[id_]
            steps = len(mops)
            revisits = len(mops) > 1 and len(set(map(_KEY, mops))) != len(mops)
            if revisits:
                self.revisiting.append(id_)
            for index, (f, key, value) in enumerate(mops):
                if f != READ:
                    continue
                if key in register_keys or (key not in list_keys and not isinstance(
                        value, (list, tuple, type(None)))):
                    self._check_register_read(id_, index, key, value)
                    self.register_reads[id_].append(_RegisterRead(key, value, index))
                    continue
                if type(value) is not list:
                    value = self._list_read_value(id_, index, key, value)
                steps += len(value)
                try:
                    hash(tuple(value))
                except TypeError:
                    self._check_list_elements(id_, index, key, value)
                read = _Read(id_, index, value)
                list_reads[key].append(read)
                if value and value[-1] in intermediate.get(key, ()):
                    self.ending_early[key].append(read)
                if revisits:
                    self.read_at[(id_, index)] = read
            spent.add(steps)
        spent.done()

    def _check_register_read(self, id_: int, index: int, key: Any, value: Any) -> None:
        if not _comparable(value):
            raise MalformedTransaction(self.ops[id_], True, f"micro-op {index} read register "
                                       f"{_key(key)} and returned {_brief(value)}, which "
                                       f"cannot be compared (expected one value)")

    def _list_read_value(self, id_: int, index: int, key: Any, value: Any) -> list:
        if not isinstance(value, (list, tuple, type(None))):
            raise MalformedTransaction(self.ops[id_], True, f"micro-op {index} read "
                                       f"{_key(key)}, which is appended to, and returned "
                                       f"{_brief(value)}: expected a list")
        return list(value or ())

    def _check_list_elements(self, id_: int, index: int, key: Any, value: list) -> None:
        for element in value:
            if type(element) not in _SIMPLE and not _comparable(element):
                raise MalformedTransaction(self.ops[id_], True, f"micro-op {index} read "
                                           f"{_key(key)}={_brief(value)}, whose elements "
                                           f"cannot all be compared (lists or maps inside)")

    # -- list-append keys ------------------------------------------------------------------

    def _infer_list_order(self, key: Any) -> None:
        """The version order of `key`: its longest read, if every read is a prefix of it."""
        reads = self.list_reads[key]
        self.budget.spend(len(reads))
        lengths = [len(read.value) for read in reads]
        longest = reads[lengths.index(max(lengths))]
        full = longest.value
        clashing = [read for read, length in zip(reads, lengths) if full[:length] != read.value]
        self.budget.spend(sum(lengths))
        agreed = len(full)
        for read in clashing:
            agreed = min(agreed, _common_prefix(full, read.value))
        order = self.order[key] = full[:agreed]
        self.budget.spend(agreed)
        # each value's first position: the last one written to the dict wins
        self.position[key] = dict(zip(reversed(order), range(agreed - 1, -1, -1)))
        if not clashing:
            self.complete_order.add(key)
        for read in clashing[:_REPORTED_PER_TYPE]:
            self._report("incompatible-order", key, [longest.txn, read.txn],
                         f"T{longest.txn} read {_key(key)}={_show(full)} and T{read.txn} read "
                         f"{_key(key)}={_show(read.value)}: neither is a prefix of the other, so "
                         f"no single order of appends explains both (incompatible order)")
        self._check_list_values(key, reads, full, clashing)

    def _check_list_values(self, key: Any, reads: list[_Read], full: list,
                           clashing: list[_Read]) -> None:
        """Every value read must be appended once, by a transaction that did not fail.

        Compatible reads are prefixes of `full`, so only `full` and the clashing reads need a
        look; a bad value is blamed on the first (shortest) read that contains it.
        """
        for sequence in [full] + [read.value for read in clashing]:
            self.budget.spend(len(sequence))
            pairs = zip(itertools.repeat(key), sequence)  # (key, value), as indexed
            if len(set(sequence)) == len(sequence) and all(map(self.writer.__contains__, pairs)):
                self.observed[key].update(sequence)
                continue
            self._check_sequence(key, reads, sequence, clashing)

    def _check_sequence(self, key: Any, reads: list[_Read], sequence: list,
                        clashing: list[_Read]) -> None:
        """The slow path of `_check_list_values`, for a sequence with a bad value."""
        clashing_ids = {id(read) for read in clashing}
        compatible = sorted((read for read in reads if id(read) not in clashing_ids),
                            key=lambda read: len(read.value))
        own = next((read for read in clashing if read.value is sequence), None)
        counts: dict[Any, int] = {}
        dirty = None  # the first value read that a failed transaction appended
        for i, value in enumerate(sequence):
            counts[value] = counts.get(value, 0) + 1
            reader = own or next(read for read in compatible if len(read.value) > i)
            if counts[value] == 2:
                self._report("duplicate-elements", key, [reader.txn],
                             f"T{reader.txn} read {_key(key)}={_show(reader.value)}, in which "
                             f"{value!r} appears more than once, yet it was appended once "
                             f"(duplicate elements)")
            if counts[value] != 1:
                continue
            if (key, value) in self.writer:
                self.observed[key].add(value)
                if dirty is not None:
                    self._dirty_update(key, dirty, value, reader)
                    dirty = None
            elif self._check_unwritten(key, value, reader) and dirty is None:
                dirty = value

    def _check_unwritten(self, key: Any, value: Any, reader: _Read) -> bool:
        """Report a value no committed or unknown transaction wrote; True if one failed."""
        failed = self.failed_writer.get((key, value))
        read = f"T{reader.txn} read {_key(key)}={_show(reader.value)}"
        if failed is not None:
            self._report("G1a", key, [reader.txn, failed],
                         f"{read}, but {value!r} was appended by T{failed}, which failed "
                         f"(aborted read, G1a)")
            return True
        self._report("garbage-read", key, [reader.txn],
                     f"{read}, but no transaction ever appended {value!r} to {_key(key)} "
                     f"(garbage read)")
        return False

    def _dirty_update(self, key: Any, aborted: Any, value: Any, reader: _Read) -> None:
        failed, writer = self.failed_writer[(key, aborted)], self.writer[(key, value)]
        self._report("dirty-update", key, [reader.txn, failed, writer],
                     f"T{reader.txn} read {_key(key)}={_show(reader.value)}: T{writer}'s "
                     f"{value!r} follows {aborted!r}, appended by T{failed}, which failed, so "
                     f"T{writer}'s update built on aborted state (dirty update)")

    def _data_edges(self, link: _Link, budget: Budget,
                    list_keys: Container | None = None) -> None:
        """Every ww, wr and rw edge, handed to `link` with its reason as inference finds it;
        given `list_keys`, of the list-append keys' edges only theirs.

        The check links the edges and keeps no reason: a history has hundreds of thousands of
        edges and a verdict explains a few. `reasons` runs this again for the keys those few
        edges' ends share, keeping each edge's first reason, as keeping them all would have.
        """
        for key in self.read_keys:
            if list_keys is None or key in list_keys:
                self._list_edges(key, link, budget)
        self._unobserved_append_edges(link, budget, list_keys)
        self._register_edges(link, budget)

    def _list_edges(self, key: Any, link: _Link, budget: Budget) -> None:
        """ww between consecutive versions; wr from the writer of the last value a read saw,
        rw to the writer of the next one. The positions of the versions written by graph
        nodes are computed once per key, so each read costs the same whatever its length."""
        order, reads = self.order[key], self.list_reads[key]
        budget.spend(len(order) + len(reads))
        writers = self._node_writers(key, order)
        written = [i for i, writer in enumerate(writers) if writer is not None]
        for i, j in itertools.pairwise(written):
            link(writers[i], writers[j], _WW_BIT, (key, "next-append", order[i], order[j]))
        complete = key in self.complete_order
        for read in reads:
            seen = read.value
            length = len(seen)
            if complete or (length <= len(order) and order[:length] == seen):
                after = bisect.bisect_left(written, length)  # written[after]: the next version
                if after:
                    i = written[after - 1]
                    link(writers[i], read.txn, _WR_BIT, (key, "read-append", seen, order[i]))
                if after < len(written):
                    i = written[after]
                    link(read.txn, writers[i], _RW_BIT,
                         (key, "read-before-append", seen, order[i]))
            else:
                self._clashing_read_source(key, read, link, budget)

    def _clashing_read_source(self, key: Any, read: _Read, link: _Link,
                              budget: Budget) -> None:
        """wr for a read that is not a prefix of the agreed order: from its last value's
        writer, which it certainly saw."""
        budget.spend(len(read.value))
        for value in reversed(read.value):
            writer = self._node_writer(key, value)
            if writer is not None:
                link(writer, read.txn, _WR_BIT, (key, "read-append", read.value, value))
                return

    def _check_intermediate_reads(self) -> None:
        """Intermediate reads of list keys (`_check_intermediate`), key by key."""
        for key in self.read_keys:
            for read in self.ending_early.get(key, ()):
                self._check_intermediate(key, read)

    def _check_intermediate(self, key: Any, read: _Read) -> None:
        value = read.value[-1]
        writer = self.writer.get((key, value))
        if writer is None or writer == read.txn or self.last_write[(writer, key)] == value:
            return
        self._report("G1b", key, [read.txn, writer],
                     f"T{read.txn} read {_key(key)}={_show(read.value)}, ending in {value!r}, "
                     f"which T{writer} followed with more appends to {_key(key)} "
                     f"({_show(self.appends[(writer, key)])}): an intermediate state "
                     f"(intermediate read, G1b)")

    def _unobserved_append_edges(self, link: _Link, budget: Budget,
                                 list_keys: Container | None) -> None:
        """A committed append no read saw comes after every value read (reads are prefixes).

        So it follows the last value's writer (ww) and the transactions that read the whole
        order (rw); readers of shorter prefixes already precede those through rw and ww edges.
        """
        tails: dict[Any, tuple[Any, list[_Read]]] = {}
        budget.spend(len(self.appends))
        complete, observed = self.complete_order, self.observed
        for (id_, key), values in self.appends.items():
            if key not in complete or id_ not in self.nodes or not (
                    list_keys is None or key in list_keys):
                continue
            seen = observed[key]
            if seen.issuperset(values):
                continue
            unseen = [value for value in values if value not in seen]
            if key not in tails:
                tails[key] = self._order_tail(key, budget)
            last, full_readers = tails[key]
            if last is not None:
                link(self.writer[(key, last)], id_, _WW_BIT,
                     (key, "after-observed", last, unseen[0]))
            budget.spend(len(full_readers))
            for read in full_readers:
                link(read.txn, id_, _RW_BIT,
                     (key, "read-before-unseen-append", read.value, unseen[0]))

    def _order_tail(self, key: Any, budget: Budget) -> tuple[Any, list[_Read]]:
        """The last value of `key`'s order that a committed transaction wrote (None if none),
        and the reads that saw the whole order."""
        order = self.order.get(key, [])
        budget.spend(len(order) + len(self.list_reads.get(key, ())))
        last = next((value for value in reversed(order)
                     if self._node_writer(key, value) is not None), None)
        return last, [read for read in self.list_reads.get(key, ())
                      if len(read.value) == len(order)]

    def _node_writer(self, key: Any, value: Any) -> int | None:
        writer = self.writer.get((key, value))
        return writer if writer in self.nodes else None

    def _node_writers(self, key: Any, values: list) -> list[int | None]:
        """`_node_writer` of each value, in one pass (a key's whole version order)."""
        nodes = self.nodes
        return [writer if writer in nodes else None
                for writer in map(self.writer.get, zip(itertools.repeat(key), values))]

    # -- register keys ---------------------------------------------------------------------

    def _register_edges(self, link: _Link, budget: Budget) -> None:
        """wr from the writer of each value read; then edges from what is known of each
        register's version order: the initial value precedes every write, and each succession
        (`_successions`) puts one version after another: ww from the earlier version's writer,
        rw from its readers."""
        initial = self.options.initial
        readers: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        for id_, reads in self.register_reads.items():
            budget.spend(len(self.mops[id_]))
            for read in self._first_reads(id_, reads):
                readers[(read.key, read.value)].append(id_)
                writer = self.writer.get((read.key, read.value))
                if read.value != initial and writer is not None:
                    link(writer, id_, _WR_BIT, (read.key, "read-value", read.value))
        successions = list(self._successions(budget))
        first_writers = self._possibly_first_writers(successions, budget)
        for (key, value), ids in readers.items():
            if value != initial:
                continue
            for reader in ids:
                budget.spend(len(first_writers[key]) + 1)
                for writer in first_writers[key]:
                    link(reader, writer, _RW_BIT, (
                        key, "read-initial", initial, self.last_write[(writer, key)]))
        for key, earlier, later, why in successions:
            budget.spend(len(readers.get((key, earlier), ())) + 1)
            source, after = self._node_writer(key, earlier), self._node_writer(key, later)
            if after is None or earlier == initial:
                continue
            if source is not None:
                link(source, after, _WW_BIT, (key, why, earlier, later))
            for reader in readers.get((key, earlier), ()):
                link(reader, after, _RW_BIT, (key, why + "-overwrite", earlier, later))

    def _successions(self, budget: Budget) -> Iterator[tuple[Any, Any, Any, str]]:
        """(key, earlier version, later version, why) for what the options let us infer."""
        if self.options.writes_follow_reads:
            for id_, reads in self.register_reads.items():
                for read in self._first_reads(id_, reads):
                    if (id_, read.key) in self.last_write:
                        yield read.key, read.value, self.last_write[(id_, read.key)], "read-write"
        if self.options.sequential_keys:
            yield from self._process_successions(budget)

    def _process_successions(self, budget: Budget) -> Iterator[tuple[Any, Any, Any, str]]:
        """A process's successive versions of each register, transaction after transaction:
        the version its last transaction left it seeing, then the next one it saw or wrote."""
        by_process: dict[str, list[Operation]] = defaultdict(list)
        for id_ in self.committed:
            by_process[self.ops[id_].process].append(self.ops[id_])
        for ops in by_process.values():
            budget.spend(len(ops))
            current: dict[Any, Any] = {}  # key -> the last version this process saw or wrote
            for op in sorted(ops, key=lambda op: (op.call, op.id)):
                for key, first, last in self._register_versions(op.id):
                    if key in current and current[key] != first:
                        yield key, current[key], first, "sequential"
                    current[key] = last

    def _register_versions(self, id_: int) -> Iterator[tuple[Any, Any, Any]]:
        """(key, first version seen or written, last version) per register key of a txn."""
        first: dict[Any, Any] = {}
        last: dict[Any, Any] = {}
        for f, key, value in self.mops[id_]:
            if key in self.register_keys and f != APPEND:
                first.setdefault(key, value)
                last[key] = value
        return ((key, first[key], last[key]) for key in first)

    def _possibly_first_writers(self, successions: list[tuple[Any, Any, Any, str]],
                                budget: Budget) -> dict[Any, list[int]]:
        """Per register key, its committed writers except those known to overwrite another
        committed write: a reader of the initial value precedes these directly and the rest
        through ww edges."""
        budget.spend(len(self.last_write) + len(successions))
        follows = {(self.writer.get((key, later)), key)
                   for key, earlier, later, _ in successions
                   if self._node_writer(key, earlier) is not None}
        writers: dict[Any, list[int]] = defaultdict(list)
        for id_, key in self.last_write:
            if key in self.register_keys and id_ in self.nodes and (id_, key) not in follows:
                writers[key].append(id_)
        return writers

    def _first_reads(self, id_: int, reads: list[_RegisterRead]) -> Iterator[_RegisterRead]:
        """The reads that are their transaction's first access to the key: what it saw of
        others' writes."""
        first_access: dict[Any, int] = {}
        for index, (_, key, _) in enumerate(self.mops[id_]):
            first_access.setdefault(key, index)
        return (read for read in reads if first_access[read.key] == read.index)

    def _check_register_reads(self) -> None:
        """What each register read saw of others' writes must be a committed transaction's
        final write of the key."""
        initial = self.options.initial
        for id_, reads in self.register_reads.items():
            for read in self._first_reads(id_, reads):
                if read.value != initial:
                    self._check_register_read_source(id_, read)

    def _check_register_read_source(self, id_: int, read: _RegisterRead) -> None:
        key, value = read.key, read.value
        writer = self.writer.get((key, value))
        seen = f"T{id_} read {_key(key)}={value!r}"
        if writer is None:
            failed = self.failed_writer.get((key, value))
            if failed is not None:
                self._report("G1a", key, [id_, failed],
                             f"{seen}, but T{failed}, which wrote it, failed (aborted read, G1a)")
            else:
                self._report("garbage-read", key, [id_],
                             f"{seen}, but no transaction ever wrote that value (garbage read)")
        elif writer == id_:
            self._report("future-read", key, [id_],
                         f"{seen} before it wrote that value itself (future read)")
        elif self.last_write[(writer, key)] != value:
            self._report("G1b", key, [id_, writer],
                         f"{seen}, but T{writer} overwrote {value!r} with "
                         f"{self.last_write[(writer, key)]!r} in the same transaction "
                         f"(intermediate read, G1b)")

    # -- anomalies within one transaction --------------------------------------------------

    def _check_within_transactions(self) -> None:
        """Internal and future reads, appends seen out of order, lost updates: all need a
        transaction that touches some key twice, so the others are skipped."""
        updaters: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        shown: dict[tuple[Any, Any], Any] = {}
        self.budget.spend(sum(map(len, map(self.mops.__getitem__, self.committed))))
        for id_ in self.revisiting:
            mops = self.mops[id_]
            self._check_own_reads(id_)
            for key, version, seen in self._versions_read_first(id_):
                if (id_, key) in self.last_write:
                    updaters[(key, version)].append(id_)
                    shown.setdefault((key, version), seen)
            for key in dict.fromkeys(mop[1] for mop in mops if mop[0] == APPEND):
                if key in self.complete_order and len(self.appends[(id_, key)]) > 1:
                    self._check_append_order(id_, key, self.appends[(id_, key)])
        for id_ in self.seen_unknown:
            for key in dict.fromkeys(map(_KEY, self.mops[id_])):
                values = self.appends.get((id_, key), ())
                if len(values) > 1 and key in self.complete_order:
                    self._check_append_order(id_, key, values)
        for (key, version), ids in updaters.items():
            if len(ids) > 1:
                names = " and ".join(f"T{id_}" for id_ in ids)
                self._report("lost-update", key, ids,
                             f"{names} {'both' if len(ids) == 2 else 'all'} read "
                             f"{_key(key)}={_show(shown[(key, version)])} and then wrote "
                             f"{_key(key)}: whichever committed later never saw the other's "
                             f"update (lost update)")

    def _check_own_reads(self, id_: int) -> None:
        since_read: dict[Any, tuple[list, list]] = {}  # list key -> (last read, appends since)
        must_read: dict[Any, Any] = {}  # register key -> what a read must return now
        own: dict[Any, list] = defaultdict(list)  # list key -> own appends so far
        for index, (f, key, value) in enumerate(self.mops[id_]):
            if f == WRITE:
                must_read[key] = value
            elif f == APPEND:
                own[key].append(value)
                if key in since_read:
                    since_read[key][1].append(value)
            elif (read := self.read_at.get((id_, index))) is not None:
                self._check_own_list_read(read, key, since_read.get(key), own[key])
                since_read[key] = (read.value, [])
            else:
                if key in must_read and must_read[key] != value:
                    self._internal(id_, key, f"read {_key(key)}={value!r}, but it had just "
                                             f"seen or written {must_read[key]!r}")
                must_read[key] = value

    def _check_own_list_read(self, read: _Read, key: Any, since_read: tuple[list, list] | None,
                             own: list) -> None:
        """`since_read`: the transaction's previous read of the key and its appends since."""
        seen, id_ = read.value, read.txn
        if since_read is not None:
            before, appended = since_read
            if (len(seen) != len(before) + len(appended) or seen[len(before):] != appended
                    or seen[:len(before)] != before):
                self._internal(id_, key, f"read {_key(key)}={_show(seen)}, but its own earlier "
                                         f"reads and appends say {_key(key)}="
                                         f"{_show(before + appended)}")
        elif own and (len(seen) < len(own) or seen[len(seen) - len(own):] != own):
            self._internal(id_, key, f"read {_key(key)}={_show(seen)}, which does not end with "
                                     f"its own appends {_show(own)}")
        else:
            later = self.appends.get((id_, key), [])[len(own):]
            early = [value for value in later if self._contains(key, read, value)]
            if early:
                self._report("future-read", key, [id_],
                             f"T{id_} read {_key(key)}={_show(seen)}, which already contains "
                             f"{early[0]!r}, a value it only appends later (future read)")

    def _contains(self, key: Any, read: _Read, value: Any) -> bool:
        if key in self.complete_order:  # every read is a prefix of the order
            return self.position[key].get(value, len(read.value)) < len(read.value)
        return value in read.value

    def _check_append_order(self, id_: int, key: Any, values: list) -> None:
        """A transaction's appends to a key must be seen in the order it made them."""
        positions = [self.position[key].get(value) for value in values]
        seen = [p for p in positions if p is not None]
        gap = positions[:len(seen)] != seen
        if gap or any(a >= b for a, b in itertools.pairwise(seen)):
            shown = [value for _, value in sorted((p, v) for p, v in zip(positions, values)
                                                  if p is not None)]
            self._internal(id_, key, f"appended {_show(values)} to {_key(key)} in that "
                                     f"order, but reads show {_show(shown)}")

    def _internal(self, id_: int, key: Any, text: str) -> None:
        self._report("internal", key, [id_], f"T{id_} {text} (internal inconsistency)")

    def _versions_read_first(self, id_: int) -> Iterator[tuple[Any, Any, Any]]:
        """(key, version, value read) for each key the transaction read before writing.

        A list version is named by its last value (values are unique), a register's by itself.
        """
        accessed: set[Any] = set()
        for index, (f, key, value) in enumerate(self.mops[id_]):
            if key in accessed:
                continue
            accessed.add(key)
            if f != READ:
                continue
            read = self.read_at.get((id_, index))
            if read is not None:
                yield key, read.value[-1] if read.value else None, read.value
            else:
                yield key, value, value

    # -- order edges -----------------------------------------------------------------------

    def _process_edges(self) -> None:
        """Consecutive transactions of a process; only from ones that returned (`ok`)."""
        by_process: dict[str, list[Operation]] = defaultdict(list)
        self.budget.spend(len(self.ops))
        for op in self.ops.values():
            by_process[op.process].append(op)
        for ops in by_process.values():
            self.budget.spend(len(ops))
            last_ok = None
            for op in sorted(ops, key=lambda op: (op.call, op.id)):
                if last_ok is not None and op.id in self.nodes:
                    self._link(last_ok, op.id, _PROCESS_BIT)
                if op.status == OK:
                    last_ok = op.id

    def _realtime_edges(self) -> None:
        """Real-time precedence by positions in the history; explained with the times."""
        self.budget.spend(len(self.nodes))
        ops = self.ops
        intervals = [(id_, (op := ops[id_]).call, op.ret) for id_ in sorted(self.nodes)]
        succ = self.succ
        spent = _Batched(self.budget)
        for b, before in _realtime_predecessors(intervals):
            spent.add(len(before) + 1)
            for a in before:
                out = succ[a]
                out[b] = out.get(b, 0) | _REALTIME_BIT
        spent.done()

    # -- plumbing --------------------------------------------------------------------------

    def _link(self, a: int, b: int, bit: int, reason: tuple | None = None) -> None:
        """An edge a -> b of the kind `bit`. A data edge's reason, (key, *detail) of its
        `_Dep`, is not kept: `reasons` finds it again for the few edges explained."""
        if a != b:
            out = self.succ[a]
            out[b] = out.get(b, 0) | bit

    def reasons(self, edges: set[tuple[int, int, int]]) -> _Reasons:
        """The reason of each data edge (a, b, bit): the first one inference gives for it,
        inferring again the edges of the list keys both ends touched (and every register's).
        Spends from a budget of its own: what is explained does not change the check's steps."""
        if not edges:
            return {}
        first: _Reasons = {}

        def keep_first(a: int, b: int, bit: int, reason: tuple) -> None:
            if (a, b, bit) in edges and (a, b, bit) not in first:
                first[(a, b, bit)] = reason

        def keys(id_: int) -> set:
            return set(map(_KEY, self.mops[id_]))

        shared = {key for a, b, _ in edges for key in keys(a) & keys(b)}
        self._data_edges(keep_first, Budget(None, None), shared)
        return first

    def deps_of(self, a: int, b: int, reasons: _Reasons) -> list[_Dep]:
        """Why a -> b, one `_Dep` per edge type (`reasons` has its data edges')."""
        kinds = self.succ[a][b]
        return [self.dep(a, b, bit, reasons) for bit in _BITS.values() if kinds & bit]

    def dep(self, a: int, b: int, bit: int, reasons: _Reasons) -> _Dep:
        """Why a -> b has the kind `bit`: a data edge from its reason, an order edge from the
        ops."""
        if bit == _PROCESS_BIT:
            return _Dep(PROCESS, None, ("process", self.ops[a].process))
        if bit == _REALTIME_BIT:
            return _Dep(REALTIME, None, ("realtime", self.ops[a].ret_time,
                                         self.ops[b].call_time))
        key, *detail = reasons[(a, b, bit)]
        return _Dep(cycles.KIND_NAMES[bit], key, tuple(detail))

    def _report(self, kind: str, key: Any, txns: list[int], why: str) -> None:
        self.anomalies.append({"type": kind, "key": key, "txns": txns, "why": why,
                               "ops": [self.ops[id_].to_json() for id_ in dict.fromkeys(txns)]})

    def cyclic_part(self) -> set[int]:
        """What is left after repeatedly removing transactions without incoming edges.

        Every cycle survives, and an acyclic graph (the usual case) vanishes: Kahn's
        topological sort, cheaper than building a networkx graph of the whole history.
        """
        succ = self.succ
        self.budget.spend(len(self.nodes) + sum(map(len, succ.values())))
        incoming = dict.fromkeys(self.nodes, 0)
        incoming.update(Counter(itertools.chain.from_iterable(succ.values())))
        sources = [id_ for id_, count in incoming.items() if count == 0]
        empty: dict[int, int] = {}
        removed = 0  # transactions and edges, spent at the end: at most what was spent above
        while sources:
            out = succ.get(sources.pop(), empty)
            removed += len(out) + 1
            for b in out:
                left = incoming[b] - 1
                incoming[b] = left
                if not left:
                    sources.append(b)
        self.budget.spend(removed)
        return {id_ for id_, count in incoming.items() if count}


# -- cycle search ------------------------------------------------------------------------------

class _Search(NamedTuple):
    cycles: list[dict]  # forbidden cycles kept for the witness (at most max_cycles)
    counts: dict[str, int]  # forbidden cycle type -> components showing it
    allowed: list[str]  # the size of each component whose cycles are all allowed
    unresolved: list[str]  # why a component could not be decided


def _search_cycles(history: _History, forbidden: frozenset[str], budget: Budget,
                   max_cycles: int) -> _Search:
    """Every strongly connected component, searched for every forbidden cycle type."""
    cyclic = history.cyclic_part()
    succ = history.succ

    def successors(a: int) -> Iterator[int]:
        return (b for b in succ.get(a, {}) if b in cyclic)

    components = sorted((set(c) for c in cycles.strong_components(cyclic, successors, budget)
                         if len(c) > 1), key=lambda c: (len(c), min(c)))
    bases = tuple(base for base in cycles.CYCLE_BASES if base in forbidden)
    present = history.present
    search = _Search([], {}, [], [])
    kept: list[cycles.Cycle] = []
    for component in components:
        finder = cycles.ComponentSearch(succ, component, budget, present)
        try:
            found = finder.forbidden_cycles(bases) if bases else []
        except BudgetSpent as spent:
            if "G2-item" not in forbidden:
                search.unresolved.append(f"a component of {len(component)} transactions: "
                                         f"{spent}")
                continue
            found = [_walk_cycle(succ, component)]  # every cycle is forbidden: any will do
        if not found:
            search.allowed.append(f"{len(component)} transactions")
        for kind, cycle, kinds in found:
            search.counts[kind] = search.counts.get(kind, 0) + 1
            if len(kept) < max_cycles:
                kept.append((kind, cycle, kinds))
    reasons = history.reasons({(a, b, bit) for _, cycle, kinds in kept
                               for (a, b), bit in zip(_steps(cycle), kinds) if bit in _DATA_BITS})
    search.cycles.extend(_cycle_anomaly(history, *found, reasons) for found in kept)
    return search


def _walk_cycle(succ: dict[int, dict[int, int]], nodes: set[int]) -> tuple[str, list[int],
                                                                              list[int]]:
    """Some cycle, found without spending: walk from successor to successor inside the
    component (each node has one there) until a node repeats. Linear in the component,
    whose finding the budget already paid for; for when the budget is spent."""
    seen: dict[int, int] = {}
    path: list[int] = []
    node = min(nodes)
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(b for b in succ[node] if b in nodes)
    cycle = path[seen[node]:]
    kinds = [next(cycles._bits(succ[a][b])) for a, b in zip(cycle, cycle[1:] + cycle[:1])]
    return cycles.cycle_type(kinds), cycle, kinds


def _steps(cycle: list[int]) -> list[tuple[int, int]]:
    """The edges of a cycle, as (from, to)."""
    return list(zip(cycle, cycle[1:] + cycle[:1]))


def _cycle_anomaly(history: _History, kind: str, cycle: list[int], kinds: list[int],
                   reasons: _Reasons) -> dict:
    steps = _steps(cycle)
    deps = [history.dep(a, b, bit, reasons) for (a, b), bit in zip(steps, kinds)]
    edges = [{"from": a, "to": b, **_dep_json(dep, a, b)} for (a, b), dep in zip(steps, deps)]
    first, second = (f"T{id_}" for id_ in cycle[:2])
    if len(cycle) == 2:
        conclusion = f"so {first} must come both before and after {second}"
    else:
        via = ", ".join(f"T{id_}" for id_ in cycle[2:])
        conclusion = (f"so {first} must come before {second}, and {second} (via {via}) "
                      f"before {first}")
    story = "; ".join(edge["why"] for edge in edges)
    why = (f"{kind} ({CYCLE_MEANING[cycles.base_of(kind)]}): {story}; {conclusion}: no serial "
           f"order exists")
    return {"type": kind, "cycle": cycle, "edges": edges, "why": why,
            "ops": [history.ops[id_].to_json() for id_ in cycle]}


# -- the verdict -------------------------------------------------------------------------------

def _verdict(level: str, history: _History, search: _Search, budget: Budget) -> Verdict:
    forbidden = LEVELS[level]
    direct = [a for a in history.anomalies if a["type"] in forbidden]
    tolerated = [a["type"] for a in history.anomalies if a["type"] not in forbidden]
    found = _cap_per_type(direct) + search.cycles
    if found:
        counts = _counts([a["type"] for a in direct])
        counts.update(search.counts)
        lines = [f"not {level}: " + ", ".join(f"{kind} x{counts[kind]}"
                                              for kind in sorted(counts, key=_severity))]
        lines += [f"- {anomaly['why']}" for anomaly in found[:_EXPLAINED]]
        if len(found) > _EXPLAINED:
            lines.append(f"... and {len(found) - _EXPLAINED} more in the witness")
        shown = sum(1 for a in found if a.get("cycle"))
        if shown < sum(search.counts.values()):
            lines.append(f"({sum(search.counts.values()) - shown} more forbidden cycle(s) "
                         f"counted but not kept: max_cycles reached)")
        if search.unresolved:
            lines.append(f"({len(search.unresolved)} cyclic component(s) not decided: budget "
                         f"spent)")
        return violated(level, "\n".join(lines), found)
    summary = (f"{len(history.nodes)} committed transactions, "
               f"{sum(len(out) for out in history.succ.values())} dependency edges "
               f"({budget.steps} steps)")
    if search.unresolved:
        return unknown(level, f"{summary}; no forbidden anomaly found, but could not decide "
                              f"{len(search.unresolved)} cyclic component(s): "
                              + "; ".join(search.unresolved),
                       {"unresolved": search.unresolved})
    notes = []
    if tolerated:
        notes.append("allowed at this level: " + ", ".join(
            f"{kind} x{n}" for kind, n in _counts(tolerated).items()))
    if search.allowed:
        notes.append(f"cycles allowed at this level in {len(search.allowed)} component(s) "
                     f"({', '.join(search.allowed[:5])})")
    return passed(level, f"{summary}; no anomaly {level} forbids" +
                  "".join(f"; {note}" for note in notes))


def _severity(kind: str) -> tuple[int, int]:
    """Anomalies found without a cycle first, then cycles from G0 to G2-item."""
    base = cycles.base_of(kind)
    if base not in cycles.CYCLE_BASES:
        return (0, 0)
    return (1 + cycles.CYCLE_BASES.index(base), _VARIANTS.index(kind[len(base):]))


def _cap_per_type(anomalies: list[dict]) -> list[dict]:
    kept: dict[str, int] = defaultdict(int)
    capped = []
    for anomaly in anomalies:
        kept[anomaly["type"]] += 1
        if kept[anomaly["type"]] <= _REPORTED_PER_TYPE:
            capped.append(anomaly)
    return capped


def _counts(kinds: list[str]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for kind in kinds:
        tally[kind] = tally.get(kind, 0) + 1
    return tally


# -- words -------------------------------------------------------------------------------------

def _dep_json(dep: _Dep, a: int, b: int) -> dict:
    return {"type": dep.type, "key": dep.key, "why": _why(dep, f"T{a}", f"T{b}")}


def _why(dep: _Dep, a: str, b: str) -> str:
    key = _key(dep.key)
    match dep.detail:
        case ("next-append", previous, value):
            return f"{a} appended {previous!r} to {key} and {b} appended {value!r} right after (ww)"
        case ("after-observed", previous, value):
            return (f"{b} appended {value!r} to {key}, which no read saw, so after every value "
                    f"read, including {a}'s {previous!r} (ww)")
        case ("read-append", seen, value):
            return f"{b} read {key}={_show(seen)}, which includes {a}'s append of {value!r} (wr)"
        case ("read-before-append", seen, value):
            return f"{a} read {key}={_show(seen)} before {b} appended {value!r} (rw)"
        case ("read-before-unseen-append", seen, value):
            return (f"{a} read {key}={_show(seen)}, which lacks {b}'s append of {value!r} that no "
                    f"read ever saw (rw)")
        case ("read-write", seen, value):
            return f"{b} read {key}={seen!r}, written by {a}, then wrote {key}={value!r} (ww)"
        case ("sequential", seen, value):
            return (f"a process saw {key}={seen!r}, written by {a}, then in a later "
                    f"transaction {key}={value!r}, written by {b}: with sequential keys, "
                    f"{b}'s version comes after (ww)")
        case ("read-value", seen):
            return f"{b} read {key}={seen!r}, written by {a} (wr)"
        case ("read-write-overwrite" | "sequential-overwrite", seen, value):
            return f"{a} read {key}={seen!r} before {b} overwrote it with {value!r} (rw)"
        case ("read-initial", initial, value):
            return (f"{a} read {key}={_show(initial)} (the initial value) before {b} wrote "
                    f"{key}={value!r} (rw)")
        case ("process", process):
            return f"{a} completed before {b} began, both on process {process} (process)"
        case ("realtime", ret, call):
            return f"{a} returned at t={ret} before {b} was called at t={call} (realtime)"
    raise ValueError(f"unknown dependency {dep.detail[0]!r}")


def _micro_op_problem(mop: Any) -> str | None:
    """What is wrong with one micro-op, in words; None if the checker can read it. A read's
    value is checked once the key's kind (list or register) is known."""
    if not isinstance(mop, (list, tuple)) or len(mop) != 3:
        return f"is {_brief(mop)}: expected [f, key, value]"
    f, key, value = mop
    if not isinstance(f, str) or f not in MICRO_OPS:
        return (f"is {_brief(f)}, which this checker does not interpret: expected "
                f"{READ!r} (read), {APPEND!r} or {WRITE!r} (write)")
    if not _comparable(key):
        return f"has the key {_brief(key)}, which cannot be compared (a list or map)"
    if f != READ and not _comparable(value):
        return f"writes {_brief(value)}, which cannot be compared (a list or map)"
    return None


def _comparable(value: Any) -> bool:
    """Whether `value` can be a key or a version (hashable: no lists or maps inside)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _brief(value: Any) -> str:
    """A value for a message: its repr (printable), cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def _common_prefix(a: list, b: list) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _key(key: Any) -> str:
    """A key for humans: a plain name as itself, anything else (numbers, names with
    unprintable characters) as its repr, so that no key can break a line of the output."""
    return key if isinstance(key, str) and key.isprintable() and key else repr(key)


def _show(value: Any) -> str:
    """A value for humans: nil for None, long lists cut to their last few elements."""
    if value is None:
        return "nil"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return "[..., " + ", ".join(repr(v) for v in value[-3:]) + f"] ({len(value)} values)"
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def answers_match_requests(ops: Iterable[Operation],
                           problem: Callable[[Operation], str | None]) -> Verdict:
    """Every transaction answered `ok` was answered for what it asked; `problem(op)` says
    how one was not (None: it was)."""
    for op in ops:
        found = problem(op) if op.status == OK else None
        if found:
            return violated("answers-match-requests", f"{op.process}'s transaction {found}",
                            {"process": op.process, "args": op.args, "result": op.result})
    return passed("answers-match-requests", "every answer matches its request")
