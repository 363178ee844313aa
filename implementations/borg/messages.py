"""Borg's messages, by who sends them to whom, and the commands of the Borgmaster's log.

Resources are (CPU cores, RAM GiB). A task is named `job/index`; `#n` is its incarnation.
"""

from __future__ import annotations

from typing import Any

import attrs

# --- what users submit ------------------------------------------------------------------------


@attrs.frozen(repr=False)
class Job:
    """A job: `tasks` identical tasks, each limited to `cpu` cores and `ram` GiB. `constraint`
    is a machine attribute the tasks need; `max_per_rack` a hard limit of its tasks in one
    failure domain; `alloc` the alloc set its tasks run in; `is_alloc` makes this job an
    alloc set, whose tasks are reservations that other jobs' tasks run inside (Borg 2.4)."""

    name: str
    user: str
    priority: int
    tasks: int
    cpu: int
    ram: int
    constraint: str | None = None
    max_per_rack: int | None = None
    alloc: str | None = None
    is_alloc: bool = False

    @property
    def limit(self) -> tuple[int, int]:
        return self.cpu, self.ram

    @property
    def charge(self) -> tuple[int, int]:
        """What the job counts against its user's quota: nothing inside an alloc, whose own
        resources were charged."""
        if self.alloc is not None:
            return 0, 0
        return self.cpu * self.tasks, self.ram * self.tasks

    def __repr__(self) -> str:
        kind = "alloc set, " if self.is_alloc else ""
        extra = "".join([f", needs {self.constraint}" if self.constraint else "",
                         f", ≤{self.max_per_rack}/rack" if self.max_per_rack else "",
                         f", in {self.alloc}" if self.alloc else ""])
        return (f"{self.name}[{self.user}, {kind}prio {self.priority}: {self.tasks} x "
                f"{self.cpu}cpu/{self.ram}G{extra}]")


# --- clients and the Borgmaster; the first two are also commands of its log --------------------


@attrs.frozen
class Submit:
    client: str
    req: int
    job: Job


@attrs.frozen
class KillJob:
    client: str
    req: int
    job: str


@attrs.frozen
class Outcome:
    """The answer to a Submit or a KillJob: admitted, rejected: why, killed, ..."""

    req: int
    outcome: str


@attrs.frozen
class Status:
    """Where are my jobs' tasks? Answered once the cell has settled."""

    req: int


@attrs.frozen
class StatusOk:
    req: int
    tasks: tuple[tuple[str, str | None], ...]  # (task, its machine, or None: pending)


@attrs.frozen
class NotSettled:
    req: int


@attrs.frozen
class NotMaster:
    req: int
    hint: str | None


# --- the scheduler and the Borgmaster ---------------------------------------------------------


@attrs.frozen(repr=False)
class Placement:
    """The scheduler's decision for one pending task: `machine` (and the alloc instance it
    runs in), preempting `victims`."""

    task: str
    incarnation: int
    machine: str
    alloc: str | None = None
    victims: tuple[str, ...] = ()

    def __repr__(self) -> str:
        inside = f" in {self.alloc}" if self.alloc else ""
        preempting = f" preempting {', '.join(self.victims)}" if self.victims else ""
        return f"{self.task}#{self.incarnation}→{self.machine}{inside}{preempting}"


@attrs.frozen
class Sync:
    """The scheduler asks for the log from slot `have` on."""

    have: int


@attrs.frozen
class Changes:
    """Log slots `first`, `first + 1`, ... as chosen (None: a no-op)."""

    first: int
    commands: tuple[Any, ...]


@attrs.frozen
class PassResult:
    """A scheduling pass over the cell as of `based_on` (log slots applied): the placements,
    and the tasks it found no place for."""

    based_on: int
    placements: tuple[Placement, ...]
    pending: tuple[str, ...]


# --- the Borgmaster's other commands ------------------------------------------------------------


@attrs.frozen
class Assign:
    based_on: int
    placements: tuple[Placement, ...]


@attrs.frozen
class MachineDown:
    machine: str


@attrs.frozen
class MachineUp:
    machine: str


@attrs.frozen
class TasksGone:
    """The Borglet no longer runs these (task, incarnation)s it was told to kill."""

    machine: str
    tasks: tuple[tuple[str, int], ...]


@attrs.frozen
class Evicted:
    """The Borglet killed these to free resources its machine ran out of."""

    machine: str
    tasks: tuple[tuple[str, int], ...]


@attrs.frozen
class Reserve:
    """Resource reclamation: new reservations, (task, incarnation, (cpu, ram))."""

    changes: tuple[tuple[str, int, tuple[int, int]], ...]


# --- the Borgmaster and the Borglets ------------------------------------------------------------


@attrs.frozen(repr=False)
class TaskSpec:
    """What a Borglet needs to start a task."""

    task: str
    incarnation: int
    priority: int
    limit: tuple[int, int]
    alloc: str | None = None  # the alloc instance it runs in
    is_alloc: bool = False

    def __repr__(self) -> str:
        inside = f" in {self.alloc}" if self.alloc else ""
        kind = " alloc" if self.is_alloc else ""
        return f"{self.task}#{self.incarnation}[{self.priority}{kind} " \
               f"{self.limit[0]}cpu/{self.limit[1]}G{inside}]"


@attrs.frozen
class Poll:
    """The master's periodic poll (Borg 3.3), fenced by its Paxos ballot and a sequence
    number, carrying the outstanding requests: kills first, then starts."""

    ballot: Any
    seq: int
    sent_at: int  # the master's clock, echoed back: when the machine was last heard of
    kill: tuple[tuple[str, int], ...]
    start: tuple[TaskSpec, ...]


@attrs.frozen
class Report:
    """The Borglet's answer to the poll (`ballot`, `seq`): each running (task, incarnation,
    cpu used, ram used), and the incarnations it evicted for lack of resources."""

    ballot: Any
    seq: int
    sent_at: int
    running: tuple[tuple[str, int, int, int], ...]
    evicted: tuple[tuple[str, int], ...]
