"""The engine on toy systems: delivery, partitions, crashes, timers, clocks, quiescence."""

from __future__ import annotations

from typing import Any

import pytest

from checker import registry
from checker.client import Client
from checker.node import Context, Node
from checker.run import execute
from checker.sim import KINDS, Cluster, Simulation
from checker.strategies import RandomWalk
from checker.system import judged_on_change
from tests.toys import COUNTER
from tests.toys_fifo import STREAM


class Recorder(Node):
    """Keeps what it receives; durable counter; a periodic timer."""

    def on_start(self, ctx: Context) -> None:
        self.got: list = []
        self.boots = ctx.storage.get("boots", 0) + 1
        ctx.storage.put("boots", self.boots)
        ctx.set_timer("tick", 10)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.got.append((src, msg))

    def on_timer(self, ctx: Context, name: str) -> None:
        self.got.append(("timer", name, ctx.now()))
        ctx.set_timer(name, 10)


class Ping(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        ctx.send("a", ("ping", args))
        self.complete(ctx, "ok", args)


def make(budget: dict | None = None, epsilon: int = 5) -> Simulation:
    cluster = Cluster(servers={"a": Recorder, "b": Recorder}, clients={"c": Ping},
                      workload={"c": [("ping", 1), ("ping", 2)]},
                      final_ops=[("c", "ping", 99)])
    sim = Simulation(cluster, seed=1, epsilon=epsilon,
                     budget=budget or dict.fromkeys(("drop", "duplicate", "crash", "partition",
                                                     "pause", "skew"), 5))
    sim.start()
    return sim


def test_messages_reorder_freely() -> None:
    sim = make()
    sim.contexts["b"].send("a", "first")
    sim.contexts["b"].send("a", "second")
    assert sim.enabled("deliver") == [("deliver", "b", "a", 0), ("deliver", "b", "a", 1)]
    sim.execute(("deliver", "b", "a", 1))
    sim.execute(("deliver", "b", "a", 0))
    assert sim.nodes["a"].got == [("b", "second"), ("b", "first")]


def test_drop_and_duplicate() -> None:
    sim = make()
    sim.contexts["b"].send("a", "m")
    sim.execute(("duplicate", "b", "a", 0))
    sim.execute(("drop", "b", "a", 0))
    assert sim.enabled("deliver") == [("deliver", "b", "a", 1)]
    assert sim.budget["drop"] == 4 and sim.budget["duplicate"] == 4


def test_partition_cuts_both_ways_until_healed() -> None:
    sim = make()
    sim.contexts["b"].send("a", "x")
    sim.contexts["a"].send("b", "y")
    sim.execute(("partition", ("a",)))
    assert sim.enabled("deliver") == []
    assert sim.enabled("partition") == []  # one partition at a time
    sim.execute(("heal",))
    assert len(sim.enabled("deliver")) == 2


def test_crash_loses_volatile_state_and_unsynced_writes_but_keeps_durable() -> None:
    sim = make()
    sim.contexts["b"].send("a", "x")
    sim.execute(("deliver", "b", "a", 0))
    sim.contexts["a"].storage.put("scratch", 1, synced=False)
    assert "scratch" in sim.contexts["a"].storage.items()
    assert "scratch" not in sim.contexts["a"].storage.durable_items()  # what a crash leaves
    sim.execute(("crash", "a"))
    assert not sim.up("a")
    assert all(node != "a" for node, _ in sim.timers.due)
    assert sim.trace[-1].detail == 1  # one unsynced write lost
    sim.contexts["b"].send("a", "while down")
    assert ("deliver", "b", "a", 1) not in sim.enabled("deliver")
    sim.execute(("restart", "a"))
    assert sim.nodes["a"].got == [] and sim.nodes["a"].boots == 2
    assert sim.contexts["a"].storage.get("scratch") is None
    assert ("deliver", "b", "a", 1) in sim.enabled("deliver")  # delayed, not lost


def test_a_disk_counts_its_writes_and_a_check_on_disks_is_judged_again_after_one() -> None:
    sim = make()
    disk = sim.contexts["a"].storage
    calls = []

    @judged_on_change(lambda sim: ["a"], lambda sim: len(sim.history))
    def bad_marker(sim: Simulation) -> str | None:
        calls.append(len(sim.trace))
        return "marked bad" if disk.durable("mark") == "bad" else None

    assert bad_marker(sim) is None
    sim.execute(("fire", "b", "tick"))  # no write to a's disk: the judgement is kept
    assert bad_marker(sim) is None and len(calls) == 1
    writes = disk.writes
    disk.put("mark", "bad", synced=False)  # written, not synced: judged again, still holds
    assert disk.writes == writes + 1 and bad_marker(sim) is None and len(calls) == 2
    disk.sync()
    assert bad_marker(sim) == "marked bad" and bad_marker(sim) == "marked bad"  # never kept
    disk.put("mark", "good")
    assert bad_marker(sim) is None and len(calls) == 5
    sim.record("c", "invoke", "ping", 3)  # what `reads` sums up changed
    assert bad_marker(sim) is None and len(calls) == 6
    disk.put("mark", "bad", synced=False)
    assert bad_marker(sim) is None and len(calls) == 7
    sim.execute(("crash", "a"))  # the loss of the unsynced write is a write too
    assert disk.writes == writes + 5 and bad_marker(sim) is None and len(calls) == 8
    assert disk.contents() == {"_durable": disk.durable_items(), "_unsynced": {}}


def test_only_the_earliest_timers_fire_and_time_advances_to_them() -> None:
    sim = make()
    sim.contexts["a"].set_timer("late", 50)
    assert sorted(sim.enabled("fire")) == [("fire", "a", "tick"), ("fire", "b", "tick")]
    sim.execute(("fire", "a", "tick"))
    assert sim.time == 10
    sim.contexts["a"].cancel_timer("late")
    assert ("a", "late") not in sim.timers.due


def test_clock_offset_is_bounded_and_truetime_contains_true_time() -> None:
    sim = make(epsilon=5)
    sim.execute(("skew", "a", 40))
    ctx = sim.contexts["a"]
    assert ctx.offset == 5
    earliest, latest = ctx.truetime()
    assert earliest <= sim.time <= latest
    assert ctx.now() == sim.time + 5


def test_pause_delays_receipt_and_postpones_timers() -> None:
    sim = make()
    sim.execute(("pause", "a", 30))
    sim.contexts["b"].send("a", "x")
    assert sim.enabled("deliver") == []
    assert sim.timers.due[("a", "tick")] == 30
    sim.execute(("fire", "b", "tick"))
    sim.execute(("fire", "b", "tick"))
    sim.execute(("fire", "b", "tick"))
    assert sim.time == 30 and sim.enabled("deliver") == [("deliver", "b", "a", 0)]


def test_budgets_disable_faults() -> None:
    sim = make(budget={"crash": 1})
    sim.execute(("crash", "a"))
    assert sim.enabled("crash") == [] and sim.enabled("drop") == []
    assert sim.enabled("restart") == [("restart", "a")]


def test_clients_record_a_history() -> None:
    sim = make()
    sim.execute(("invoke", "c"))
    ops = sim.operations()
    assert [(op.f, op.args, op.status) for op in ops] == [("ping", 1, "ok")]


def test_quiescence_heals_restarts_delivers_and_runs_final_ops() -> None:
    sim = make()
    sim.execute(("invoke", "c"))
    sim.execute(("partition", ("a",)))
    sim.execute(("crash", "b"))
    sim.quiesce(horizon=50, max_steps=1000)
    assert sim.up("b") and not sim.network.partitioned
    assert not list(sim.network)
    assert [op.args for op in sim.operations()] == [1, 99]  # the unissued op 2 is abandoned
    assert ("c", ("ping", 99)) in sim.nodes["a"].got
    assert {s.phase for s in sim.trace[3:]} == {"quiesce"}


@pytest.mark.parametrize("event", [("deliver", "b", "a", 7), ("restart", "a"), ("heal",)])
def test_is_enabled_rejects_what_cannot_happen(event: tuple) -> None:
    assert not make().is_enabled(event)


# --- replay lets time pass to a chosen timer ---------------------------------------------------


class Ticker(Node):
    """Ticks every 10; `late` is due at 100. With `cancels`, the tick at 50 cancels `late`."""

    cancels = False

    def on_start(self, ctx: Context) -> None:
        self.fired: list = []
        ctx.set_timer("tick", 10)
        ctx.set_timer("late", 100)

    def on_timer(self, ctx: Context, name: str) -> None:
        self.fired.append((name, ctx.now()))
        if name == "tick":
            ctx.set_timer("tick", 10)
            if self.cancels and ctx.now() == 50:
                ctx.cancel_timer("late")


class CancellingTicker(Ticker):
    cancels = True


def replayed(node: type, choices: list) -> Simulation:
    from checker.strategies import Replay

    sim = Simulation(Cluster(servers={"a": node}, clients={}, workload={}), seed=0, epsilon=0,
                     budget={})
    sim.start()
    strategy = Replay(choices)
    while (event := strategy.next(sim)) is not None:
        sim.execute(event)
    return sim


def test_a_chosen_timer_lets_the_earlier_ones_fire_as_implied_steps() -> None:
    sim = replayed(Ticker, [("fire", "a", "late")])
    assert [name for name, _ in sim.nodes["a"].fired] == ["tick"] * 9 + ["late"]
    assert sim.choices() == [("fire", "a", "late")]
    assert [s.phase for s in sim.trace] == ["implied"] * 9 + ["run"]


def test_implied_steps_become_choices_when_their_timer_is_cancelled() -> None:
    sim = replayed(CancellingTicker, [("fire", "a", "late"), ("fire", "a", "tick")])
    assert sim.choices() == [("fire", "a", "tick")] * 6
    again = replayed(CancellingTicker, sim.choices())
    assert again.nodes["a"].fired == sim.nodes["a"].fired


def test_implied_steps_left_at_the_end_of_a_run_are_choices() -> None:
    sim = replayed(Ticker, [("fire", "a", "late")])
    sim.trace = sim.trace[:4]  # as if the run had ended while time passed
    assert sim.choices() == [("fire", "a", "tick")] * 4


def test_invariant_state_is_kept_per_run() -> None:
    first, second = make(), make()
    first.invariant_state("seen", list).append(1)
    assert first.invariant_state("seen", list) == [1]
    assert second.invariant_state("seen", list) == []


class Checking:
    """A random walk that, before each of its decisions, checks that the cheap answers the
    walk relies on agree with the full lists of enabled events."""

    def __init__(self, seed: int, max_pause: int) -> None:
        self.walk = RandomWalk(seed, max_pause)
        self.steps = 0

    def next(self, sim: Simulation) -> tuple | None:
        for kind in KINDS:
            assert sim.any_enabled(kind) == bool(sim.enabled(kind)), (kind, sim.trace[-1:])
        deliverable = {("deliver", *key) for key in sim.network.in_flight
                       if sim.is_enabled(("deliver", *key))}
        assert set(sim.ready()) == deliverable
        self.steps += 1
        return self.walk.next(sim)


@pytest.mark.parametrize(("system", "config"), [
    (COUNTER, "default"), (STREAM, "default"), ("sso", "small"), ("kafka", "small"),
    ("zookeeper", "pauses")])
def test_enabled_events_kept_up_to_date_agree_with_the_state(system: Any, config: str) -> None:
    """The deliverable messages, the earliest timers and the faults possible are kept as the
    run changes them (sends, receipts, crashes, partitions, pauses); at every step they are
    what the state says."""
    system = registry.lookup(system) if isinstance(system, str) else system
    for seed in range(4):
        strategy = Checking(seed, system.config(config).max_pause)
        execute(system, "correct", system.config(config), seed, strategy)
        assert strategy.steps > 10


def test_a_crashed_node_keeps_no_timer_among_the_earliest() -> None:
    sim = make()
    sim.execute(("crash", "a"))
    assert all(event[1] != "a" for event in sim.enabled("fire"))
    assert sim.enabled("restart") == [("restart", "a")] and sim.any_enabled("restart")
    sim.execute(("restart", "a"))
    assert not sim.any_enabled("restart")
    assert ("fire", "a", "tick") in sim.enabled("fire")
