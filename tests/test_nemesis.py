"""The targeted nemesis: the leader cut off right after an acknowledgement, and its old
messages delivered first once the partition heals."""

from __future__ import annotations

import attrs

from checker.run import execute
from checker.strategies import RandomWalk
from checker.system import Config, Variant
from tests.toys import COUNTER, Counter


class LeadingCounter(Counter):
    def leads(self) -> bool:
        return True


AIMED = Config("aimed", servers=1, clients=3, ops_per_client=4, max_pause=40,
               faults={"partition": 2, "nemesis": 2})
SYSTEM = attrs.evolve(COUNTER, configs={"default": AIMED},
                      variants={"correct": Variant("correct", LeadingCounter)})


class Watching:
    """A walk, what the history held whenever it chose a partition, and what it chose right
    after a heal while the old leader's messages could be delivered."""

    def __init__(self, seed: int) -> None:
        self.walk = RandomWalk(seed, max_pause=AIMED.max_pause)
        self.partitions: list[tuple[tuple, str | None]] = []
        self.after_heals: list[tuple[set, tuple]] = []
        self._healed = False

    def next(self, sim):
        stale = {("deliver", *key) for key in self.walk._stale} & set(sim.enabled("deliver"))
        event = self.walk.next(sim)
        if self._healed and stale:
            self.after_heals.append((stale, event))
        self._healed = event is not None and event[0] == "heal"
        if event is not None and event[0] == "partition":
            self.partitions.append((event, sim.history[-1].type if sim.history else None))
        return event


def runs(config: Config, seeds: range) -> list[tuple[Watching, object]]:
    found = []
    for seed in seeds:
        watching = Watching(seed)
        found.append((watching, execute(SYSTEM, "correct", config, seed, watching)))
    return found


def test_the_leader_is_cut_off_right_after_an_acknowledgement() -> None:
    aimed = [p for watching, _ in runs(AIMED, range(60)) for p in watching.partitions
             if p[1] == "ok"]
    assert len(aimed) >= 10
    assert all("s" in event[1] for event, _ in aimed)


def test_the_old_leaders_messages_come_first_after_the_heal() -> None:
    after_heals = [pair for watching, _ in runs(AIMED, range(200))
                   for pair in watching.after_heals]
    assert len(after_heals) >= 5
    assert all(event in stale for stale, event in after_heals)


def test_without_a_nemesis_budget_a_walk_is_what_it_was() -> None:
    plain = attrs.evolve(AIMED, faults={"partition": 2})
    zero = attrs.evolve(AIMED, faults={"partition": 2, "nemesis": 0})
    for seed in range(20):
        a = execute(SYSTEM, "correct", plain, seed, RandomWalk(seed, plain.max_pause))
        b = execute(SYSTEM, "correct", zero, seed, RandomWalk(seed, zero.max_pause))
        assert a.sim.fingerprint() == b.sim.fingerprint()
