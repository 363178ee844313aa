"""The protected resource both lock services share: fencing, and its mutual-exclusion check."""

from __future__ import annotations

import functools

from checker.node import Node
from checker.sim import Cluster, Simulation
from implementations.resource import (
    Applied,
    ResourceReply,
    ResourceServer,
    ResourceWrite,
    stale_write,
)


class Holder(Node):
    def on_message(self, ctx, src, msg) -> None:
        self.replies = [*getattr(self, "replies", []), msg]


def run(fencing: bool, writes: list[ResourceWrite]) -> Simulation:
    cluster = Cluster(servers={"r": functools.partial(ResourceServer, fencing=fencing),
                               "h": Holder}, clients={}, workload={}, final_ops=[])
    sim = Simulation(cluster, seed=0, epsilon=0, budget={})
    sim.start()
    for write in writes:
        sim.contexts["h"].send("r", write)
        sim.execute(sim.enabled("deliver")[0])
        sim.execute(sim.enabled("deliver")[0])
    return sim


NEW, OLD = ResourceWrite("b", 1, token=7, generation=2), ResourceWrite("a", 1, token=3,
                                                                        generation=1)


def test_fencing_refuses_an_older_token() -> None:
    sim = run(fencing=True, writes=[NEW, OLD])
    assert sim.nodes["h"].replies == [ResourceReply(1, True), ResourceReply(1, False)]
    assert [a.holder for a in sim.nodes["r"].log] == ["b"]
    assert stale_write(sim.nodes["r"].log) is None


def test_without_fencing_the_stale_write_lands_and_is_caught() -> None:
    sim = run(fencing=False, writes=[NEW, OLD])
    assert [a.holder for a in sim.nodes["r"].log] == ["b", "a"]
    assert "generation 1 after b's under generation 2" in stale_write(sim.nodes["r"].log)


def test_fencing_refuses_a_missing_token_once_tokens_are_used() -> None:
    sim = run(fencing=True, writes=[NEW, ResourceWrite("c", 1, token=None, generation=3)])
    assert [a.holder for a in sim.nodes["r"].log] == ["b"]


def test_the_log_survives_a_crash() -> None:
    sim = run(fencing=True, writes=[NEW])
    sim.execute(("crash", "r"))
    sim.execute(("restart", "r"))
    assert sim.nodes["r"].log == [Applied(sim.nodes["r"].log[0].time, "b", 7, 2, None)]
    assert sim.nodes["r"].highest == 7


def test_later_generations_and_repeats_are_fine() -> None:
    log = [Applied(0, "a", 1, 1, None), Applied(1, "a", 1, 1, None), Applied(2, "b", 2, 2, None)]
    assert stale_write(log) is None
