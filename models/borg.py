"""Borg's cell as its decisions account for it: the model a Borgmaster must refine.

Verma et al., "Large-scale cluster management at Google with Borg" (EuroSys 2015). A cell is
a set of machines, each with CPU and RAM, in racks (failure domains). Users submit jobs: a
priority, a number of identical tasks, each task's resource limit, and constraints. A task
is pending, placed on a machine (running there, or about to), or being killed there (its
machine was told to stop it and has not confirmed yet). Every decision the Borgmaster takes
is one of the events below; this model replays them and keeps the resource accounting:

| event | what the cell decided |
|---|---|
| `admit(job)` / `reject(job)` | admission control: within its user's quota at its band, or not |
| `place(task, machine, victims)` | the task runs there; the victims are preempted |
| `gone(task)` | a task being killed is confirmed dead: pending again, next incarnation |
| `mark_down(m)` / `mark_up(m)` | the machine stopped answering (its tasks pend again) / rejoined |
| `evict(task)` | its machine ran out of resources and killed it: pending again |
| `reserve(task, amount)` | resource reclamation: its reservation, toward its observed usage |
| `kill_job(job)` | the user's kill: its placed tasks are being killed, pending ones dropped |

Each event returns what is inconsistent about it (a task placed that was not pending, a
machine brought up that was up), or None. The rules the cell must keep are pure functions of
the model, below the class: quota, preemption only of a lower band, no prod over-commit,
spreading across racks, and — with z3 as the judge — whether a task left pending had a
placement at all. This module imports nothing of the implementation's.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple

import z3

Resources = tuple[int, int]  # (CPU cores, RAM GiB)
BANDS = ("best-effort", "batch", "production")  # lowest first


def band(priority: int) -> int:
    """The priority band, as an index into BANDS: production from 200, batch from 100."""
    return 2 if priority >= 200 else 1 if priority >= 100 else 0


def prod(priority: int) -> bool:
    return band(priority) == 2


def show(amount: Resources) -> str:
    return f"{amount[0]} cpu {amount[1]} GiB"


def plus(a: Resources, b: Resources) -> Resources:
    return a[0] + b[0], a[1] + b[1]


def within(amount: Resources, limit: Resources) -> bool:
    return amount[0] <= limit[0] and amount[1] <= limit[1]


def total(amounts: Iterable[Resources]) -> Resources:
    result = (0, 0)
    for amount in amounts:
        result = plus(result, amount)
    return result


class MachineSpec(NamedTuple):
    name: str
    rack: str
    capacity: Resources
    attributes: tuple[str, ...]


class JobSpec(NamedTuple):
    """A job as its user submitted it. `alloc` names the alloc set its tasks run in (they use
    the alloc's resources, not the machine's); `is_alloc` makes the job an alloc set, whose
    'tasks' are reservations of resources on machines."""

    name: str
    user: str
    priority: int
    tasks: int
    limit: Resources
    constraint: str | None = None  # a machine attribute the tasks require
    max_per_rack: int | None = None  # a hard limit of the job's tasks in one failure domain
    alloc: str | None = None
    is_alloc: bool = False

    def charge(self) -> Resources:
        """What the job counts against its user's quota: its tasks' limits, unless it runs
        inside an alloc (the alloc was charged)."""
        if self.alloc is not None:
            return 0, 0
        return self.limit[0] * self.tasks, self.limit[1] * self.tasks


class Placed(NamedTuple):
    job: JobSpec
    incarnation: int
    machine: str
    alloc: str | None  # the alloc instance (a task of the alloc set) it runs in
    reservation: Resources
    killing: bool = False


def job_of(task: str) -> str:
    return task.rsplit("/", 1)[0]


class CellModel:
    """The machines, the live jobs, and where every task of them is."""

    def __init__(self, machines: Iterable[MachineSpec], quota: dict[tuple[str, int], Resources],
                 ) -> None:
        self.machines = {m.name: m for m in machines}
        self.quota = quota  # (user, band) -> limit; a band with no entry is free
        self.down: dict[str, None] = {}
        self.jobs: dict[str, JobSpec] = {}  # admitted and not killed
        self.outcome: dict[str, str] = {}  # job -> admitted, rejected or killed
        self.pending: dict[str, int] = {}  # task -> its incarnation
        self.placed: dict[str, Placed] = {}

    def copy(self) -> CellModel:
        other = CellModel((), self.quota)
        other.machines = self.machines
        other.down, other.jobs, other.outcome = dict(self.down), dict(self.jobs), dict(self.outcome)
        other.pending, other.placed = dict(self.pending), dict(self.placed)
        return other

    # --- the cell's decisions -----------------------------------------------------------------

    def admit(self, job: JobSpec) -> str | None:
        if job.name in self.outcome:
            return f"{job.name} was admitted after being {self.outcome[job.name]}"
        self.jobs[job.name] = job
        self.outcome[job.name] = "admitted"
        for index in range(job.tasks):
            self.pending[f"{job.name}/{index}"] = 1
        return None

    def reject(self, job: JobSpec) -> str | None:
        if job.name in self.outcome:
            return f"{job.name} was rejected after being {self.outcome[job.name]}"
        self.outcome[job.name] = "rejected"
        return None

    def kill_job(self, name: str) -> str | None:
        if name not in self.jobs:
            return f"{name} was killed while not running"
        del self.jobs[name]
        self.outcome[name] = "killed"
        for task in [t for t in self.pending if job_of(t) == name]:
            del self.pending[task]
        for task, where in self.placed.items():
            if job_of(task) == name:
                self.placed[task] = where._replace(killing=True)
        return None

    def place(self, task: str, incarnation: int, machine: str, alloc: str | None,
              victims: Iterable[str]) -> str | None:
        if self.pending.get(task) != incarnation:
            state = f"at {self.placed[task].machine}" if task in self.placed else "not pending"
            return f"{task}#{incarnation} was placed on {machine} but is {state}"
        if machine in self.down:
            return f"{task}#{incarnation} was placed on {machine}, which is down"
        victims = list(victims)
        for victim in victims:
            where = self.placed.get(victim)
            if where is None or where.machine != machine or where.killing:
                return f"{task} preempted {victim}, which was not running on {machine}"
        for victim in victims:
            self.placed[victim] = self.placed[victim]._replace(killing=True)
        job = self.jobs[job_of(task)]
        del self.pending[task]
        self.placed[task] = Placed(job, incarnation, machine, alloc, job.limit)
        return None

    def gone(self, task: str, incarnation: int, machine: str) -> str | None:
        where = self.placed.get(task)
        if where is None or not where.killing or where.machine != machine \
                or where.incarnation != incarnation:
            return f"{task}#{incarnation} was confirmed dead on {machine} but was not being " \
                   f"killed there"
        self._unplace(task)
        return None

    def evict(self, task: str, incarnation: int, machine: str) -> str | None:
        where = self.placed.get(task)
        if where is None or where.killing or where.machine != machine \
                or where.incarnation != incarnation:
            return f"{task}#{incarnation} was evicted from {machine} but was not running there"
        self._unplace(task)
        return None

    def mark_down(self, machine: str) -> str | None:
        if machine in self.down:
            return f"{machine} was marked down twice"
        self.down[machine] = None
        for task in [t for t, where in self.placed.items() if where.machine == machine]:
            self._unplace(task)
        return None

    def mark_up(self, machine: str) -> str | None:
        if machine not in self.down:
            return f"{machine} was marked up while up"
        del self.down[machine]
        return None

    def reserve(self, task: str, incarnation: int, amount: Resources) -> str | None:
        where = self.placed.get(task)
        if where is None or where.incarnation != incarnation:
            return f"{task}#{incarnation} got a reservation but is not placed"
        self.placed[task] = where._replace(reservation=amount)
        return None

    def _unplace(self, task: str) -> None:
        """Its incarnation is over: the task is pending as the next one, if its job lives."""
        where = self.placed.pop(task)
        if job_of(task) in self.jobs:
            self.pending[task] = where.incarnation + 1

    # --- what the cell holds ------------------------------------------------------------------

    def on(self, machine: str) -> dict[str, Placed]:
        """Every task placed on the machine, being killed or not."""
        return {t: where for t, where in self.placed.items() if where.machine == machine}

    def holding(self, machine: str) -> dict[str, Placed]:
        """The tasks holding the machine's own resources: placed, not being killed, and not
        inside an alloc (those hold their alloc's)."""
        return {t: where for t, where in self.on(machine).items()
                if not where.killing and where.alloc is None}

    def in_alloc(self, instance: str) -> dict[str, Placed]:
        return {t: where for t, where in self.placed.items()
                if where.alloc == instance and not where.killing}

    def rack_count(self, job: str, rack: str) -> int:
        return sum(1 for t, where in self.placed.items() if job_of(t) == job and not where.killing
                   and self.machines[where.machine].rack == rack)

    def job_usage(self, user: str, of_band: int) -> Resources:
        return total(job.charge() for job in self.jobs.values()
                     if job.user == user and band(job.priority) == of_band)


# --- the rules ---------------------------------------------------------------------------------


def quota_problem(cell: CellModel, job: JobSpec, admitted: bool) -> str | None:
    """Admission control (Borg 2.5): a job is admitted only within its user's quota at its
    band, and rejected only over it (or when the alloc it names is not running). `cell` is
    the cell before the decision."""
    limit = cell.quota.get((job.user, band(job.priority)))
    used = cell.job_usage(job.user, band(job.priority))
    over = limit is not None and not within(plus(used, job.charge()), limit)
    missing_alloc = job.alloc is not None \
        and (job.alloc not in cell.jobs or not cell.jobs[job.alloc].is_alloc)
    if admitted and (over or missing_alloc):
        why = f"{job.user}'s {BANDS[band(job.priority)]} quota is {show(limit)}, {show(used)} " \
              f"in use" if over else f"its alloc {job.alloc} is not running"
        return f"{job.name} was admitted, asking {show(job.charge())}, but {why}"
    if not admitted and not (over or missing_alloc):
        room = "unlimited" if limit is None else f"{show(limit)} with {show(used)} in use"
        return f"{job.name} was rejected, asking {show(job.charge())}, within quota ({room})"
    return None


def preemption_problem(task: str, job: JobSpec, victim: str, victim_job: JobSpec) -> str | None:
    """Preemption only of a lower band (Borg 2.5: production tasks do not preempt one
    another, so that preemptions do not cascade)."""
    if band(victim_job.priority) < band(job.priority):
        return None
    return (f"{task} ({BANDS[band(job.priority)]}, priority {job.priority}) preempted {victim} "
            f"({BANDS[band(victim_job.priority)]}, priority {victim_job.priority})")


def overcommit_problem(machine: MachineSpec, running: dict[str, tuple[JobSpec, str | None]],
                       ) -> str | None:
    """No prod over-commit (Borg 5.5: prod tasks are placed by their limits, never into
    reclaimed resources): on each machine the limits of the prod tasks and allocs it runs fit
    its capacity, and the limits of the tasks in each alloc instance fit the alloc.
    `running`: task -> (its job, the alloc instance it runs in)."""
    top = {t: job for t, (job, alloc) in running.items() if alloc is None and prod(job.priority)}
    used = total(job.limit for job in top.values())
    if not within(used, machine.capacity):
        return (f"{machine.name} runs prod tasks whose limits add up to {show(used)}, over its "
                f"capacity {show(machine.capacity)}: {', '.join(sorted(top))}")
    for instance in sorted({alloc for _, alloc in running.values() if alloc is not None}):
        inside = {t: job for t, (job, alloc) in running.items() if alloc == instance}
        used = total(job.limit for job in inside.values())
        size = running[instance][0].limit if instance in running else (0, 0)
        if not within(used, size):
            return (f"alloc {instance} on {machine.name} holds tasks whose limits add up to "
                    f"{show(used)}, over its {show(size)}: {', '.join(sorted(inside))}")
    return None


def counted(where: Placed, for_prod: bool) -> Resources:
    """What a placed task counts for on its machine when placing another task: its limit for
    a prod task (which never relies on reclaimed resources), its reservation otherwise."""
    return where.job.limit if for_prod else where.reservation


def room_without_preemption(cell: CellModel, job: JobSpec, machine: str) -> bool:
    """Whether a task of `job` could be placed on `machine` as it is, preempting nobody."""
    if not statically_possible(cell, job, machine):
        return False
    if job.alloc is not None:
        return any(within(job.limit, alloc_room(cell, instance))
                   for instance in alloc_instances(cell, job.alloc, machine))
    used = total(counted(where, prod(job.priority)) for where in cell.holding(machine).values())
    return within(plus(used, job.limit), cell.machines[machine].capacity)


def statically_possible(cell: CellModel, job: JobSpec, machine: str) -> bool:
    """Up, with the attribute the job requires, and under its limit of tasks per rack."""
    spec = cell.machines[machine]
    if machine in cell.down or job.constraint not in (None, *spec.attributes):
        return False
    return job.max_per_rack is None or cell.rack_count(job.name, spec.rack) < job.max_per_rack


def alloc_instances(cell: CellModel, alloc: str, machine: str) -> list[str]:
    return sorted(t for t, where in cell.holding(machine).items() if job_of(t) == alloc)


def alloc_room(cell: CellModel, instance: str) -> Resources:
    size = cell.placed[instance].job.limit
    used = total(where.job.limit for where in cell.in_alloc(instance).values())
    return size[0] - used[0], size[1] - used[1]


def spread_problem(cell: CellModel, task: str, machine: str) -> str | None:
    """Spreading across failure domains when feasible (Borg 3.2): a task placed without
    preemption goes to a rack holding as few of its job's tasks as any rack where it would
    fit without preemption. `cell` is the state the scheduler placed it in."""
    job = cell.jobs[job_of(task)]
    chosen = cell.machines[machine].rack
    here = cell.rack_count(job.name, chosen)
    for other in sorted(cell.machines):
        rack = cell.machines[other].rack
        if cell.rack_count(job.name, rack) < here and room_without_preemption(cell, job, other):
            return (f"{task} was placed on {machine} in {chosen}, which already holds {here} "
                    f"of {job.name}'s tasks, while {other} in {rack}, holding "
                    f"{cell.rack_count(job.name, rack)}, had room for it")
    return None


def room_left(cell: CellModel, job: JobSpec, machine: str) -> tuple[Fraction, Fraction]:
    """The machine's free share of CPU and of RAM once a task of `job` is there, preempting
    nobody (exact: the policies compare these)."""
    used = total(counted(where, prod(job.priority)) for where in cell.holding(machine).values())
    capacity = cell.machines[machine].capacity
    return (Fraction(capacity[0] - used[0] - job.limit[0], capacity[0]),
            Fraction(capacity[1] - used[1] - job.limit[1], capacity[1]))


def policy_rank(scoring: str, left: tuple[Fraction, Fraction]) -> tuple[Fraction, ...]:
    """How the scoring policy ranks the room a placement leaves, lowest preferred (Borg 3.2):
    worst-fit leaves the most room (E-PVM's spreading of load), best-fit the least (tight
    packing), hybrid leaves CPU and RAM as equally free as it can, then the least room."""
    cpu, ram = left
    if scoring == "worst-fit":
        return (-(cpu + ram),)
    if scoring == "best-fit":
        return (cpu + ram,)
    return abs(cpu - ram), cpu + ram


def policy_problem(cell: CellModel, task: str, machine: str, scoring: str) -> str | None:
    """After spreading, the scoring policy: a task placed without preemption and outside an
    alloc goes to a machine whose room left the policy ranks no lower than that of any other
    machine where the task would fit without preemption, in a rack holding as many of its
    job's tasks. `cell` is the state the scheduler placed it in."""
    job = cell.jobs[job_of(task)]
    if job.alloc is not None:
        return None
    spread = cell.rack_count(job.name, cell.machines[machine].rack)
    chosen = room_left(cell, job, machine)
    for other in sorted(cell.machines):
        if other == machine or not room_without_preemption(cell, job, other) \
                or cell.rack_count(job.name, cell.machines[other].rack) != spread:
            continue
        left = room_left(cell, job, other)
        if policy_rank(scoring, left) < policy_rank(scoring, chosen):
            return (f"{task} was placed on {machine}, leaving {show_share(chosen)} free, while "
                    f"{other}, as spread, would have left {show_share(left)}, which {scoring} "
                    f"prefers")
    return None


def show_share(left: tuple[Fraction, Fraction]) -> str:
    return f"{left[0]} of its cpu and {left[1]} of its RAM"


# --- z3, the judge of the scheduler -----------------------------------------------------------


class Question(NamedTuple):
    """Does `task` have a placement in this cell? The question in SMT-LIB, and what its
    variables stand for."""

    task: str
    smt: str
    machines: tuple[str, ...]  # `on` = i means the task goes to machines[i]
    victims: dict[str, tuple[str, str]]  # variable -> (machine, task it preempts)


class Answer(NamedTuple):
    placement: str | None  # z3's witness in words; None: no placement exists
    undecided: bool  # z3 ran out of its resource budget


def placement_question(cell: CellModel, task: str, label: str) -> Question:
    """The constraints of a placement of `task`: a machine that is up, has the attribute the
    job requires and room in its rack (max_per_rack); for a task in an alloc, an instance of
    the alloc on it with room; otherwise a set of victims, each of a lower band and outside
    any alloc, whose removal leaves room for the task's limit in both dimensions — counting
    the other tasks by their limits for a prod task, by their reservations otherwise."""
    job = cell.jobs[job_of(task)]
    on = f"{label}_on"
    declarations, disjuncts = [f"(declare-const {on} Int)"], []
    victims: dict[str, tuple[str, str]] = {}
    machines: list[str] = []
    for machine in sorted(cell.machines):
        spec = cell.machines[machine]
        if not statically_possible(cell, job, machine):
            continue
        index = len(machines)
        machines.append(machine)
        if job.alloc is not None:
            fits = [_fits([], (0, 0), job.limit, alloc_room(cell, instance))
                    for instance in alloc_instances(cell, job.alloc, machine)]
            disjuncts.append(f"(and (= {on} {index}) (or false {' '.join(fits)}))")
            continue
        fixed, preemptable = (0, 0), []
        for other, where in sorted(cell.holding(machine).items()):
            amount = counted(where, prod(job.priority))
            if band(where.job.priority) < band(job.priority) and not where.job.is_alloc:
                name = f"{label}_v{len(victims)}"
                victims[name] = (machine, other)
                declarations.append(f"(declare-const {name} Bool)")
                preemptable.append((name, amount))
            else:
                fixed = plus(fixed, amount)
        disjuncts.append(f"(and (= {on} {index}) "
                         f"{_fits(preemptable, fixed, job.limit, spec.capacity)})")
    smt = "\n".join([*declarations, f"(assert (or false {' '.join(disjuncts)}))"])
    return Question(task, smt, tuple(machines), victims)


def _fits(preemptable: list[tuple[str, Resources]], fixed: Resources, demand: Resources,
          capacity: Resources) -> str:
    """In each dimension: what stays (victims removed) plus the demand fits the capacity."""
    conditions = []
    for d in range(2):
        kept = " ".join(f"(ite {name} 0 {amount[d]})" for name, amount in preemptable)
        conditions.append(f"(<= (+ 0 {kept} {fixed[d] + demand[d]}) {capacity[d]})")
    return f"(and {' '.join(conditions)})"


_CONTEXT: list[z3.Context] = []  # one per process: making one costs tens of milliseconds


class Judge:
    """One z3 solver for the questions of one run (each in its own scope), with a budget in
    z3's resource units so that a verdict never depends on the machine. The witness of a
    placement is made canonical — the first machine by name where one exists, and on it the
    fewest victims, earliest first — so that it does not depend on which model z3 happened
    to find (in a context that earlier runs of the process have used)."""

    def __init__(self, rlimit: int) -> None:
        if not _CONTEXT:
            _CONTEXT.append(z3.Context())
        self.context = _CONTEXT[0]
        self.solver = z3.SimpleSolver(ctx=self.context)
        self.solver.set("rlimit", rlimit)
        self.asked = 0

    def ask(self, cell: CellModel, task: str) -> Answer:
        self.asked += 1
        question = placement_question(cell, task, f"q{self.asked}")
        self.solver.push()
        try:
            self.solver.from_string(question.smt)
            outcome = self.solver.check()
            witness = self._witness(cell, question) if outcome == z3.sat else None
        finally:
            self.solver.pop()
        return Answer(witness, outcome == z3.unknown)

    def _witness(self, cell: CellModel, question: Question) -> str:
        """Fix the machine, then keep out each victim that can be kept out, asking z3 each
        time; what is left satisfies the question (the last check was sat)."""
        on = z3.Int(f"q{self.asked}_on", self.context)
        machine = next(m for i, m in enumerate(question.machines)
                       if self._still_sat(on == i))
        self.solver.add(on == question.machines.index(machine))
        chosen = []
        for name, (where, victim) in question.victims.items():
            if where == machine and not self._still_sat(z3.Not(z3.Bool(name, self.context))):
                chosen.append(victim)
            elif where == machine:
                self.solver.add(z3.Not(z3.Bool(name, self.context)))
        job = cell.jobs[job_of(question.task)]
        if job.alloc is not None:
            return f"{machine}, in an instance of {job.alloc} with room for {show(job.limit)}"
        kept = {t: w for t, w in cell.holding(machine).items() if t not in chosen}
        used = total(counted(w, prod(job.priority)) for w in kept.values())
        preempting = f" after preempting {', '.join(chosen)}" if chosen else ""
        return (f"{machine}{preempting}: {show(used)} held + {show(job.limit)} asked "
                f"<= {show(cell.machines[machine].capacity)}")

    def _still_sat(self, condition: z3.BoolRef) -> bool:
        self.solver.push()
        self.solver.add(condition)
        outcome = self.solver.check()
        self.solver.pop()
        return outcome == z3.sat
