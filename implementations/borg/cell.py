"""The cell's state: machines, jobs and tasks, changed only by commands from the Paxos log.

Borg section 3.1: the Borgmaster's state — jobs, tasks, where each runs, which machines are
down — is kept in a Paxos-based store; the elected master mutates it, and each replica holds
a copy in memory. Here every change is a command (`messages.py`) chosen in the log of the
Borgmaster's Paxos cell and applied in log order by `Cell.apply`, on every Borgmaster
replica and on the scheduler's cached copy alike, so all of them hold the same cell at the
same log position (`version`).

A task is *pending* (no machine), *assigned* to a machine, or *killing* there (preempted, or
its job killed: the Borglet was told to stop it and has not confirmed). A task that becomes
pending again comes back as a new *incarnation*, so that a copy left running somewhere is
never taken for the current one.

`placement_problem` is the feasibility test the scheduler places with and the master checks
placements against when applying them: the machine is up, has the attribute the job needs,
the rack has room under the job's max_per_rack, and the task's limit fits what the machine
holds once the named victims are gone — counting the other tasks by their limits for a prod
task, by their reservations (reclaimed resources) for a non-prod one.
"""

from __future__ import annotations

from typing import Any

import attrs

from implementations.borg.messages import (
    Assign,
    Evicted,
    Job,
    KillJob,
    MachineDown,
    MachineUp,
    Placement,
    Reserve,
    Submit,
    TasksGone,
)

Resources = tuple[int, int]  # (CPU cores, RAM GiB)

PRODUCTION, BATCH, BEST_EFFORT = "production", "batch", "best-effort"
BANDS = (BEST_EFFORT, BATCH, PRODUCTION)  # lowest first


def band(priority: int) -> str:
    """Borg 2.5's bands, fewer of them: production from 200, batch from 100, best effort."""
    return PRODUCTION if priority >= 200 else BATCH if priority >= 100 else BEST_EFFORT


def is_prod(priority: int) -> bool:
    return band(priority) == PRODUCTION


def fits(used: Resources, demand: Resources, capacity: Resources) -> bool:
    return used[0] + demand[0] <= capacity[0] and used[1] + demand[1] <= capacity[1]


def add(a: Resources, b: Resources) -> Resources:
    return a[0] + b[0], a[1] + b[1]


@attrs.frozen
class Machine:
    name: str
    rack: str  # its failure domain
    capacity: Resources
    attributes: tuple[str, ...] = ()


@attrs.frozen
class Deployment:
    """The cell as the operator set it up; every node and every check reads the same."""

    replicas: tuple[str, ...]  # the Borgmaster's Paxos replicas
    scheduler: str
    machines: tuple[Machine, ...]
    quota: tuple[tuple[str, str, Resources], ...]  # (user, band, limit); other bands are free
    scoring: str  # the scheduler's policy: hybrid, best-fit or worst-fit

    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)

    def quota_of(self, user: str, of_band: str) -> Resources | None:
        return next((limit for who, b, limit in self.quota if (who, b) == (user, of_band)), None)


@attrs.define
class Task:
    job: Job
    index: int
    incarnation: int = 1
    machine: str | None = None
    alloc: str | None = None  # the alloc instance it runs in, for a job inside an alloc
    killing: bool = False
    reservation: Resources = (0, 0)

    @property
    def name(self) -> str:
        return f"{self.job.name}/{self.index}"

    @property
    def pending(self) -> bool:
        return self.machine is None


class Cell:
    """The replicated state machine. `apply` returns the answer a client gets (for its own
    commands) and records what it decided in `events`, for the ghost record."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.version = 0  # log slots applied
        self.jobs: dict[str, Job] = {}  # admitted and not killed, in admission order
        self.outcomes: dict[str, str] = {}  # job -> "admitted", "killed" or "rejected: why"
        self.tasks: dict[str, Task] = {}
        self.down: dict[str, None] = {}  # machines marked down
        self.events: list[tuple] = []

    def copy(self) -> Cell:
        other = type(self)(self.deployment)
        other.version, other.jobs = self.version, dict(self.jobs)
        other.outcomes = dict(self.outcomes)
        other.tasks = {name: attrs.evolve(task) for name, task in self.tasks.items()}
        other.down = dict(self.down)
        return other

    def apply(self, command: Any) -> Any:
        self.version += 1
        match command:
            case Submit(_, _, job):
                return self.submit(job)
            case KillJob(_, _, job):
                return self.kill_job(job)
            case Assign(_, placements):
                for placement in placements:
                    self.assign(placement)
            case MachineDown(machine):
                self.mark_down(machine)
            case MachineUp(machine) if machine in self.down:
                del self.down[machine]
                self.events.append(("up", machine))
            case TasksGone(machine, tasks):
                for name, incarnation in tasks:
                    task = self.tasks.get(name)
                    if task is not None and task.killing and task.machine == machine \
                            and task.incarnation == incarnation:
                        self.events.append(("gone", name, incarnation, machine))
                        self.unassign(task)
            case Evicted(machine, tasks):
                for name, incarnation in tasks:
                    task = self.tasks.get(name)
                    if task is not None and self.running_on(task, machine, incarnation):
                        self.events.append(("evicted", name, incarnation, machine))
                        self.unassign(task)
            case Reserve(changes):
                for name, incarnation, amount in changes:
                    task = self.tasks.get(name)
                    if task is not None and not task.pending \
                            and self.running_on(task, task.machine, incarnation):
                        task.reservation = amount
                        self.events.append(("reserved", name, incarnation, amount))
        return None

    # --- admission and kills ----------------------------------------------------------------

    def submit(self, job: Job) -> str:
        """Admission control (Borg 2.5): a job over its user's quota at its band is rejected
        at once; one admitted has all its tasks pending. A retried submission gets the
        outcome the first one had."""
        if job.name not in self.outcomes:
            problem = self.quota_problem(job)
            if problem is None:
                self.jobs[job.name] = job
                for index in range(job.tasks):
                    task = Task(job, index, reservation=job.limit)
                    self.tasks[task.name] = task
                self.outcomes[job.name] = "admitted"
                self.events.append(("admitted", job))
            else:
                self.outcomes[job.name] = f"rejected: {problem}"
                self.events.append(("rejected", job))
        return self.outcomes[job.name]

    def quota_problem(self, job: Job) -> str | None:
        if job.alloc is not None:
            alloc = self.jobs.get(job.alloc)
            return None if alloc is not None and alloc.is_alloc else f"no alloc set {job.alloc}"
        quota = self.deployment.quota_of(job.user, band(job.priority))
        if quota is None:
            return None
        used = (0, 0)
        for other in self.jobs.values():
            if other.user == job.user and band(other.priority) == band(job.priority):
                used = add(used, other.charge)
        if fits(used, job.charge, quota):
            return None
        return f"over {job.user}'s {band(job.priority)} quota of {quota[0]} cpu {quota[1]} GiB"

    def kill_job(self, name: str) -> str:
        """Pending tasks go at once; assigned ones are killed by their Borglets first. An
        alloc set is killed only once no job runs in it."""
        job = self.jobs.get(name)
        if job is None:
            return f"no job {name}"
        if any(other.alloc == name for other in self.jobs.values()):
            return f"jobs still run in {name}"
        del self.jobs[name]
        self.outcomes[name] = "killed"
        self.events.append(("killed", name))
        for task in [t for t in self.tasks.values() if t.job.name == name]:
            if task.pending:
                del self.tasks[task.name]
            else:
                task.killing = True
        return "killed"

    # --- placements and their end -----------------------------------------------------------

    def assign(self, placement: Placement) -> None:
        """A placement names the incarnation the scheduler saw pending: if the task has moved
        on (placed meanwhile, its job killed) or its machine is down, it is out of date and
        dropped. Otherwise the master checks it against the cell as it is now (`revalidate`):
        the scheduler placed it on a cached copy that may be stale (Borg 3.4)."""
        task = self.tasks.get(placement.task)
        if task is None or not task.pending or task.incarnation != placement.incarnation \
                or placement.machine in self.down:
            return
        if self.revalidate(task, placement) is not None:
            return
        preempted = tuple(v for v in placement.victims if v in self.tasks
                          and self.running_on(self.tasks[v], placement.machine))
        for victim in preempted:
            self.tasks[victim].killing = True
        task.machine, task.alloc = placement.machine, placement.alloc
        self.events.append(("placed", task.name, task.incarnation, placement.machine,
                            placement.alloc, preempted))

    def revalidate(self, task: Task, placement: Placement) -> str | None:
        """Why the placement no longer holds in the cell as it is now, or None."""
        return self.placement_problem(task, placement.machine, placement.alloc,
                                      placement.victims)

    def mark_down(self, machine: str) -> None:
        """Borg 3.3: a machine that does not answer is marked down and its tasks are
        rescheduled — here, pending again as their next incarnation."""
        if machine in self.down:
            return
        self.down[machine] = None
        self.events.append(("down", machine))
        for task in [t for t in self.tasks.values() if t.machine == machine]:
            self.unassign(task)

    def unassign(self, task: Task) -> None:
        """The task's incarnation is over: pending as the next one, or gone with its job."""
        if task.job.name not in self.jobs:
            del self.tasks[task.name]
            return
        task.incarnation += 1
        task.machine, task.alloc, task.killing = None, None, False
        task.reservation = task.job.limit

    # --- what the cell holds ----------------------------------------------------------------

    @staticmethod
    def running_on(task: Task, machine: str | None, incarnation: int | None = None) -> bool:
        return task.machine == machine and not task.killing \
            and incarnation in (None, task.incarnation)

    def on_machine(self, machine: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.machine == machine]

    def holding(self, machine: str) -> list[Task]:
        """The tasks holding the machine's own resources: assigned, and not inside an alloc
        (those hold their alloc's). A task being killed no longer counts: its kill travels
        in the same poll as, and before, the start of whatever took its place."""
        return [t for t in self.on_machine(machine) if not t.killing and t.alloc is None]

    def used(self, machine: str, for_prod: bool, leaving: tuple[str, ...] = ()) -> Resources:
        """What the machine's tasks hold, but for `leaving`: by their limits when placing a
        prod task, by their reservations otherwise."""
        used = (0, 0)
        for task in self.holding(machine):
            if task.name not in leaving:
                used = add(used, task.job.limit if for_prod else task.reservation)
        return used

    def alloc_room(self, instance: Task) -> Resources:
        used = (0, 0)
        for task in self.tasks.values():
            if task.alloc == instance.name and not task.killing:
                used = add(used, task.job.limit)
        return instance.job.limit[0] - used[0], instance.job.limit[1] - used[1]

    def rack_count(self, job: str, rack: str) -> int:
        return sum(1 for t in self.tasks.values() if t.job.name == job and not t.pending
                   and not t.killing and self.deployment.machine(t.machine).rack == rack)

    def placement_problem(self, task: Task, machine: str, alloc: str | None,
                          victims: tuple[str, ...]) -> str | None:
        """Why `task` cannot go to `machine` (into `alloc`, once `victims` are gone), or
        None. Which victims a task may preempt is the scheduler's policy, not checked here."""
        job, spec = task.job, self.deployment.machine(machine)
        if machine in self.down:
            return f"{machine} is down"
        if job.constraint is not None and job.constraint not in spec.attributes:
            return f"{machine} has no {job.constraint}"
        if job.max_per_rack is not None \
                and self.rack_count(job.name, spec.rack) >= job.max_per_rack:
            return f"{spec.rack} already holds {job.max_per_rack} of {job.name}'s tasks"
        if job.alloc is not None:
            instance = self.tasks.get(alloc or "")
            if instance is None or instance.job.name != job.alloc \
                    or not self.running_on(instance, machine):
                return f"{alloc} is not an instance of {job.alloc} on {machine}"
            return None if fits((0, 0), job.limit, self.alloc_room(instance)) \
                else f"{alloc} has no room"
        for victim in victims:
            other = self.tasks.get(victim)
            if other is None or not self.running_on(other, machine) or other.alloc is not None:
                return f"{victim} no longer runs on {machine}"
        used = self.used(machine, is_prod(job.priority), victims)
        if not fits(used, job.limit, spec.capacity):
            return f"{machine} holds {used[0]} cpu {used[1]} GiB of {spec.capacity[0]} cpu " \
                   f"{spec.capacity[1]} GiB"
        return None


class StaleCacheAssign(Cell):
    """Seeded bug: the master applies the scheduler's placements as they come.

    Breaks: the scheduler placed them on its cached copy of the cell; when that copy was
    stale, the resources it counted as free may since have gone to another task, and the
    machine's prod tasks now add up to more than its capacity.
    Caught by: no-prod-overcommit. Teaches: Borg 3.4: the master accepts the scheduler's
    assignments "unless they are inappropriate (e.g., based on out of date state)".
    """

    def revalidate(self, task: Task, placement: Placement) -> str | None:
        return None
