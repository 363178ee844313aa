"""Kafka: the correct cluster survives the hunt on both configurations, each seeded bug is
found by its invariant and replays, and a cluster that does nothing fails `progress`.
Scripted schedules show a restarted follower keeping an acknowledged record that truncation
to its high watermark loses, the idempotent producer's deduplication, min.insync.replicas,
and group generations fencing offset commits. The pieces (leader-epoch arithmetic, the range
assignor, the invariants on hand-made states and histories, the model) are checked on their
own, and the cluster and the client parts run inside another system's cluster."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import implementations
from checker.client import Client
from checker.node import Context, Node
from checker.run import execute, new_simulation
from checker.sim import Cluster, Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config
from implementations.kafka import SYSTEM, Roles, build, checks, kafka_servers, topic_layout
from implementations.kafka.broker import Broker, Settings
from implementations.kafka.client import Fetcher, Metadata, Producer
from implementations.kafka.controller import Controller, partition_key
from implementations.kafka.group import range_assign
from implementations.kafka.log import (
    UNDEFINED,
    PartitionLog,
    end_offset_for,
    epochs_key,
    hw_key,
    log_key,
    truncation_offset,
)
from implementations.kafka.messages import (
    CONTROLLER,
    NOT_ENOUGH_REPLICAS,
    OUT_OF_ORDER_SEQUENCE,
    AlterPartition,
    AlterPartitionResponse,
    JoinGroup,
    LeaderAndIsr,
    OffsetCommit,
    Produce,
    ProduceResponse,
    Record,
)
from invariants.history import Event, pair
from invariants.logs import check_log
from models.kafka import PartitionLog as SpecLog
from models.kafka import Told, first_divergence

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")


def walk(variant: str, seed: int, config: Config = DEFAULT) -> Any:
    return execute(SYSTEM, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered() and SYSTEM.fifo
    assert {"reset", "crash", "partition"} <= set(DEFAULT.faults)


@pytest.mark.parametrize("config, seeds", [(DEFAULT, 150), (SMALL, 150)],
                         ids=["default", "small"])
def test_correct_variant_survives_the_hunt(config: Config, seeds: int) -> None:
    for seed in range(seeds):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)


@pytest.mark.parametrize("variant", [v for v in SYSTEM.variants if v != "correct"])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str) -> None:
    found = next(r for r in (walk(variant, seed) for seed in range(400)) if r.violated)
    assert found.verdict.invariant == SYSTEM.variant(variant).caught_by, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


class DeafBroker(Broker):
    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        """Drops every message."""


class DeafController(Controller):
    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        """Drops every message."""


def deaf_build(config: Config, roles: Roles, rng: Any) -> Cluster:
    cluster = build(config, roles, rng)
    layout = topic_layout("t", config.params["partitions"], [f"b{i + 1}" for i in range(3)])
    cluster.servers = {CONTROLLER: functools.partial(DeafController, layout=layout,
                                                     settings=Settings())}
    cluster.servers |= {b: functools.partial(DeafBroker, layout=layout, settings=Settings())
                        for b in ("b1", "b2", "b3")}
    return cluster


def test_a_cluster_that_does_nothing_fails_progress() -> None:
    """Every safety invariant holds of a cluster that drops every message; only progress at
    quiescence tells it from a working one."""
    deaf = attrs.evolve(SYSTEM, build=deaf_build)
    for seed in range(3):
        result = execute(deaf, "correct", DEFAULT, seed, RandomWalk(seed, DEFAULT.max_pause))
        assert result.verdict.invariant == "progress" and result.violated, result.verdict
        assert "never returned" in result.verdict.explanation


def test_the_ending_restores_every_replica_to_the_isr() -> None:
    """What `progress` relies on: after the ending, a full ISR and one log everywhere."""
    for seed in range(10):
        sim = walk("correct", seed).sim
        for p in checks.layout(sim):
            state = checks.partition_state(sim, p)
            assert state.leader is not None and len(state.isr) == 3, (seed, state)


# --- scripted schedules ----------------------------------------------------------------------


def send(partition: str, value: int) -> tuple:
    return ("send", [["send", partition, value]])


def cluster_sim(variant: str = "correct", workload: dict | None = None,
                settings: Settings | None = None) -> Simulation:
    roles = SYSTEM.variant(variant).impl
    if settings is not None:
        roles = attrs.evolve(roles, settings=settings)
    cluster = build(SMALL, roles, random.Random(0))
    cluster.workload = workload or {}
    sim = Simulation(cluster, 0, 0, {"crash": 10, "drop": 10}, fifo=True)
    sim.start()
    return sim


def run_until(sim: Simulation, done: Callable[[Simulation], bool], steps: int = 3000) -> None:
    """Invoke, deliver the oldest deliverable message, fire the next timer when nothing else
    can happen, until `done` holds."""
    for _ in range(steps):
        if done(sim):
            return
        event = (sim.enabled("invoke") or sim.enabled("deliver") or sim.enabled("fire"))[0]
        sim.execute(event)
    raise AssertionError("no progress")


def acked(sim: Simulation) -> bool:
    return any(e.type == "ok" and e.f == "send" for e in sim.history)


def log_values(sim: Simulation, broker: str, partition: str = "t-0") -> list:
    return [r.value for r in sim.contexts[broker].storage.get(log_key(partition), ())]


@pytest.mark.parametrize("variant, keeps", [("correct", True), ("truncate-to-hw", False)])
def test_a_restarted_follower_keeps_an_acknowledged_record(variant: str, keeps: bool) -> None:
    """KIP-101's first scenario. The follower that fetched first learns the new high
    watermark only on its next fetch; restarted before it, its HW is behind a committed,
    acknowledged record. Truncating to that HW cuts the record from a replica the controller
    still counts in the ISR, which could be elected next."""
    sim = cluster_sim(variant, {"p1": [send("t-0", 7)]})
    run_until(sim, acked)
    lagging = [b for b in ("b2", "b3")
               if sim.contexts[b].storage.get(hw_key("t-0"), 0) < len(log_values(sim, b))]
    assert lagging
    sim.execute(("crash", lagging[0]))
    sim.execute(("restart", lagging[0]))
    assert (7 in log_values(sim, lagging[0])) == keeps
    assert lagging[0] in checks.partition_state(sim, "t-0").isr
    broken = checks.isr_complete.check(sim)
    assert (broken is None) == keeps and (keeps or "lacks 7 at offset 0" in broken)


def leader_ready(sim: Simulation) -> bool:
    replica = getattr(sim.nodes["b1"], "replicas", {}).get("t-0")
    return replica is not None and replica.leader == "b1"


def produce(sim: Simulation, *requests: Produce) -> list[ProduceResponse]:
    """Hand the leader b1 these produce requests from p1; the answers it sends back."""
    for request in requests:
        sim.send("p1", "b1", request)
    answers: list[ProduceResponse] = []

    def answered(sim: Simulation) -> bool:
        answers[:] = [s.detail for s in sim.trace if s.event[:3] == ("deliver", "b1", "p1")
                      and s.detail.producer == 99]
        return len(answers) == len(requests)
    run_until(sim, answered)
    return answers


def test_the_leader_appends_a_retried_batch_once_and_refuses_a_gap() -> None:
    sim = cluster_sim()
    run_until(sim, leader_ready)
    answers = produce(sim, Produce("t-0", 99, 0, "a"), Produce("t-0", 99, 0, "a"),
                      Produce("t-0", 99, 2, "c"))
    gap, first, retry = sorted(answers, key=lambda answer: -answer.seq)  # the gap: at once
    assert first.offset == retry.offset == 0 and first.error is None is retry.error
    assert gap.error == OUT_OF_ORDER_SEQUENCE and log_values(sim, "b1") == ["a"]


def test_min_insync_replicas_refuses_a_produce_to_a_shrunk_isr() -> None:
    sim = cluster_sim()
    run_until(sim, leader_ready)
    sim.execute(("crash", "b2"))
    sim.execute(("crash", "b3"))
    run_until(sim, lambda sim: checks.partition_state(sim, "t-0").isr == ("b1",))
    [refused] = produce(sim, Produce("t-0", 99, 0, "a"))
    assert refused.error == NOT_ENOUGH_REPLICAS and log_values(sim, "b1") == []


def test_an_answer_to_an_earlier_isr_change_leaves_the_pending_one_pending() -> None:
    """The HW waits for the ISR a pending AlterPartition may yet install. An answer to an
    earlier request (rejected: based on an older partition epoch) must not settle it."""
    sim = cluster_sim()
    run_until(sim, leader_ready)
    broker, ctx = sim.nodes["b1"], sim.contexts["b1"]
    replica = broker.replicas["t-0"]
    state = checks.partition_state(sim, "t-0")
    earlier = AlterPartition("t-0", 1, state.partition_epoch - 1, ("b1", "b2"))
    pending = AlterPartition("t-0", 1, state.partition_epoch, ("b1", "b2"))
    replica.pending = pending
    broker.on_message(ctx, CONTROLLER, AlterPartitionResponse(earlier, state))
    assert replica.pending == pending and replica.maximal_isr == ("b1", "b2", "b3")
    granted = attrs.evolve(state, isr=("b1", "b2"), partition_epoch=state.partition_epoch + 1)
    broker.on_message(ctx, CONTROLLER, AlterPartitionResponse(pending, granted))
    assert replica.pending is None and replica.isr == ("b1", "b2")


def test_a_restarted_broker_ignores_what_was_meant_for_its_former_self() -> None:
    """KIP-380: a LeaderAndIsr still in flight when its broker restarted names the broker's
    former incarnation; acting on it would make the restarted broker a stale leader."""
    sim = cluster_sim()
    run_until(sim, leader_ready)
    sim.execute(("crash", "b1"))
    sim.execute(("restart", "b1"))
    state = checks.partition_state(sim, "t-0")
    stale = LeaderAndIsr(*attrs.astuple(state), broker_epoch=1)
    sim.nodes["b1"].on_message(sim.contexts["b1"], CONTROLLER, stale)
    assert not sim.nodes["b1"].leads()
    sim.nodes["b1"].on_message(sim.contexts["b1"], CONTROLLER,
                               attrs.evolve(stale, broker_epoch=2))
    assert sim.nodes["b1"].leads()


def test_offsets_are_committed_only_in_the_current_generation() -> None:
    sim = fresh(DEFAULT)
    ctx, coordinator = sim.contexts[CONTROLLER], sim.nodes[CONTROLLER].coordinators["g"]
    for member in ("c2", "c1"):
        coordinator.on_message(ctx, member, JoinGroup("g"))
    coordinator.tick(ctx)  # every member joined: generation 1
    assert coordinator.state.generation == 1
    assert dict(coordinator.state.assignment) == {"c1": ("t-0",), "c2": ("t-1",)}
    coordinator.on_message(ctx, "c1", OffsetCommit("g", 0, (("t-0", 5),)))
    assert coordinator.state.offsets == ()  # generation 0 is over
    coordinator.on_message(ctx, "c1", OffsetCommit("g", 1, (("t-0", 5),)))
    assert coordinator.state.offsets == (("t-0", 5),)


# --- leader epochs and the assignor ----------------------------------------------------------


EPOCHS = ((1, 0), (3, 4), (4, 6))  # epoch 1 from offset 0, 3 from 4, 4 from 6; LEO 8


def test_end_offset_for_an_epoch() -> None:
    assert end_offset_for(EPOCHS, 8, 4) == (4, 8)  # the latest: the log end offset
    assert end_offset_for(EPOCHS, 8, 3) == (3, 6)
    assert end_offset_for(EPOCHS, 8, 2) == (1, 4)  # unknown: the largest below it
    assert end_offset_for(EPOCHS, 8, 0) == (0, 0)  # below all: where the first starts
    assert end_offset_for(EPOCHS, 8, 5) == (UNDEFINED, UNDEFINED)


def test_truncation_by_leader_epoch_takes_rounds_when_epochs_differ() -> None:
    """KIP-279: a follower whose last epoch (5, led while cut off) the leader never had learns
    the leader's last epoch below it (3), which the follower never had either: it drops all
    of epoch 5 and asks again about its epoch 1, which ends at 3 on the leader."""
    follower = ((1, 0), (5, 4))
    assert truncation_offset(follower, 6, asked=5, leader_epoch=3, leader_end=6) == (4, False)
    assert truncation_offset(follower[:1], 4, asked=1, leader_epoch=1, leader_end=3) == (3, True)
    assert truncation_offset(EPOCHS, 8, asked=3, leader_epoch=3, leader_end=5) == (5, True)
    assert truncation_offset(EPOCHS, 8, asked=4, leader_epoch=4, leader_end=10) == (8, True)


def test_the_log_keeps_its_epoch_cache_in_step_with_truncation() -> None:
    sim = cluster_sim()
    log = PartitionLog(sim.contexts["b1"].storage, "t-0")
    log.append([Record(1, "a"), Record(1, "b"), Record(2, "c", 7, 0)])
    log.begin_epoch(4)
    assert log.epochs == ((1, 0), (2, 2), (4, 3)) and log.offset_of(7, 0) == 2
    log.set_hw(3)
    log.truncate(2)
    assert log.epochs == ((1, 0),) and log.hw == 2 and log.last_seq(7) == -1


def test_the_range_assignor_gives_each_partition_one_owner() -> None:
    assert range_assign(("c2", "c1"), ("t-0", "t-1", "t-2")) == (
        ("c1", ("t-0", "t-1")), ("c2", ("t-2",)))
    assert range_assign((), ("t-0",)) == ()


# --- the invariants on hand-made states and histories ------------------------------------------


def fresh(config: Config = SMALL) -> Simulation:
    sim = new_simulation(SYSTEM, "correct", config, 0)
    sim.start()
    return sim


def told(sim: Simulation, process: str, f: str, args: Any, result: Any) -> None:
    sim.history += [Event(process, "invoke", f, args, 0), Event(process, "ok", f, result, 0)]


def with_log(sim: Simulation, broker: str, values: list, hw: int) -> None:
    storage = sim.contexts[broker].storage
    storage.put(log_key("t-0"), tuple(Record(1, v) for v in values))
    storage.put(hw_key("t-0"), hw)


def acked_sim(leader_log: list, follower_log: list) -> Simulation:
    sim = fresh()
    told(sim, "p1", "send", [["send", "t-0", 7]], [["send", "t-0", [0, 7]]])
    with_log(sim, "b1", leader_log, len(leader_log))
    for follower in ("b2", "b3"):
        with_log(sim, follower, follower_log, 0)
    return sim


def test_committed_kept_and_isr_complete_read_what_clients_were_told() -> None:
    assert checks.committed_kept.check(acked_sim([7], [7])) is None
    assert checks.isr_complete.check(acked_sim([7], [7])) is None
    assert "b1, leader of t-0" in checks.committed_kept.check(acked_sim([8], [7]))
    assert "b2 is in the ISR" in checks.isr_complete.check(acked_sim([7], []))
    sim = acked_sim([7], [7])
    told(sim, "c1", "poll", [["poll"]], [["poll", {"t-0": [[0, 8]]}]])
    assert "told as 7 and later as 8" in checks.committed_kept.check(sim)


def test_replicas_agree_below_both_high_watermarks_only() -> None:
    sim = fresh()
    with_log(sim, "b1", ["a", "b"], 1)
    with_log(sim, "b2", ["a", "c"], 1)
    assert checks.replicas_agree.check(sim) is None  # they differ above both HWs
    sim = fresh()
    with_log(sim, "b1", ["a", "b"], 2)
    with_log(sim, "b2", ["a", "c"], 2)
    assert "differ at offset 1" in checks.replicas_agree.check(sim)


def with_epochs(sim: Simulation, broker: str, epochs: list, cache: tuple) -> Simulation:
    """Give `broker` a log of records appended in `epochs`, and the epoch cache `cache`."""
    storage = sim.contexts[broker].storage
    storage.put(log_key("t-0"), tuple(Record(e, i) for i, e in enumerate(epochs)))
    storage.put(epochs_key("t-0"), cache)
    return sim


@pytest.mark.parametrize("epochs, cache, wrong", [
    ([1, 1, 3, 3], ((1, 0), (3, 2)), None),
    ([1, 3], ((1, 0), (2, 1), (3, 1), (4, 2)), None),  # epochs 2 and 4 led, nothing appended
    ([], ((2, 0),), None),
    ([1, 1, 3], ((1, 0), (1, 1), (3, 2)), "lists epoch 1 from offset 1 after 1 from 0"),
    ([1, 1, 3], ((1, 0), (3, 3)), "puts offset 2 in epoch 1"),
    ([1, 1, 3], ((1, 0),), "puts offset 2 in epoch 1"),
    ([1, 3], ((1, 0), (3, 1), (4, 3)), "past the log end 2"),
    ([1], (), "does not cover offset 0"),
])
def test_epoch_cache_indexes_log(epochs: list, cache: tuple, wrong: str | None) -> None:
    """A follower truncates where the leader's cache says its epoch ends: the cache must be
    an index of the log, record by record."""
    problem = checks.epoch_cache_indexes_log.check(with_epochs(fresh(), "b2", epochs, cache))
    assert (problem is None) if wrong is None else (wrong in problem), problem


def settled_ending(leader_took_up_epoch: bool = True) -> Simulation:
    """A fresh cluster in its ending, every replica empty and in the ISR, and c1's poll
    called at t=0 still in progress."""
    sim = fresh()
    sim.phase = "quiesce"
    if leader_took_up_epoch:
        sim.ghost.append(("leader", 0, "b1", {"partition": "t-0", "epoch": 1}))
    sim.history.append(Event("c1", "invoke", "poll", [["poll"]], 0))
    return sim


def step_at(sim: Simulation, time: int) -> None:
    """A step of the ending at `time` (the checks read the state once per step)."""
    sim.time = time
    sim.trace.append(Step(("fire", CONTROLLER, "tick"), time, None, "quiesce"))


def test_a_poll_returns_within_poll_returns_of_the_cluster_settling() -> None:
    sim = settled_ending()
    assert checks.poll_returns_bounded.check(sim) is None  # settled at t=0
    step_at(sim, checks.POLL_RETURNS)
    assert checks.poll_returns_bounded.check(sim) is None
    step_at(sim, checks.POLL_RETURNS + 1)
    late = checks.poll_returns_bounded.check(sim)
    assert f"has not returned by t={checks.POLL_RETURNS + 1}" in late
    sim.history.append(Event("c1", "ok", "poll", [["poll", {}]], sim.time))
    assert checks.poll_returns_bounded.check(sim) is None


def untimed_poll(sim: Simulation) -> bool:
    """Whether the check stays silent on the poll called at t=0, at t=0 and long after."""
    quiet = checks.poll_returns_bounded.check(sim) is None
    step_at(sim, 1000)
    return quiet and checks.poll_returns_bounded.check(sim) is None


def test_a_poll_is_not_timed_while_the_cluster_is_unsettled() -> None:
    """A leader that has not taken up its epoch (it would answer "not the leader"), a record
    above the high watermark, a partial ISR: the poll may wait for it; the bound runs from
    the settling."""
    assert not untimed_poll(settled_ending())
    assert untimed_poll(settled_ending(leader_took_up_epoch=False))
    sim = settled_ending()
    for b in ("b1", "b2", "b3"):
        with_log(sim, b, [7], 0)
    assert untimed_poll(sim)
    sim = settled_ending()
    state = checks.partition_state(sim, "t-0")
    assert checks.poll_returns_bounded.check(sim) is None  # settled at t=0
    shrunk = attrs.evolve(state, isr=("b1",), partition_epoch=2)
    sim.contexts[CONTROLLER].storage.put(partition_key("t-0"), shrunk)
    step_at(sim, 50)
    assert checks.poll_returns_bounded.check(sim) is None
    sim.contexts[CONTROLLER].storage.put(partition_key("t-0"),
                                         attrs.evolve(state, partition_epoch=3))
    step_at(sim, 60)  # settled again: the poll has POLL_RETURNS from now
    assert checks.poll_returns_bounded.check(sim) is None
    step_at(sim, 60 + checks.POLL_RETURNS)
    assert checks.poll_returns_bounded.check(sim) is None
    step_at(sim, 61 + checks.POLL_RETURNS)
    assert "the cluster recovered (t=60)" in checks.poll_returns_bounded.check(sim)


def test_one_leader_per_epoch_and_one_owner_per_generation() -> None:
    sim = fresh()
    sim.ghost += [("leader", 0, "b1", {"partition": "t-0", "epoch": 1}),
                  ("leader", 5, "b1", {"partition": "t-0", "epoch": 1})]
    assert checks.one_leader_per_epoch.check(sim) is None
    sim.ghost.append(("leader", 9, "b2", {"partition": "t-0", "epoch": 1}))
    assert "which b1 led" in checks.one_leader_per_epoch.check(sim)
    owns = ("owns", 0, "c1", {"member": "c1", "generation": 2, "partitions": ("t-0",)})
    commit = ("offset-commit", 1, CONTROLLER, {"member": "c2", "generation": 2,
                                               "partition": "t-0", "offset": 3})
    sim.ghost += [owns, commit]
    assert "whose owner is c1" in checks.one_owner_per_generation.check(sim)
    sim = fresh()
    sim.ghost += [owns, ("owns", 1, "c2", {**owns[3], "member": "c2"})]
    assert "assigned to both c1 and c2" in checks.one_owner_per_generation.check(sim)


def test_progress_needs_every_acknowledged_record_in_the_final_poll() -> None:
    sim = fresh()
    for b in ("b1", "b2", "b3"):
        with_log(sim, b, [7], 1)
    told(sim, "p1", "send", [["send", "t-0", 7]], [["send", "t-0", [0, 7]]])
    told(sim, "c1", "poll", [["poll"]], [["poll", {"t-0": [[0, 7]]}]])
    assert checks.progress.check(sim).ok
    sim.history.append(Event("c1", "invoke", "poll", [["poll"]], 1))
    assert "never returned" in checks.progress.check(sim).explanation
    sim.history.append(Event("c1", "ok", "poll", [["poll", {"t-0": []}]], 2))
    assert "did not return 7 at offset 0" in checks.progress.check(sim).explanation


def test_progress_needs_a_full_isr_and_one_log() -> None:
    sim = fresh()
    with_log(sim, "b1", [7], 1)
    told(sim, "c1", "poll", [["poll"]], [["poll", {"t-0": [[0, 7]]}]])
    assert "ended with b2 holding []" in checks.progress.check(sim).explanation
    state = checks.partition_state(sim, "t-0")
    sim.contexts[CONTROLLER].storage.put(partition_key("t-0"), attrs.evolve(state, isr=("b1",)))
    assert "not all of" in checks.progress.check(sim).explanation


def test_the_log_check_sees_a_duplicate_append() -> None:
    sim = fresh()
    told(sim, "p1", "send", [["send", "t-0", 7]], [["send", "t-0", [1, 7]]])
    told(sim, "c1", "poll", [["poll"]], [["poll", {"t-0": [[0, 7], [1, 7]]}]])
    verdict = checks.kafka_log.check(sim)
    assert verdict.violated and "duplicate" in verdict.explanation


# --- the model -------------------------------------------------------------------------------


def test_the_model_log_and_what_clients_were_told() -> None:
    log = SpecLog()
    assert [log.append(v) for v in "abc"] == [0, 1, 2]
    assert log.read(1, 5) == ((1, "b"), (2, "c"))
    told_ = Told()
    assert told_.learn("t-0", 1, "b") is None and told_.learn("t-0", 1, "b") is None
    assert "told as 'b' and later as 'x'" in told_.learn("t-0", 1, "x")
    assert told_.missing("t-0", ["a", "b"]) is None
    assert told_.missing("t-0", ["a"]) == (1, "b")
    assert first_divergence(["a", "b"], ["a", "c"], 1) is None
    assert first_divergence(["a", "b"], ["a"], 2) == 1


def test_histories_of_the_model_pass_the_log_check() -> None:
    """Differential: sends and polls run against the sequential log, interleaved at random,
    make histories the log checker finds clean."""
    rng = random.Random(3)
    for _ in range(30):
        logs = {p: SpecLog() for p in ("t-0", "t-1")}
        history, positions, value = [], {"c1": {}, "c2": {}}, 0
        for _ in range(20):
            if rng.random() < 0.5:
                value += 1
                p = rng.choice(sorted(logs))
                offset = logs[p].append(value)
                history += [Event("p1", "invoke", "send", [["send", p, value]], 0),
                            Event("p1", "ok", "send", [["send", p, [offset, value]]], 0)]
            else:
                consumer = rng.choice(["c1", "c2"])
                read = {p: [list(r) for r in log.read(positions[consumer].get(p, 0), 2)]
                        for p, log in logs.items()}
                for p, pairs in read.items():
                    positions[consumer][p] = positions[consumer].get(p, 0) + len(pairs)
                history += [Event(consumer, "invoke", "poll", [["poll"]], 0),
                            Event(consumer, "ok", "poll", [["poll", read]], 0)]
        assert check_log(pair(history)).ok


# --- the cluster inside another system -------------------------------------------------------


class Source(Node):
    """Another system's node producing three change events through the embedded producer."""

    def on_start(self, ctx: Context) -> None:
        self.metadata = Metadata()
        self.producer = Producer(self.metadata, self.acked)
        self.offsets: list[int] = []
        self.metadata.refresh(ctx)
        for value in ("insert", "update", "delete"):
            self.producer.send(ctx, "cdc-0", value)

    def acked(self, ctx: Context, partition: str, value: Any, offset: int) -> None:
        self.offsets.append(offset)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.metadata.on_message(ctx, src, msg) or self.producer.on_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        self.producer.on_timer(ctx, name)


class Sink(Node):
    """Another system's node reading the topic from offset 0 through the embedded fetcher."""

    def on_start(self, ctx: Context) -> None:
        self.metadata = Metadata()
        self.fetcher = Fetcher(self.metadata, self.fetched)
        self.read: list = []
        self.metadata.refresh(ctx)
        ctx.set_timer("poll", 20)

    def fetched(self, ctx: Context, partition: str, records: tuple) -> None:
        self.read += records
        ctx.set_timer("poll", 20)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.metadata.on_message(ctx, src, msg) or self.fetcher.on_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "poll":
            self.metadata.refresh(ctx)
            self.fetcher.fetch(ctx, "cdc-0", len(self.read))
        else:
            self.fetcher.on_timer(ctx, name)


class Idle(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.complete(ctx, "ok")


def test_a_kafka_cluster_runs_inside_another_systems_cluster() -> None:
    servers = kafka_servers(topic_layout("cdc", 1, ["k1", "k2", "k3"]))
    cluster = Cluster(servers={**servers, "source": Source, "sink": Sink},
                      clients={"x": Idle}, workload={})
    sim = Simulation(cluster, 0, 0, {}, fifo=True)
    sim.start()
    run_until(sim, lambda sim: len(sim.nodes["sink"].read) == 3)
    assert sim.nodes["source"].offsets == [0, 1, 2]
    assert sim.nodes["sink"].read == [(0, "insert"), (1, "update"), (2, "delete")]
