"""The invariants. Each reads what the implementation cannot fake: the job the user program
submitted and what it and the readers were told (the history), the store's durable files,
ghost facts (which rename took effect, which task the master marked completed or
re-executed, which worker it took for failed, and why), the trace (when the workers'
statuses reached the master, when its ping timer fired) and the messages the master sent
(its assignments, and what it told the user and the reducers); the expected output comes
from `models/mapreduce.py` running the user's functions sequentially. None asks the master
or a worker what it thinks."""

from __future__ import annotations

import functools
from typing import Any

from checker.sim import Simulation
from checker.system import history_invariant, judged_on_change, state_invariant
from implementations.mapreduce.messages import (
    FAIL_AFTER,
    MAP,
    MASTER,
    PING,
    READ_TIMEOUT,
    READ_TRIES,
    REDUCE,
    STORE,
    Assign,
    JobDone,
    Locations,
    Status,
    final_file,
)
from implementations.mapreduce.program import INPUT, PROGRAMS
from invariants.history import OK, Operation
from invariants.verdict import Verdict, passed, violated
from models.mapreduce import (
    Records,
    executions,
    from_one_execution,
    partition_from_some_execution,
)


@functools.cache
def expected(program: str, splits: int, reduces: int) -> tuple[tuple[Records, ...], ...]:
    """Every sequential execution's output partitions (one for a deterministic program)."""
    return tuple(executions(PROGRAMS[program], INPUT[:splits], reduces))


def submitted(sim: Simulation) -> dict[str, Any] | None:
    """The job the user program submitted, as its history records it."""
    return next((event.value for event in sim.history
                 if event.type == "invoke" and event.f == "job"), None)


def user_of(sim: Simulation) -> str | None:
    """The client that submitted the job, as the history records it."""
    return next((event.process for event in sim.history
                 if event.type == "invoke" and event.f == "job"), None)


def tasks_of(job: dict[str, Any]) -> list[str]:
    """The job's task names: its M map tasks, then its R reduce tasks."""
    return [f"{MAP}{i}" for i in range(job["splits"])] + \
        [f"{REDUCE}{r}" for r in range(job["reduces"])]


def count_completions(completed: set[str], facts: list[tuple]) -> None:
    """Apply ghost facts to the set of tasks the master holds completed: a completion adds
    its task, a re-execution takes it out again."""
    for kind, _, _, fact in facts:
        if kind == "completed":
            completed.add(fact["task"])
        elif kind == "reexecute":
            completed.discard(fact["task"])


def outputs_of(job: dict[str, Any]) -> tuple[tuple[Records, ...], ...]:
    return expected(job["program"], job["splits"], job["reduces"])


def stored_files(sim: Simulation) -> dict[str, Any]:
    """The output store's files as its disk holds them (what survives its crashes)."""
    return sim.contexts[STORE].storage.items().get("files", {})


def describe(records: Records, expected_records: Records) -> str:
    """What is wrong with a partition file, in words."""
    repeated = [r for r in dict.fromkeys(records) if records.count(r) > 1]
    if repeated:
        return f"holds {show(repeated[0])} {records.count(repeated[0])} times"
    missing = [r for r in expected_records if r not in records]
    if missing and all(r in expected_records for r in records):
        return f"holds {len(records)} of its {len(expected_records)} records (missing " \
               f"{', '.join(show(r) for r in missing)})"
    return f"holds {show_all(records)} where a sequential run has {show_all(expected_records)}"


def show(record: tuple) -> str:
    return f"{record[0]}={record[1]}"


def show_all(records: Records) -> str:
    return "[" + ", ".join(show(r) for r in records) + "]"


def wrong_partition(records: Records | None, partition: int,
                    outputs: tuple[tuple[Records, ...], ...]) -> str | None:
    """Why `records` is not partition `partition` of some sequential execution, or None."""
    if records is None:
        return "does not exist"
    if partition_from_some_execution(records, partition, outputs):
        return None
    return describe(records, outputs[0][partition])


# --- state invariants: after every step ------------------------------------------------------


def the_store(sim: Simulation) -> tuple[str]:
    return (STORE,)


def history_length(sim: Simulation) -> int:
    """How far the history has got: the job is the user's first invocation in it."""
    return len(sim.history)


@state_invariant("no-partial-final")
@judged_on_change(the_store, history_length)  # the store's disk and the job: all it reads
def no_partial_final(sim: Simulation) -> str | None:
    """A file under a final output name is always a whole partition: the partition's output
    in a sequential execution, never part of it, never more."""
    files = stored_files(sim)
    job = submitted(sim)
    for partition in range(job["reduces"] if job else 0):
        name = final_file(partition)
        if name in files:
            problem = wrong_partition(files[name].records, partition, outputs_of(job))
            if problem:
                return f"the final file {name} {problem} (t={sim.time})"
    return None


class _Facts:
    """What an invariant has read of the ghost record so far, and what it learnt."""

    def __init__(self) -> None:
        self.read = 0
        self.commits: dict[str, tuple[str, Records]] = {}  # final file -> (writer, records)
        self.completed: dict[str, str] = {}  # task -> the worker that completed it


def new_facts(sim: Simulation, name: str) -> tuple[_Facts, list[tuple]]:
    seen = sim.invariant_state(name, _Facts)
    facts = sim.ghost[seen.read:]
    seen.read = len(sim.ghost)
    return seen, facts


@state_invariant("one-commit-per-partition")
def one_commit_per_partition(sim: Simulation) -> str | None:
    """At most one reduce execution's rename takes effect per final file (as the store
    records it), and a final file holds what that rename committed and nothing else."""
    seen, facts = new_facts(sim, "one-commit-per-partition")
    for kind, time, _, fact in facts:
        if kind != "committed":
            continue
        if fact["file"] in seen.commits:
            first, _ = seen.commits[fact["file"]]
            return f"{fact['file']} was committed twice: by {first}'s rename, then by " \
                   f"{fact['writer']}'s (t={time})"
        seen.commits[fact["file"]] = (fact["writer"], fact["records"])
    for name, file in sorted(stored_files(sim).items()):
        if not name.startswith("out/"):
            continue
        if name not in seen.commits:
            return f"{name} exists, holding {show_all(file.records)}, but no rename " \
                   f"committed it (t={sim.time})"
        writer, records = seen.commits[name]
        if file.records != records:
            return f"{name} holds {show_all(file.records)}, not the {show_all(records)} " \
                   f"that {writer}'s rename committed (t={sim.time})"
    return None


@state_invariant("completed-once")
def completed_once(sim: Simulation) -> str | None:
    """The master marks a task completed again only after re-executing it for a cause that
    holds: the worker whose local disk held the completed map's output failed. A completed
    reduce task is never re-executed: its output is in the global file system."""
    seen, facts = new_facts(sim, "completed-once")
    for kind, time, _, fact in facts:
        task, worker = fact.get("task"), fact.get("worker")
        if kind == "completed":
            if task in seen.completed:
                return f"the master marked {task} completed by {worker} (t={time}), though " \
                       f"{seen.completed[task]} had completed it and it was not re-executed"
            seen.completed[task] = worker
        elif kind == "reexecute":
            if task.startswith(REDUCE) or seen.completed.get(task) != worker:
                return f"the master re-executed {task} because {worker} failed (t={time}), " \
                       f"but {task} was completed by {seen.completed.get(task, 'nobody')}"
            del seen.completed[task]
    return None


class _Heard:
    """What `failed-after-silence` has read of the trace so far: when the master last
    started, and per worker the newest boot the master has had a `Status` from, and when."""

    def __init__(self) -> None:
        self.steps = 0  # trace steps read
        self.facts = 0  # ghost facts read
        self.started = 0  # the master's latest start (it counts silence afresh from there)
        self.boot: dict[str, int] = {}  # worker -> the newest incarnation heard from
        self.heard: dict[str, int] = {}  # worker -> when its latest current Status arrived


def read_trace_before(sim: Simulation, heard: _Heard, time: int) -> None:
    """Read the steps taken before `time`: the master's restarts, and the statuses delivered
    to it. A status from an older boot than one already delivered is stale: it says nothing
    about the worker now."""
    trace = sim.trace
    while heard.steps < len(trace) and trace[heard.steps].time < time:
        step = trace[heard.steps]
        heard.steps += 1
        if step.event == ("restart", MASTER):
            heard.started = step.time
        elif step.event[0] == "deliver" and step.event[2] == MASTER \
                and isinstance(step.detail, Status):
            worker = step.event[1]
            if step.detail.incarnation >= heard.boot.get(worker, 0):
                heard.boot[worker] = step.detail.incarnation
                heard.heard[worker] = step.time


@state_invariant("failed-after-silence")
def failed_after_silence(sim: Simulation) -> str | None:
    """Section 3.3's failure detection: the master marks a worker failed when no response
    has come from it for a certain amount of time, here FAIL_AFTER ping periods -- never one
    it heard from more recently, whose completed maps would then be re-executed for nothing
    while the worker keeps running. Judged from the trace, not from the master's counters:
    the statuses delivered to the master, and its restarts (it counts afresh after one).
    Only failures for silence are judged: a worker that answers as a new boot has lost its
    disk, however recently it answered."""
    heard = sim.invariant_state("failed-after-silence", _Heard)
    facts = sim.ghost[heard.facts:]
    heard.facts = len(sim.ghost)
    for kind, time, _, fact in facts:
        if kind != "failed" or fact["cause"] == "rebooted":
            continue
        read_trace_before(sim, heard, time)
        worker = fact["worker"]
        last = heard.heard.get(worker, 0)
        since = max(heard.started, last)
        if time - since < FAIL_AFTER * PING:
            what = f"heard from {worker}" if last >= heard.started else "restarted"
            return f"the master took {worker} for failed at t={time} ({fact['cause']}), but " \
                   f"it had {what} at t={since}, only {time - since} ticks before (it " \
                   f"waits {FAIL_AFTER * PING})"
    return None


class _Rounds:
    """What `failed-in-time` has read of the trace: per worker, the master's ping rounds since
    the master last took a status from it (or since the master started), and whether the
    master has taken it for failed since then."""

    def __init__(self) -> None:
        self.steps = 0  # trace steps read
        self.facts = 0  # ghost facts read
        self.boot: dict[str, int] = {}  # worker -> the newest incarnation heard from
        self.rounds: dict[str, int] = {}  # worker -> ping rounds since the count began
        self.since: dict[str, int] = {}  # worker -> when the count began
        self.failed: set[str] = set()  # taken for failed since the count began
        self.suspected: dict[int, set[str]] = {}  # time -> workers failed for silence then


def count_from(rounds: _Rounds, worker: str, time: int) -> None:
    rounds.rounds[worker], rounds.since[worker] = 0, time
    rounds.failed.discard(worker)


@state_invariant("failed-in-time")
def failed_in_time(sim: Simulation) -> str | None:
    """The other half of section 3.3's failure detection: a worker that stays silent is
    taken for failed, and no later than the master's timers promise. The master pings every
    PING ticks (a round of its "ping" timer), so FAIL_AFTER whole ping periods of silence are
    FAIL_AFTER + 1 rounds without a status from the worker's current boot, the first of them
    partial; at that round at the latest the master takes it for failed, unless it already
    did since it last heard from it. Counted in the master's rounds from the trace (a paused
    master's timer waits, and a restarted master counts afresh), with the statuses delivered
    to it and its ghost record of failures; never from the master's own counters. A master
    that waits longer leaves a dead worker's tasks, and the maps on its lost disk, unassigned
    for as long."""
    rounds = sim.invariant_state("failed-in-time", _Rounds)
    for kind, time, _, fact in sim.ghost[rounds.facts:]:
        if kind == "failed" and fact["cause"] != "rebooted":
            rounds.suspected.setdefault(time, set()).add(fact["worker"])
    rounds.facts = len(sim.ghost)
    workers = [node for node in sim.servers if node not in (MASTER, STORE)]
    for step in sim.trace[rounds.steps:]:
        event = step.event
        if event == ("restart", MASTER):
            for worker in workers:
                count_from(rounds, worker, step.time)
        elif event[0] == "deliver" and event[2] == MASTER and isinstance(step.detail, Status):
            if step.detail.incarnation >= rounds.boot.get(event[1], 0):
                rounds.boot[event[1]] = step.detail.incarnation
                count_from(rounds, event[1], step.time)
        elif event == ("fire", MASTER, "ping"):
            problem = ping_round(rounds, workers, step.time)
            if problem:
                return problem
    rounds.steps = len(sim.trace)
    return None


def ping_round(rounds: _Rounds, workers: list[str], time: int) -> str | None:
    """Count one of the master's ping rounds; a worker silent for FAIL_AFTER rounds before
    it, and not failed since, must be taken for failed in it."""
    suspected = rounds.suspected.get(time, set())
    for worker in workers:
        silent = rounds.rounds.get(worker, 0)
        if silent >= FAIL_AFTER and worker not in rounds.failed | suspected:
            return f"at its ping round at t={time} the master had not heard from {worker} " \
                   f"for {silent} rounds (since t={rounds.since.get(worker, 0)}), but did " \
                   f"not take it for failed (it does after {FAIL_AFTER} silent ping periods)"
        rounds.rounds[worker] = silent + 1
    rounds.failed |= suspected
    return None


class _Woken:
    """What `user-woken` has read: the tasks the master holds completed, and whether the
    job has been completed yet."""

    def __init__(self) -> None:
        self.steps = 0  # trace steps read
        self.facts = 0  # ghost facts read
        self.completed: set[str] = set()
        self.done = False


@state_invariant("user-woken")
def user_woken(sim: Simulation) -> str | None:
    """Section 3.1, step 7: when all map tasks and reduce tasks have been completed, the
    master wakes up the user program. The step in which the ghost record first shows every
    task of the submitted job completed sends the user a `JobDone`: after it, one is in
    flight to the user, or a later step delivered or dropped it. (A dropped one is made up
    for by the user's resubmission; a master that waits for it has woken nobody.)"""
    seen = sim.invariant_state("user-woken", _Woken)
    job = None if seen.done else submitted(sim)
    if job is None:
        return None
    count_completions(seen.completed, sim.ghost[seen.facts:])
    seen.facts = len(sim.ghost)
    since, seen.steps = seen.steps, len(sim.trace)
    if not seen.completed.issuperset(tasks_of(job)):
        return None
    seen.done, user = True, user_of(sim)
    told = [envelope for envelope in sim.network
            if envelope.dst == user and isinstance(envelope.msg, JobDone)] + \
        [step for step in sim.trace[since:] if step.event[0] in ("deliver", "drop")
         and step.event[2] == user and isinstance(step.detail, JobDone)]
    if told:
        return None
    return f"every task of the job was completed at t={sim.time}, and the master sent " \
           f"{user} no JobDone: the user program is left to find out by resubmitting"


class _Reads:
    """What `read-polls` has read of the history: the reads in progress, and when each was
    called."""

    def __init__(self) -> None:
        self.read = 0  # history events read
        self.pending: dict[str, tuple[Any, int]] = {}  # process -> (partition, call time)


@state_invariant("read-polls")
def read_polls(sim: Simulation) -> str | None:
    """What a read promises its caller, from the client's own constants: it waits for the
    file, polling the store READ_TRIES times READ_TIMEOUT apart, so it says "no such file"
    only from its last poll, (READ_TRIES - 1) * READ_TIMEOUT ticks after its call or later,
    and it returns within READ_TRIES * READ_TIMEOUT ticks (clients are never paused, so
    their timers keep time). A read that gives up sooner makes a downstream job miss output
    that was on its way; one that polls on holds its caller for longer than promised."""
    seen = sim.invariant_state("read-polls", _Reads)
    for event in sim.history[seen.read:]:
        if event.f != "read":
            continue
        if event.type == "invoke":
            seen.pending[event.process] = (event.value, event.time)
            continue
        partition, call = seen.pending.pop(event.process)
        waited = event.time - call
        if event.type == "ok" and event.value is None \
                and waited < (READ_TRIES - 1) * READ_TIMEOUT:
            return f"{event.process}'s read of {final_file(partition)} (called at t={call}) " \
                   f"found no such file at t={event.time}, after {waited} ticks: before " \
                   f"its last poll, due {(READ_TRIES - 1) * READ_TIMEOUT} ticks after the call"
    seen.read = len(sim.history)
    for process, (partition, call) in sorted(seen.pending.items()):
        if sim.time > call + READ_TRIES * READ_TIMEOUT:
            return f"{process}'s read of {final_file(partition)} (called at t={call}) has " \
                   f"not returned by t={sim.time}, {sim.time - call} ticks later (it polls " \
                   f"{READ_TRIES} times, {READ_TIMEOUT} ticks apart)"
    return None


class _Executions:
    """What `reducers-notified` has read: the reduce executions the master has handed out
    and not given up, and the highest assignment number it has seen."""

    def __init__(self) -> None:
        self.facts = 0  # ghost facts read
        self.assigned = 0  # the highest `Assign.seq` seen
        self.running: dict[str, tuple[str, str]] = {}  # attempt -> (task, worker)
        self.sent = -1  # how many messages had been sent when the master's were read


@state_invariant("reducers-notified")
def reducers_notified(sim: Simulation) -> str | None:
    """Section 3.3: when a map task is executed first by worker A and then later by worker
    B (because A failed), all workers executing reduce tasks are notified of the
    re-execution. (While reduce tasks run, every map task completed before; so any map
    completion then is a re-execution.) The reduce executions the master has running are
    read from its messages and its ghost record, never from its table: an `Assign` with a
    new assignment number starts one (a resent or duplicated one repeats a number), and the
    task's completion or the worker's failure ends it. In the step in which the master
    completes a map task, each of them is sent a `Locations` naming the map's new place.
    (An execution handed out in that step learns it from its `Assign`.) Checked after every
    step, so what the step sent is still in flight. (The master's messages are read again
    only once a message was sent since: an `Assign` in flight now and not then is one sent
    since, or a duplicate, which repeats an assignment number.)"""
    seen = sim.invariant_state("reducers-notified", _Executions)
    owed: list[tuple[str, str, str, str]] = []  # (execution, its worker, map attempt, place)
    for kind, _, _, fact in sim.ghost[seen.facts:]:
        if kind == "failed":
            seen.running = {a: run for a, run in seen.running.items()
                            if run[1] != fact["worker"]}
        elif kind == "completed" and fact["task"].startswith(REDUCE):
            seen.running = {a: run for a, run in seen.running.items()
                            if run[0] != fact["task"]}
        elif kind == "completed":
            owed += [(attempt, worker, fact["attempt"], fact["worker"])
                     for attempt, (_, worker) in seen.running.items()]
    seen.facts = len(sim.ghost)
    if not owed and seen.sent == sim.network.sent:
        return None
    seen.sent = sim.network.sent
    sent = [envelope for envelope in sim.network if envelope.src == MASTER]
    for attempt, worker, done, place in owed:
        if not any(envelope.dst == worker and isinstance(envelope.msg, Locations)
                   and repr(envelope.msg.attempt) == attempt
                   and any(repr(m.attempt) == done and m.worker == place
                           for m in envelope.msg.maps) for envelope in sent):
            return f"the master completed {done} on {place} at t={sim.time}, and did not " \
                   f"tell {worker}, running {attempt}, where that map output now is"
    for envelope in sent:
        msg = envelope.msg
        if isinstance(msg, Assign) and msg.seq > seen.assigned:
            if msg.attempt.kind == REDUCE:
                seen.running[repr(msg.attempt)] = (msg.attempt.task, envelope.dst)
    seen.assigned = max([seen.assigned, *(envelope.msg.seq for envelope in sent
                                          if isinstance(envelope.msg, Assign))])
    return None


@state_invariant("one-execution")
@judged_on_change(the_store, history_length)  # the store's disk and the job: all it reads
def one_execution(sim: Simulation) -> str | None:
    """The strong semantics, which the paper promises for deterministic map and reduce
    operators only: the partitions committed so far all come from one sequential execution
    (for a deterministic program, implied by `no-partial-final`)."""
    job = submitted(sim)
    if job is None:
        return None
    files = stored_files(sim)
    committed = {p: files[final_file(p)].records for p in range(job["reduces"])
                 if final_file(p) in files}
    if from_one_execution(committed, outputs_of(job)):
        return None
    shown = "; ".join(f"{final_file(p)} = {show_all(records)}"
                      for p, records in committed.items())
    return f"no single sequential execution of {job['program']} produces all of {shown}: " \
           f"the partitions come from different executions (t={sim.time})"


# --- history invariants: after the ending ----------------------------------------------------


def ops_witness(ops: list[Operation]) -> dict[str, Any]:
    return {"ops": [op.to_json() for op in ops]}


def undone(sim: Simulation, job: dict[str, Any]) -> str:
    """The tasks the master never marked completed, or re-executed since (ghost facts)."""
    completed: set[str] = set()
    count_completions(completed, sim.ghost)
    left = [task for task in tasks_of(job) if task not in completed]
    return f"{', '.join(left)} not completed" if left else "every task completed"


@history_invariant("sequential-output")
def sequential_output(sim: Simulation) -> Verdict:
    """Progress and the paper's guarantee: the job was reported done, and after that every
    partition's final file, as readers read it and as the store holds it, is that
    partition's output in a sequential execution of the program (for a deterministic program,
    the one sequential result). A read during the job finds no file or a whole one."""
    job_op = next((op for op in sim.operations() if op.f == "job"), None)
    if job_op is None:
        return passed("sequential-output", "no job was submitted")
    if job_op.status != OK:
        return violated("sequential-output",
                        f"the job {job_op.args['program']} was never reported done (its call "
                        f"is {job_op.status}): at the end, {undone(sim, job_op.args)}",
                        ops_witness([job_op]))
    outputs = outputs_of(job_op.args)
    confirmed: set[int] = set()
    for op in sim.operations():
        if op.f != "read" or op.status != OK:
            continue
        after = job_op.precedes(op)
        if op.result is None and not after:
            continue
        problem = wrong_partition(op.result, op.args, outputs)
        if problem:
            when = "after the job was done" if after else "during the job"
            return violated("sequential-output",
                            f"{op.process} read {final_file(op.args)} {when}: it {problem}",
                            ops_witness([job_op, op]))
        if after:
            confirmed.add(op.args)
    files = stored_files(sim)
    for partition in range(job_op.args["reduces"]):
        name = final_file(partition)
        problem = wrong_partition(getattr(files.get(name), "records", None), partition,
                                  outputs)
        if problem or partition not in confirmed:
            reason = problem or "no reader confirmed it after the job was done"
            return violated("sequential-output", f"at the end {name} {reason}",
                            ops_witness([job_op]))
    return passed("sequential-output", "every partition equals a sequential execution's")
