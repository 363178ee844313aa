"""Transactional anomalies, Elle-style: infer who-saw-whom from the reads, then look for cycles.

A transaction is an `Operation` with `f == "txn"` whose args (and, once it completes `ok`, its
result) are micro-ops: `["append", k, v]` and `["r", k, list]` for list-append keys, where a read
returns the whole list; `["w", k, v]` and `["r", k, v]` for read-write registers. `fail` means
aborted; `info` means unknown — such a transaction counts as committed only once a read saw one
of its writes.

Values must be unique per key (the workload's job), so every value read names the transaction
that wrote it. For a list-append key every read is a prefix of the key's final list, hence the
longest read *is* the version order (reads that are not prefixes of each other are themselves
an anomaly). For a register key only what the reads prove is used: the initial value (nil)
precedes every write, and a transaction that read v and then wrote the key put its version
after v. Nothing else is guessed.

From these, Adya's dependency graph over committed transactions: ww (b installed the version
right after a's), wr (b read a's version), rw (b installed the version right after the one a
read: a must come first), optionally process-order and real-time edges. A serializable history
has an acyclic graph; which cycles a weaker level tolerates depends on their rw edges (G0: ww
only; G1c: ww and wr; G-single: exactly one rw; G2-item: two or more). The other anomalies
(aborted and intermediate reads, lost updates, garbage, ...) need no cycle and are checked
directly.

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
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import networkx as nx

from invariants.budget import Budget, BudgetSpent, MalformedOperation
from invariants.history import FAIL, INFO, OK, Operation
from invariants.verdict import Verdict, passed, unknown, violated

TXN = "txn"
READ, APPEND, WRITE = "r", "append", "w"
MICRO_OPS = (READ, APPEND, WRITE)
WW, WR, RW, PROCESS, REALTIME = "ww", "wr", "rw", "process", "realtime"

_INTEGRITY = frozenset({"garbage", "duplicate", "incompatible-order", "internal"})
_READ_COMMITTED = _INTEGRITY | {"G0", "G1a", "G1b", "G1c"}
_SNAPSHOT_ISOLATION = _READ_COMMITTED | {"G-single", "lost-update"}
_SERIALIZABLE = _SNAPSHOT_ISOLATION | {"G2-item"}
LEVELS: dict[str, frozenset[str]] = {
    "read-committed": _READ_COMMITTED,
    "snapshot-isolation": _SNAPSHOT_ISOLATION,
    "serializable": _SERIALIZABLE,
    "strict-serializable": _SERIALIZABLE,
}
"""The anomalies each level forbids. A cycle through process or real-time edges is named after
its data edges plus a suffix ("G-single-realtime") and is forbidden whenever its base is."""

CYCLE_MEANING = {
    "G0": "write cycle: the transactions' writes interleave",
    "G1c": "circular information flow: each transaction saw or overwrote the other's effects",
    "G-single": "read skew: a cycle with exactly one anti-dependency (rw)",
    "G2-item": "write skew: a cycle with two or more anti-dependencies (rw)",
}
_PREFERENCE = (WW, WR, PROCESS, REALTIME, RW)  # the edge type shown when an edge has several
_WITNESS_TRIES = 10  # candidate cycles compared when looking for a short witness
_MAX_REACH_NODES = 20_000  # the exact G-single search keeps a bitset per node of a component
_REPORTED_PER_TYPE = 20
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


def check_transactions(ops: Iterable[Operation], level: str = "serializable", *,
                       realtime: bool = False, process_order: bool = False,
                       max_seconds: float | None = 10.0, max_steps: int | None = None,
                       max_cycles: int = 20) -> Verdict:
    """Check the `txn` operations among `ops` against an isolation level (see `LEVELS`).

    `strict-serializable` adds real-time edges (as does `realtime=True` at any level);
    `process_order` adds edges between consecutive transactions of one process. The cycle
    search stops after `max_cycles` forbidden cycles. The whole check spends at most
    `max_seconds` and `max_steps` (None: no such limit; steps are defined above); once
    either runs out the answer is `unknown`, unless a forbidden anomaly was already certain.
    Raises `MalformedTransaction` for a txn value it cannot read.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    budget = Budget(max_seconds, max_steps)
    with _collector_paused():
        return _check(list(ops), level, realtime or level == "strict-serializable",
                      process_order, budget, max_cycles)


def _check(ops: list[Operation], level: str, realtime: bool, process_order: bool,
           budget: Budget, max_cycles: int) -> Verdict:
    """The check proper; the history's indexes are freed when it returns, before the garbage
    collector resumes (else resuming it would trace them all)."""
    try:
        history = _History(ops, realtime=realtime, process_order=process_order, budget=budget)
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
                     process_order: bool = False) -> nx.DiGraph:
    """The inferred graph over committed transactions (ids as nodes).

    Each edge carries `types` and `deps`: one `{"type", "key", "why"}` per edge type that
    justifies it. Raises ValueError if a value was written twice to a key.
    """
    history = _History(list(ops), realtime=realtime, process_order=process_order,
                       budget=Budget(None, None))
    graph = history.graph(history.nodes)
    for a, b, data in graph.edges(data=True):
        data["types"] = sorted(history.succ[a][b])
        data["deps"] = [_dep_json(dep, a, b) for dep in history.succ[a][b].values()]
    return graph


def realtime_precedence(intervals: Iterable[tuple[int, int, int | None]]) -> list[tuple[int, int]]:
    """Edges whose transitive closure is real-time precedence among (id, call, ret) intervals.

    a precedes b when a returned strictly before b was called; `ret=None` never returned, so
    precedes nothing. Each op gets edges from the completed ops no later completion has
    superseded (Elle's trick), so there are about n x concurrency edges instead of n^2.
    """
    return list(_realtime_edges(intervals))


def _realtime_edges(intervals: Iterable[tuple[int, int, int | None]]
                    ) -> Iterator[tuple[int, int]]:
    """`realtime_precedence`'s edges one at a time, so that their consumer can budget them."""
    events = []
    for id_, call, ret in intervals:
        events.append((call, 0, id_))
        if ret is not None:
            events.append((ret, 1, id_))
    events.sort()  # at equal times calls come first: touching intervals are concurrent
    frontier: dict[int, None] = {}  # completed ops with no successor yet
    before: dict[int, list[int]] = {}
    for _, is_return, id_ in events:
        if is_return:
            for done in before[id_]:
                frontier.pop(done, None)  # reachable through id_ from now on
            frontier[id_] = None
        else:
            before[id_] = list(frontier)
            yield from ((done, id_) for done in before[id_])


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



class _History:
    """Everything inferred from one history: writers, version orders, anomalies, edges."""

    def __init__(self, ops: list[Operation], *, realtime: bool, process_order: bool,
                 budget: Budget) -> None:
        self.budget = budget
        self.ops = {op.id: op for op in ops if op.f == TXN}
        self.mops = {id_: self._micro_ops(op) for id_, op in self.ops.items()}
        self.committed = [id_ for id_, op in self.ops.items() if op.status == OK]
        self.anomalies: list[dict] = []
        self.succ: dict[int, dict[int, dict[str, _Dep]]] = defaultdict(dict)
        self.order_types = frozenset(kind for kind, wanted in ((REALTIME, realtime),
                                                               (PROCESS, process_order))
                                     if wanted)
        self._index_writes()
        self._collect_reads()
        self.observed: set[tuple[Any, Any]] = set()
        self.order: dict[Any, list] = {}  # list key -> version order all reads agree on
        self.position: dict[Any, dict[Any, int]] = {}
        self.complete_order: set[Any] = set()  # list keys whose reads are mutually compatible
        for key in sorted(self.list_reads, key=repr):
            self._infer_list_order(key)
        self.budget.spend(len(self.register_reads))
        self.observed.update((read.key, read.value) for reads in self.register_reads.values()
                             for read in reads)
        self.budget.spend(len(self.writer))
        self.nodes = set(self.committed) | {
            id_ for (key, value), id_ in self.writer.items()
            if self.ops[id_].status == INFO and (key, value) in self.observed}
        for key in sorted(self.list_reads, key=repr):
            self._list_edges(key)
        self._unobserved_append_edges()
        self._register_edges()
        self._check_internal()
        self._check_lost_updates()
        if process_order:
            self._process_edges()
        if realtime:
            self._realtime_edges()

    # -- what each transaction did -----------------------------------------------------

    def _micro_ops(self, op: Operation) -> list[tuple[str, Any, Any]]:
        """As completed if `ok`; otherwise the invoked writes (what the reads saw is unknown).

        Both the invocation's micro-ops and the completion's are read whole, so that nothing
        the checker cannot interpret passes unseen.
        """
        invoked = self._parsed(op, op.args, in_completion=False)
        if op.status == OK:
            return self._parsed(op, op.result, in_completion=True)
        return [mop for mop in invoked if mop[0] != READ]

    def _parsed(self, op: Operation, value: Any, in_completion: bool
                ) -> list[tuple[str, Any, Any]]:
        if not isinstance(value, (list, tuple)):
            raise MalformedTransaction(op, in_completion, f"expected a list of micro-ops "
                                       f"[f, key, value], found {_brief(value)}")
        self.budget.spend(len(value) + 1)
        for index, mop in enumerate(value):
            problem = _micro_op_problem(mop)
            if problem is not None:
                raise MalformedTransaction(op, in_completion, f"micro-op {index} {problem}")
        return [tuple(mop) for mop in value]

    # -- who wrote what --------------------------------------------------------------------

    def _index_writes(self) -> None:
        self.writer: dict[tuple[Any, Any], int] = {}  # (key, value) -> ok or info txn
        self.failed_writer: dict[tuple[Any, Any], int] = {}
        self.appends: dict[tuple[int, Any], list] = defaultdict(list)  # (txn, key) -> values
        self.last_write: dict[tuple[int, Any], Any] = {}  # (txn, key) -> its final value
        self.list_keys: set[Any] = set()
        self.register_keys: set[Any] = set()
        for id_, op in self.ops.items():
            self.budget.spend(len(self.mops[id_]))
            for f, key, value in self.mops[id_]:
                if f not in (APPEND, WRITE):
                    continue
                (self.list_keys if f == APPEND else self.register_keys).add(key)
                self._claim(id_, f, key, value)
                if f == APPEND and op.status != FAIL:
                    self.appends[(id_, key)].append(value)
                self.last_write[(id_, key)] = value
        both = self.list_keys & self.register_keys
        if both:
            raise _Ambiguous(f"key {_key(min(both, key=repr))} is both appended to and written")

    def _claim(self, id_: int, f: str, key: Any, value: Any) -> None:
        if f == WRITE and value is None:
            raise _Ambiguous(f"T{id_} wrote nil to {_key(key)}, which reads cannot tell from "
                             f"the initial value")
        other = self.writer.get((key, value), self.failed_writer.get((key, value)))
        if other is not None and (other != id_ or f == APPEND):
            raise _Ambiguous(f"{value!r} was written to {_key(key)} by both T{other} and "
                             f"T{id_}; values must be unique per key")
        index = self.failed_writer if self.ops[id_].status == FAIL else self.writer
        index[(key, value)] = id_

    def _collect_reads(self) -> None:
        """Reads of committed transactions, by key; list reads normalised to lists."""
        self.list_reads: dict[Any, list[_Read]] = defaultdict(list)
        self.register_reads: dict[int, list[_RegisterRead]] = defaultdict(list)
        self.read_at: dict[tuple[int, int], _Read] = {}
        for id_ in self.committed:
            self.budget.spend(len(self.mops[id_]))
            for index, (f, key, value) in enumerate(self.mops[id_]):
                if f != READ:
                    continue
                if self._is_register(key, value):
                    self._check_register_read(id_, index, key, value)
                    self.register_reads[id_].append(_RegisterRead(key, value, index))
                    continue
                self._check_list_read(id_, index, key, value)
                read = _Read(id_, index, value if isinstance(value, list) else list(value or ()))
                self.list_reads[key].append(read)
                self.read_at[(id_, index)] = read

    def _is_register(self, key: Any, value: Any) -> bool:
        if key in self.register_keys:
            return True
        return key not in self.list_keys and not isinstance(value, (list, tuple, type(None)))

    def _check_register_read(self, id_: int, index: int, key: Any, value: Any) -> None:
        if not _comparable(value):
            raise MalformedTransaction(self.ops[id_], True, f"micro-op {index} read register "
                                       f"{_key(key)} and returned {_brief(value)}, which "
                                       f"cannot be compared (expected one value)")

    def _check_list_read(self, id_: int, index: int, key: Any, value: Any) -> None:
        if not isinstance(value, (list, tuple, type(None))):
            raise MalformedTransaction(self.ops[id_], True, f"micro-op {index} read "
                                       f"{_key(key)}, which is appended to, and returned "
                                       f"{_brief(value)}: expected a list")
        self.budget.spend(len(value or ()))
        if not _comparable(tuple(value or ())):
            raise MalformedTransaction(self.ops[id_], True, f"micro-op {index} read "
                                       f"{_key(key)}={_brief(value)}, whose elements cannot "
                                       f"all be compared (lists or maps inside)")

    # -- list-append keys ------------------------------------------------------------------

    def _infer_list_order(self, key: Any) -> None:
        """The version order of `key`: its longest read, if every read is a prefix of it."""
        reads = self.list_reads[key]
        self.budget.spend(len(reads))
        longest = max(reads, key=lambda read: len(read.value))
        full = longest.value
        clashing = []
        for read in reads:
            self.budget.spend(len(read.value))
            if full[:len(read.value)] != read.value:
                clashing.append(read)
        agreed = len(full)
        for read in clashing:
            self.budget.spend(len(read.value))
            agreed = min(agreed, _common_prefix(full, read.value))
        self.order[key] = full[:agreed]
        self.budget.spend(agreed)
        positions: dict[Any, int] = {}
        for i, value in enumerate(self.order[key]):
            positions.setdefault(value, i)
        self.position[key] = positions
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
        self.budget.spend(len(reads))
        clashing_at = {(read.txn, read.index) for read in clashing}
        compatible = sorted((read for read in reads if (read.txn, read.index) not in clashing_at),
                            key=lambda read: len(read.value))
        lengths = [len(read.value) for read in compatible]
        unwritten: set[Any] = set()
        duplicated: set[Any] = set()
        for sequence, first_reader in [(full, None)] + [(read.value, read) for read in clashing]:
            self.budget.spend(len(sequence))
            counts: dict[Any, int] = {}
            for i, value in enumerate(sequence):
                counts[value] = counts.get(value, 0) + 1
                reader = first_reader or compatible[bisect.bisect_right(lengths, i)]
                if counts[value] == 2 and value not in duplicated:
                    duplicated.add(value)
                    self._report("duplicate", key, [reader.txn],
                                 f"T{reader.txn} read {_key(key)}={_show(reader.value)}, in "
                                 f"which {value!r} appears more than once, yet it was appended "
                                 f"once (duplicate)")
                if (counts[value] == 1 and value not in unwritten
                        and not self._check_written(key, value, reader)):
                    unwritten.add(value)

    def _check_written(self, key: Any, value: Any, reader: _Read) -> bool:
        """Record `value` as observed, or report it as aborted or garbage (returns False)."""
        if (key, value) in self.writer:
            self.observed.add((key, value))
            return True
        failed = self.failed_writer.get((key, value))
        read = f"T{reader.txn} read {_key(key)}={_show(reader.value)}"
        if failed is not None:
            self._report("G1a", key, [reader.txn, failed],
                         f"{read}, but {value!r} was appended by T{failed}, which failed "
                         f"(aborted read, G1a)")
        else:
            self._report("garbage", key, [reader.txn],
                         f"{read}, but no transaction ever appended {value!r} to {_key(key)} "
                         f"(garbage read)")
        return False

    def _list_edges(self, key: Any) -> None:
        order = self.order[key]
        self.budget.spend(len(order))
        previous = None
        for value in order:  # ww: consecutive versions by different committed writers
            writer = self._node_writer(key, value)
            if writer is not None:
                if previous is not None:
                    self._link(previous[0], writer, _Dep(WW, key, ("next-append", previous[1],
                                                                    value)))
                previous = (writer, value)
        for read in self.list_reads[key]:
            self._read_edges(key, read, order)

    def _read_edges(self, key: Any, read: _Read, order: list) -> None:
        """wr from the writer of the last value read; rw to the writer of the next one."""
        seen = read.value
        self.budget.spend(len(seen) + 1)
        for value in reversed(seen):
            writer = self._node_writer(key, value)
            if writer is not None:
                self._link(writer, read.txn, _Dep(WR, key, ("read-append", seen, value)))
                break
        if seen:
            self._check_intermediate(key, read)
        if len(seen) < len(order) and (key in self.complete_order
                                       or order[:len(seen)] == seen):
            for i in range(len(seen), len(order)):
                writer = self._node_writer(key, order[i])
                if writer is not None:
                    self._link(read.txn, writer,
                               _Dep(RW, key, ("read-before-append", seen, order[i])))
                    break

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

    def _unobserved_append_edges(self) -> None:
        """A committed append no read saw comes after every value read (reads are prefixes).

        So it follows the last value's writer (ww) and the transactions that read the whole
        order (rw); readers of shorter prefixes already precede those through rw and ww edges.
        """
        tails: dict[Any, tuple[Any, list[_Read]]] = {}
        for (id_, key), values in self.appends.items():
            self.budget.spend(len(values))
            if key not in self.complete_order or id_ not in self.nodes:
                continue
            unseen = [value for value in values if (key, value) not in self.observed]
            if not unseen:
                continue
            if key not in tails:
                tails[key] = self._order_tail(key)
            last, full_readers = tails[key]
            if last is not None:
                self._link(self.writer[(key, last)], id_,
                           _Dep(WW, key, ("after-observed", last, unseen[0])))
            self.budget.spend(len(full_readers))
            for read in full_readers:
                self._link(read.txn, id_, _Dep(RW, key, (
                    "read-before-unseen-append", read.value, unseen[0])))

    def _order_tail(self, key: Any) -> tuple[Any, list[_Read]]:
        """The last value of `key`'s order that a committed transaction wrote (None if none),
        and the reads that saw the whole order."""
        order = self.order[key]
        self.budget.spend(len(order) + len(self.list_reads[key]))
        last = next((value for value in reversed(order)
                     if self._node_writer(key, value) is not None), None)
        return last, [read for read in self.list_reads[key] if len(read.value) == len(order)]

    def _node_writer(self, key: Any, value: Any) -> int | None:
        writer = self.writer.get((key, value))
        return writer if writer in self.nodes else None

    # -- register keys ---------------------------------------------------------------------

    def _register_edges(self) -> None:
        """Edges from first reads: nil precedes all writes; a read-then-write follows the read."""
        readers: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        successors: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        for id_, reads in self.register_reads.items():
            self.budget.spend(len(self.mops[id_]))
            for read in self._first_reads(id_, reads):
                readers[(read.key, read.value)].append(id_)
                if (id_, read.key) in self.last_write:
                    successors[(read.key, read.value)].append(id_)
                if read.value is not None:
                    self._register_read_source(id_, read)
        first_writers = self._possibly_first_writers(successors)
        for (key, value), ids in readers.items():
            if value is None:
                for reader in ids:
                    self.budget.spend(len(first_writers[key]) + 1)
                    for writer in first_writers[key]:
                        self._link(reader, writer, _Dep(RW, key, (
                            "read-initial", None, self.last_write[(writer, key)])))
                continue
            source = self._node_writer(key, value)
            for later in successors[(key, value)]:
                self.budget.spend(len(ids) + 1)
                written = self.last_write[(later, key)]
                if source is not None:
                    self._link(source, later, _Dep(WW, key, ("read-write", value, written)))
                for reader in ids:
                    self._link(reader, later,
                               _Dep(RW, key, ("read-before-overwrite", value, written)))

    def _possibly_first_writers(self, successors: dict[tuple[Any, Any], list[int]]
                                ) -> dict[Any, list[int]]:
        """Per register key, its committed writers except those known to overwrite another
        committed write: a reader of nil precedes these directly and the rest through ww edges.
        """
        self.budget.spend(len(self.last_write) + len(successors))
        follows = {(later, key) for (key, value), laters in successors.items()
                   if self._node_writer(key, value) is not None for later in laters}
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

    def _register_read_source(self, id_: int, read: _RegisterRead) -> None:
        key, value = read.key, read.value
        writer = self.writer.get((key, value))
        seen = f"T{id_} read {_key(key)}={value!r}"
        if writer is None:
            failed = self.failed_writer.get((key, value))
            if failed is not None:
                self._report("G1a", key, [id_, failed],
                             f"{seen}, but T{failed}, which wrote it, failed (aborted read, G1a)")
            else:
                self._report("garbage", key, [id_],
                             f"{seen}, but no transaction ever wrote that value (garbage read)")
        elif writer == id_:
            self._report("internal", key, [id_],
                         f"{seen} before it wrote that value itself (internal inconsistency)")
        else:
            self._link(writer, id_, _Dep(WR, key, ("read-value", value)))
            if self.last_write[(writer, key)] != value:
                self._report("G1b", key, [id_, writer],
                             f"{seen}, but T{writer} overwrote {value!r} with "
                             f"{self.last_write[(writer, key)]!r} in the same transaction "
                             f"(intermediate read, G1b)")

    # -- anomalies within one transaction --------------------------------------------------

    def _check_internal(self) -> None:
        """Each committed transaction must see its own writes, and nothing it writes later."""
        for id_ in self.committed:
            self.budget.spend(len(self.mops[id_]))
            self._check_own_reads(id_)
        for (id_, key), values in self.appends.items():
            self.budget.spend(len(values))
            if id_ in self.nodes and key in self.complete_order:
                self._check_append_order(id_, key, values)

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
            elif f != READ:
                continue
            elif (id_, index) in self.read_at:
                read = self.read_at[(id_, index)]
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
                self._internal(id_, key, f"read {_key(key)}={_show(seen)}, which already "
                                         f"contains {early[0]!r}, a value it only appends later")

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

    def _check_lost_updates(self) -> None:
        """Two committed transactions read the same version of a key, then both wrote it."""
        updaters: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        shown: dict[tuple[Any, Any], Any] = {}
        for id_ in self.committed:
            self.budget.spend(len(self.mops[id_]))
            for key, version, seen in self._versions_read_first(id_):
                if (id_, key) in self.last_write:
                    updaters[(key, version)].append(id_)
                    shown.setdefault((key, version), seen)
        for (key, version), ids in updaters.items():
            if len(ids) > 1:
                names = " and ".join(f"T{id_}" for id_ in ids)
                self._report("lost-update", key, ids,
                             f"{names} {'both' if len(ids) == 2 else 'all'} read "
                             f"{_key(key)}={_show(shown[(key, version)])} and then wrote "
                             f"{_key(key)}: whichever committed later never saw the other's "
                             f"update (lost update)")

    def _versions_read_first(self, id_: int) -> Iterator[tuple[Any, Any, Any]]:
        """(key, version, value read) for each key the transaction read before writing.

        A list version is named by its last value (values are unique), a register's by itself.
        """
        accessed: set[Any] = set()
        for index, (f, key, value) in enumerate(self.mops[id_]):
            if key in accessed:
                continue
            accessed.add(key)
            if f == READ and (id_, index) in self.read_at:
                seen = self.read_at[(id_, index)].value
                yield key, seen[-1] if seen else None, seen
            elif f == READ:
                yield key, value, value

    # -- order edges -----------------------------------------------------------------------

    def _process_edges(self) -> None:
        """Consecutive transactions of a process; only from ones that returned (`ok`)."""
        by_process: dict[str, list[Operation]] = defaultdict(list)
        self.budget.spend(len(self.ops))
        for op in self.ops.values():
            by_process[op.process].append(op)
        for process, ops in by_process.items():
            self.budget.spend(len(ops))
            last_ok = None
            for op in sorted(ops, key=lambda op: (op.call, op.id)):
                if last_ok is not None and op.id in self.nodes:
                    self._link(last_ok, op.id, _Dep(PROCESS, None, ("process", process)))
                if op.status == OK:
                    last_ok = op.id

    def _realtime_edges(self) -> None:
        """Real-time precedence by positions in the history; explained with the times."""
        self.budget.spend(len(self.nodes))
        intervals = [(id_, self.ops[id_].call, self.ops[id_].ret) for id_ in sorted(self.nodes)]
        for a, b in _realtime_edges(intervals):
            self.budget.spend()
            self._link(a, b, _Dep(REALTIME, None, ("realtime", self.ops[a].ret_time,
                                                   self.ops[b].call_time)))

    # -- plumbing --------------------------------------------------------------------------

    def _link(self, a: int, b: int, dep: _Dep) -> None:
        if a != b:
            self.succ[a].setdefault(b, {}).setdefault(dep.type, dep)

    def _report(self, kind: str, key: Any, txns: list[int], why: str) -> None:
        self.anomalies.append({"type": kind, "key": key, "txns": txns, "why": why,
                               "ops": [self.ops[id_].to_json() for id_ in dict.fromkeys(txns)]})

    def graph(self, nodes: set[int]) -> nx.DiGraph:
        """The dependency graph restricted to `nodes`."""
        graph = nx.DiGraph()
        graph.add_nodes_from(sorted(nodes))
        graph.add_edges_from((a, b) for a in nodes for b in self.succ.get(a, ()) if b in nodes)
        return graph

    def cyclic_part(self) -> set[int]:
        """What is left after repeatedly removing transactions without incoming edges.

        Every cycle survives, and an acyclic graph (the usual case) vanishes: Kahn's
        topological sort, cheaper than building a networkx graph of the whole history.
        """
        self.budget.spend(len(self.nodes))
        incoming = dict.fromkeys(self.nodes, 0)
        for out in self.succ.values():
            self.budget.spend(len(out))
            for b in out:
                incoming[b] += 1
        sources = [id_ for id_, count in incoming.items() if count == 0]
        while sources:
            out = self.succ.get(sources.pop(), {})
            self.budget.spend(len(out) + 1)
            for b in out:
                incoming[b] -= 1
                if incoming[b] == 0:
                    sources.append(b)
        return {id_ for id_, count in incoming.items() if count}


# -- cycle search ------------------------------------------------------------------------------

class _Search(NamedTuple):
    cycles: list[dict]  # forbidden cycles found
    allowed: list[str]  # the size of each component whose cycles are all allowed
    unresolved: list[str]  # why a component could not be decided
    unexamined: int  # components skipped once `max_cycles` was reached


def _search_cycles(history: _History, forbidden: frozenset[str], budget: Budget,
                   max_cycles: int) -> _Search:
    cyclic = history.cyclic_part()

    def successors(a: int) -> Iterator[int]:
        return (b for b in history.succ.get(a, {}) if b in cyclic)

    components = sorted((set(c) for c in _strong_components(cyclic, successors, budget)
                         if len(c) > 1), key=lambda c: (len(c), min(c)))
    search = _Search([], [], [], 0)
    for index, component in enumerate(components):
        if len(search.cycles) >= max_cycles:
            return search._replace(unexamined=len(components) - index)
        finder = _CycleFinder(history, component)
        try:
            cycle = finder.worst_forbidden(forbidden)
        except BudgetSpent as spent:
            if "G2-item" not in forbidden:
                search.unresolved.append(f"a component of {len(component)} transactions: "
                                         f"{spent}")
                continue
            cycle = finder.walk_cycle()  # every cycle is forbidden: any witness will do
        if cycle is None:
            search.allowed.append(f"{len(component)} transactions")
        else:
            search.cycles.append(_cycle_anomaly(history, cycle))
    return search


def _strong_components(nodes: Iterable[int], successors: Callable[[int], Iterable[int]],
                       budget: Budget) -> list[list[int]]:
    """The strongly connected components of the graph on `nodes` (Tarjan's algorithm, with
    an explicit stack: components can be as long as the history).

    Each component comes after every component it reaches (reverse topological order).
    `successors(a)` must stay within `nodes`; every edge followed is a step.
    """
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []

    def visit(node: int) -> tuple[int, Iterator[int]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return node, iter(successors(node))

    for root in sorted(nodes):
        if root in index:
            continue
        work = [visit(root)]
        while work:
            node, children = work[-1]
            for child in children:
                budget.spend()
                if child not in index:
                    work.append(visit(child))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    components.append(_pop_component(stack, on_stack, node))
    return components


def _pop_component(stack: list[int], on_stack: set[int], root: int) -> list[int]:
    component = []
    while not component or component[-1] != root:
        component.append(stack.pop())
        on_stack.discard(component[-1])
    return component


class _CycleFinder:
    """Searches one strongly connected component for the least tolerated kind of cycle."""

    def __init__(self, history: _History, component: set[int]) -> None:
        self.succ = history.succ
        self.nodes = component
        self.budget = history.budget
        self.order_types = history.order_types

    def worst_forbidden(self, forbidden: frozenset[str]) -> list[int] | None:
        """A shortest-found cycle of the first forbidden kind among G0, G1c, G-single, G2-item.

        Exact: `None` means no cycle of a forbidden kind exists in the component.
        """
        ww_only = frozenset({WW}) | self.order_types
        no_rw = frozenset({WW, WR}) | self.order_types
        cycle = self._cycle_via(WW, ww_only) or self._cycle_via(WR, no_rw)
        if cycle is None and "G-single" in forbidden:
            cycle = self._single_rw_cycle(no_rw)
        if cycle is None and "G2-item" in forbidden:
            cycle = self.any_cycle()
        return cycle

    def any_cycle(self) -> list[int] | None:
        edges = self._edges(RW, self.nodes) or self._edges(None, self.nodes)
        return self._shortest_cycle(edges, self.nodes, None)

    def walk_cycle(self) -> list[int]:
        """Some cycle, found without spending: walk from successor to successor inside the
        component (each node has one there) until a node repeats. Linear in the component,
        whose finding the budget already paid for; for when the budget is spent."""
        seen: dict[int, int] = {}
        path: list[int] = []
        node = min(self.nodes)
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = next(b for b in self.succ[node] if b in self.nodes)
        return path[seen[node]:]

    def _cycle_via(self, kind: str, types: frozenset[str]) -> list[int] | None:
        """A cycle through a `kind` edge using only `types` edges: exact via sub-components."""
        for part in self._components(types):
            cycle = self._shortest_cycle(self._edges(kind, part), part, types)
            if cycle is not None:
                return cycle
        return None

    def _single_rw_cycle(self, no_rw: frozenset[str]) -> list[int] | None:
        """A cycle with exactly one rw edge a -> b: b must reach a without rw edges.

        Reachability over the condensation of the rw-free subgraph, one bitset per
        sub-component, answers this for every rw edge at once.
        """
        if len(self.nodes) > _MAX_REACH_NODES:
            raise BudgetSpent(f"component too large ({len(self.nodes)} transactions) for the "
                               f"exact G-single search")
        successors = self._successors(no_rw)
        parts = _strong_components(self.nodes, successors, self.budget)
        part = {a: c for c, members in enumerate(parts) for a in members}
        reach: list[int] = []
        for c, members in enumerate(parts):  # each after every part it reaches
            later = {part[b] for a in members for b in successors(a)} - {c}
            self.budget.spend(len(later) + 1)
            bits = 1 << c
            for d in later:
                bits |= reach[d]
            reach.append(bits)
        candidates = [(a, b) for a, b in self._edges(RW, self.nodes)
                      if reach[part[b]] >> part[a] & 1]
        return self._shortest_cycle(candidates, self.nodes, no_rw)

    def _shortest_cycle(self, edges: list[tuple[int, int]], nodes: set[int],
                        types: frozenset[str] | None) -> list[int] | None:
        """The shortest cycle found closing one of (the first few of) `edges` a -> b."""
        best = None
        for a, b in edges[:_WITNESS_TRIES]:
            path = self._shortest_path(b, a, nodes, types)
            if path is not None and (best is None or len(path) < len(best)):
                best = path
                if len(best) == 2:
                    break
        return None if best is None else [best[-1], *best[:-1]]

    def _shortest_path(self, start: int, goal: int, nodes: set[int],
                       types: frozenset[str] | None) -> list[int] | None:
        parent: dict[int, int | None] = {start: None}
        queue = deque([start])
        while queue:
            a = queue.popleft()
            self.budget.spend(len(self.succ[a]) + 1)
            for b, deps in self.succ[a].items():
                if b in parent or b not in nodes or (types is not None
                                                     and types.isdisjoint(deps)):
                    continue
                parent[b] = a
                if b == goal:
                    return _unwind(parent, b)
                queue.append(b)
        return None

    def _components(self, types: frozenset[str]) -> list[set[int]]:
        parts = _strong_components(self.nodes, self._successors(types), self.budget)
        return sorted((set(c) for c in parts if len(c) > 1), key=lambda c: (len(c), min(c)))

    def _successors(self, types: frozenset[str]) -> Callable[[int], Iterator[int]]:
        """Successors inside the component along edges of one of `types`."""
        def successors(a: int) -> Iterator[int]:
            return (b for b, deps in self.succ[a].items()
                    if b in self.nodes and not types.isdisjoint(deps))
        return successors

    def _edges(self, kind: str | None, nodes: set[int]) -> list[tuple[int, int]]:
        """Edges within `nodes` that have type `kind` (any type if None), in a stable order."""
        edges = []
        for a in sorted(nodes):
            self.budget.spend(len(self.succ[a]) + 1)
            edges += [(a, b) for b, deps in self.succ[a].items()
                      if b in nodes and (kind is None or kind in deps)]
        return edges


def _unwind(parent: dict[int, int | None], node: int) -> list[int]:
    path = [node]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])
    return path[::-1]


def _cycle_anomaly(history: _History, cycle: list[int]) -> dict:
    steps = list(zip(cycle, cycle[1:] + cycle[:1]))
    deps = [_preferred(history.succ[a][b]) for a, b in steps]
    kind = _cycle_type(deps)
    edges = [{"from": a, "to": b, **_dep_json(dep, a, b)} for (a, b), dep in zip(steps, deps)]
    first, second = (f"T{id_}" for id_ in cycle[:2])
    if len(cycle) == 2:
        conclusion = f"so {first} must come both before and after {second}"
    else:
        via = ", ".join(f"T{id_}" for id_ in cycle[2:])
        conclusion = (f"so {first} must come before {second}, and {second} (via {via}) "
                      f"before {first}")
    story = "; ".join(edge["why"] for edge in edges)
    why = (f"{kind} ({CYCLE_MEANING[_base_type(kind)]}): {story}; {conclusion}: no serial "
           f"order exists")
    return {"type": kind, "cycle": cycle, "edges": edges, "why": why,
            "ops": [history.ops[id_].to_json() for id_ in cycle]}


def _preferred(deps: dict[str, _Dep]) -> _Dep:
    return next(deps[kind] for kind in _PREFERENCE if kind in deps)


def _cycle_type(deps: list[_Dep]) -> str:
    kinds = [dep.type for dep in deps]
    anti = kinds.count(RW)
    base = ("G2-item" if anti > 1 else "G-single" if anti == 1
            else "G1c" if WR in kinds else "G0")
    if REALTIME in kinds:
        return base + "-realtime"
    return base + "-process" if PROCESS in kinds else base


def _base_type(kind: str) -> str:
    for suffix in ("-realtime", "-process"):
        kind = kind.removesuffix(suffix)
    return kind


# -- the verdict -------------------------------------------------------------------------------

def _verdict(level: str, history: _History, search: _Search, budget: Budget) -> Verdict:
    forbidden = LEVELS[level]
    direct = [a for a in history.anomalies if a["type"] in forbidden]
    tolerated = [a["type"] for a in history.anomalies if a["type"] not in forbidden]
    found = _cap_per_type(direct) + search.cycles
    if found:
        counts = _counts([a["type"] for a in direct] + [a["type"] for a in search.cycles])
        lines = [f"not {level}: {counts}"]
        lines += [f"- {anomaly['why']}" for anomaly in found[:_EXPLAINED]]
        if len(found) > _EXPLAINED:
            lines.append(f"... and {len(found) - _EXPLAINED} more in the witness")
        if search.unexamined:
            lines.append(f"({search.unexamined} more cyclic component(s) not examined: "
                         f"max_cycles reached)")
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
        notes.append(f"allowed at this level: {_counts(tolerated)}")
    if search.allowed:
        notes.append(f"cycles allowed at this level in {len(search.allowed)} component(s) "
                     f"({', '.join(search.allowed[:5])})")
    return passed(level, f"{summary}; no anomaly {level} forbids" +
                  "".join(f"; {note}" for note in notes))


def _cap_per_type(anomalies: list[dict]) -> list[dict]:
    kept: dict[str, int] = defaultdict(int)
    capped = []
    for anomaly in anomalies:
        kept[anomaly["type"]] += 1
        if kept[anomaly["type"]] <= _REPORTED_PER_TYPE:
            capped.append(anomaly)
    return capped


def _counts(kinds: list[str]) -> str:
    tally: dict[str, int] = {}
    for kind in kinds:
        tally[kind] = tally.get(kind, 0) + 1
    return ", ".join(f"{kind} x{count}" for kind, count in tally.items())


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
        case ("read-value", seen):
            return f"{b} read {key}={seen!r}, written by {a} (wr)"
        case ("read-before-overwrite", seen, value):
            return f"{a} read {key}={seen!r} before {b} overwrote it with {value!r} (rw)"
        case ("read-initial", _, value):
            return f"{a} read {key}=nil (the initial value) before {b} wrote {key}={value!r} (rw)"
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
