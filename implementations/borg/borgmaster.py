"""The Borgmaster: the cell's state on Paxos, and the elected master's work (Borg 3.1, 3.3).

Each replica is an SSO replica (`implementations/sso.py`: Multi-Paxos from `paxos_core` with a
master lease) whose state machine is the cell (`cell.py`). The elected master is the one
that, up to date and holding its lease, acts:

- it admits and kills jobs, by proposing the client's command and answering once applied;
- it pushes every command it applies to the scheduler, and proposes the placements the
  scheduler sends back (`Assign`), checked again when applied;
- it polls every Borglet every POLL ticks, with the outstanding requests: kills for its tasks
  being killed, starts for the tasks assigned to it that its last report did not show;
- from the reports: tasks confirmed dead (`TasksGone`), tasks evicted (`Evicted`), and each
  task's usage, from which it recomputes reservations every RESERVE ticks (`Reserve`: a
  task's reservation grows at once to its usage plus a margin when it uses more, and shrinks
  to that once the task has run RECLAIM_AFTER ticks — resource reclamation, Borg 5.5);
- a machine it has not heard from for DOWN_AFTER ticks is marked down (`MachineDown`): its
  tasks are rescheduled. When it answers again, the master tells it to kill every task it
  still runs — those were rescheduled elsewhere — and only once it runs none does it rejoin
  the cell (`MachineUp`).

Only reports that answer the latest poll to a machine count for its state (an older one may
predate a start or a kill); any report shows it alive. `Status` is answered once the cell
has settled: no machine down, nothing being killed or proposed, the scheduler's last pass
made on the current cell, and every Borglet running exactly what the cell assigns it.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context
from implementations import sso
from implementations.borg.cell import Cell, Deployment, Task
from implementations.borg.messages import (
    Assign,
    Changes,
    Evicted,
    KillJob,
    MachineDown,
    MachineUp,
    NotMaster,
    NotSettled,
    Outcome,
    PassResult,
    Poll,
    Report,
    Reserve,
    Status,
    StatusOk,
    Submit,
    Sync,
    TasksGone,
    TaskSpec,
)
from implementations.paxos_core import CANDIDATE, MASTER

POLL = 100  # the master polls every Borglet this often
DOWN_AFTER = 300  # a machine not heard from for this long is marked down
RESERVE = 100  # reservations are recomputed this often
RECLAIM_AFTER = 100  # a task's reservation shrinks toward its usage once it ran this long
MARGIN = (1, 1)  # the safety margin a reservation keeps above usage
RENEW = 200  # the master renews its lease this often (sso.LEASE covers it easily)
CANDIDATE_TICK = 50


class Borgmaster(sso.Replica):
    def __init__(self, node_id: str, replicas: tuple[str, ...], deployment: Deployment,
                 cell: type[Cell] = Cell) -> None:
        super().__init__(node_id, replicas)
        self.deployment = deployment
        self._cell_class = cell

    def on_start(self, ctx: Context) -> None:
        self.cell = self._cell_class(self.deployment)  # before `boot` replays the log into it
        self.reset_link(ctx)
        super().on_start(ctx)

    def reset_link(self, ctx: Context) -> None:
        """What only the acting master keeps, in memory: the link to the Borglets."""
        machines = [m.name for m in self.deployment.machines]
        self.heard = dict.fromkeys(machines, ctx.now())  # the latest poll each answered
        self.polled: dict[str, tuple[int, int]] = {}  # machine -> (seq, version) of the last poll
        self.reports: dict[str, Report] = {}  # answers to those polls
        self.to_kill: dict[str, tuple[tuple[str, int], ...]] = {}  # machines marked down
        self.seq = 0
        self.usage: dict[tuple[str, int], tuple[int, int]] = {}
        self.first_seen: dict[tuple[str, int], int] = {}
        self.asked: dict[Any, None] = {}  # commands proposed and not applied yet
        self.scheduled = -1  # the cell version the scheduler's last pass was made on

    def acting(self, ctx: Context) -> bool:
        return self.up_to_date() and self.lease_valid(ctx)

    def on_elected(self, ctx: Context) -> None:
        super().on_elected(ctx)
        self.reset_link(ctx)
        ctx.set_timer("poll", POLL)
        ctx.set_timer("reserve", RESERVE)

    def on_deposed(self, ctx: Context) -> None:
        super().on_deposed(ctx)
        self.asked = {}

    def propose_once(self, ctx: Context, command: Any) -> None:
        if command not in self.asked:
            self.asked[command] = None
            self.propose(ctx, command)

    def tick_period(self, ctx: Context) -> int:
        """The master renews its lease every RENEW; a candidate waits at least CANDIDATE_TICK
        between looks at its election (the cell's timers are slow: no need to hurry)."""
        if self.role == MASTER and not self.cut_off(ctx):
            return RENEW
        if self.role == CANDIDATE:
            return max(CANDIDATE_TICK, super().tick_period(ctx))
        return super().tick_period(ctx)

    def cut_off(self, ctx: Context) -> bool:
        return self.role == MASTER and ctx.now() - self.last_renewal > RENEW + sso.SILENT

    # --- messages and timers ----------------------------------------------------------------

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Submit() | KillJob():
                if self.role != MASTER:
                    ctx.send(src, NotMaster(msg.req, self.master_hint))
                elif self.acting(ctx) and self.decided(msg):
                    ctx.send(src, Outcome(msg.req, self.cell.outcomes[self.job_of(msg)]))
                else:
                    self.propose_once(ctx, msg)  # answered in `apply`
            case Status(req):
                if not self.acting(ctx):
                    ctx.send(src, NotMaster(req, self.master_hint))
                elif self.settled():
                    ctx.send(src, StatusOk(req, self.placements_of(src)))
                else:
                    ctx.send(src, NotSettled(req))
            case Sync(have) if self.acting(ctx) and have <= self.applied:
                ctx.send(src, Changes(have, tuple(self.chosen[s] for s in
                                                  range(have, self.applied))))
            case PassResult() if self.role == MASTER:
                self.on_pass(ctx, msg)
            case Report() if self.role == MASTER:
                self.on_report(ctx, src, msg)
            case Sync() | PassResult() | Report():
                pass
            case _:
                super().on_message(ctx, src, msg)

    @staticmethod
    def job_of(request: Submit | KillJob) -> str:
        return request.job.name if isinstance(request, Submit) else request.job

    def decided(self, request: Submit | KillJob) -> bool:
        """A retried request the cell has already decided is answered from the cell (the
        acting master's is up to date), without a new round of Paxos."""
        outcome = self.cell.outcomes.get(self.job_of(request))
        return outcome is not None and (isinstance(request, Submit) or outcome == "killed")

    def on_timer(self, ctx: Context, name: str) -> None:
        if name in ("poll", "reserve"):
            if self.role != MASTER:
                return
            ctx.set_timer(name, POLL if name == "poll" else RESERVE)
            if self.acting(ctx):
                self.poll(ctx) if name == "poll" else self.reserve(ctx)
        else:
            super().on_timer(ctx, name)

    def apply(self, ctx: Context, slot: int, value: Any) -> None:
        answer = self.cell.apply(value)
        for index, event in enumerate(self.cell.events):
            ctx.note("cell", slot=slot, index=index, event=event)
        self.cell.events.clear()
        self.asked.pop(value, None)
        if self.role == MASTER:
            if isinstance(value, (Submit, KillJob)):
                ctx.send(value.client, Outcome(value.req, answer))
            ctx.send(self.deployment.scheduler, Changes(slot, (value,)))

    # --- the scheduler ----------------------------------------------------------------------

    def on_pass(self, ctx: Context, msg: PassResult) -> None:
        """Propose the pass's placements of tasks still pending as the pass saw them and not
        being placed already; the cell checks them again when the command is applied."""
        self.scheduled = msg.based_on
        placing = {p.task for command in self.asked if isinstance(command, Assign)
                   for p in command.placements}
        placements = tuple(p for p in msg.placements if p.task not in placing
                           and self.still_pending(p.task, p.incarnation))
        if placements:
            self.propose_once(ctx, Assign(msg.based_on, placements))

    def still_pending(self, name: str, incarnation: int) -> bool:
        task = self.cell.tasks.get(name)
        return task is not None and task.pending and task.incarnation == incarnation

    # --- the Borglets -----------------------------------------------------------------------

    def poll(self, ctx: Context) -> None:
        for machine in self.heard:
            if machine not in self.cell.down and ctx.now() - self.heard[machine] > DOWN_AFTER:
                self.propose_once(ctx, MachineDown(machine))
            self.seq += 1
            self.polled[machine] = (self.seq, self.cell.version)
            kill, start = self.requests(machine)
            ctx.send(machine, Poll(self.ballot, self.seq, ctx.now(), kill, start))

    def requests(self, machine: str) -> tuple[tuple, tuple]:
        """Kills, then starts, for the machine. A machine marked down is assigned nothing:
        it is sent only the kills `reconnect` decided."""
        if machine in self.cell.down:
            return self.to_kill.get(machine, ()), ()
        shown = self.reports.get(machine)
        running = {(t, i) for t, i, *_ in shown.running} if shown else set()
        tasks = self.cell.on_machine(machine)
        kill = tuple((t.name, t.incarnation) for t in tasks if t.killing)
        start = tuple(spec(t) for t in sorted(tasks, key=lambda t: not t.job.is_alloc)
                      if not t.killing and (t.name, t.incarnation) not in running)
        return kill, start

    def on_report(self, ctx: Context, machine: str, report: Report) -> None:
        self.heard[machine] = max(self.heard[machine], report.sent_at)
        if (report.ballot, report.seq) != (self.ballot, self.polled.get(machine, (None,))[0]):
            return  # an answer to an older poll: alive, but maybe no longer so
        self.reports[machine] = report
        if machine in self.cell.down:
            self.reconnect(ctx, machine, tuple((t, i) for t, i, *_ in report.running))
            return
        self.to_kill.pop(machine, None)
        running = {(t, i) for t, i, *_ in report.running}
        for t, i, cpu, ram in report.running:
            self.usage[(t, i)] = (cpu, ram)
            self.first_seen.setdefault((t, i), ctx.now())
        tasks = self.cell.on_machine(machine)
        gone = tuple((t.name, t.incarnation) for t in tasks
                     if t.killing and (t.name, t.incarnation) not in running)
        evicted = tuple((t.name, t.incarnation) for t in tasks
                        if not t.killing and (t.name, t.incarnation) in report.evicted)
        if gone:
            self.propose_once(ctx, TasksGone(machine, gone))
        if evicted:
            self.propose_once(ctx, Evicted(machine, evicted))

    def reconnect(self, ctx: Context, machine: str, running: tuple[tuple[str, int], ...]) -> None:
        """Borg 3.3: "If communication is restored the Borgmaster tells the Borglet to kill
        those tasks that have been rescheduled, to avoid duplicates." Everything a machine
        marked down runs was rescheduled; it rejoins once it runs nothing."""
        if running:
            self.to_kill[machine] = running
        else:
            self.propose_once(ctx, MachineUp(machine))

    def reserve(self, ctx: Context) -> None:
        """Each task's reservation: up to its usage plus MARGIN as soon as it uses more than
        its reservation, down to that once it has run RECLAIM_AFTER; never above its limit.
        Allocs, and the tasks inside them, keep their whole limit."""
        changes = []
        for task in self.cell.tasks.values():
            key = (task.name, task.incarnation)
            if task.pending or task.killing or task.alloc or task.job.is_alloc \
                    or key not in self.usage:
                continue
            usage = self.usage[key]
            target = (min(task.job.cpu, usage[0] + MARGIN[0]),
                      min(task.job.ram, usage[1] + MARGIN[1]))
            grew = usage[0] > task.reservation[0] or usage[1] > task.reservation[1]
            aged = ctx.now() - self.first_seen[key] >= RECLAIM_AFTER
            if target != task.reservation and (grew or aged):
                changes.append((task.name, task.incarnation, target))
        if changes:
            self.propose_once(ctx, Reserve(tuple(changes)))

    # --- status ------------------------------------------------------------------------------

    def settled(self) -> bool:
        cell = self.cell
        if cell.down or self.asked or self.proposals or self.scheduled != cell.version \
                or any(t.killing for t in cell.tasks.values()):
            return False
        for machine in self.heard:
            report = self.reports.get(machine)
            if report is None or self.polled.get(machine) != (report.seq, cell.version):
                return False
            assigned = {(t.name, t.incarnation) for t in cell.on_machine(machine)}
            if {(t, i) for t, i, *_ in report.running} != assigned:
                return False
        return True

    def placements_of(self, user: str) -> tuple[tuple[str, str | None], ...]:
        return tuple((t.name, t.machine) for t in self.cell.tasks.values() if t.job.user == user)


def spec(task: Task) -> TaskSpec:
    return TaskSpec(task.name, task.incarnation, task.job.priority, task.job.limit, task.alloc,
                    task.job.is_alloc)


class ReconnectNoKill(Borgmaster):
    """Seeded bug: a machine marked down rejoins as soon as it answers again.

    Breaks: its tasks were rescheduled while it was out of touch, and it is never told to
    kill its copies: two incarnations of a task run at once, on machines the cell counts.
    Caught by: one-incarnation-per-task. Teaches: Borg 3.3, the Borgmaster "tells the Borglet
    to kill those tasks that have been rescheduled, to avoid duplicates".
    """

    def reconnect(self, ctx: Context, machine: str, running: tuple[tuple[str, int], ...]) -> None:
        self.propose_once(ctx, MachineUp(machine))
