"""The invariants: oracle monotonicity, atomicity at quiescence, snapshot isolation, answers
that match their requests, reads that see every earlier commit, progress at quiescence, and
observers acting on every change (the newest of each row, once the ending waited for them) and
at most once per change.

None of them reads the store's code: the rows are rebuilt from the ghost record of the cells
each single-row transaction wrote or erased (`models.percolator.Columns`), the transactions'
write sets from the workers' `writes` facts, and the rest from the clients' history."""

from __future__ import annotations

from typing import Any

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.percolator.worker import AWAIT_OBSERVERS
from invariants.history import INFO, INVOKE, OK, Operation
from invariants.transactions import APPEND, READ, check_transactions
from invariants.transactions import answers_match_requests as check_answers
from invariants.verdict import Verdict, passed, violated
from models.percolator import LEVEL, Columns

TXN_STEPS = 100_000
"""The transactional check's budget, in steps so that verdicts never depend on the machine.
Percolator's histories need at most 272 (the most seen in 1,600 runs of every variant and
configuration: 1,000 random, 300 PCT, 300 portfolio): only a checker gone wrong spends it."""


class _Issued:
    """Per simulation: how much of the ghost record was read, and the highest timestamp."""

    def __init__(self) -> None:
        self.read = 0
        self.highest = 0


@state_invariant("oracle-monotonic")
def oracle_monotonic(sim: Simulation) -> str | None:
    """Every timestamp the oracle hands out is above every one it handed out before, across
    its crashes and restarts."""
    seen = sim.invariant_state("oracle-monotonic", _Issued)
    while seen.read < len(sim.ghost):
        kind, time, node, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind == "timestamp":
            if fact["ts"] <= seen.highest:
                return (f"{node} handed out timestamp {fact['ts']} at t={time}, after already "
                        f"handing out {seen.highest}")
            seen.highest = fact["ts"]
    return None


def columns(sim: Simulation) -> Columns:
    """Every row's columns as the tablet servers left them, from the ghost record."""
    rows = Columns()
    for kind, _, _, fact in sim.ghost:
        if kind == "cell":
            rows.record(fact["row"], fact["column"], fact["ts"], fact["cell"])
    return rows


def transactions(sim: Simulation) -> list[tuple[str, dict]]:
    """(worker, {start_ts, rows}) of every transaction that began to prewrite; the first of
    its rows is its primary."""
    return [(worker, fact) for kind, _, worker, fact in sim.ghost if kind == "writes"]


@history_invariant("atomic")
def atomic(sim: Simulation) -> Verdict:
    """At quiescence, after the final read has cleaned up the locks, each transaction's
    writes are all committed or none is, even if its worker crashed mid-commit. (A lock still
    there is not yet decided: whoever meets it will follow the primary.)"""
    rows = columns(sim)
    for worker, fact in transactions(sim):
        start_ts = fact["start_ts"]
        done = [r for r in fact["rows"] if rows.commit_ts(r, start_ts) is not None]
        missing = [r for r in fact["rows"] if rows.commit_ts(r, start_ts) is None
                   and start_ts not in rows.locks(r)]
        if done and missing:
            return violated("atomic",
                            f"the transaction that {worker} started at ts={start_ts} "
                            f"committed its write to {', '.join(done)} but not to "
                            f"{', '.join(missing)}", {"transaction": fact})
    return passed("atomic", "every transaction committed all of its writes or none")


@history_invariant("snapshot-isolation")
def snapshot_isolation(sim: Simulation) -> Verdict:
    """No snapshot-isolation anomaly in the list-append history (Elle-style cycles)."""
    return check_transactions(sim.operations(), LEVEL, max_seconds=None, max_steps=TXN_STEPS)


# --- what the clients were told --------------------------------------------------------------


def txn_operations(sim: Simulation) -> list[Operation]:
    """The clients' transactions: every operation but waits for the observers."""
    return [op for op in sim.operations() if op.f == "txn"]


def appended_to(ops: list[Operation]) -> dict[Any, str]:
    """Value -> the row some invoked transaction appends it to (values are unique)."""
    return {value: key for op in ops for f, key, value in op.args if f == APPEND}


def answer_problem(op: Operation, written: dict[Any, str]) -> str | None:
    """What is wrong with an `ok` answer against its request, or None: the micro-ops must be
    the invoked ones, in order, appends with their values, reads of the row asked for holding
    only values appended to that row."""
    result = op.result if isinstance(op.result, list) else []
    if len(result) != len(op.args):
        return f"answered {len(result)} micro-ops for the {len(op.args)} it asked for"
    for (f, key, value), done in zip(op.args, result):
        if list(done[:2]) != [f, key] or (f == APPEND and done[2] != value):
            return f"asked for {[f, key, value]} and was answered {done}"
        strangers = [v for v in done[2] if written.get(v) != key] if f == READ else []
        if strangers:
            return f"read {key} = {done[2]}, holding {strangers[0]!r}, which no transaction " \
                   f"appends to {key}"
    return None


@history_invariant("answers-match-requests")
def answers_match_requests(sim: Simulation) -> Verdict:
    """Every transaction answered `ok` was answered for what it asked: its own micro-ops in
    order, each append with its value, each read of the row it named holding only values some
    transaction appends to that row."""
    ops = txn_operations(sim)
    written = appended_to(ops)
    return check_answers(ops, lambda op: answer_problem(op, written))


@history_invariant("reads-see-earlier-commits")
def reads_see_earlier_commits(sim: Simulation) -> Verdict:
    """A transaction that starts after another was acknowledged committed sees its appends:
    the oracle gives it a start timestamp above that commit timestamp (Percolator section
    2.3). Read by content from the history: every value an acknowledged transaction appended
    to a row is in every later read of that row."""
    acked = [op for op in txn_operations(sim) if op.status == OK]
    for reader in acked:
        reads = {key: values for f, key, values in reader.result if f == READ}
        for writer in acked:
            if not writer.precedes(reader):
                continue
            for f, key, value in writer.result:
                if f == APPEND and key in reads and value not in reads[key]:
                    return violated(
                        "reads-see-earlier-commits",
                        f"{writer.process} was told its append of {value} to {key} committed "
                        f"(t={writer.ret_time}); {reader.process}'s transaction started after "
                        f"that (t={reader.call_time}) and read {key} = {reads[key]}",
                        {"writer": writer.args, "reader": reader.result})
    return passed("reads-see-earlier-commits", "every read saw the commits acknowledged "
                                               "before its transaction began")


# --- progress --------------------------------------------------------------------------------


def final_problem(sim: Simulation, ops: list[Operation]) -> str | None:
    """Whether every operation returned (`info` included: the client gave up on it), and
    the final read ran and succeeded."""
    last_event = {event.process: event for event in sim.history}
    pending = [event for event in last_event.values() if event.type == INVOKE]
    if pending and pending[0].f == AWAIT_OBSERVERS:
        return f"{pending[0].process} waited for the observers to take every change to " \
               f"{', '.join(pending[0].value)}, and some row stayed notified to the end"
    if pending:
        return f"{pending[0].process}'s transaction {pending[0].value} never returned"
    for client, f, args in sim.final_ops:
        last = [op for op in ops if op.process == client][-1:]
        if not last or last[0].args != args:
            return f"{client}'s final {f} never ran: an earlier transaction was still running"
        if last[0].status != OK:
            return f"{client}'s final read ended {last[0].status}, not ok"
    return None


def lost_problem(sim: Simulation) -> str | None:
    """Whether a client was told `info` (its worker lost the transaction) though its worker
    did not restart while the transaction ran: a live worker finishes what it takes on."""
    started: dict[str, list[int]] = {}
    for kind, time, worker, _ in sim.ghost:
        if kind == "worker-started":
            started.setdefault(worker, []).append(time)
    began: dict[str, tuple[int, Any]] = {}
    for event in sim.history:
        if event.type == INVOKE:
            began[event.process] = (event.time, event.value)
        elif event.type == INFO:
            call_time, args = began[event.process]
            worker = sim.nodes[event.process].worker
            if not any(call_time <= t <= event.time for t in started.get(worker, ())):
                return f"{event.process}'s transaction {args} ended info at t={event.time}, " \
                       f"though its worker {worker} never restarted while it ran"
    return None


def lock_problem(rows: Columns, read: list[str],
                 txns: list[tuple[str, dict]]) -> str | None:
    """Whether a row the final read read still holds a lock, or a transaction's primary there
    was locked and holds no record of its fate."""
    for row in read:
        if rows.locks(row):
            return f"row {row} still holds the lock of ts={rows.locks(row)[0]} at the end"
    for worker, fact in txns:
        primary, start_ts = fact["rows"][0], fact["start_ts"]
        prewritten = start_ts in rows.column(primary, "data")  # rollbacks erase the data
        if primary in read and prewritten and not rows.decided(primary, start_ts):
            return f"the fate of the transaction {worker} started at ts={start_ts} is " \
                   f"recorded nowhere: its primary {primary} holds neither commit nor rollback"
    return None


@history_invariant("progress")
def progress(sim: Simulation) -> Verdict:
    """Progress at quiescence: after the faults heal and everything is delivered, every
    transaction returned, none was lost (`info`) but by a worker that restarted, the final
    read of every row ran and succeeded, and it left no lock behind in the rows it read:
    each transaction's fate is recorded at its primary. Where observers run, the wait for
    them ran and returned: no row stayed notified."""
    ops = sim.operations()
    read = [key for f, key, _ in sim.final_ops[0][2] if f == READ] if sim.final_ops else []
    problem = final_problem(sim, ops) or lost_problem(sim) \
        or lock_problem(columns(sim), read, transactions(sim))
    if problem:
        return violated("progress", problem)
    return passed("progress", "every transaction returned and no lock was left behind")


@history_invariant("observed-once")
def observed_once(sim: Simulation) -> Verdict:
    """No observer transaction committed twice for one change: every acknowledgement row
    lists each change once."""
    rows = columns(sim)
    for key in rows.rows():
        acks = rows.snapshot(key, float("inf"))
        twice = sorted({change for change in acks if acks.count(change) > 1})
        if key.startswith("ack/") and twice:
            return violated("observed-once", f"the change at ts={twice[0]} of row "
                            f"{key.removeprefix('ack/')} was observed twice: {key} = {acks}",
                            {"row": key, "acks": list(acks)})
    return passed("observed-once", "every change was observed at most once")


def latest_change(rows: Columns, row: str) -> int | None:
    """The commit timestamp of the newest committed write to the row, if any."""
    return max((ts for ts, record in rows.column(row, "write").items()
                if not record.rolled_back), default=None)


@history_invariant("changes-observed")
def changes_observed(sim: Simulation) -> Verdict:
    """Notifications are not lost: once a client has waited for the observers, the newest
    change committed to each row it waited on is listed in the row's acknowledgement row.
    Percolator (section 2.4) runs an observer for every change to an observed column, though
    several changes may be taken by one run: so only the newest must be there."""
    waits = [op for op in sim.operations() if op.f == AWAIT_OBSERVERS]
    rows = columns(sim)
    for row in sorted({row for op in waits for row in op.args}):
        change, acks = latest_change(rows, row), rows.snapshot(f"ack/{row}", float("inf"))
        if change is not None and change not in acks:
            return violated("changes-observed", f"the change committed to {row} at "
                            f"ts={change} was never observed: at the end ack/{row} = {acks}",
                            {"row": row, "change": change, "acks": list(acks)})
    return passed("changes-observed", "every row waited on had its newest change observed")
