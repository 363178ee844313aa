"""Kafka's requests and responses, in its own names, as small frozen messages.

Partitions are named `topic-index` ("t-0"); a broker is named by its node id. Every response
that can fail carries an `error` (None when it did not).
"""

from __future__ import annotations

from typing import Any

import attrs

CONTROLLER = "ctl"  # the controller node, which also hosts the group coordinator

# errors, with Kafka's names
NOT_LEADER = "NOT_LEADER_OR_FOLLOWER"  # also: the request names another leader epoch
NOT_ENOUGH_REPLICAS = "NOT_ENOUGH_REPLICAS"  # |ISR| < min.insync.replicas: nothing appended
NOT_ENOUGH_REPLICAS_AFTER_APPEND = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"  # appended, not acked
OUT_OF_ORDER_SEQUENCE = "OUT_OF_ORDER_SEQUENCE_NUMBER"  # a gap in a producer's sequence
DIVERGING = "DIVERGING_EPOCH"  # the follower's last fetched epoch ends earlier on the leader
REBALANCE_IN_PROGRESS = "REBALANCE_IN_PROGRESS"
ILLEGAL_GENERATION = "ILLEGAL_GENERATION"
UNKNOWN_MEMBER = "UNKNOWN_MEMBER_ID"


@attrs.frozen
class Record:
    """One record of a partition's log: the leader epoch it was appended in, its value, and
    the idempotent producer's id and sequence number (None for a plain producer)."""

    epoch: int
    value: Any
    producer: int | None = None
    seq: int | None = None


# --- controller <-> brokers ----------------------------------------------------------------


@attrs.frozen
class BrokerHeartbeat:
    """A broker is alive; `incarnation` changes with every restart, `known` is what it knows
    of each partition: (partition, leader_epoch, partition_epoch)."""

    incarnation: int
    known: tuple


@attrs.frozen
class PartitionState:
    """The controller's record of a partition. `partition_epoch` counts every change of
    leader or ISR; `leader_epoch` only changes of leader."""

    partition: str
    leader: str | None
    leader_epoch: int
    isr: tuple
    partition_epoch: int


@attrs.frozen
class LeaderAndIsr:
    """The controller tells a replica its partition's state. `broker_epoch` is the
    incarnation of the broker it is meant for (KIP-380): a broker ignores a request meant for
    an earlier incarnation of itself, still in flight when it restarted."""

    partition: str
    leader: str | None
    leader_epoch: int
    isr: tuple
    partition_epoch: int
    broker_epoch: int


@attrs.frozen
class AlterPartition:
    """A leader asks the controller to change the ISR (KIP-497), based on the state it knows."""

    partition: str
    leader_epoch: int
    partition_epoch: int
    isr: tuple


@attrs.frozen
class AlterPartitionResponse:
    """The partition's state after `request`: the new ISR, or the one that stands."""

    request: AlterPartition
    state: PartitionState


# --- clients <-> controller ----------------------------------------------------------------


@attrs.frozen
class MetadataRequest:
    req: int


@attrs.frozen
class MetadataResponse:
    req: int
    partitions: tuple  # (partition, leader or None, leader_epoch, replicas, isr)


@attrs.frozen
class InitProducerId:
    req: int


@attrs.frozen
class InitProducerIdResponse:
    req: int
    producer: int


# --- produce and fetch ---------------------------------------------------------------------


@attrs.frozen
class Produce:
    """acks=all: answered once the record is committed (the high watermark is past it)."""

    partition: str
    producer: int | None
    seq: int | None
    value: Any


@attrs.frozen
class ProduceResponse:
    partition: str
    producer: int | None
    seq: int | None
    offset: int | None
    error: str | None = None


@attrs.frozen
class Fetch:
    """From a follower (`replica`) or a consumer (`replica` None: reads stop at the high
    watermark). A follower names the leader epoch it follows and the epoch of its last
    record, which the leader checks against its own leader-epoch cache."""

    partition: str
    replica: str | None
    offset: int
    leader_epoch: int | None = None
    last_epoch: int | None = None


@attrs.frozen
class FetchResponse:
    partition: str
    offset: int  # the fetch offset this answers
    records: tuple  # Records from `offset` on
    hw: int
    error: str | None = None
    diverging: tuple | None = None  # (epoch, end offset) on the leader, with DIVERGING


@attrs.frozen
class OffsetsForLeaderEpoch:
    """A follower asks where its latest epoch ends on the leader (KIP-101, KIP-279)."""

    partition: str
    leader_epoch: int
    epoch: int


@attrs.frozen
class EpochEndOffset:
    """The largest epoch <= the one asked that the leader knows, and where it ends."""

    partition: str
    asked: int
    epoch: int
    end_offset: int
    error: str | None = None


# --- consumer groups -------------------------------------------------------------------------


@attrs.frozen
class JoinGroup:
    group: str


@attrs.frozen
class JoinGroupResponse:
    group: str
    generation: int


@attrs.frozen
class SyncGroup:
    group: str
    generation: int


@attrs.frozen
class SyncGroupResponse:
    """The member's partitions in this generation, with the group's committed offsets."""

    group: str
    generation: int
    assignment: tuple  # (partition, committed offset)
    error: str | None = None


@attrs.frozen
class Heartbeat:
    group: str
    generation: int


@attrs.frozen
class HeartbeatResponse:
    """Sent only when the member must rejoin (the error says why)."""

    group: str
    error: str


@attrs.frozen
class OffsetCommit:
    group: str
    generation: int
    offsets: tuple  # (partition, offset of the next record to consume)
