"""Kafka: a replicated, partitioned log (Kreps, Narkhede, Rao, "Kafka: a Distributed Messaging
System for Log Processing", NetDB 2011; the replication design of Kafka 0.8 and its
KIP-101/KIP-279 leader epochs, KIP-98 idempotent producer and KIP-497 AlterPartition).

A topic is split into partitions; each partition is an append-only log replicated on three
brokers. One replica is the **leader**: producers append to it and consumers read from it.
The others are **followers** that fetch from the leader, as consumers do. The leader keeps
the **ISR** (in-sync replicas): the followers that have caught up recently. A record is
**committed** once every ISR member has it; the leader's **high watermark** (HW) is the
smallest **log end offset** (LEO) over the ISR, and consumers read only below it. With
acks=all, a produce is acknowledged once committed, and refused outright when the ISR is
smaller than `min.insync.replicas`.

A **controller** keeps each partition's leader, **leader epoch** and ISR in its storage. It
fences a broker whose heartbeats stop (or that restarted) and elects a new leader from the
ISR — clean election: every committed record is on it. The ISR changes only through the
controller: the leader asks it to shrink the ISR when a follower lags, to expand it when one
catches up (AlterPartition), and counts a pending expansion before it is granted.

Every record carries the leader epoch it was appended in, and every replica keeps a
**leader-epoch cache** (epoch -> start offset). A replica that becomes a follower truncates its
log where it diverges from the new leader's by asking the leader where its latest epoch ends
there (OffsetsForLeaderEpoch); its own high watermark is no guide, as it may lag the leader's.
Fetches carry the follower's last epoch, so that the leader catches a divergence still there.

The **idempotent producer** gets a producer id from the controller and numbers its batches per
partition; the leader appends a batch only if its sequence number follows the producer's last,
and answers a retry of an appended batch with the offset it got. Consumers form a **group**:
the coordinator (on the controller node) hands out partitions per **generation**, members
heartbeat and rejoin on a rebalance, and offsets are committed only within the current
generation.

The pieces: `log.py` (a replica's log and epoch cache), `broker.py` (leader and follower),
`controller.py` (partition state, elections), `group.py` (the group coordinator),
`client.py` (the client library: metadata, producer, fetcher, group member — parts another
system's nodes can embed), `workload.py` (the hunt's producer and consumer clients),
`checks.py` (the invariants); the model is `models/kafka.py`.

To run a Kafka cluster inside another system: `kafka_servers(topic_layout(...))` returns the
server node factories (controller "ctl" and brokers) to put in its `Cluster.servers`, and the
parts of `client.py` let any node produce, fetch and consume.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs

from checker.node import Node
from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.kafka import checks
from implementations.kafka.broker import Broker, Settings, TruncateToHighWatermark
from implementations.kafka.client import Producer, ResettingProducer
from implementations.kafka.controller import Controller
from implementations.kafka.messages import CONTROLLER
from implementations.kafka.workload import ConsumerClient, ProducerClient


def topic_layout(topic: str, partitions: int, brokers: list[str],
                 replication: int = 3) -> dict[str, tuple]:
    """Partition name -> its replicas, the preferred leader first, spread round the brokers."""
    count = min(replication, len(brokers))
    return {f"{topic}-{i}": tuple(brokers[(i + k) % len(brokers)] for k in range(count))
            for i in range(partitions)}


def kafka_servers(layout: dict[str, tuple], settings: Settings = Settings(),
                  broker: type[Broker] = Broker,
                  groups: tuple = ("g",)) -> dict[str, Callable[[str], Node]]:
    """The server nodes of a Kafka cluster for `layout`: the controller (named CONTROLLER,
    hosting the coordinators of `groups`) and one broker per replica named in the layout."""
    brokers = sorted({b for replicas in layout.values() for b in replicas})
    servers: dict[str, Callable[[str], Node]] = {
        CONTROLLER: functools.partial(Controller, layout=layout, settings=settings,
                                      groups=groups)}
    for name in brokers:
        servers[name] = functools.partial(broker, layout=layout, settings=settings)
    return servers


@attrs.frozen
class Roles:
    """What one variant runs."""

    broker: type[Broker] = Broker
    settings: Settings = Settings()
    producer: type[Producer] = Producer


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """`servers` brokers b1.. holding topic `t` (params `partitions`, replication 3), the
    controller, and `clients` clients: producers p1.. (the first half) each sending unique
    values to random partitions, and consumers c1.. of group `g` polling. In the ending c1
    assigns itself every partition and polls them all from offset 0."""
    brokers = [f"b{i + 1}" for i in range(config.servers)]
    layout = topic_layout("t", config.params.get("partitions", 2), brokers)
    partitions = sorted(layout)
    producers = [f"p{i + 1}" for i in range((config.clients + 1) // 2)]
    consumers = [f"c{i + 1}" for i in range(config.clients // 2)]
    values = iter(range(1, 1 + len(producers) * config.ops_per_client))
    workload = {p: [("send", [["send", rng.choice(partitions), next(values)]])
                    for _ in range(config.ops_per_client)] for p in producers}
    workload |= {c: [("poll", [["poll"]])] * config.ops_per_client for c in consumers}
    clients: dict[str, Callable] = {
        p: functools.partial(ProducerClient, producer=roles.producer) for p in producers}
    clients |= {c: ConsumerClient for c in consumers}
    return Cluster(
        servers=kafka_servers(layout, roles.settings, roles.broker),
        clients=clients,
        workload=workload,
        final_ops=[(consumers[0], "assign", partitions), (consumers[0], "poll", [["poll"]])],
    )


FAULTS = {"drop": 3, "crash": 3, "pause": 2, "partition": 2, "reset": 3}

SYSTEM = System(
    name="kafka",
    paper="Kreps, Narkhede, Rao: Kafka: a Distributed Messaging System for Log Processing "
          "(NetDB 2011); Kafka replication, KIP-101/279 leader epochs, KIP-98 idempotence",
    summary="partitions replicated by ISR with a high watermark and leader epochs, "
            "controller elections, consumer groups, the idempotent producer",
    build=build,
    invariants=(checks.committed_kept, checks.isr_complete, checks.replicas_agree,
                checks.epoch_cache_indexes_log, checks.one_leader_per_epoch,
                checks.one_owner_per_generation, checks.poll_returns_bounded,
                checks.kafka_log, checks.progress),
    configs={
        "default": Config("default", servers=3, clients=4, ops_per_client=4, max_steps=600,
                          max_pause=300, faults=FAULTS, quiesce_horizon=600,
                          params={"partitions": 2}),
        "small": Config("small", servers=3, clients=2, ops_per_client=2, max_steps=300,
                        max_pause=300, faults=FAULTS, quiesce_horizon=600,
                        params={"partitions": 1}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "truncate-to-hw": Variant(
            "truncate-to-hw", Roles(broker=TruncateToHighWatermark),
            breaks="the ISR: a follower that the controller still counts in sync cuts "
                   "committed records off its log, and may be elected leader without them",
            caught_by="isr-complete",
            teaches="KIP-101: the high watermark lags on followers; truncate by leader epoch"),
        "unclean-election": Variant(
            "unclean-election", Roles(settings=Settings(unclean=True)),
            breaks="durability: with every ISR member gone, a replica outside the ISR is "
                   "elected and acknowledged records vanish from the log consumers read",
            caught_by="committed-kept",
            teaches="Kafka replication design: only the ISR may lead "
                    "(unclean.leader.election.enable trades this for availability)"),
        "producer-resets-sequence": Variant(
            "producer-resets-sequence", Roles(producer=ResettingProducer),
            breaks="exactly-once appends: a retry under a new producer id is a new batch to "
                   "the leader, and a batch that had been appended is appended twice",
            caught_by="kafka-log",
            teaches="KIP-98: the idempotent producer keeps its id and sequence across retries"),
    },
    fifo=True,
)
