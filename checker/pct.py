"""PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
"A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010), for
message passing.

Events belong to chains; each chain gets a random priority, and of the events of one kind the
scheduler always runs the one whose chain has the highest priority. At `depth - 1` change
points, drawn over an estimated `steps` scheduling decisions, the chain about to run drops
below every chain not yet dropped (to priority i at the i-th point). A bug that needs `depth`
orderings between chains is then hit with probability at least 1/(n * steps^(depth-1)) per
run, for n chains. `depth=1` keeps the initial priorities for the whole run.

Chains follow PCTCP (Ozkan, Majumdar, Niksic, Befrouei, Weissenbacher, OOPSLA 2018): the first
message a handler sends continues the chain of the event that ran the handler, and any other
message starts a chain of its own; each timer (node and name) and each client's invocations
are chains too.

What PCT leaves open -- when to fault, and how often time moves on -- comes from a swarm-tested
random walk: the walk picks the kind of the next event (a delivery, a timer, an invocation, or
a fault) as it would on its own; PCT picks which event of that kind.
"""

from __future__ import annotations

import random

from checker.sim import DELIVERY_KINDS, Simulation
from checker.strategies import RandomWalk

Chain = int | tuple[str, str]


class PCT:
    """A `Strategy`: deterministic from its seed."""

    def __init__(self, seed: int, depth: int = 2, steps: int = 100, max_pause: int = 0) -> None:
        if depth < 1 or steps < depth - 1:
            raise ValueError(f"need depth >= 1 and steps >= depth - 1, got {depth}, {steps}")
        self.rng = random.Random(seed)
        self.walk = RandomWalk(self.rng.getrandbits(64), max_pause=max_pause)
        self.depth = depth
        # change point (a scheduling decision, counted from 1) -> the priority it drops to
        self.change_points = {step: i + 1 for i, step
                              in enumerate(self.rng.sample(range(1, steps + 1), depth - 1))}
        self.decisions = 0
        self.priority: dict[Chain, float] = {}
        self.message_chain: dict[tuple[str, str, int], int] = {}
        self.chains = 0
        self.running: Chain | None = None  # the chain of the event that ran last

    def next(self, sim: Simulation) -> tuple | None:
        self._follow_new_messages(sim)
        event = self.walk.next(sim)
        if event is None or event[0] not in DELIVERY_KINDS:
            self.running = None
            return event
        events = sim.enabled(event[0])
        self.decisions += 1
        if self.decisions in self.change_points:
            top = max(events, key=self._rank)
            self.priority[self._chain(top)] = self.change_points[self.decisions]
        chosen = max(events, key=self._rank)
        self.running = self._chain(chosen)
        return chosen

    def _follow_new_messages(self, sim: Simulation) -> None:
        """Give every message sent since the last decision its chain; forget delivered ones."""
        known, chains = self.message_chain, {}
        continued = self.running is None
        for key in sim.network.in_flight:
            chain = known.get(key)
            if chain is None:
                chain = self.running if not continued else self._new_chain()
                continued = True
            chains[key] = chain
        self.message_chain = chains

    def _new_chain(self) -> int:
        self.chains += 1
        return self.chains

    def _chain(self, event: tuple) -> Chain:
        kind = event[0]
        if kind == "deliver":
            return self.message_chain[event[1:]]
        return (event[1], event[2]) if kind == "fire" else (event[1], "")

    def _rank(self, event: tuple) -> float:
        """The priority of the event's chain; a new chain draws one above every dropped
        chain, in random order among the others (PCT's initial priorities d, d+1, ...)."""
        chain = self._chain(event)
        if chain not in self.priority:
            self.priority[chain] = self.depth + self.rng.random()
        return self.priority[chain]
