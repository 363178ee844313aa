"""Iceberg's invariants, derived from ghost facts and the model (`models/iceberg.py`), never
from the implementation's own functions.

The facts: the catalog's durable pointer and the object store's durable files (read as data,
after every step), the rows the table was created with and which client operation each
snapshot id was drawn for (ghost notes), and what clients asked and were told (the history).
The model replays the committed operations in commit order: a snapshot's rows are its
operation applied to its parent's rows. The files are read with the model's own reader of
the table spec, which prunes nothing.

State invariants, after every step: `no-dangling-references`, `snapshot-lineage`,
`committed-snapshots-reachable`, `committed-deletes-stay-deleted`, `snapshots-match-model`,
`snapshot-matches-operation`, `column-stats-sound`. History invariants, at the end:
`commits-exactly-once`, `reads-see-their-snapshot`, `pruning-keeps-matches`,
`progress-at-quiescence`, `orphans-removed`, `uncommitted-writes-cleaned-up`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import attrs

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.iceberg.messages import Delete, Put
from implementations.iceberg.operations import OLDER_THAN
from invariants.delivery import InputRecord, OutputRecord, check_delivery
from invariants.history import FAIL, INVOKE, OK, Operation
from invariants.verdict import Verdict, passed, violated
from models.iceberg import (
    ADDED,
    DATA,
    TableHistory,
    lineage_problem,
    live_files,
    matches,
    operation_problem,
    reachable_paths,
    referenced_paths,
    rows_problem,
    snapshot,
    snapshot_changes,
    snapshot_rows,
    stats_problem,
    written_for,
)

STORE, CATALOG = "store", "catalog"
COMMITS = ("append", "delete", "overwrite", "compact")  # operations that add a snapshot

DANGLING = "no-dangling-references"
LINEAGE = "snapshot-lineage"
REACHABLE = "committed-snapshots-reachable"
DELETES = "committed-deletes-stay-deleted"
MODEL = "snapshots-match-model"
OPERATION = "snapshot-matches-operation"
STATS = "column-stats-sound"


class Facts:
    """Per simulation: what has been read of the ghost record, the history and the store,
    the model built from it, and the first problem found for each state invariant."""

    def __init__(self) -> None:
        self.caught_up = False
        self.last_step: Any = None  # the step last caught up after (the trace may be cut)
        self.ghost_read = 0
        self.history_read = 0
        self.invocations: Counter = Counter()  # each client's operations invoked so far
        self.table = ""
        self.model: TableHistory | None = None
        self.drawn: dict[int, tuple[str, int]] = {}  # snapshot id -> (client, req)
        self.invoked: dict[tuple[str, int], tuple[str, Any]] = {}  # (client, req) -> op
        self.pointer: str | None = None
        self.pointers: list[tuple[int, str]] = []  # (time, location) of every pointer move
        self.current: int | None = None
        self.committed: list[int] = []  # every snapshot that was current, in order
        self.known: dict[int, tuple] = {}  # snapshot id -> (parent, sequence, manifest list)
        self.references: list[str] = []  # what the current metadata references
        self.ever_referenced: set[str] = set()  # what any metadata ever current referenced
        self.deleted: dict[int, list[int]] = {}  # id -> the committed snapshots deleting it
        self.told: list[tuple[int, str]] = []  # snapshots clients were told committed
        self.problems: dict[str, str] = {}
        self._parsed: dict[str, tuple[Any, Any]] = {}  # path -> (stored blob, parsed JSON)
        self._sim: Simulation | None = None

    # --- reading the durable state ---------------------------------------------------------

    def read(self, path: str) -> Any:
        """A file's parsed content, or None if the store holds no such file (durably)."""
        blob = self._sim.contexts[STORE].storage.durable(f"file/{path}")
        content = None if blob is None else blob.content
        if content is None:
            return None
        cached = self._parsed.get(path)
        if cached is None or cached[0] is not blob:
            cached = self._parsed[path] = (blob, json.loads(content))
        return cached[1]

    def found(self, invariant: str, problem: str | None) -> None:
        if problem and invariant not in self.problems:
            self.problems[invariant] = problem

    # --- catching up after a step ----------------------------------------------------------

    def catch_up(self, sim: Simulation) -> None:
        self._sim = sim
        self.read_ghost(sim)
        self.read_history(sim)
        if self.model is None:
            return
        pointer = sim.contexts[CATALOG].storage.durable(f"pointer/{self.table}")
        if pointer != self.pointer:
            self.pointer = pointer
            self.pointers.append((sim.time, pointer))
            self.on_pointer(sim.time)
        elif self.store_lost_files(sim):
            missing = [p for p in [pointer, *self.references] if self.read(p) is None]
            self.found(DANGLING, missing and f"{missing[0]} is referenced by the current "
                                             f"metadata {pointer} but was deleted")

    @staticmethod
    def store_lost_files(sim: Simulation) -> bool:
        """Whether the last step may have removed files: a delete reached the store, or the
        store crashed or restarted."""
        step = sim.trace[-1] if sim.trace else None
        if step is None:
            return False
        event = step.event
        if event[0] == "deliver":
            return event[2] == STORE and isinstance(step.detail, Delete)
        return event[0] in ("crash", "restart") and event[1] == STORE

    def read_ghost(self, sim: Simulation) -> None:
        while self.ghost_read < len(sim.ghost):
            kind, _, _, fact = sim.ghost[self.ghost_read]
            self.ghost_read += 1
            if kind == "created":
                self.table = fact["table"]
                self.model = TableHistory(fact["snapshot_id"], dict(fact["rows"]))
            elif kind == "snapshot":
                self.drawn.setdefault(fact["snapshot_id"], (fact["client"], fact["req"]))

    def read_history(self, sim: Simulation) -> None:
        told = len(self.told)
        while self.history_read < len(sim.history):
            event = sim.history[self.history_read]
            self.history_read += 1
            if event.type == INVOKE:
                self.invocations[event.process] += 1
                req = self.invocations[event.process]
                self.invoked[(event.process, req)] = (event.f, event.value)
            elif event.type == OK and event.f in COMMITS and event.value is not None:
                self.told.append((event.value, event.process))
        if len(self.told) > told:
            self.check_told()

    def check_told(self) -> None:
        """Every snapshot a client was told committed is current or an ancestor of it."""
        if self.current is None:
            return
        lineage = set(self.model.ancestry(self.current))
        lost = next(((s, c) for s, c in self.told if s not in lineage), None)
        if lost:
            self.found(REACHABLE, f"{lost[1]} was told snapshot {lost[0]} committed, but it "
                                  f"is not in the current snapshot {self.current}'s history")

    # --- the pointer moved ------------------------------------------------------------------

    def on_pointer(self, time: int) -> None:
        metadata = self.read(self.pointer) if self.pointer else None
        if metadata is None:
            self.found(DANGLING, f"the catalog points at {self.pointer}, which does not exist")
            return
        self.found(LINEAGE, lineage_problem(metadata, self.known))
        for snap in sorted(metadata["snapshots"], key=lambda s: s["sequence-number"]):
            self.known.setdefault(snap["snapshot-id"], (
                snap.get("parent-snapshot-id"), snap["sequence-number"], snap["manifest-list"]))
            if snap["snapshot-id"] not in self.model.rows:
                self.add_to_model(snap)
        self.references, missing = referenced_paths(self.read, metadata)
        self.ever_referenced.update(self.references)
        self.found(DANGLING, missing and f"{missing[0]} is referenced by {self.pointer} but "
                                         f"does not exist")
        current = metadata.get("current-snapshot-id")
        if current != self.current and current in self.model.rows:
            self.on_current(snapshot(metadata, current), time)

    def add_to_model(self, snap: dict) -> None:
        sid, parent = snap["snapshot-id"], snap.get("parent-snapshot-id")
        op = self.invoked.get(self.drawn.get(sid, ("", 0)))
        if op is None:
            self.found(MODEL, f"snapshot {sid} was committed, but no operation drew its id")
        elif parent not in self.model.rows:
            self.found(LINEAGE, f"snapshot {sid}'s parent {parent} was never committed")
        else:
            self.model.commit(sid, parent, *op)
            if op[0] == "delete":
                self.deleted.setdefault(op[1][0], []).append(sid)
            changes = snapshot_changes(self.read, snap)
            problem = changes and operation_problem(*op, snap["summary"], *changes)
            self.found(OPERATION, problem and f"snapshot {sid}, committed for {op[0]} "
                                              f"{op[1]}: {problem}")

    def on_current(self, snap: dict, time: int) -> None:
        """A new current snapshot: no committed snapshot left out of its history, its rows
        those of the model, no deleted row back, and its files' statistics true."""
        self.current = snap["snapshot-id"]
        lineage = self.model.ancestry(self.current)
        lost = next((s for s in self.committed if s not in lineage), None)
        chain = " <- ".join(map(str, lineage))
        self.found(REACHABLE, lost and f"snapshot {lost} was committed (current before), but "
                                       f"the new current snapshot {self.current} (t={time}) "
                                       f"does not descend from it: {chain}")
        self.committed.append(self.current)
        self.check_told()
        rows, missing = snapshot_rows(self.read, snap)
        if missing:
            return  # no-dangling-references has it
        back = sorted((key, by) for key, _ in rows for by in self.deleted.get(key, ())
                      if by in lineage)
        self.found(DELETES, back and f"row {back[0][0]} is in snapshot {self.current} "
                                     f"(t={time}), but snapshot {back[0][1]} (in its history: "
                                     f"{chain}) deleted it")
        problem = rows_problem(self.model.rows[self.current], rows)
        self.found(MODEL, problem and f"snapshot {self.current} (t={time}) holds other rows "
                                      f"than the model's: {problem}")
        files, _ = live_files(self.read, snap)
        self.found(STATS, next((p for f, _ in files if f["content"] == DATA
                                if (p := stats_problem(f, self.read(f["file_path"])["rows"]))),
                               None))

    def referenced_since(self, time: int) -> set[str]:
        """Every file reachable from the metadata the catalog pointed at from `time` on: the
        one current then, and each one after."""
        then = [p for t, p in self.pointers if t <= time][-1:]
        later = [p for t, p in self.pointers if t > time]
        return set().union(*(reachable_paths(self.read, p) for p in then + later))


def facts(sim: Simulation) -> Facts:
    """The facts as of the last step (caught up once per step, whichever check asks)."""
    known = sim.invariant_state("iceberg-facts", Facts)
    last = sim.trace[-1] if sim.trace else None
    if not known.caught_up or known.last_step is not last:
        known.caught_up, known.last_step = True, last
        known.catch_up(sim)
    return known


# --- state invariants -------------------------------------------------------------------------


@state_invariant(DANGLING)
def no_dangling_references(sim: Simulation) -> str | None:
    """Every file the current metadata references exists in the object store: the metadata
    file itself, every snapshot's manifest list and manifests, every live data and delete
    file."""
    return facts(sim).problems.get(DANGLING)


@state_invariant(LINEAGE)
def snapshot_lineage(sim: Simulation) -> str | None:
    """In every metadata file the catalog points at, snapshot ids are unique (across the run
    too), every parent is a snapshot committed before, sequence numbers grow from parent to
    child, and the current snapshot is the newest."""
    return facts(sim).problems.get(LINEAGE)


@state_invariant(REACHABLE)
def committed_snapshots_reachable(sim: Simulation) -> str | None:
    """Every snapshot that was ever current (its swap was the commit point) and every one a
    client was told committed is the current snapshot or one of its ancestors: no commit is
    lost."""
    return facts(sim).problems.get(REACHABLE)


@state_invariant(DELETES)
def committed_deletes_stay_deleted(sim: Simulation) -> str | None:
    """No row deleted by a committed snapshot is in any snapshot that descends from it (ids
    are never reused, so a deleted id that comes back is a resurrected row)."""
    return facts(sim).problems.get(DELETES)


@state_invariant(MODEL)
def snapshots_match_model(sim: Simulation) -> str | None:
    """Every snapshot, when it becomes current, holds exactly the model's rows: its
    operation applied to its parent's rows (no row lost, none twice, none altered)."""
    return facts(sim).problems.get(MODEL)


@state_invariant(OPERATION)
def snapshot_matches_operation(sim: Simulation) -> str | None:
    """Every committed snapshot did what its client asked, in the kind of files asked for:
    an append adds data files; a merge-on-read delete adds a delete file of its kind and
    rewrites nothing; a copy-on-write delete or an overwrite rewrites data files; a
    compaction is a `replace`. Its summary names a snapshot operation that allows its
    changes and counts them truly (models/iceberg.py: `operation_problem`)."""
    return facts(sim).problems.get(OPERATION)


@state_invariant(STATS)
def column_stats_sound(sim: Simulation) -> str | None:
    """Every live data file's statistics describe it: record, value and null counts, and
    bounds that hold every value. Pruning is only as sound as these."""
    return facts(sim).problems.get(STATS)


# --- history invariants -----------------------------------------------------------------------


@history_invariant("commits-exactly-once")
def commits_exactly_once(sim: Simulation) -> Verdict:
    """Every operation a client was told committed did so exactly once, as the snapshot it
    was told; no operation committed twice; none told `fail` (or that there was nothing to
    commit) committed at all (invariants/delivery.py)."""
    name = "commits-exactly-once"
    known = facts(sim)
    ops = {(op.process, n): op for op, n in numbered(sim.operations())}
    outputs = [OutputRecord(known.drawn[s], None, "catalog", value=s)
               for s in known.model.ops if s in known.drawn]
    wrongly = next((ops[o.id] for o in outputs if ops[o.id].status == FAIL
                    or (ops[o.id].status == OK and ops[o.id].result is None)), None)
    if wrongly is not None:
        return violated(name, f"{wrongly.describe()}, yet its snapshot was committed",
                        {"operation": wrongly.to_json()})
    inputs = [InputRecord(key, op.call_time, op.process,
                          acked=op.status == OK and op.result is not None, value=op.result)
              for key, op in ops.items() if op.f in COMMITS]
    verdict = check_delivery(inputs, outputs, "exactly-once")
    return attrs.evolve(verdict, invariant=name)


def numbered(ops: list[Operation]) -> list[tuple[Operation, int]]:
    """Each operation with its request number: its place among its client's operations."""
    counts: Counter = Counter()
    result = []
    for op in sorted(ops, key=lambda op: op.call):
        counts[op.process] += 1
        result.append((op, counts[op.process]))
    return result


def reads(sim: Simulation) -> list[Operation]:
    return [op for op in sim.operations() if op.f == "read" and op.status == OK]


@history_invariant("reads-see-their-snapshot")
def reads_see_their_snapshot(sim: Simulation) -> Verdict:
    """Every read returned rows of one committed snapshot, the one it pinned: nothing the
    model's rows at that snapshot do not hold (for the read's filter), no row twice, and for
    a full scan every row."""
    name = "reads-see-their-snapshot"
    model = facts(sim).model
    for op in reads(sim):
        pinned, rows = op.result
        if pinned not in facts(sim).committed:
            return violated(name, f"{op.describe()}: snapshot {pinned} was never committed",
                            {"read": op.to_json()})
        expected = {k: v for k, v in model.rows[pinned].items() if matches(op.args, (k, v))}
        problem = rows_problem(expected, [tuple(row) for row in rows])
        if problem and (op.args is None or "unexpected" in problem or "times" in problem):
            return violated(name, f"{op.describe()}: not the rows of snapshot {pinned} "
                                  f"({problem})", {"read": op.to_json()})
    return passed(name, f"{len(reads(sim))} reads each saw the snapshot they pinned")


@history_invariant("pruning-keeps-matches")
def pruning_keeps_matches(sim: Simulation) -> Verdict:
    """Every filtered read returned every row of its snapshot that matches the filter: scan
    planning skipped no data file holding one."""
    name = "pruning-keeps-matches"
    model = facts(sim).model
    for op in reads(sim):
        pinned, rows = op.result
        if op.args is None or pinned not in model.rows:
            continue
        wanted = {(k, v) for k, v in model.rows[pinned].items() if matches(op.args, (k, v))}
        dropped = sorted(wanted - {tuple(row) for row in rows})
        if dropped:
            return violated(name, f"{op.describe()}: snapshot {pinned} holds {list(dropped[0])}, "
                                  f"which matches the filter, but the read left it out",
                            {"read": op.to_json()})
    return passed(name, "every filtered read kept every matching row")


@history_invariant("progress-at-quiescence")
def progress_at_quiescence(sim: Simulation) -> Verdict:
    """After the ending, every client's operations are over, each final commit succeeded and
    is in the current snapshot's history, and the final read saw the current snapshot with
    exactly the model's rows. A system that does nothing fails here."""
    name = "progress-at-quiescence"
    known = facts(sim)
    last = {event.process: event for event in sim.history}
    pending = sorted(client for client, event in last.items() if event.type == INVOKE)
    if pending:
        return violated(name, f"{pending[0]}'s {last[pending[0]].f} never ended")
    finals = final_operations(sim)
    lineage = known.model.ancestry(known.current) if known.current else []
    for client, f, _ in sim.final_ops:
        final = finals[client].pop(0) if finals[client] else None
        if final is None:
            return violated(name, f"{client}'s final {f} never ran")
        problem = None
        if final.status != OK:
            problem = "it did not succeed"
        elif f in COMMITS and final.result not in lineage:
            problem = f"its snapshot is not in the current snapshot {known.current}'s history"
        elif f == "read" and final.result[0] != known.current:
            problem = f"it read snapshot {final.result[0]}, not the current {known.current}"
        elif f == "read":
            problem = rows_problem(known.model.rows[known.current],
                                   [tuple(row) for row in final.result[1]])
        if problem:
            return violated(name, f"final {final.describe()}: {problem}",
                            {"operation": final.to_json()})
    return passed(name, f"the final operations committed and read snapshot {known.current}")


def final_operations(sim: Simulation) -> dict[str, list[Operation]]:
    """Each client's final operations: the last of its operations, if they are the ones the
    ending gives it (a client still busy when the ending began skips them)."""
    wanted: dict[str, list] = {client: [] for client in sim.clients}
    for client, f, args in sim.final_ops:
        wanted[client].append((f, args))
    ops: dict[str, list[Operation]] = {client: [] for client in sim.clients}
    for op in sorted(sim.operations(), key=lambda op: op.call):
        ops[op.process].append(op)
    finals = {}
    for client, mine in ops.items():
        last = mine[-len(wanted[client]):] if wanted[client] else []
        ran = [(op.f, op.args) for op in last] == wanted[client]
        finals[client] = last if ran else []
    return finals


@history_invariant("orphans-removed")
def orphans_removed(sim: Simulation) -> Verdict:
    """Once the final orphan removal has succeeded, the store holds no file written more than
    OLDER_THAN before it began that no metadata current since then keeps alive: whatever
    failed, lost or expired writes left behind (their own deletes lost or never sent) is
    gone by the end, as Iceberg's remove_orphan_files with `older_than` promises."""
    name = "orphans-removed"
    removal = next((op for ops in final_operations(sim).values() for op in ops
                    if op.f == "remove-orphans" and op.status == OK), None)
    if removal is None:
        return passed(name, "no final orphan removal succeeded")
    cutoff = removal.call_time - OLDER_THAN - 2 * sim.epsilon  # clocks may disagree by 2ε
    kept = facts(sim).referenced_since(removal.call_time)
    written = last_written(sim)
    old = sorted(path for path in stored_paths(sim)
                 if path not in kept and written.get(path, 0) < cutoff)
    if old:
        return violated(name, f"{old[0]} (written t={written.get(old[0], 0)}) is referenced by "
                              f"no metadata since t={removal.call_time}, yet survived the "
                              f"final {removal.describe()}", {"orphans": old})
    return passed(name, f"no file older than t={cutoff} is left unreferenced")


def last_written(sim: Simulation) -> dict[str, int]:
    """When a write of each path last reached the store (files created with the table, never
    written in the run, are not named: they date from t=0)."""
    return {step.detail.path: step.time for step in sim.trace
            if step.event[0] == "deliver" and step.event[2] == STORE
            and isinstance(step.detail, Put)}


def stored_paths(sim: Simulation) -> dict[str, None]:
    """The paths of the files the store durably holds, in order."""
    storage = sim.contexts[STORE].storage
    return {key.removeprefix("file/"): None for key in sorted(storage.items()) if
            key.startswith("file/") and (blob := storage.durable(key)) and blob.content}


@history_invariant("uncommitted-writes-cleaned-up")
def uncommitted_writes_cleaned_up(sim: Simulation) -> Verdict:
    """A write whose outcome its client learned deletes what never became part of the table:
    all of a write that ended `fail`, the lost attempts of one that ended `ok`. By the end,
    no manifest or manifest list written for its snapshot, nor a content file such a manifest
    adds, is left in the store unless some metadata once referenced it or a delete named it
    (a delete may be lost in the network, or overtaken by a late copy of the write). A write
    whose outcome is unknown (`info`) rightly deletes nothing: its swap may have landed."""
    name = "uncommitted-writes-cleaned-up"
    known = facts(sim)
    ended = {key: op for op, n in numbered(sim.operations()) for key in [(op.process, n)]
             if op.status in (OK, FAIL)}
    spared = known.ever_referenced | {step.detail.path for step in sim.trace
                                      if isinstance(step.detail, Delete)}
    stored = stored_paths(sim)
    for path in stored:
        document = known.read(path)
        op = ended.get(known.drawn.get(written_for(document)))
        if op is None:
            continue
        left = [p for p in [path, *(e["data_file"]["file_path"]
                                    for e in document.get("entries", ()) if e["status"] == ADDED)]
                if p not in spared and p in stored]
        if left:
            return violated(name, f"{left[0]}, written for {op.describe()}, was never part of "
                                  f"the table and is still stored: no delete named it",
                            {"operation": op.to_json(), "left": left})
    return passed(name, "every write that ended deleted what it did not commit")
