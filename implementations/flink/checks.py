"""The invariants. Each reads ghost facts (the input logs the sources were given, what the
tasks announced, fired and dropped), what the network delivered (the simulation's trace),
durable state (the JobManager's completed checkpoint, the store's transactions and committed
output) or what clients were told, and judges them against the reference run of
`models.flink`; none asks the tasks' own code.

State invariants, after every step: completed checkpoints are consistent cuts, the store's
committed output holds only reference results, each once; watermarks only move forward, no
window fires before the watermark of all its inputs reaches its end, no on-time record is
dropped; once the faults have ended, a client whose window is committed (or whose job has
finished) is answered by its next poll. At the end: exactly-once output (nothing missing
either), the job finished with nothing left pending, and readers were only ever shown
reference results, once each.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.recovery import calm
from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.flink.client import POLL
from implementations.flink.messages import Deploy, Record, Watermark
from implementations.flink.sink import COMMITTED, PENDING, SinkState
from implementations.flink.tasks import SourceState, WindowState
from invariants.delivery import InputRecord, OutputRecord, check_delivery
from invariants.history import INVOKE, OK
from invariants.verdict import Verdict, passed, violated
from models.flink import (
    WINDOW,
    highest_time,
    is_late,
    reference,
    source_watermark,
    state_at,
    window_start,
)

JOBMANAGER, STORE = "jm", "store"


class _Facts:
    """How far one invariant has read the ghost record, and what it keeps from it."""

    def __init__(self) -> None:
        self.read = 0
        self.seen: dict[Any, Any] = {}


def new_facts(sim: Simulation, name: str) -> tuple[_Facts, list]:
    """An invariant's facts and the ghost entries it has not read yet."""
    facts = sim.invariant_state(name, _Facts)
    fresh = sim.ghost[facts.read:]
    facts.read = len(sim.ghost)
    return facts, fresh


def input_logs(sim: Simulation) -> dict[str, tuple]:
    """Each source's input log, as the source noted it at its first boot."""
    return sim.invariant_state("input-logs", lambda: {
        node: fact["log"] for kind, _, node, fact in sim.ghost if kind == "input"})


def reference_inputs(sim: Simulation) -> list[InputRecord]:
    """What the reference run outputs: one sum per key and window."""
    expected = sim.invariant_state("reference", lambda: reference(list(input_logs(sim).values())))
    return [InputRecord(window, value=total) for window, total in sorted(expected.items())]


def as_outputs(records: Any, source: str) -> list[OutputRecord]:
    return [OutputRecord((key, start), source=source, value=total)
            for key, start, total in records]


# --- state invariants ------------------------------------------------------------------------


@state_invariant("consistent-cut")
def consistent_cut(sim: Simulation) -> str | None:
    """Every completed checkpoint is a consistent cut: each source's snapshot is an offset of
    its log (with the highest event time before it), the operators' window sums equal the
    reference's state after exactly the records before those offsets, and the sink's
    pre-committed transactions are durable in the store."""
    facts = sim.invariant_state("consistent-cut", _Facts)
    completed = sim.contexts[JOBMANAGER].storage.durable("completed")
    if completed is None or completed.checkpoint in facts.seen:
        return None
    facts.seen[completed.checkpoint] = True
    states = dict(completed.states)
    logs = input_logs(sim)
    for source, log in logs.items():
        state = states[source]
        if state.highest != highest_time(log, state.offset):
            return f"checkpoint {completed.checkpoint}: {source} snapshot {state} is not a " \
                   f"position of its log (highest event time before offset {state.offset} " \
                   f"is {highest_time(log, state.offset)})"
    offsets = {source: states[source].offset for source in logs}
    expected = state_at(list(logs.values()), list(offsets.values()))
    held = tuple(sorted(window for state in states.values() if isinstance(state, WindowState)
                        for window in state.windows))
    if held != expected:
        return f"checkpoint {completed.checkpoint} is not a consistent cut: at offsets " \
               f"{offsets} the operators' windows (key, start, sum, fired) must be " \
               f"{list(expected)}, the snapshot holds {list(held)}"
    return _pending_durable(sim, completed.checkpoint, states)


def _pending_durable(sim: Simulation, checkpoint: int, states: dict) -> str | None:
    store = sim.contexts[STORE].storage
    for task, state in states.items():
        if not isinstance(state, SinkState):
            continue
        for txn in state.pending:
            held = store.durable(f"txn/{txn}")
            if held is None or held.status not in (PENDING, COMMITTED):
                return f"checkpoint {checkpoint} completed with {task}'s transaction {txn} " \
                       f"pre-committed, but the store holds it as " \
                       f"{'nothing' if held is None else held.status}"
    return None


@state_invariant("committed-output")
def committed_output(sim: Simulation) -> str | None:
    """The store's committed output, whenever it grows, holds reference results only, each
    with the reference's value and at most once (`invariants.delivery`; what is still to come
    is not missing yet)."""
    facts = sim.invariant_state("committed-output", _Facts)
    output = sim.contexts[STORE].storage.durable("output", ())
    if len(output) == facts.read:
        return None
    facts.read = len(output)
    verdict = check_delivery(reference_inputs(sim), as_outputs(output, STORE), "exactly-once",
                             quiesced=False)
    return verdict.explanation if verdict.violated else None


@state_invariant("watermarks-monotone")
def watermarks_monotone(sim: Simulation) -> str | None:
    """Within an attempt of the job, no task's watermark ever moves back."""
    facts, fresh = new_facts(sim, "watermarks-monotone")
    for kind, time, node, fact in fresh:
        if kind != "watermark":
            continue
        last = facts.seen.get((node, fact["attempt"]))
        if last is not None and fact["time"] < last:
            return f"{node}'s watermark went back from {last} to {fact['time']} at t={time} " \
                   f"(attempt {fact['attempt']})"
        facts.seen[(node, fact["attempt"])] = fact["time"]
    return None


class _Deliveries:
    """What the network delivered so far (read from the simulation's trace, not from the
    tasks): each source's restored offset per attempt, the records each task received."""

    def __init__(self) -> None:
        self.read = 0
        self.restored: dict[tuple[int, str], int] = {}  # (attempt, source) -> offset
        self.received: set[tuple[str, int, str, int]] = set()  # (task, attempt, source, offset)
        self.marks: dict[tuple[str, int, str], int] = {}  # (task, attempt, input) -> watermark


def deliveries(sim: Simulation) -> _Deliveries:
    seen = sim.invariant_state("deliveries", _Deliveries)
    for step in sim.trace[seen.read:]:
        if step.event[0] != "deliver":
            continue
        _, src, dst, _ = step.event
        match step.detail:
            case Deploy(attempt, _, SourceState(offset, _)):
                seen.restored[(attempt, dst)] = offset
            case Record(attempt, offset):
                seen.received.add((dst, attempt, src, offset))
            case Watermark(attempt, time):
                mark = seen.marks.get((dst, attempt, src), time)
                seen.marks[(dst, attempt, src)] = max(mark, time)
    seen.read = len(sim.trace)
    return seen


@state_invariant("no-early-firing")
def no_early_firing(sim: Simulation) -> str | None:
    """No window fires early: only once every input of its operator has delivered (in that
    attempt) a watermark at or past the window's end. Before that, the input may still bring
    one of the window's records; the explanation names those it had yet to deliver (by the
    input logs and what the network delivered)."""
    _, fresh = new_facts(sim, "no-early-firing")
    early = [(f"{node} fired window [{fact['start']}, {fact['start'] + WINDOW}) of key "
              f"{fact['key']} with sum {fact['value']} at t={time}, {problem}", lost)
             for kind, time, node, fact in fresh if kind == "fire"
             for problem, lost in [_early(sim, node, fact)] if problem]
    # of the windows one step fired early, the one that missed records shows best what broke
    return max(early, key=lambda found: found[1])[0] if early else None


def _early(sim: Simulation, node: str, fire: dict) -> tuple[str | None, bool]:
    """Why the firing was early (None if it was not), and whether records of the window were
    still to come."""
    seen, end, attempt = deliveries(sim), fire["start"] + WINDOW, fire["attempt"]
    for source, log in input_logs(sim).items():
        mark = seen.marks.get((node, attempt, source))
        if mark is not None and mark >= end:
            continue
        restored = seen.restored.get((attempt, source), 0)
        coming = [f"{source}#{offset} (event time {event.time}, value {event.value})"
                  for offset, event in enumerate(log)
                  if offset >= restored and (node, attempt, source, offset) not in seen.received
                  and event.key == fire["key"] and window_start(event.time) == fire["start"]]
        return f"but {source}'s watermark had only reached " \
               f"{'nothing' if mark is None else mark} (attempt {attempt}): " + \
               (f"it had yet to deliver {', '.join(coming)} of that window" if coming else
                "none of the window's records happened to be still on its way"), bool(coming)
    return None, False


@state_invariant("on-time-kept")
def on_time_kept(sim: Simulation) -> str | None:
    """No record is dropped as late unless it is: behind its own source's watermark (which
    no operator's may exceed) by more than the allowed lateness."""
    _, fresh = new_facts(sim, "on-time-kept")
    for kind, time, node, fact in fresh:
        if kind != "dropped":
            continue
        log = input_logs(sim)[fact["input"]]
        mark = source_watermark(log, fact["offset"])
        if not is_late(fact["time"], mark):
            return f"{node} dropped record {fact['offset']} of {fact['input']} (key " \
                   f"{fact['key']}, event time {fact['time']}) as late at t={time}, but its " \
                   f"source's watermark before it was {mark}: it was on time"
    return None


class _Answers:
    """What reads-answered has seen: when each window first appeared in the store's committed
    output, when the JobManager durably recorded the job finished, and, in the ending, each
    client's operation in progress."""

    def __init__(self) -> None:
        self.output = 0  # records of the committed output read so far
        self.committed: dict[tuple[str, int], int] = {}  # (key, start) -> when committed
        self.finished: int | None = None
        self.calm: int | None = None  # when the faults ended, once the ending has begun
        self.read = 0  # history events read
        self.calls: dict[str, tuple[str, Any, int]] = {}  # process -> (f, args, call time)


@state_invariant("reads-answered")
def reads_answered(sim: Simulation) -> str | None:
    """Progress for the clients: once the faults have ended (`checker.recovery.calm`), an
    `await` whose window is in the store's committed output, and a `finish` whose job the
    JobManager has durably recorded finished, return ok by the client's next poll: within
    POLL ticks of the latest of the call, that commit (or finish) and the faults' end.

    The bound is the client's: it asks again every POLL ticks, and in the ending a message
    takes no time, so the first poll after that moment is answered with the window (or, for
    `finish`, with the job finished and then its output) at once. Before the faults end no
    bound holds: a poll may be lost or delayed, and a wait may end `info`."""
    seen = sim.invariant_state("reads-answered", _Answers)
    _note_commits(sim, seen)
    if sim.phase != "quiesce":
        return None
    if seen.calm is None:
        seen.calm = calm(sim)
    for event in sim.history[seen.read:]:
        if event.type == INVOKE:
            seen.calls[event.process] = (event.f, event.value, event.time)
            continue
        f, args, call = seen.calls.pop(event.process)
        late = _overdue(seen, f, args, call, event.time)
        if late:
            return f"{event.process}'s {f} {args} (called at t={call}) ended {event.type} " \
                   f"at t={event.time}, {late}"
    seen.read = len(sim.history)
    for process, (f, args, call) in sorted(seen.calls.items()):
        late = _overdue(seen, f, args, call, sim.time)
        if late:
            return f"{process}'s {f} {args} (called at t={call}) is still waiting at " \
                   f"t={sim.time}, {late}"
    return None


def _note_commits(sim: Simulation, seen: _Answers) -> None:
    """When each window first appeared in the committed output, and when the job finished."""
    output = sim.contexts[STORE].storage.durable("output", ())
    for key, start, _ in output[seen.output:]:
        seen.committed.setdefault((key, start), sim.time)
    seen.output = len(output)
    if seen.finished is None and sim.contexts[JOBMANAGER].storage.durable("finished", False):
        seen.finished = sim.time


def _overdue(seen: _Answers, f: str, args: Any, call: int, now: int) -> str | None:
    """Why an operation still unanswered at `now` is late (None if it is not)."""
    if f == "await":
        ready, what = seen.committed.get(tuple(args)), "its window was committed"
    else:
        ready, what = seen.finished, "the job finished"
    if ready is None:
        return None
    due = max(call, ready, seen.calm) + POLL
    if now <= due:
        return None
    return f"but {what} at t={ready} and the faults ended at t={seen.calm}: its next poll " \
           f"was due to be answered by t={due} (POLL={POLL})"


# --- at the end ------------------------------------------------------------------------------


@history_invariant("exactly-once")
def exactly_once(sim: Simulation) -> Verdict:
    """After the ending, the store's committed output holds each of the reference's window
    sums exactly once, with the reference's value (`invariants.delivery`). A job that
    commits nothing loses them all."""
    output = sim.contexts[STORE].storage.durable("output", ())
    verdict = check_delivery(reference_inputs(sim), as_outputs(output, STORE), "exactly-once")
    return attrs.evolve(verdict, invariant="exactly-once")


@history_invariant("job-finishes")
def job_finishes(sim: Simulation) -> Verdict:
    """Progress at quiescence: the final `finish` was told the job finished and then read the
    whole reference output, and the store holds no transaction still pending (each was
    committed or aborted)."""
    for client, f, _ in sim.final_ops:
        last = [op for op in sim.operations() if op.process == client][-1:]
        if not last or last[0].f != f or last[0].status != OK:
            what = last[0].describe() if last else "nothing"
            return violated("job-finishes", f"the job never finished: {client}'s final {f} "
                            f"ended as {what}")
        read = check_delivery(reference_inputs(sim), as_outputs(last[0].result, client),
                              "exactly-once")
        if not read.ok:
            return violated("job-finishes", f"the final read after the job finished is not "
                            f"its output: {read.explanation}", read.witness)
    store = sim.contexts[STORE].storage
    for key, held in sorted(store.items().items()):
        if key.startswith("txn/") and held.status == PENDING:
            return violated("job-finishes", f"transaction {key.removeprefix('txn/')} is still "
                            f"pending in the store after the job finished")
    return passed("job-finishes", "the job finished, its output was read whole, and no "
                  "transaction is left pending")


@history_invariant("reads-exactly-once")
def reads_exactly_once(sim: Simulation) -> Verdict:
    """Every read a client was answered holds reference results of the key it asked for
    only, each once (`invariants.delivery`, not yet quiesced: a read may precede some), and
    a wait that completed holds the window it waited for."""
    inputs = reference_inputs(sim)
    for op in sim.operations():
        if op.status != OK:
            continue
        verdict = check_delivery(inputs, as_outputs(op.result, op.process), "exactly-once",
                                 quiesced=False)
        if verdict.violated:
            return violated("reads-exactly-once", f"{op.describe()}: {verdict.explanation}",
                            verdict.witness)
        if op.f == "await" and any(key != op.args[0] for key, _, _ in op.result):
            return violated("reads-exactly-once", f"{op.describe()}: a read of key "
                            f"{op.args[0]} returned another key's results")
        if op.f == "await" and list(op.args) not in [record[:2] for record in op.result]:
            return violated("reads-exactly-once", f"{op.describe()}: the client was told its "
                            f"window is committed, but the read does not hold it")
    return passed("reads-exactly-once", "every read showed reference results, each once; "
                  "every completed wait saw its window")
