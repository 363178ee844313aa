"""Bounded recovery, a state invariant any system can state: once the faults end, the system
is back within a bound its own timeouts give, and each client operation then returns within a
second bound.

Progress at quiescence says a system recovers at all; this says how soon. A system that
recovers, but only after twice its election timeout, or that answers a client only when some
later retry happens to carry the request along, passes every safety check and every progress
check -- and is still broken: its design promised recovery within a few timeouts. The bounds
are the design's, worked out from the system's constants (a leader's patience, a retry's
period) where the check is stated, never measured from runs.

The faults end (`calm`) when the ending begins -- every partition healed, every node restarted,
no more faults -- or when the last pause is over, if later: a paused node's timers wait for it.
The ending's messages take no time, so only timers count towards the bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from checker.sim import Simulation

Problem = Callable[[Simulation], "str | None"]  # what keeps the system from being recovered


def calm(sim: Simulation) -> int:
    """When the faults ended: the ending's first step, or the end of the last pause."""
    pauses = [step.time + step.event[2] for step in sim.trace if step.event[0] == "pause"]
    return max([sim.ending_began(default=sim.time), *pauses])


class Recovery:
    """What a bounded-recovery check has seen of the ending: when the faults ended, when the
    system recovered (first, or latest: see `bounded_recovery`), and the timed client
    operations not yet returned."""

    def __init__(self, sim: Simulation, problem: Problem, timed: Collection[str] | None,
                 untimed: Collection[str], latest: bool) -> None:
        # plain values and module-level functions only: a run's state goes between processes
        self.calm = calm(sim)
        self.problem = problem
        self.timed, self.untimed = timed, untimed
        self.latest = latest
        self.recovered: int | None = None
        self.read = 0  # history events read
        self.pending: dict[str, tuple[str, int]] = {}  # process -> (f, call time)

    def update(self, sim: Simulation) -> Recovery:
        for event in sim.history[self.read:]:
            if event.type == "invoke" and self.is_timed(event.f):
                self.pending[event.process] = (event.f, event.time)
            else:
                self.pending.pop(event.process, None)
        self.read = len(sim.history)
        if self.recovered is None or self.latest:
            problem = self.problem(sim)
            if problem is not None:
                self.recovered = None
            elif self.recovered is None:
                self.recovered = sim.time
        return self

    def is_timed(self, f: str) -> bool:
        return f in self.timed if self.timed is not None else f not in self.untimed


def bounded_recovery(key: str, problem: Problem, recovery: int | None, returns: int,
                     untimed: Collection[str] = (), what: str = "the system",
                     constant: str = "RECOVERY", timed: Collection[str] | None = None,
                     latest: bool = False) -> Callable[[Simulation], str | None]:
    """A state check: in the ending, `problem(sim)` is None within `recovery` ticks of the
    faults' end (None: not bounded), and every client operation but those in `untimed` (or
    only those in `timed`) returns within `returns` ticks of the later of its call and the
    recovery. The recovery is the first moment `problem` is None, whatever follows; or, with
    `latest`, the latest, for a system that can still lose its recovered state in the ending
    (a request in flight when the faults ended may unsettle it) -- then operations are timed
    only while it is recovered. `key` names the check's state for the run; `what` names the
    system in its sentences, and `constant` the name the system gives the recovery bound.
    `problem` must be a module-level function: the check's state, which holds it, is pickled
    with the run when a hunt's worker process sends a violation back."""
    def check(sim: Simulation) -> str | None:
        if sim.phase != "quiesce":
            return None
        seen = sim.invariant_state(key, lambda: Recovery(sim, problem, timed, untimed, latest)
                                   ).update(sim)
        recovered = seen.recovered
        if recovery is not None and \
                (sim.time if recovered is None else recovered) > seen.calm + recovery:
            state = problem(sim) or f"it recovered only at t={recovered}"
            return (f"the faults ended at t={seen.calm}; {what} was due to recover by "
                    f"t={seen.calm + recovery} ({constant}={recovery}), and at t={sim.time}: "
                    f"{state}")
        if recovered is None:
            return None
        for process, (f, call) in sorted(seen.pending.items()):
            if sim.time > max(call, recovered) + returns:
                since = f"{what} recovered (t={recovered})" if call < recovered \
                    else "it was called"
                return (f"{process}'s {f} (called at t={call}) has not returned by "
                        f"t={sim.time}, {sim.time - max(call, recovered)} ticks after {since}")
        return None
    return check
