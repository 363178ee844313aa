"""Scheduler strategies. One interface: given the simulation, choose the next event (or stop).

- `RandomWalk`: seeded random walk with swarm testing — each run draws its own fault mix;
- `Replay`: a recorded choice list, replayed exactly (events no longer enabled are skipped,
  which is what lets a shrinker delete events freely).
"""

from __future__ import annotations

import random
from typing import Protocol

from checker.sim import DELIVERY_KINDS, FAULT_KINDS, Simulation

BASE_WEIGHTS = {"deliver": 12.0, "fire": 3.0, "invoke": 3.0, "drop": 1.0, "duplicate": 1.0,
                "crash": 0.5, "restart": 1.0, "partition": 0.5, "heal": 0.7, "pause": 0.5,
                "skew": 0.5}
_FOLLOWS = {"restart": "crash", "heal": "partition"}  # undo-faults ride with their fault


class Strategy(Protocol):
    def next(self, sim: Simulation) -> tuple | None: ...


class RandomWalk:
    def __init__(self, seed: int, max_pause: int = 0, swarm: bool = True) -> None:
        self.rng = random.Random(seed)
        self.max_pause = max_pause
        self.weights = self._swarm_weights() if swarm else dict(BASE_WEIGHTS)
        self._budget_drawn = False

    def _swarm_weights(self) -> dict[str, float]:
        """Each run enables a random subset of fault kinds, each at a random rate."""
        weights = {kind: BASE_WEIGHTS[kind] for kind in DELIVERY_KINDS}
        weights["fire"] *= self.rng.choice((0.3, 1.0, 3.0))
        for kind in FAULT_KINDS:
            if kind in _FOLLOWS:
                continue
            if self.rng.random() < 0.5:
                weights[kind] = BASE_WEIGHTS[kind] * self.rng.choice((0.3, 1.0, 3.0))
        for undo, fault in _FOLLOWS.items():
            if fault in weights:
                weights[undo] = BASE_WEIGHTS[undo] * self.rng.choice((0.3, 1.0, 3.0))
        return weights

    def _draw_budget(self, sim: Simulation) -> None:
        for kind, most in sim.budget.items():
            sim.budget[kind] = self.rng.randint(0, most) if kind in self.weights else 0
        self._budget_drawn = True

    def next(self, sim: Simulation) -> tuple | None:
        if not self._budget_drawn:
            self._draw_budget(sim)
        if self._workload_done(sim):
            return None
        options = [(kind, sim.enabled(kind)) for kind in self.weights]
        options = [(kind, events) for kind, events in options if events]
        if not options:
            return None
        total = sum(self.weights[kind] for kind, _ in options)
        pick = self.rng.random() * total
        chosen = options[-1][1]  # floating-point leftovers land on the last kind
        for kind, events in options:
            pick -= self.weights[kind]
            if pick <= 0:
                chosen = events
                break
        return self._concrete(sim, self.rng.choice(chosen))

    @staticmethod
    def _workload_done(sim: Simulation) -> bool:
        return sim.clients_idle() and not sim.enabled("invoke")

    def _concrete(self, sim: Simulation, event: tuple) -> tuple:
        """Fill in the parameters the simulation leaves to the strategy."""
        kind = event[0]
        if kind == "partition":
            nodes = sim.servers + sim.clients
            size = self.rng.randint(1, len(nodes) - 1)
            return ("partition", tuple(sorted(self.rng.sample(nodes, size))))
        if kind == "pause":
            return ("pause", event[1], self._boundary_biased(1, max(1, self.max_pause)))
        if kind == "skew":
            return ("skew", event[1], self._boundary_biased(-sim.epsilon, sim.epsilon))
        return event

    def _boundary_biased(self, low: int, high: int) -> int:
        """Mostly an extreme of the range: timing bugs live at the bounds (a clock exactly
        epsilon off, a stall as long as allowed); sometimes anything in between."""
        if self.rng.random() < 0.7:
            return self.rng.choice((low, high))
        return self.rng.randint(low, high)


class Replay:
    def __init__(self, choices: list[tuple]) -> None:
        self.choices = choices
        self.position = 0
        self.skipped = 0

    def next(self, sim: Simulation) -> tuple | None:
        while self.position < len(self.choices):
            event = self.choices[self.position]
            self.position += 1
            if sim.is_enabled(event):
                return event
            self.skipped += 1
        return None
