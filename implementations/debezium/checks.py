"""The invariants. After every step: the index never rolls a document back, and holds only
row versions the source committed; every event in Kafka shows its row as the source had it
at the event's position (`models/debezium.py`); each Kafka leader epoch has one
leader (Kafka's own check; its others read histories of Kafka clients, or cost a quarter of
a run here, and Kafka's own hunt runs them); the offsets the sink's group committed pass no
event the index does not hold. At the end: the writers were told what the binlog holds, and
what their transactions asked for (the model); each ok sync read its writer's own writes;
the change topics lose nothing from the snapshot on (`invariants/delivery.py`, at least once
by version) and hold each key's versions in order; and progress at quiescence: every
operation returned, the ending's scan found the connector's committed offset at the binlog's
last position and the index holding the source's rows; and the scan returned soon after the
pipeline drained.

The source's history is the ghost record the database writes as it commits (what writers
are told is checked against it); the topics are read from the brokers' storage, the sink's
committed offsets from the group coordinator's, the index from its storage and from the
syncs' and the scan's answers, the connector's committed offset from its storage (the
offset file). No check asks the connector or the sink.
"""

from __future__ import annotations

from typing import Any

from checker.recovery import bounded_recovery
from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.debezium.connector import CONNECTOR, OFFSETS
from implementations.debezium.sink import GROUP, INDEX
from implementations.debezium.workload import SCAN_WAITS, SCANNED
from implementations.kafka.checks import layout
from implementations.kafka.checks import one_leader_per_epoch as kafka_one_leader_per_epoch
from implementations.kafka.group import group_key
from implementations.kafka.log import hw_key, log_key
from implementations.kafka.messages import CONTROLLER
from invariants.delivery import InputRecord, OutputRecord, check_delivery
from invariants.history import OK
from invariants.verdict import Verdict, passed, violated
from models.debezium import (
    Event,
    SourceHistory,
    claimed_version,
    committed_version,
    event_problem,
    final_differences,
    first_out_of_order,
    regression,
    required_versions,
    snapshot_candidates,
    transaction_changes,
)

__all__ = ["kafka_one_leader_per_epoch"]  # re-exported for SYSTEM

NO_DOCS: dict = {}
DELETED = "deleted"  # a version that is no row (check_delivery reads None as "any value")


class _Source:
    """Per simulation: how much of the ghost record was read, and the history it tells."""

    def __init__(self) -> None:
        self.read = 0
        self.history = SourceHistory()
        self.problem: str | None = None


def source(sim: Simulation) -> _Source:
    """The source's committed history, from the database's ghost record of its commits."""
    seen = sim.invariant_state("debezium-source", _Source)
    for kind, _, _, fact in sim.ghost[seen.read:]:
        if kind == "commit":
            problem = seen.history.commit(fact["position"], fact["changes"], fact["ddl"])
            seen.problem = seen.problem or problem
    seen.read = len(sim.ghost)
    return seen


def index_docs(sim: Simulation) -> dict:
    """The index's documents as its storage holds them: key -> Doc."""
    return sim.contexts[INDEX].storage.get("docs", NO_DOCS)


def _name(key: tuple) -> str:
    return f"{key[0]}/{key[1]}"


class _Seen:
    """Per simulation and invariant: the documents (and history) last found sound."""

    def __init__(self) -> None:
        self.docs: Any = None
        self.last = -1
        self.pairs: dict = {}


@state_invariant("target-never-regresses")
def target_never_regresses(sim: Simulation) -> str | None:
    """No document of the index ever goes back to an older source position, nor vanishes
    (a delete leaves a tombstone)."""
    seen = sim.invariant_state("target-never-regresses", _Seen)
    docs = index_docs(sim)
    if docs is seen.docs:
        return None
    pairs = {key: (doc.position, doc.row) for key, doc in docs.items()}
    found = regression(seen.pairs, pairs)
    seen.docs, seen.pairs = docs, pairs
    if found is None:
        return None
    key, (position, row), now = found
    shown = "vanished" if now is None else f"went back to {now[1]!r} of position {now[0]}"
    return f"the index's document {_name(key)} held {row!r} of position {position}, then {shown}"


@state_invariant("target-holds-committed-versions")
def target_holds_committed_versions(sim: Simulation) -> str | None:
    """Every document of the index is a row version (or a delete) the source committed at
    or before the position the document is versioned with."""
    seen = sim.invariant_state("target-holds-committed-versions", _Seen)
    docs, history = index_docs(sim), source(sim).history
    if docs is seen.docs and history.last == seen.last:
        return None
    for key, doc in sorted(docs.items()):
        if not committed_version(history, key, doc.position, doc.row):
            return (f"the index holds {_name(key)} = {doc.row!r} at position {doc.position}, "
                    f"a version the source never committed at or before it")
    seen.docs, seen.last = docs, history.last
    return None


# --- the topics -------------------------------------------------------------------------------


class _Checked:
    """Per simulation: each replica's log as last read, and the events found true."""

    def __init__(self) -> None:
        self.logs: dict[tuple, tuple] = {}  # (broker, partition) -> its log
        self.true: set = set()


@state_invariant("events-match-source")
def events_match_source(sim: Simulation) -> str | None:
    """Every change event in any replica's log shows its key as the source had it at the
    event's position: a change event the change committed there (op, row before and after),
    a read the row as of the snapshot's position; and its table's schema version there."""
    seen = sim.invariant_state("events-match-source", _Checked)
    history = source(sim).history
    for p, replicas in layout(sim).items():
        for broker in replicas:
            log = sim.contexts[broker].storage.get(log_key(p), ())
            if seen.logs.get((broker, p)) is log:
                continue
            for offset, record in enumerate(log):
                if record.value in seen.true:
                    continue
                problem = event_problem(history, Event(*_fields(record.value)))
                if problem:
                    return f"{p} offset {offset} on {broker}: {problem}"
                seen.true.add(record.value)
            seen.logs[(broker, p)] = log
    return None


class _Commits:
    """Per simulation: the group's state last read, the events below its offsets (committed
    records, which do not change) with the versions they claim, and the documents last
    found to hold them."""

    def __init__(self) -> None:
        self.group: Any = None
        self.below: list[tuple[str, int, int, Event, int]] = []
        self.docs: Any = None


@state_invariant("sink-commits-applied")
def sink_commits_applied(sim: Simulation) -> str | None:
    """Every event below the offset the sink's group committed for its partition is in the
    index: the document of its key is versioned at or after the version the event claims.
    Kafka Connect commits a sink's offsets only once its writes are flushed, because a sink
    that restarts, or a member a rebalance gives the partition, resumes from them: a commit
    past an event the index does not hold loses it for good if that happens now."""
    seen = sim.invariant_state("sink-commits-applied", _Commits)
    group = sim.contexts[CONTROLLER].storage.get(group_key(GROUP))
    docs = index_docs(sim)
    if group is None or (group is seen.group and docs is seen.docs):
        return None
    if group is not seen.group:
        history = source(sim).history
        seen.group, seen.below = group, [
            (p, committed, offset, event, claimed_version(history, event))
            for p, committed in group.offsets for offset, event in topic(sim, p)[:committed]]
    for p, committed, offset, event, version in seen.below:
        doc = docs.get(event.key)
        if doc is None or doc.position < version:
            held = "no document" if doc is None else f"its document of position {doc.position}"
            return (f"the sink's group committed {p} up to offset {committed}, but for the "
                    f"{event.op} event of {_name(event.key)} at offset {offset} (position "
                    f"{event.position}) the index holds {held}")
    seen.docs = docs
    return None



def data_partitions(sim: Simulation) -> list[str]:
    return sorted(layout(sim))


def topic(sim: Simulation, partition: str) -> list[tuple[int, Event]]:
    """A change partition's committed records as events, from the replica whose high
    watermark is highest (replicas agree below their high watermarks: Kafka's hunt checks
    that)."""
    storage = max((sim.contexts[b].storage for b in layout(sim)[partition]),
                  key=lambda s: s.get(hw_key(partition), 0))
    records = storage.get(log_key(partition), ())[:storage.get(hw_key(partition), 0)]
    return [(offset, Event(*_fields(record.value))) for offset, record in enumerate(records)]


def _fields(event: Any) -> tuple:
    return event.key, event.op, event.before, event.after, event.position, event.schema


def _shown(row: Any) -> Any:
    return DELETED if row is None else row


@history_invariant("source-log")
def source_log(sim: Simulation) -> Verdict:
    """The binlog is a history (each entry follows the last, each change from the row as it
    was), and every transaction a writer was told committed is in it at the position told,
    with the changes told."""
    seen = source(sim)
    if seen.problem:
        return violated("source-log", seen.problem)
    for op in sim.operations():
        if op.f != "txn" or op.status != OK or op.result[0] is None:
            continue
        position, told = op.result
        changes = seen.history.entries.get(position, ((), None))[0]
        if told != [[o, table, pk, after] for table, pk, o, _, after in changes]:
            return violated("source-log", f"{op.describe()} was told {told} at position "
                                          f"{position}, where the binlog holds {changes}")
    return passed("source-log", "writers were told what the binlog holds")


@history_invariant("answers-match-requests")
def answers_match_requests(sim: Simulation) -> Verdict:
    """Every transaction a writer was told committed did what it asked: its puts and deletes,
    applied in order to the rows as of the position before it, make the changes it was told
    (the model's `transaction_changes`); a DDL statement's entry raises the table's schema
    version by one; a transaction told it changed nothing asked only for deletes."""
    history = source(sim).history
    for op in sim.operations():
        if op.f != "txn" or op.status != OK:
            continue
        problem = _answer_problem(history, op.args, *op.result)
        if problem:
            return violated("answers-match-requests", f"{op.describe()}: {problem}")
    return passed("answers-match-requests", "every transaction did what it asked")


def _answer_problem(history: SourceHistory, ops: list, position: int | None,
                    told: list) -> str | None:
    if position is None:
        asked = {f for f, *_ in ops}
        return None if asked == {"delete"} else \
            f"asked for {sorted(asked)}, told it changed nothing"
    if ops[0][0] == "alter":
        table = ops[0][1]
        raised = (table, (history.schema_at(table, position - 1) or 0) + 1)
        ddl = history.entries.get(position, ((), None))[1]
        return None if ddl == raised and not told else \
            f"asked for DDL {raised} alone; the binlog entry at {position} holds DDL {ddl}"
    expected = transaction_changes(history.rows_at(position - 1), ops)
    return None if told == expected else \
        f"its ops, applied to the rows as of position {position - 1}, make {expected}"


@history_invariant("syncs-read-own-writes")
def syncs_read_own_writes(sim: Simulation) -> Verdict:
    """A sync that returned ok read, for every key its writer had been told it changed, a
    document versioned at or after that change (read-your-writes through the pipeline);
    and every document it read is a row version the source committed at or before the
    document's position."""
    history = source(sim).history
    written: dict[str, dict] = {}  # writer -> key -> position of its last change told
    for op in sorted(sim.operations(), key=lambda op: op.call):
        if op.status != OK:
            continue
        if op.f == "txn" and op.result[0] is not None:
            for _, table, pk, _ in op.result[1]:
                written.setdefault(op.process, {})[(table, pk)] = op.result[0]
        elif op.f == "sync":
            problem = _sync_problem(history, written.get(op.process, {}), op.result)
            if problem:
                return violated("syncs-read-own-writes", f"{op.describe()}: {problem}")
    return passed("syncs-read-own-writes", "every sync read its writer's own writes")


def _sync_problem(history: SourceHistory, written: dict, docs: list) -> str | None:
    read = {(table, pk): (position, row) for table, pk, position, row in docs}
    for key, (position, row) in sorted(read.items()):
        if not committed_version(history, key, position, row):
            return f"read {_name(key)} = {row!r} at position {position}, never committed there"
    for key, at in sorted(written.items()):
        if read.get(key, (0, None))[0] < at:
            return (f"its writer changed {_name(key)} at position {at}, the sync read "
                    f"{read.get(key)} (position, row)")
    return None


@history_invariant("no-change-lost")
def no_change_lost(sim: Simulation) -> Verdict:
    """For some snapshot position S (one the topics' reads name, or one where the source had
    no row): every row that existed at S and every change committed after S is in the topics,
    at least once, with its row."""
    history = source(sim).history
    events = all_events(sim)
    snapshot, verdict = handoff(history, events)
    if verdict.violated:
        return violated("no-change-lost", f"with the snapshot at position {snapshot} (versions "
                        f"named table, key, position of their change): {verdict.explanation}",
                        verdict.witness)
    return passed("no-change-lost", f"every row at the snapshot (position {snapshot}) and "
                                    f"every change after it is in the topics")


def all_events(sim: Simulation) -> list[tuple[str, int, Event]]:
    return [(p, offset, event) for p in data_partitions(sim) for offset, event in topic(sim, p)]


def handoff(history: SourceHistory, events: list) -> tuple[int, Verdict]:
    """The latest snapshot position from which the topics hold every version they must
    (`check_delivery`, at least once, by version), with its verdict; if there is none, the
    latest candidate, with what it misses."""
    candidates = snapshot_candidates(history, (event for _, _, event in events))
    outputs = [OutputRecord((*event.key, claimed_version(history, event)),
                            source=f"{p} offset {offset}", value=_shown(event.after))
               for p, offset, event in events]
    verdicts = []
    for snapshot in candidates:
        required = {(key, v) for key, v, _ in required_versions(history, snapshot)}
        inputs = [InputRecord((*key, at), acked=(key, at) in required, value=_shown(after))
                  for key in history.keys() for at, _, _, after in history.versions[key]]
        verdicts.append((snapshot, check_delivery(inputs, outputs, "at-least-once")))
        if not verdicts[-1][1].violated:
            return verdicts[-1]
    return verdicts[0]


@history_invariant("per-key-order")
def per_key_order(sim: Simulation) -> Verdict:
    """In each partition, a key's versions first appear in the order the source committed
    them (repeats of a version already seen are harmless)."""
    history = source(sim).history
    for p in data_partitions(sim):
        found = first_out_of_order(history, (event for _, event in topic(sim, p)))
        if found:
            event, newer = found
            return violated("per-key-order", f"{p} holds the {event.op} event of "
                            f"{_name(event.key)} at position {event.position} after a newer "
                            f"version of it (position {newer})")
    return passed("per-key-order", "each key's versions appear in commit order")


@history_invariant("progress")
def progress(sim: Simulation) -> Verdict:
    """Once the ending has healed every fault and let the pipeline settle: every operation
    returned, the scan read the tables as of the binlog's last position, found the
    connector's committed offset there (nothing left to emit again) and the index holding
    exactly the source's rows (phantoms of what was emitted before a redone snapshot
    excepted, `models/debezium.py`)."""
    ops = sim.operations()
    stuck = _pending(sim)
    problem = f"{stuck} never returned" if stuck else _final_scan(sim, ops)
    if problem:
        return violated("progress", problem, {"time": sim.time})
    return passed("progress", "every operation returned and the index holds the source's rows")


def _pending(sim: Simulation) -> str | None:
    """An operation invoked and never completed (ok, fail or info), if any."""
    open_: dict[str, str] = {}
    for event in sim.history:
        if event.type == "invoke":
            open_[event.process] = f"{event.process}'s {event.f}{event.value!r}"
        else:
            open_.pop(event.process, None)
    return next(iter(open_.values()), None)


def _final_scan(sim: Simulation, ops: list) -> str | None:
    scans = [op for op in ops if op.f == "scan"]
    if not scans or scans[-1].status != OK or sorted(scans[-1].result) != sorted(SCANNED):
        return ("the ending's scan did not read the tables, the position they are as of, the "
                "connector's committed offset and the index")
    history, result = source(sim).history, scans[-1].result
    rows = [[*key, row] for key, row in sorted(history.rows_at(history.last).items())]
    if result["position"] != history.last or result["source"] != rows:
        return (f"the scan read the tables as {result['source']} at position "
                f"{result['position']}, the binlog gives {rows} at {history.last}")
    if result["offset"] != history.last:
        return (f"the connector's committed offset ended at {result['offset']}, not at the "
                f"binlog's last position {history.last}: a restart would emit again what the "
                f"log already holds")
    docs = {(table, pk): (position, row) for table, pk, position, row in result["index"]}
    snapshot, _ = handoff(history, all_events(sim))
    differences = final_differences(history, docs, snapshot)
    if differences:
        key, row, found = differences[0]
        return (f"the index ended with {_name(key)} = {found!r} where the source holds "
                f"{row!r} (None: no row)")
    return None


# --- the ending's scan ----------------------------------------------------------------------

# How long the ending's scan may go on once the pipeline has drained (`_drained`). The scan
# reads the index, and the connector's offset until it is caught up, in rounds SCAN_WAITS
# apart, and ends at the first round that finds both drained (or after its last round). In
# the ending the tables no longer change (the writers' last operations are over, every message
# of theirs delivered) and messages take no time, so the round after the drain, at most the
# longest of the waits away, reads the drained pipeline and ends the scan.
SCAN_RETURNS = max(SCAN_WAITS)


class _Drain:
    """Per simulation: the pipeline's state when last looked at, and what kept it from being
    drained then (worked out again only when that state changes)."""

    def __init__(self) -> None:
        self.docs: Any = None
        self.offset: Any = None
        self.last = -1
        self.problem: str | None = "not looked at yet"


def _undrained(sim: Simulation) -> str | None:
    seen = sim.invariant_state("debezium-drain", _Drain)
    history, docs = source(sim).history, index_docs(sim)
    offset = sim.contexts[CONNECTOR].storage.get(OFFSETS)
    if docs is not seen.docs or offset is not seen.offset or history.last != seen.last:
        seen.docs, seen.offset, seen.last = docs, offset, history.last
        seen.problem = None if _drained(history, docs, offset) else "not drained"
    return seen.problem


scan_ends_once_drained = state_invariant("scan-ends-once-drained", """In the ending, once the
pipeline has drained -- the connector's committed offset (the file in its storage) at the
binlog's last position, and the index's live documents exactly the source's rows there (the
model) -- the scan in progress returns within SCAN_RETURNS of the later of its call and the
drain (the latest: a drained pipeline may take a last change in the ending): an operator
watching the pipeline's lag sees it reach zero.""")(
    bounded_recovery("debezium-scan", _undrained, None, SCAN_RETURNS, timed=("scan",),
                     what="the pipeline", constant="SCAN_RETURNS", latest=True))


def _drained(history: SourceHistory, docs: dict, offset: Any) -> bool:
    """The connector's committed offset is at the binlog's last position, and the index's
    live documents (tombstones aside) are exactly the source's rows there."""
    live = {key: doc.row for key, doc in docs.items() if doc.row is not None}
    return (offset is not None and offset.position == history.last
            and live == history.rows_at(history.last))
