"""The random walk's fault model: partitions that last a drawn span of virtual time, servers
that reboot as a partition heals, leaders isolated more often than chance."""

from __future__ import annotations

import attrs

from checker import registry
from checker.run import new_simulation
from checker.strategies import RandomWalk, leaders
from implementations.paxos_core import MASTER
from tests.toys import COUNTER

CONFIG = attrs.evolve(COUNTER.configs["default"], ops_per_client=20, max_steps=400,
                      faults={"crash": 3, "partition": 4})


def walk(seed: int, max_pause: int) -> tuple[RandomWalk, list[tuple[tuple, int]]]:
    """Drive the toy with the walk; return it and the (event, time) it chose, noting after
    each partition when the walk means to heal it."""
    sim = new_simulation(COUNTER, "correct", CONFIG, seed)
    sim.start()
    strategy = RandomWalk(seed, max_pause=max_pause)
    chosen: list[tuple[tuple, int]] = []
    for _ in range(CONFIG.max_steps):
        event = strategy.next(sim)
        if event is None:
            break
        if event[0] == "heal":
            chosen.append((("heal-due", strategy.heal_at), sim.time))
        sim.execute(event)
        chosen.append((event, sim.time))
        if event[0] == "partition":
            chosen.append((("heal-at", strategy.heal_at), sim.time))
    return strategy, chosen


def test_a_partition_heals_only_once_its_span_has_passed() -> None:
    spans = []
    for seed in range(60):
        _, chosen = walk(seed, max_pause=80)
        heal_at = None
        for (event, time) in chosen:
            if event[0] == "heal-at":
                heal_at = event[1]
                started = time
            elif event[0] == "heal":
                assert heal_at is not None and time >= heal_at, (seed, chosen)
                spans.append(time - started)
                heal_at = None
    assert spans and max(spans) >= 80  # the long end of the range is drawn


def test_without_a_pause_bound_partitions_heal_at_random() -> None:
    for seed in range(20):
        _, chosen = walk(seed, max_pause=0)
        assert all(event[0] != "heal-at" or event[1] is None for event, _ in chosen)


def test_some_walks_reboot_a_server_as_the_partition_heals() -> None:
    rebooted = 0
    for seed in range(80):
        strategy, chosen = walk(seed, max_pause=80)
        events = [event for event, _ in chosen if not event[0].startswith("heal-")]
        for i in range(len(events) - 2):
            if events[i][0] == "crash" and events[i + 1][0] == "restart" \
                    and events[i + 2] == ("heal",):
                assert strategy.reboot_on_heal
                rebooted += 1
    assert rebooted > 0


def test_leaders_are_the_nodes_that_say_they_lead() -> None:
    sso = registry.lookup("sso")
    sim = new_simulation(sso, "correct", sso.config("default"), 0)
    sim.start()
    assert leaders(sim) == []
    for _ in range(400):
        ready = sim.enabled("deliver") or sim.enabled("fire")
        sim.execute(ready[0])
        if any(sim.nodes[n].role == MASTER for n in sim.servers):
            break
    assert leaders(sim) == [n for n in sim.servers if sim.nodes[n].role == MASTER] != []
