"""Scheduler strategies. One interface: given the simulation, choose the next event (or stop).

- `RandomWalk`: seeded random walk with swarm testing — each run draws its own fault mix;
- `Replay`: a recorded choice list, replayed exactly (events no longer enabled are skipped,
  which is what lets a shrinker delete events freely).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

from checker.sim import DELIVERY_KINDS, FAULT_KINDS, MESSAGE_KINDS, Simulation, any_enabled_test
from invariants.history import OK

BASE_WEIGHTS = {"deliver": 12.0, "fire": 3.0, "invoke": 3.0, "drop": 1.0, "duplicate": 1.0,
                "crash": 0.5, "restart": 1.0, "partition": 0.5, "heal": 0.7, "pause": 0.5,
                "skew": 0.5, "reset": 0.5, "drift": 0.5}
_FOLLOWS = {"restart": "crash", "heal": "partition"}  # undo-faults ride with their fault
_OPT_IN = ("reset", "drift")  # faults of only the systems or configurations that have them
# the kinds whose events change with more than the faults (messages sent, time, clients)
TESTED_AT_EVERY_STEP = frozenset(("deliver", "fire", "invoke", "drop", "duplicate", "reset"))


def leaders(sim: Simulation) -> list[str]:
    return [n for n in sim.servers if sim.up(n) and sim.nodes[n].leads()]


class Strategy(Protocol):
    def next(self, sim: Simulation) -> tuple | None: ...


class RandomWalk:
    """With `max_pause`, a partition lasts a drawn span of virtual time, like a pause: the walk
    heals it once that much time has passed, and not before. Partitions that heal after a few
    steps seldom outlast a lease or an election, which is where most partition bugs live.

    Faults also come correlated: in some runs a server reboots just as a partition heals (as
    when a rack loses power and network together), so that a node comes back with only its
    durable state into a network still carrying messages from both sides of the partition.

    Where a configuration gives a `nemesis` budget, half of the runs also aim their faults
    (a targeted nemesis): the moment a client is told `ok`, the leader is cut off (with
    whichever clients fall on its side) — fail-over right after an acknowledgement, where
    a write acknowledged too early is lost — and what the old leader had in flight is
    delivered first once the partition heals, after a new leader may have taken over: a
    message delayed across a leader change."""

    def __init__(self, seed: int | random.Random, max_pause: int = 0, swarm: bool = True) -> None:
        # a seed, or the source of every decision (Hypothesis's, in `hypothesis_adapter`)
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.max_pause = max_pause
        self.reboot_on_heal = False  # a correlated fault: a server reboots as a partition heals
        self.swarm = swarm
        self.weights = self._swarm_weights() if swarm else dict(BASE_WEIGHTS)
        self._budget_drawn = False
        self._kinds: list[tuple[str, float, Callable[[Simulation], bool]]] = []
        # the kinds that may have events, each with its test, or None where the test's answer
        # is known to be yes until the faults change (`_remake_kinds_to_test`), as they were
        # at `_made_for`
        self._to_test: list[tuple[str, float, Callable[[Simulation], bool] | None]] = []
        self._made_for: tuple[int, bool] | None = None
        self.heal_at: int | None = None  # when the current partition ends
        self._queued: list[tuple] = []  # the rest of a correlated fault
        self.nemesis = 0  # targeted faults left to aim (see the class's docstring)
        self._history_seen = 0
        self._stale: list[tuple] = []  # an isolated leader's messages, delivered first

    def _swarm_weights(self) -> dict[str, float]:
        """Each run enables a random subset of fault kinds, each at a random rate."""
        weights = {kind: BASE_WEIGHTS[kind] for kind in DELIVERY_KINDS}
        weights["fire"] *= self.rng.choice((0.3, 1.0, 3.0))
        for kind in FAULT_KINDS:
            if kind in _FOLLOWS or kind in _OPT_IN:  # drawn with the budget, if the run has them
                continue
            if self.rng.random() < 0.5:
                weights[kind] = BASE_WEIGHTS[kind] * self.rng.choice((0.3, 1.0, 3.0))
        for undo, fault in _FOLLOWS.items():
            if fault in weights:
                weights[undo] = BASE_WEIGHTS[undo] * self.rng.choice((0.3, 1.0, 3.0))
        self.reboot_on_heal = "partition" in weights and self.rng.random() < 0.5
        return weights

    def _draw_budget(self, sim: Simulation) -> None:
        # reset is a fault of FIFO systems only, drift of configurations that allow it; their
        # rates are drawn only for those, so that every other walk draws what it drew before
        # these faults existed
        has = {"reset": sim.fifo, "drift": sim.budget["drift"] > 0 and sim.max_drift > 0
               and sim.epsilon > 0}
        for kind in _OPT_IN:
            if not has[kind]:
                self.weights.pop(kind, None)
            elif self.swarm and self.rng.random() < 0.5:
                self.weights[kind] = BASE_WEIGHTS[kind] * self.rng.choice((0.3, 1.0, 3.0))
        for kind, most in sim.budget.items():
            faulting = kind in self.weights or (kind == "crash" and self.reboot_on_heal)
            sim.budget[kind] = self.rng.randint(0, most) if faulting else 0
        if sim.nemesis and "partition" in self.weights and self.rng.random() < 0.5:
            self.nemesis = self.rng.randint(1, sim.nemesis)
        self._budget_drawn = True
        # the run's kinds in draw order, each with the test of whether it has events now
        self._kinds = [(kind, weight, any_enabled_test(kind))
                       for kind, weight in self.weights.items()]

    def _remake_kinds_to_test(self, sim: Simulation) -> None:
        """The run's kinds that may have events now, in draw order. Whether the fault kinds
        other than drop, duplicate and reset have events depends only on what faults change
        (the budgets, the nodes down or paused, the partition: `Simulation.fault_version`),
        so they are asked once per change and kept with no test (None) if they have events,
        left out if not; so are drop, duplicate and reset once their budget is spent. The
        other kinds keep their test, asked at every step. While a timed partition lasts, the
        walk heals it itself, not at random."""
        self._made_for = (sim.fault_version, self.heal_at is None)
        self._to_test = []
        for kind, weight, has_events in self._kinds:
            if kind == "heal" and self.heal_at is not None or sim.budget.get(kind, 1) <= 0:
                continue
            if kind not in TESTED_AT_EVERY_STEP:
                if not has_events(sim):
                    continue
                has_events = None
            self._to_test.append((kind, weight, has_events))

    def next(self, sim: Simulation) -> tuple | None:
        if not self._budget_drawn:
            self._draw_budget(sim)
        if sim.workload_done():
            return None
        if self._queued:
            return self._queued.pop(0)
        if self.heal_at is not None and sim.network.partitioned and sim.time >= self.heal_at:
            return self._timed_heal(sim)
        if self.nemesis or self._stale:
            aimed = self._isolate_after_ack(sim) or self._stale_first(sim)
            if aimed:
                return aimed
        kind = self._draw_kind(sim)
        if kind is None:
            return None
        return self._concrete(sim, self.rng.choice(sim.enabled(kind)))

    def _draw_kind(self, sim: Simulation) -> str | None:
        """A kind with events enabled, drawn by weight. Only whether each kind has events is
        asked here (`any_enabled`); the caller lists the drawn kind's events alone."""
        if (sim.fault_version, self.heal_at is None) != self._made_for:
            self._remake_kinds_to_test(sim)
        options = [entry for entry in self._to_test if entry[2] is None or entry[2](sim)]
        if not options:
            return None
        total = sum([entry[1] for entry in options])
        pick = self.rng.random() * total
        for kind, weight, _ in options:
            pick -= weight
            if pick <= 0:
                return kind
        return options[-1][0]  # floating-point leftovers land on the last kind

    def _timed_heal(self, sim: Simulation) -> tuple:
        self.heal_at = None
        crashable = sim.enabled("crash")
        if not (self.reboot_on_heal and crashable):
            return ("heal",)
        _, node = self.rng.choice(crashable)
        self._queued = [("restart", node), ("heal",)]
        return ("crash", node)

    def _isolate_after_ack(self, sim: Simulation) -> tuple | None:
        """Cut the leader off right after a client was told `ok`."""
        acked = len(sim.history) > self._history_seen and sim.history[-1].type == OK
        self._history_seen = len(sim.history)
        if not (acked and self.nemesis and sim.any_enabled("partition")):
            return None
        leading = leaders(sim)
        if not leading:
            return None
        self.nemesis -= 1
        leader = self.rng.choice(leading)
        island = [leader, *(c for c in sim.clients if self.rng.random() < 0.5)]
        if self.max_pause:
            self.heal_at = sim.time + self._boundary_biased(1, self.max_pause)
        self._stale = [key for key in sim.network.in_flight if key[0] == leader]
        return ("partition", tuple(sorted(island)))

    def _stale_first(self, sim: Simulation) -> tuple | None:
        """Once healed, deliver the isolated leader's old messages before anything else."""
        if sim.network.partitioned:
            return None
        self._stale = [key for key in self._stale if key in sim.network.in_flight]
        ready = set(sim.enabled("deliver"))
        for key in self._stale:
            if ("deliver", *key) in ready:
                self._stale.remove(key)
                return ("deliver", *key)
        return None

    def _concrete(self, sim: Simulation, event: tuple) -> tuple:
        """Fill in the parameters the simulation leaves to the strategy."""
        kind = event[0]
        if kind == "partition":
            if self.max_pause:
                self.heal_at = sim.time + self._boundary_biased(1, self.max_pause)
            return ("partition", self._island(sim))
        if kind == "pause":
            return ("pause", event[1], self._boundary_biased(1, max(1, self.max_pause)))
        if kind == "skew":
            return ("skew", event[1], self._boundary_biased(-sim.epsilon, sim.epsilon))
        if kind == "drift":
            return ("drift", event[1], self._boundary_biased(-sim.max_drift, sim.max_drift))
        return event

    def _island(self, sim: Simulation) -> tuple[str, ...]:
        """Half the time one server — a leader, if any node leads — cut off with some of the
        clients (a leader alone with its clients is the classic split); otherwise any proper
        subset of the nodes."""
        if self.rng.random() < 0.5:
            island = [self.rng.choice(leaders(sim) or sim.servers)]
            island += [c for c in sim.clients if self.rng.random() < 0.5]
        else:
            nodes = sim.servers + sim.clients
            island = self.rng.sample(nodes, self.rng.randint(1, len(nodes) - 1))
        return tuple(sorted(island))

    def _boundary_biased(self, low: int, high: int) -> int:
        """Mostly an extreme of the range: timing bugs live at the bounds (a clock exactly
        epsilon off, a stall as long as allowed); sometimes anything in between."""
        if self.rng.random() < 0.7:
            return self.rng.choice((low, high))
        return self.rng.randint(low, high)


class Replay:
    """A chosen timer that is pending but not yet due lets time pass: the timers due before it
    fire first, as implied events (kept in the trace, left out of the choices). A choice list
    can then say "n1's election timer fires" without the dozens of periodic ticks before it,
    which is what lets shrinking remove them.

    With `messages` (the message each choice took, None for other choices), a choice names
    its message by content: when its sequence number no longer holds that message -- an
    earlier message on the channel was never sent -- it takes the first one in flight on the
    same channel that is equal. Shrinking uses this so that removing one message does not
    rename every later one on its channel."""

    MAX_IMPLIED = 10_000  # implied events for one choice; beyond, the choice is skipped

    def __init__(self, choices: list[tuple], messages: list[Any] | None = None) -> None:
        self.choices = choices
        self.messages = messages
        self.position = 0
        self.skipped = 0
        self._waiting_since: int | None = None  # trace index of the first implied event

    def next(self, sim: Simulation) -> tuple | None:
        while self.position < len(self.choices):
            event = self._by_content(sim, self.choices[self.position])
            if sim.is_enabled(event):
                self.position += 1
                self._waiting_since = None
                return event
            due_first = self._due_first(sim, event)
            if due_first is not None:
                if self._waiting_since is None:
                    self._waiting_since = len(sim.trace)
                sim.mark_implied()
                return due_first
            if self._waiting_since is not None:  # the timer was cancelled while time passed
                sim.count_as_chosen(self._waiting_since)
                self._waiting_since = None
            self.position += 1
            self.skipped += 1
        return None

    def _by_content(self, sim: Simulation, event: tuple) -> tuple:
        wanted = None if self.messages is None else self.messages[self.position]
        if wanted is None or event[0] not in MESSAGE_KINDS:
            return event
        held = sim.network.in_flight.get(tuple(event[1:]))
        if held is not None and held.msg == wanted:
            return event
        for key, envelope in sim.network.in_flight.items():
            if key[:2] == tuple(event[1:3]) and envelope.msg == wanted:
                return (event[0], *key)
        return event

    def _due_first(self, sim: Simulation, event: tuple) -> tuple | None:
        """If `event` is a pending timer worth waiting for, the timer that fires before it."""
        waited = 0 if self._waiting_since is None else len(sim.trace) - self._waiting_since
        return None if waited >= self.MAX_IMPLIED else sim.timer_before(event)
