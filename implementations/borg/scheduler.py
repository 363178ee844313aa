"""The scheduler: a separate process placing pending tasks on a cached copy of the cell.

Borg 3.2 and 3.4. The scheduler keeps a copy of the cell, brought up to date with the log
the elected master sends it (`Changes`, pushed after every command the master applies, or
asked for with `Sync`). After each update it runs a *pass* over the pending tasks, from high
to low priority, and sends the master what it decided (`PassResult`); the master proposes the
placements as an `Assign` command and, applying it, checks each against the cell as it is
then, since the copy the pass ran on may already be out of date.

A pass places one task at a time, on a scratch copy so that later tasks see earlier ones:

1. *feasibility*: machines that are up, meet the job's constraints, and have room for the
   task's limit — counting as free what tasks of a lower band hold, since those may be
   preempted (lowest priority first, as few as needed);
2. *scoring*: fewest and lowest preemptions first; then spreading: the rack holding fewest
   of the job's tasks; then the policy — `worst-fit` (most room left: E-PVM's spreading of
   load), `best-fit` (least room left: tight packing), or `hybrid`, Borg's, which leaves the
   machine's CPU and RAM as equally free as it can (a machine out of one resource strands
   the other), then packs tightly.

A task in an alloc set goes into an instance of the alloc with room; it preempts nobody, and
nobody preempts it or the alloc.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from checker.node import Context, Node
from implementations.borg.cell import BANDS, Cell, Deployment, Task, band, is_prod
from implementations.borg.messages import Changes, PassResult, Placement, Sync

SYNC = 300  # the scheduler asks every replica for the log this often, in case a push was lost


class Placer:
    """The scheduling algorithm, on a cell."""

    def __init__(self, scoring: str) -> None:
        self.scoring = scoring

    def may_preempt(self, task: Task, victim: Task) -> bool:
        """Borg 2.5: only a task of a lower band, so that production tasks never preempt one
        another and preemptions do not cascade."""
        return BANDS.index(band(victim.job.priority)) < BANDS.index(band(task.job.priority))

    def schedule(self, cell: Cell) -> tuple[list[Placement], list[str]]:
        placements: list[Placement] = []
        unplaceable: list[str] = []
        if not any(t.pending for t in cell.tasks.values()):
            return placements, unplaceable
        scratch = cell.copy()
        pending = [t for t in scratch.tasks.values() if t.pending]
        for task in sorted(pending, key=lambda t: -t.job.priority):  # stable: admission order
            placement = self.place(scratch, task)
            if placement is None:
                unplaceable.append(task.name)
            else:
                placements.append(placement)
                scratch.assign(placement)
        return placements, unplaceable

    def place(self, cell: Cell, task: Task) -> Placement | None:
        options = []
        for machine in cell.deployment.machines:
            for placement in self.options(cell, task, machine.name):
                options.append((self.score(cell, task, placement), placement))
        return min(options, key=lambda option: option[0])[1] if options else None

    def options(self, cell: Cell, task: Task, machine: str) -> list[Placement]:
        if task.job.alloc is not None:
            instances = [t.name for t in cell.holding(machine) if t.job.name == task.job.alloc]
            return [Placement(task.name, task.incarnation, machine, instance)
                    for instance in instances
                    if cell.placement_problem(task, machine, instance, ()) is None]
        victims = self.victims(cell, task, machine)
        return [] if victims is None else [Placement(task.name, task.incarnation, machine,
                                                     None, victims)]

    def victims(self, cell: Cell, task: Task, machine: str) -> tuple[str, ...] | None:
        """The fewest preemptions, lowest priority first, that make room; None: none do."""
        chosen: tuple[str, ...] = ()
        if cell.placement_problem(task, machine, None, chosen) is None:
            return chosen
        candidates = sorted((t for t in cell.holding(machine)
                             if not t.job.is_alloc and self.may_preempt(task, t)),
                            key=lambda t: (t.job.priority, t.name))
        for victim in candidates:
            chosen += (victim.name,)
            if cell.placement_problem(task, machine, None, chosen) is None:
                return chosen
        return None

    def score(self, cell: Cell, task: Task, placement: Placement) -> tuple:
        """Lower is better."""
        machine = cell.deployment.machine(placement.machine)
        preempted = [cell.tasks[v].job.priority for v in placement.victims]
        left = self.room_left(cell, task, placement)
        return (len(preempted), sum(preempted), cell.rack_count(task.job.name, machine.rack),
                self.policy(left), placement.machine, placement.alloc or "")

    def room_left(self, cell: Cell, task: Task, placement: Placement
                  ) -> tuple[Fraction, Fraction]:
        """The machine's free share of CPU and of RAM once the task is there: exact, so that
        machines the policy ranks alike tie, whatever their capacities."""
        capacity = cell.deployment.machine(placement.machine).capacity
        if placement.alloc is not None:
            return Fraction(0), Fraction(0)
        used = cell.used(placement.machine, is_prod(task.job.priority), placement.victims)
        return (Fraction(capacity[0] - used[0] - task.job.cpu, capacity[0]),
                Fraction(capacity[1] - used[1] - task.job.ram, capacity[1]))

    def policy(self, left: tuple[Fraction, Fraction]) -> tuple[Fraction, ...]:
        cpu, ram = left
        if self.scoring == "worst-fit":
            return (-(cpu + ram),)
        if self.scoring == "best-fit":
            return (cpu + ram,)
        return abs(cpu - ram), cpu + ram  # hybrid: strand neither resource, then pack


class SameBandPreemption(Placer):
    """Seeded bug: any lower priority may be preempted, within the band too.

    Breaks: a production task preempts a production task of lower priority, which, pending
    again, may preempt another: the cascade Borg's bands exist to stop.
    Caught by: preemption-only-lower-band. Teaches: Borg 2.5, "we disallow tasks in the
    production priority band to preempt one another".
    """

    def may_preempt(self, task: Task, victim: Task) -> bool:
        return victim.job.priority < task.job.priority


class Scheduler(Node):
    """Keeps the cached cell and runs a pass whenever it changes."""

    def __init__(self, node_id: str, deployment: Deployment, cell: type[Cell],
                 placer: type[Placer]) -> None:
        super().__init__(node_id)
        self.deployment = deployment
        self._cell_class = cell
        self._placer = placer(deployment.scoring)

    def on_start(self, ctx: Context) -> None:
        self.cache = self._cell_class(self.deployment)
        self.master: str | None = None
        ctx.set_timer("sync", SYNC)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if not isinstance(msg, Changes):
            return
        if msg.first > self.cache.version:  # a push after a gap: ask for what is missing
            ctx.send(src, Sync(self.cache.version))
            return
        for command in msg.commands[self.cache.version - msg.first:]:
            self.cache.apply(command)
        self.cache.events.clear()
        self.master = src
        self.run_pass(ctx)

    def on_timer(self, ctx: Context, name: str) -> None:
        for replica in self.deployment.replicas:
            ctx.send(replica, Sync(self.cache.version))
        ctx.set_timer("sync", SYNC)

    def run_pass(self, ctx: Context) -> None:
        placements, pending = self._placer.schedule(self.cache)
        if placements or pending:
            ctx.note("pass", based_on=self.cache.version, placed=tuple(placements),
                     pending=tuple(pending))
        ctx.send(self.master, PassResult(self.cache.version, tuple(placements), tuple(pending)))
