"""FIFO channels and the reset fault: delivery order, resets, strategies, replay, replay files,
reports, hunts and the exhaustive search, on the toy stream system (`tests/toys_fifo.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from checker import report
from checker.explore import _Canon, _commute, _footprint, _Namer, _NodeTexts, explore
from checker.hunt import Budget, hunt
from checker.node import Context, Node
from checker.pct import PCT
from checker.replayfile import Counterexample, ReplayFileError, check_fits, load
from checker.run import execute, new_simulation
from checker.sim import Cluster, Simulation, Step
from checker.strategies import RandomWalk, Replay
from tests.toys_fifo import STREAM, STREAM_UNORDERED, Chunk

FAULTS = {"drop": 5, "duplicate": 5, "crash": 5, "reset": 5}


class Peer(Node):
    def on_start(self, ctx: Context) -> None:
        self.got: list = []
        self.resets: list[str] = []

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.got.append((src, msg))

    def on_reset(self, ctx: Context, peer: str) -> None:
        self.resets.append(peer)


def make(fifo: bool = True, budget: dict | None = None) -> Simulation:
    cluster = Cluster(servers={"a": Peer, "b": Peer, "c": Peer}, clients={}, workload={})
    sim = Simulation(cluster, seed=1, epsilon=0, budget=budget or FAULTS, fifo=fifo)
    sim.start()
    return sim


def send(sim: Simulation, src: str, dst: str, *msgs: Any) -> None:
    for msg in msgs:
        sim.contexts[src].send(dst, msg)


# --- the simulation ---------------------------------------------------------------------------


def test_only_the_oldest_message_of_each_channel_may_be_delivered() -> None:
    sim = make()
    send(sim, "b", "a", "1", "2", "3")
    send(sim, "c", "a", "x")
    assert sim.enabled("deliver") == [("deliver", "b", "a", 0), ("deliver", "c", "a", 0)]
    assert not sim.is_enabled(("deliver", "b", "a", 1))
    sim.execute(("deliver", "b", "a", 0))
    assert sim.enabled("deliver") == [("deliver", "c", "a", 0), ("deliver", "b", "a", 1)]
    sim.execute(("drop", "b", "a", 1))  # a drop is still a fault: the next one moves up
    assert sim.is_enabled(("deliver", "b", "a", 2))
    sim.execute(("deliver", "b", "a", 2))
    assert sim.nodes["a"].got == [("b", "1"), ("b", "3")]


def test_reordering_channels_are_unchanged() -> None:
    sim = make(fifo=False)
    send(sim, "b", "a", "1", "2")
    assert sim.enabled("deliver") == [("deliver", "b", "a", 0), ("deliver", "b", "a", 1)]
    assert sim.enabled("duplicate") and not sim.enabled("reset")
    assert not sim.is_enabled(("reset", "a", "b"))


def test_duplicate_is_no_fault_of_fifo_channels() -> None:
    sim = make()
    send(sim, "b", "a", "1")
    assert sim.enabled("duplicate") == []
    assert not sim.is_enabled(("duplicate", "b", "a", 0))


def test_a_partition_holds_back_the_head_and_heal_brings_it_back_in_order() -> None:
    sim = make()
    send(sim, "b", "a", "1", "2")
    sim.execute(("partition", ("b",)))
    assert sim.enabled("deliver") == []
    sim.execute(("heal",))
    assert sim.enabled("deliver") == [("deliver", "b", "a", 0)]


def test_reset_loses_both_directions_and_tells_both_ends() -> None:
    sim = make()
    send(sim, "b", "a", "1", "2")
    send(sim, "a", "b", "r")
    send(sim, "c", "a", "x")
    assert sim.enabled("reset") == [("reset", "a", "b"), ("reset", "a", "c")]
    sim.execute(("reset", "a", "b"))
    assert [e.key for e in sim.network] == [("c", "a", 0)]
    assert sim.enabled("deliver") == [("deliver", "c", "a", 0)]
    assert sim.nodes["a"].resets == ["b"] and sim.nodes["b"].resets == ["a"]
    assert sim.nodes["c"].resets == []
    assert sim.budget["reset"] == 4 and sim.trace[-1].detail == 3
    # the channel goes on after the reset, with new sequence numbers, in order
    send(sim, "b", "a", "4", "5")
    assert sim.enabled("deliver")[-1] == ("deliver", "b", "a", 2)


def test_reset_tells_only_the_ends_that_are_up() -> None:
    sim = make()
    send(sim, "b", "a", "1")
    sim.execute(("crash", "b"))
    assert sim.is_enabled(("reset", "b", "a"))  # either order names the connection
    sim.execute(("reset", "b", "a"))
    assert sim.nodes["a"].resets == ["b"] and sim.nodes["b"] is None
    assert not sim.enabled("reset")


def test_reset_needs_a_budget_and_something_in_flight() -> None:
    sim = make(budget={"reset": 0})
    send(sim, "b", "a", "1")
    assert sim.enabled("reset") == [] and not sim.is_enabled(("reset", "a", "b"))
    sim = make()
    assert not sim.is_enabled(("reset", "a", "b"))


def test_replay_skips_a_delivery_that_is_not_the_oldest() -> None:
    config = STREAM.config("default")
    choices = [("invoke", "c0"), ("deliver", "c0", "s", 1), ("deliver", "c0", "s", 0),
               ("deliver", "c0", "s", 1)]
    result = execute(STREAM, "correct", config, 0, Replay(choices))
    delivered = [s.event for s in result.sim.trace if s.phase == "run" and s.event[0] == "deliver"]
    assert delivered == [("deliver", "c0", "s", 0), ("deliver", "c0", "s", 1)]


# --- strategies, determinism, replay ----------------------------------------------------------


def _in_channel_order(sim: Simulation) -> bool:
    """Whether every channel's messages were delivered in the order they were sent."""
    last: dict[tuple[str, str], int] = {}
    for step in sim.trace:
        if step.event[0] == "deliver":
            src, dst, seq = step.event[1:]
            if seq <= last.get((src, dst), -1):
                return False
            last[(src, dst)] = seq
    return True


@pytest.mark.parametrize("strategy", ["walk", "pct"])
def test_walks_deliver_each_channel_in_order_and_replay_exactly(strategy: str) -> None:
    config = STREAM.config("default")
    resets = 0
    for seed in range(40):
        chosen = RandomWalk(seed) if strategy == "walk" else PCT(seed, depth=2, steps=50)
        result = execute(STREAM, "correct", config, seed, chosen)
        assert result.verdict.ok, (seed, result.verdict)
        assert _in_channel_order(result.sim)
        resets += sum(step.event[0] == "reset" for step in result.sim.trace)
        again = execute(STREAM, "correct", config, seed, Replay(result.choices))
        assert again.sim.fingerprint() == result.sim.fingerprint()
        rerun = RandomWalk(seed) if strategy == "walk" else PCT(seed, depth=2, steps=50)
        assert execute(STREAM, "correct", config, seed, rerun).sim.fingerprint() == \
            result.sim.fingerprint()
    assert resets > 0  # the walks do reset connections


def test_reordering_channels_do_reorder() -> None:
    config = STREAM_UNORDERED.config("default")
    results = [execute(STREAM_UNORDERED, "correct", config, seed, RandomWalk(seed))
               for seed in range(20)]
    assert not all(_in_channel_order(r.sim) for r in results)
    assert not any(step.event[0] == "reset" for r in results for step in r.sim.trace)


FINGERPRINT_SCRIPT = """
from checker.run import execute
from checker.strategies import RandomWalk
from tests.toys_fifo import STREAM
print(execute(STREAM, "correct", STREAM.config("default"), 7, RandomWalk(7)).sim.fingerprint())
"""


def test_fingerprints_are_the_same_in_any_process() -> None:
    root = Path(__file__).resolve().parent.parent
    prints = set()
    for hash_seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        prints.add(subprocess.run([sys.executable, "-c", FINGERPRINT_SCRIPT], env=env,
                                  cwd=root, capture_output=True, text=True,
                                  check=True).stdout)
    here = execute(STREAM, "correct", STREAM.config("default"), 7, RandomWalk(7))
    assert prints == {here.sim.fingerprint() + "\n"}


# --- hunts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_a_hunt_finds_the_bug_only_a_reset_exposes_and_shrinks_it(strategy: str) -> None:
    outcome = hunt(STREAM, "sticky", STREAM.config("default"), budget=Budget(runs=300),
                   strategy=strategy)
    assert outcome.verdict == "found"
    assert outcome.violation.verdict.invariant == "streams-intact"
    kinds = [event[0] for event in outcome.violation.choices]
    assert "reset" in kinds and outcome.after <= 4


def test_the_sticky_server_survives_without_resets() -> None:
    config = attrs.evolve(STREAM.config("default"), faults={"partition": 1})
    assert hunt(STREAM, "sticky", config, budget=Budget(runs=100)).verdict == "MISSED"


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_the_correct_stream_survives_a_hunt(strategy: str) -> None:
    outcome = hunt(STREAM, "correct", STREAM.config("default"), budget=Budget(runs=200),
                   strategy=strategy)
    assert outcome.verdict == "clean"


def test_on_reordering_channels_the_correct_stream_fails() -> None:
    outcome = hunt(STREAM_UNORDERED, "correct", STREAM_UNORDERED.config("default"),
                   budget=Budget(runs=50))
    assert outcome.verdict == "VIOLATED"


# --- exhaustive search ------------------------------------------------------------------------


def _reached(system: Any, variant: str, **options: Any) -> tuple[Any, set[bytes]]:
    states: set[bytes] = set()
    result = explore(system, variant, system.config("small"), max_depth=None,
                     on_transition=lambda parent, child: states.add(child), **options)
    return result, states


@pytest.mark.parametrize("order", ["bfs", "dfs"])
def test_exploration_reaches_the_same_states_with_and_without_sleep_sets(order: str) -> None:
    full, full_states = _reached(STREAM, "correct", order=order, sleep_sets=False)
    sleeping, sleeping_states = _reached(STREAM, "correct", order=order, sleep_sets=True)
    assert full.complete and sleeping.complete and full.verdict.ok and sleeping.verdict.ok
    assert full_states == sleeping_states and full.states == sleeping.states
    assert sleeping.transitions < full.transitions and sleeping.slept > 0


def test_exploration_finds_the_reset_bug_at_its_shortest_and_it_replays() -> None:
    config = STREAM.config("small")
    for sleep in (False, True):
        result = explore(STREAM, "sticky", config, max_depth=None, sleep_sets=sleep)
        assert result.violated and result.verdict.invariant == "streams-intact"
        assert result.choices == [("invoke", "c0"), ("deliver", "c0", "s", 0),
                                  ("reset", "c0", "s")]
        again = execute(STREAM, "sticky", config, 0, Replay(result.choices))
        assert again.verdict.invariant == "streams-intact"


def test_fingerprints_tell_the_order_within_a_channel() -> None:
    def fingerprint(values: tuple) -> bytes:
        sim = new_simulation(STREAM, "correct", STREAM.config("small"), 0)
        texts = _NodeTexts(sim)
        sim.start()
        for value in values:
            sim.contexts["c0"].send("s", Chunk(1, value))
        return _Namer([], False).fingerprint(_Canon.of(sim, texts), sim)[0]
    assert fingerprint((1, 2)) != fingerprint((2, 1))
    assert fingerprint((1, 2)) == fingerprint((1, 2))


def test_independence_on_fifo_channels() -> None:
    sim = make()
    send(sim, "a", "b", "1", "2")
    send(sim, "c", "b", "3")
    send(sim, "a", "c", "4")

    def fp(*key: Any) -> Any:
        return _footprint(sim, key)
    # deliveries on different channels to different nodes commute
    assert _commute(fp("deliver", "a", "b", "'1'"), fp("deliver", "a", "c", "'4'"))
    # to the same node, or on one channel, they do not
    assert not _commute(fp("deliver", "a", "b", "'1'"), fp("deliver", "c", "b", "'3'"))
    assert not _commute(fp("deliver", "a", "b", "'1'"), fp("drop", "a", "b", "'2'"))
    # a reset touches both its channels and both its ends
    assert not _commute(fp("reset", "a", "b"), fp("deliver", "a", "b", "'1'"))
    assert not _commute(fp("reset", "a", "b"), fp("deliver", "c", "b", "'3'"))  # b's handler
    assert _commute(fp("reset", "a", "b"), fp("deliver", "a", "c", "'4'"))  # c's handler
    assert _commute(fp("reset", "a", "b"), fp("drop", "a", "c", "'4'"))
    assert not _commute(fp("reset", "b", "c"), fp("reset", "a", "b"))


# --- replay files and reports -----------------------------------------------------------------


def test_a_replay_file_with_a_reset_replays(tmp_path: Path) -> None:
    config = STREAM.config("default")
    choices = [("invoke", "c0"), ("deliver", "c0", "s", 0), ("reset", "c0", "s")]
    result = execute(STREAM, "sticky", config, 3, Replay(choices))
    assert result.violated
    path = tmp_path / "stream.json"
    Counterexample("stream", "sticky", config, 3, result.choices, "streams-intact",
                   "violated").save(path)
    example = load(path)
    check_fits(example, STREAM)
    assert ("reset", "c0", "s") in example.choices
    again = execute(STREAM, "sticky", example.config, example.seed, Replay(example.choices))
    assert again.verdict.invariant == "streams-intact"
    assert again.sim.fingerprint() == result.sim.fingerprint()


@pytest.mark.parametrize("choice, problem", [
    (["reset", "c0"], r"reset takes \(str, str\)"),
    (["reset", "c0", 1], r"reset takes \(str, str\)"),
])
def test_malformed_resets_are_refused(tmp_path: Path, choice: list, problem: str) -> None:
    path = tmp_path / "bad.json"
    Counterexample("stream", "sticky", STREAM.config("default"), 0, [], "streams-intact",
                   "violated").save(path)
    text = path.read_text().replace('"choices": []', f'"choices": [{_json(choice)}]')
    path.write_text(text)
    with pytest.raises(ReplayFileError, match=problem):
        load(path)


def test_a_reset_naming_an_unknown_node_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    Counterexample("stream", "sticky", STREAM.config("default"), 0, [("reset", "c0", "zz")],
                   "streams-intact", "violated").save(path)
    with pytest.raises(ReplayFileError, match="reset names 'zz', not a node"):
        check_fits(load(path), STREAM)


def _json(value: Any) -> str:
    import json
    return json.dumps(value)


def test_reports_render_a_reset() -> None:
    step = Step(("reset", "c0", "s"), 12, 3)
    assert report.describe_step(step) == "reset the connection c0 ↔ s (lost 3 in flight)"
    assert report.describe_step(Step(("reset", "c0", "s"), 12, 0)) == \
        "reset the connection c0 ↔ s"
    assert report._mermaid_step(step) == \
        ["    Note over c0,s: reset the connection c0 ↔ s (lost 3 in flight)"]
