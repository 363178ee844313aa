"""The invariants. Each reads what the implementation cannot fake: the program the driver was
asked to run and what it and the readers were told (the history), the store's disk, the
executors' memory (their cached partitions and shuffle outputs), the store's ghost record
of task and job commits, the driver's ghost records of the executors it took for lost and
the jobs it aborted, and the messages the trace delivered. What they must hold comes from
`models/spark.py` evaluating the same program sequentially. None asks the driver what it
thinks.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from checker.sim import Simulation, Step
from checker.system import history_invariant, state_invariant
from implementations.spark import program
from implementations.spark.messages import (
    DRIVER,
    EXPIRE,
    OUTPUT,
    STORE,
    SUCCESS,
    CanCommit,
    CommitDenied,
    FetchFailed,
    Heartbeat,
    LaunchTask,
    RegisterExecutor,
    TaskFailed,
    TaskFinished,
    TaskKilled,
)
from invariants.history import OK
from invariants.verdict import Verdict, passed, violated
from models.spark import SequentialContext, evaluate, reproduces, same_rows

Checkpoints = tuple[tuple[str, tuple], ...]  # (dataset, its saved partitions), sorted


@functools.cache
def model(checkpoints: Checkpoints = ()) -> SequentialContext:
    """The program evaluated sequentially, from the checkpoints saved so far."""
    return evaluate(program.page_views, program.INPUT, dict(checkpoints),
                    checkpoint=bool(checkpoints))


def result() -> tuple[tuple, ...]:
    """The job's fault-free result, partition by partition."""
    return model().result.partitions


def stored(sim: Simulation) -> dict[str, Any]:
    """The store's files as its disk holds them (what survives its crashes)."""
    return sim.contexts[STORE].storage.items().get("files", {})


def of_store(sim: Simulation, name: str, derive: Callable[[dict[str, Any]], Any]) -> Any:
    """`derive(files)` of the store's files, derived again only when they change (every
    change puts a new dict on the store's disk)."""
    memo = sim.invariant_state(name, lambda: [None, None])
    files = stored(sim)
    if memo[0] is not files:
        memo[:] = [files, derive(files)]
    return memo[1]


def published(files: dict[str, Any]) -> dict[str, tuple]:
    return {name: rows for name, rows in sorted(files.items())
            if name.startswith(f"{OUTPUT}/part-")}


def by_partition(files: dict[str, tuple]) -> dict[int, tuple]:
    """The rows of each partition: those of all its files, `out/part-<p>-t<tid>`."""
    rows: dict[int, tuple] = {p: () for p in range(len(result()))}
    for name, part in files.items():
        rows[int(name.removeprefix(f"{OUTPUT}/part-").split("-")[0])] += part
    return rows


def difference(rows: tuple, expected: tuple) -> str:
    """What is wrong with a partition's rows, in words."""
    have, want = Counter(rows), Counter(expected)
    extra = sorted((have - want).elements(), key=repr)
    missing = sorted((want - have).elements(), key=repr)
    parts = [f"{', '.join(map(show, extra))} too many" if extra else "",
             f"{', '.join(map(show, missing))} missing" if missing else ""]
    return "; ".join(p for p in parts if p)


def show(row: Any) -> str:
    return repr(row).replace("'", "")


def facts(sim: Simulation, name: str, kind: str) -> list[dict]:
    """The ghost facts of `kind` recorded since this invariant last looked."""
    seen = sim.invariant_state(name, lambda: [0])
    new = [fact for k, _, _, fact in sim.ghost[seen[0]:] if k == kind]
    seen[0] = len(sim.ghost)
    return new


# --- state invariants: after every step ------------------------------------------------------


@state_invariant("one-commit-per-partition")
def one_commit_per_partition(sim: Simulation) -> str | None:
    """At most one task attempt commits each output partition of a job (as the store
    records its task commits)."""
    committed = sim.invariant_state("one-commit-per-partition/committed", dict)
    for fact in facts(sim, "one-commit-per-partition", "task-committed"):
        key = (fact["job"], fact["partition"])
        if key in committed:
            return f"partition {fact['partition']} of job {fact['job']} was committed twice: " \
                   f"by t{committed[key]}, then by t{fact['tid']} (t={sim.time})"
        committed[key] = fact["tid"]
    return None


@state_invariant("output-is-the-result")
def output_is_the_result(sim: Simulation) -> str | None:
    """Once the output is published (`_SUCCESS`), each partition of it holds the rows of the
    fault-free result, each as often (in any order)."""
    problem = of_store(sim, "output-is-the-result", output_problem)
    return f"{problem} (t={sim.time})" if problem else None


def output_problem(files: dict[str, Any]) -> str | None:
    if SUCCESS not in files:
        return None
    for partition, rows in by_partition(published(files)).items():
        expected = result()[partition]
        if not same_rows(rows, expected):
            return f"the published partition {partition} is not the result: " \
                   f"{difference(rows, expected)}"
    return None


@state_invariant("output-never-changes")
def output_never_changes(sim: Simulation) -> str | None:
    """The output directory is published once, by one job commit, and never changes after:
    no file appears in it, leaves it or changes but by that commit."""
    first = sim.invariant_state("output-never-changes/published", dict)
    for fact in facts(sim, "output-never-changes", "job-committed"):
        if first:
            return f"job {fact['job']} published the output again, over job " \
                   f"{first['job']}'s (t={sim.time})"
        first.update(job=fact["job"], files=fact["files"])
    now = of_store(sim, "output-never-changes/files", published)
    if now != first.get("files", {}):
        changed = sorted(set(now) ^ set(first.get("files", {})) or
                         {name for name in now if now[name] != first["files"][name]})
        return f"{changed[0]} changed in the output directory, which " + \
            (f"job {first['job']} published" if first else "no job published") + \
            f" (t={sim.time})"
    return None


@state_invariant("lineage-reproduces")
def lineage_reproduces(sim: Simulation) -> str | None:
    """A partition computed again from its lineage is the partition the program defines: for
    a determinate RDD the same rows in the same order, for an unordered one the same rows in
    some order (indeterminate ones may differ). Checked for every cached partition and every
    shuffle map output in the executors' memory, and every checkpoint file in the store."""
    checked, problem = of_store(sim, "lineage-reproduces/files", lambda files: (
        model(saved_checkpoints(files)), checkpoints_problem(files)))
    if problem:
        return f"{problem} (t={sim.time})"
    seen = sim.invariant_state("lineage-reproduces", set)
    for node in sim.servers:
        executor = sim.nodes[node]
        if node == STORE or executor is None:
            continue
        for key, rows in list(executor.cache.items()):
            if (node, executor.incarnation, "cache", key) not in seen:
                dataset = checked.datasets[key[0]]
                if not reproduces(dataset.level, rows, dataset.partitions[key[1]]):
                    return f"{node} holds partition {key[1]} of {key[0]} as {show(rows)}, " \
                           f"but it is {show(dataset.partitions[key[1]])} (t={sim.time})"
                seen.add((node, executor.incarnation, "cache", key))
        for key, buckets in list(executor.shuffle.items()):
            if (node, executor.incarnation, "shuffle", key) not in seen:
                problem = map_output_problem(checked, key, buckets)
                if problem:
                    return f"{node} holds {problem} (t={sim.time})"
                seen.add((node, executor.incarnation, "shuffle", key))
    return None


@state_invariant("lost-only-when-gone-or-silent")
def lost_only_when_gone_or_silent(sim: Simulation) -> str | None:
    """The driver takes an executor process for lost only when it is gone (it crashed, or
    another process replaced it: an executor whose connection to the driver breaks exits) or
    when the driver has received no registration or heartbeat of it for EXPIRE ticks: taking
    a live process it hears from for lost throws away its map outputs and cached partitions
    for nothing. Judged from the driver's ghost record of losses, the nodes, and the
    heartbeats the trace delivered to the driver; one delivered at the loss's own tick is
    not counted, as the check does not order it against the loss. (Skew and drift move only
    servers' clocks: the driver, a client, measures silence in true time, as the check.)"""
    heard = heartbeats_heard(sim)
    for fact in facts(sim, "lost-only-when-gone-or-silent", "executor-lost"):
        process = (fact["executor"], fact["incarnation"])
        node = sim.nodes[process[0]]
        if node is None or node.incarnation != process[1]:
            continue
        last = max((t for t in heard.get(process, ()) if t < sim.time), default=None)
        if last is not None and sim.time - last < EXPIRE:
            return f"the driver took {process[0]} (process {process[1]}) for lost at " \
                   f"t={sim.time}, though it runs and was heard from at t={last}, " \
                   f"{sim.time - last} < {EXPIRE} ticks before"
    return None


def heartbeats_heard(sim: Simulation) -> dict[tuple[str, int], list[int]]:
    """When the driver received each executor process's registration and heartbeats, from
    the trace so far."""
    seen = sim.invariant_state("lost-only-when-gone-or-silent/heard", lambda: [0, {}])
    for step in sim.trace[seen[0]:]:
        kind, *where = step.event
        if kind == "deliver" and where[1] == DRIVER and \
                isinstance(step.detail, (RegisterExecutor, Heartbeat)):
            seen[1].setdefault((where[0], step.detail.incarnation), []).append(step.time)
    seen[0] = len(sim.trace)
    return seen[1]


@state_invariant("abort-only-when-needed")
def abort_only_when_needed(sim: Simulation) -> str | None:
    """The driver aborts a job (and runs it again) only in the step where finishing it could
    no longer be trusted: where an attempt that asked to commit a partition fails before it
    reported (its TaskFailed reaches the driver, or the driver takes its process for lost:
    its output may or may not be committed, SPARK-39195), or where a fetch failure reaches
    the driver from a job that has saved result partitions (an indeterminate stage retried
    could not be rolled back past them). Any other task failure is retried, and an abort
    would throw the job's work away. Judged from the messages the trace delivered (tasks
    launched, their requests to commit and their reports to the driver) and the driver's
    ghost records of losses and aborts; a report from a process already taken for lost is
    one the driver ignores."""
    witness = sim.invariant_state("abort-only-when-needed", AbortWitness)
    steps, witness.steps = sim.trace[witness.steps:], len(sim.trace)
    facts, witness.facts = sim.ghost[witness.facts:], len(sim.ghost)
    needed: set[int] = set()  # the jobs this step gives the driver cause to abort
    for step in steps:
        needed |= witness.delivered(step)
    for kind, _, _, fact in facts:
        if kind == "executor-lost":
            needed |= witness.process_lost((fact["executor"], fact["incarnation"]))
        elif kind == "job-aborted" and fact["job"] not in needed:
            return f"the driver aborted job {fact['job']} at t={sim.time}, though no " \
                   f"attempt of it that asked to commit failed and no fetch failure " \
                   f"followed a saved partition of it"
    return None


@attrs.define
class AbortWitness:
    """What the trace has shown so far of the tasks: each launched task's job and whether
    it is a result task, the attempts that asked to commit and have not reported since,
    the jobs with a result partition saved, and the executor processes taken for lost."""

    steps: int = 0
    facts: int = 0
    launched: dict[int, tuple[int, bool]] = attrs.Factory(dict)  # tid -> (job, result task)
    asking: dict[int, tuple[str, int]] = attrs.Factory(dict)  # tid -> its process
    saved: set[int] = attrs.Factory(set)  # jobs
    lost: set[tuple[str, int]] = attrs.Factory(set)

    def delivered(self, step: Step) -> set[int]:
        """Read one step; the jobs whose abort its delivery to the driver would justify."""
        kind, *where = step.event
        msg = step.detail
        if kind != "deliver":
            return set()
        if isinstance(msg, LaunchTask):
            self.launched[msg.task.tid] = (msg.task.job, msg.task.writes is None)
        if where[1] != DRIVER or getattr(msg, "tid", None) not in self.launched or \
                (where[0], getattr(msg, "incarnation", None)) in self.lost:
            return set()
        job, result_task = self.launched[msg.tid]
        if isinstance(msg, CanCommit):
            self.asking[msg.tid] = (where[0], msg.incarnation)
            return set()
        if not isinstance(msg, (TaskFinished, TaskFailed, FetchFailed, TaskKilled,
                                CommitDenied)):
            return set()
        was_asking = self.asking.pop(msg.tid, None) is not None
        if isinstance(msg, TaskFinished) and result_task:
            self.saved.add(job)
        failed_committer = isinstance(msg, TaskFailed) and was_asking
        retry_past_saved = isinstance(msg, FetchFailed) and job in self.saved
        return {job} if failed_committer or retry_past_saved else set()

    def process_lost(self, process: tuple[str, int]) -> set[int]:
        """The process is taken for lost: the jobs of the attempts on it that asked to
        commit and have not reported."""
        self.lost.add(process)
        failed = [tid for tid, where in self.asking.items() if where == process]
        for tid in failed:
            del self.asking[tid]
        return {self.launched[tid][0] for tid in failed}


def checkpoint_parts(files: dict[str, Any]) -> dict[str, dict[int, tuple]]:
    """The checkpoint files saved: dataset -> partition -> rows."""
    parts: dict[str, dict[int, tuple]] = {}
    for name in sorted(files):
        if name.startswith("checkpoint/") and "/part-" in name:
            _, dataset, part = name.split("/")
            parts.setdefault(dataset, {})[int(part.removeprefix("part-"))] = files[name]
    return parts


def saved_checkpoints(files: dict[str, Any]) -> Checkpoints:
    """The checkpoints whose every part is saved: the lineage starts from them."""
    return tuple((name, tuple(parts[p] for p in range(len(parts))))
                 for name, parts in checkpoint_parts(files).items()
                 if len(parts) == len(model().datasets[name].partitions))


def checkpoints_problem(files: dict[str, Any]) -> str | None:
    for dataset, parts in checkpoint_parts(files).items():
        saved = model().datasets[dataset]
        for partition, rows in parts.items():
            expected = saved.partitions[partition]
            if not reproduces(saved.level, rows, expected):
                return f"the checkpoint of {dataset} partition {partition} holds " \
                       f"{show(rows)}, but that partition is {show(expected)}"
    return None


def map_output_problem(checked: SequentialContext, key: tuple[str, int, int],
                       buckets: tuple) -> str | None:
    shuffle, partition, tid = key
    expected = checked.shuffles[shuffle]
    for reduce, rows in enumerate(buckets):
        want = expected.buckets[partition][reduce]
        if not reproduces(expected.level, rows, want):
            return f"bucket {reduce} of t{tid}'s output of {shuffle} partition {partition} " \
                   f"as {show(rows)}, but it is {show(want)}"
    return None


# --- history invariant: after the ending -----------------------------------------------------


@history_invariant("saved-result")
def saved_result(sim: Simulation) -> Verdict:
    """Progress and the result: the program returned (its job was done), the files it was
    told hold the output are those published; every read after it returned saw its
    partition of the fault-free result, and every partition was read then; a read before saw
    nothing or the whole partition."""
    ops = sim.operations()
    run = next((op for op in ops if op.f == "run"), None)
    if run is None:
        return passed("saved-result", "the program was not run")
    if run.status != OK:
        aborted = sum(1 for kind, *_ in sim.ghost if kind == "job-aborted")
        return violated("saved-result", f"the program never returned (its call is "
                                        f"{run.status}; {aborted} job(s) aborted)",
                        {"ops": [run.to_json()]})
    confirmed: set[int] = set()
    for op in ops:
        if op.f != "read" or op.status != OK:
            continue
        after = run.precedes(op)
        if op.result is None and not after:
            continue
        rows = tuple(tuple(row) for row in op.result or ())
        expected = result()[op.args]
        if op.result is None or not same_rows(rows, expected):
            when = "after the program returned" if after else "while it ran"
            what = "nothing" if op.result is None else difference(rows, expected)
            return violated("saved-result", f"{op.process} read partition {op.args} {when}: "
                                            f"{what}", {"ops": [run.to_json(), op.to_json()]})
        if after:
            confirmed.add(op.args)
    files = published(stored(sim))
    if sorted(files) != sorted(run.result):
        return violated("saved-result", f"the program was told the output is {run.result}, "
                                        f"but the store holds {sorted(files)}",
                        {"ops": [run.to_json()]})
    unread = [p for p in range(len(result())) if p not in confirmed]
    if unread:
        return violated("saved-result", f"partition {unread[0]} was never read after the "
                                        f"program returned", {"ops": [run.to_json()]})
    return passed("saved-result", "every partition read is the fault-free result's")
