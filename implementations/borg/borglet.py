"""The Borglet: the agent on every machine (Borg 3.3).

It starts and stops tasks as the master's polls ask, restarts a task that fails, measures
what each task uses, and answers every poll with its state. It goes on running its tasks
when it loses touch with the Borgmaster: only a poll tells it to stop one.

- Polls are fenced: each carries the master's Paxos ballot and a sequence number, and a
  poll not newer than the last one handled (a deposed master's, or one delayed in the
  network) is ignored. The last one handled is kept on disk, so that a poll delayed across
  the machine's reboot cannot start what was since moved elsewhere.
- Usage: a task starts using half its limit; now and then one grows to its whole limit and
  stays there. When what the machine's tasks use exceeds its capacity, the Borglet kills
  non-prod tasks, lowest priority first, until it fits (Borg 5.5: non-prod tasks run in
  reclaimed resources, and are the ones killed when a machine runs out). An alloc holds its
  whole reservation, used or not; the tasks inside it use the alloc's resources.
- A machine reboot (a crash) loses every task; the master starts them again. A task of an
  alloc starts only inside a running instance of the alloc (the master sends the instance's
  start first).

Ghost record: `running` (every change of what runs, with usage) and `evicted`.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.borg.cell import Deployment, is_prod
from implementations.borg.messages import Poll, Report, TaskSpec
from implementations.paxos_core import NO_BALLOT

SAMPLE = 100  # the Borglet measures usage this often
GROWTH = 4  # at each sample, one task in GROWTH grows to its limit
FAILURE = 20  # at each sample, one task in FAILURE fails and is restarted in place


@attrs.define
class Running:
    spec: TaskSpec
    usage: tuple[int, int]
    restarts: int = 0


class Borglet(Node):
    def __init__(self, node_id: str, deployment: Deployment) -> None:
        super().__init__(node_id)
        self.deployment = deployment

    def on_start(self, ctx: Context) -> None:
        self.capacity = self.deployment.machine(self.id).capacity
        self.tasks: dict[tuple[str, int], Running] = {}
        self.evicted: dict[tuple[str, int], None] = {}
        self.last_poll = ctx.storage.get("last_poll", (NO_BALLOT, 0))
        self.sampling = False  # the sample timer runs while tasks do
        ctx.note("running", tasks=())

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if not isinstance(msg, Poll) or (msg.ballot, msg.seq) <= self.last_poll:
            return
        self.last_poll = (msg.ballot, msg.seq)
        ctx.storage.put("last_poll", self.last_poll)
        for key in msg.kill:
            self.tasks.pop(key, None)
        for spec in msg.start:
            key = (spec.task, spec.incarnation)
            if key not in self.tasks and key not in self.evicted and self.has_alloc(spec):
                self.tasks[key] = Running(spec, spec.limit if spec.is_alloc else half(spec.limit))
        if msg.kill or msg.start:
            self.noted(ctx)
        if self.tasks and not self.sampling:
            self.sampling = True
            ctx.set_timer("sample", SAMPLE)
        ctx.send(src, Report(msg.ballot, msg.seq, msg.sent_at,
                             tuple((t, i, *run.usage) for (t, i), run in self.tasks.items()),
                             tuple(self.evicted)))

    def on_timer(self, ctx: Context, name: str) -> None:
        changed = False
        for run in self.tasks.values():
            if run.spec.is_alloc:
                continue
            if ctx.random.randrange(FAILURE) == 0:
                run.restarts += 1  # the task failed; the Borglet restarts it in place
            if run.usage != run.spec.limit and ctx.random.randrange(GROWTH) == 0:
                run.usage, changed = run.spec.limit, True
        if changed:
            self.evict_until_it_fits(ctx)
            self.noted(ctx)
        self.sampling = bool(self.tasks)
        if self.sampling:
            ctx.set_timer("sample", SAMPLE)

    def evict_until_it_fits(self, ctx: Context) -> None:
        candidates = sorted(((run.spec.priority, key) for key, run in self.tasks.items()
                             if self.evictable(run.spec)))
        for _, key in candidates:
            if self.fits():
                return
            del self.tasks[key]
            self.evicted[key] = None
            ctx.note("evicted", task=key[0], incarnation=key[1])

    def has_alloc(self, spec: TaskSpec) -> bool:
        """A task of an alloc runs inside the alloc's instance, which must run here."""
        return spec.alloc is None or any(task == spec.alloc for task, _ in self.tasks)

    @staticmethod
    def evictable(spec: TaskSpec) -> bool:
        return not is_prod(spec.priority) and spec.alloc is None and not spec.is_alloc

    def fits(self) -> bool:
        """What the tasks outside allocs and the allocs themselves use fits the machine."""
        cpu = sum(run.usage[0] for run in self.tasks.values() if run.spec.alloc is None)
        ram = sum(run.usage[1] for run in self.tasks.values() if run.spec.alloc is None)
        return cpu <= self.capacity[0] and ram <= self.capacity[1]

    def noted(self, ctx: Context) -> None:
        ctx.note("running", tasks=tuple(sorted((t, i, run.spec.alloc, run.usage)
                                               for (t, i), run in self.tasks.items())))


def half(limit: tuple[int, int]) -> tuple[int, int]:
    return (limit[0] + 1) // 2, (limit[1] + 1) // 2
