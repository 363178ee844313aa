"""Kafka's client library, as parts any node can embed: metadata, the idempotent producer, a
fetcher that reads committed records by offset, and consumer-group membership.

A host node owns the parts and forwards to them: each part's `on_message` returns whether the
message was its own, `on_timer` whether the timer was (each part's timers carry its prefix),
and `on_reset` tells it a connection broke (what was in flight on it is lost). Results come
back through the callbacks the host gives:

    metadata = Metadata()
    producer = Producer(metadata, on_ack=lambda ctx, partition, value, offset: ...)
    producer.send(ctx, "t-0", value)      # retried until acknowledged (acks=all)
    fetcher = Fetcher(metadata, on_records=lambda ctx, partition, records: ...)
    fetcher.fetch(ctx, "t-0", offset)     # records: ((offset, value), ...), committed only
    member = GroupMember("g", on_assigned=..., on_revoked=...)
    member.start(ctx); member.commit(ctx, {"t-0": next_offset})

`workload.py` builds the history-recording clients of the hunt from these parts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checker.node import Context
from implementations.kafka.messages import (
    CONTROLLER,
    NOT_LEADER,
    Fetch,
    FetchResponse,
    Heartbeat,
    HeartbeatResponse,
    InitProducerId,
    InitProducerIdResponse,
    JoinGroup,
    JoinGroupResponse,
    MetadataRequest,
    MetadataResponse,
    OffsetCommit,
    Produce,
    ProduceResponse,
    SyncGroup,
    SyncGroupResponse,
)

REQUEST_TIMEOUT = 60  # an unanswered request has an unknown outcome after this long
RETRY_BACKOFF = 10  # after a refusal, ask again this much later
GROUP_HEARTBEAT = 20  # a member heartbeats this often
JOIN_TIMEOUT = 100  # a join or sync left unanswered this long is tried again


class Metadata:
    """Each partition's leader, replicas and ISR, as the controller last said."""

    def __init__(self, controller: str = CONTROLLER) -> None:
        self.controller = controller
        self.partitions: dict[str, tuple] = {}  # partition -> (leader, replicas, isr)
        self.requests = 0

    def leader(self, partition: str) -> str | None:
        return self.partitions.get(partition, (None,))[0]

    def fully_replicated(self) -> bool:
        """Every partition has a leader and all its replicas in the ISR."""
        return bool(self.partitions) and all(
            leader is not None and set(isr) == set(replicas)
            for leader, replicas, isr in self.partitions.values())

    def refresh(self, ctx: Context) -> None:
        self.requests += 1
        ctx.send(self.controller, MetadataRequest(self.requests))

    def on_message(self, ctx: Context, src: str, msg: Any) -> bool:
        if not isinstance(msg, MetadataResponse):
            return False
        if msg.req == self.requests:
            self.partitions = {p: (leader, replicas, isr)
                               for p, leader, _, replicas, isr in msg.partitions}
        return True


class Producer:
    """The idempotent producer, acks=all, one batch in flight per partition.

    InitProducerId gives it a producer id; each partition's batches carry sequence numbers
    0, 1, 2, ... A batch is retried under the same (producer id, sequence number) until
    acknowledged — after a refusal, a lost connection or a timeout alike — so the leader
    can tell a retry of an appended batch from a new one and append each once."""

    def __init__(self, metadata: Metadata, on_ack: Callable[[Context, str, Any, int], None],
                 prefix: str = "produce") -> None:
        self.metadata = metadata
        self.on_ack = on_ack
        self.prefix = prefix
        self.producer_id: int | None = None
        self.id_request = 0  # the last InitProducerId request
        self.id_asked_at: int | None = None  # when it was sent
        self.next_seq: dict[str, int] = {}
        self.queued: dict[str, list] = {}
        self.in_flight: dict[str, Any] = {}  # partition -> value being produced
        self.awaiting: dict[str, str] = {}  # partition -> broker whose answer is awaited

    def send(self, ctx: Context, partition: str, value: Any) -> None:
        self.queued.setdefault(partition, []).append(value)
        self.next_batch(ctx, partition)

    def next_batch(self, ctx: Context, partition: str) -> None:
        if partition not in self.in_flight and self.queued.get(partition):
            self.in_flight[partition] = self.queued[partition].pop(0)
            self.transmit(ctx, partition)

    def transmit(self, ctx: Context, partition: str) -> None:
        if self.producer_id is None:
            self.init_producer_id(ctx)
            ctx.set_timer(f"{self.prefix}/{partition}", REQUEST_TIMEOUT)
            return
        leader = self.metadata.leader(partition)
        if leader is None:
            self.metadata.refresh(ctx)
            ctx.set_timer(f"{self.prefix}/{partition}", RETRY_BACKOFF)
            return
        seq = self.next_seq.get(partition, 0)
        ctx.send(leader, Produce(partition, self.producer_id, seq, self.in_flight[partition]))
        self.awaiting[partition] = leader
        ctx.set_timer(f"{self.prefix}/{partition}", REQUEST_TIMEOUT)

    def init_producer_id(self, ctx: Context) -> None:
        """Ask the controller for a producer id, unless a request is still young."""
        if self.id_asked_at is None or ctx.now() - self.id_asked_at >= REQUEST_TIMEOUT:
            self.id_request, self.id_asked_at = self.id_request + 1, ctx.now()
            ctx.send(self.metadata.controller, InitProducerId(self.id_request))

    def on_message(self, ctx: Context, src: str, msg: Any) -> bool:
        if isinstance(msg, InitProducerIdResponse):
            if self.producer_id is None and msg.req == self.id_request:
                self.producer_id = msg.producer
                for partition in sorted(self.in_flight):
                    self.transmit(ctx, partition)
            return True
        if not isinstance(msg, ProduceResponse):
            return False
        p = msg.partition
        if p not in self.in_flight or (msg.producer, msg.seq) != (self.producer_id,
                                                                self.next_seq.get(p, 0)):
            return True  # an answer to a batch already settled
        if msg.error is None:  # whichever attempt it answers
            self.awaiting.pop(p, None)
            ctx.cancel_timer(f"{self.prefix}/{p}")
            self.next_seq[p] = msg.seq + 1
            value = self.in_flight.pop(p)
            self.on_ack(ctx, p, value, msg.offset)
            self.next_batch(ctx, p)
        elif self.awaiting.pop(p, None) is not None:
            # refused: nothing appended, or appended but not yet acknowledged; retry later
            if msg.error == NOT_LEADER:
                self.metadata.refresh(ctx)
            ctx.set_timer(f"{self.prefix}/{p}", RETRY_BACKOFF)
        return True

    def on_timer(self, ctx: Context, name: str) -> bool:
        prefix, _, partition = name.partition("/")
        if prefix != self.prefix or partition not in self.in_flight:
            return prefix == self.prefix
        if partition in self.awaiting:
            self.unknown_outcome(ctx, partition)
        else:
            self.transmit(ctx, partition)
        return True

    def on_reset(self, ctx: Context, peer: str) -> None:
        for partition, broker in sorted(self.awaiting.items()):
            if broker == peer:
                self.unknown_outcome(ctx, partition)
        if peer == self.metadata.controller and self.producer_id is None:
            self.id_asked_at = None
            for partition in sorted(self.in_flight):
                self.transmit(ctx, partition)

    def unknown_outcome(self, ctx: Context, partition: str) -> None:
        """No answer: the batch may or may not be in the log. Retry it as it was, same
        producer id, same sequence number; the leader appends it at most once."""
        self.awaiting.pop(partition, None)
        self.metadata.refresh(ctx)
        self.transmit(ctx, partition)


class ResettingProducer(Producer):
    """Seeded bug: after an unknown outcome the producer starts over with a new producer id
    (so its sequence numbers restart at 0) and sends the batch again. The leader cannot know
    that batch 0 of the new id is the last batch of the old one, already appended."""

    def unknown_outcome(self, ctx: Context, partition: str) -> None:
        self.awaiting.clear()
        self.producer_id, self.next_seq, self.id_asked_at = None, {}, None
        self.transmit(ctx, partition)


class Fetcher:
    """Reads committed records (below the high watermark) of partitions from their leaders,
    one outstanding fetch per partition; an unanswered fetch is sent again."""

    def __init__(self, metadata: Metadata,
                 on_records: Callable[[Context, str, tuple], None],
                 prefix: str = "fetch") -> None:
        self.metadata = metadata
        self.on_records = on_records
        self.prefix = prefix
        self.outstanding: dict[str, int] = {}  # partition -> offset asked
        self.sent_to: dict[str, str] = {}

    def fetch(self, ctx: Context, partition: str, offset: int) -> None:
        self.outstanding[partition] = offset
        self.request(ctx, partition)

    def cancel(self, ctx: Context) -> None:
        for partition in self.outstanding:
            ctx.cancel_timer(f"{self.prefix}/{partition}")
        self.outstanding = {}

    def request(self, ctx: Context, partition: str) -> None:
        leader = self.metadata.leader(partition)
        if leader is None:
            self.metadata.refresh(ctx)
            ctx.set_timer(f"{self.prefix}/{partition}", RETRY_BACKOFF)
            return
        self.sent_to[partition] = leader
        ctx.send(leader, Fetch(partition, None, self.outstanding[partition]))
        ctx.set_timer(f"{self.prefix}/{partition}", REQUEST_TIMEOUT)

    def on_message(self, ctx: Context, src: str, msg: Any) -> bool:
        if not isinstance(msg, FetchResponse):
            return False
        p = msg.partition
        if self.outstanding.get(p) != msg.offset:
            return True  # an answer to an older fetch
        if msg.error:
            self.metadata.refresh(ctx)
            ctx.set_timer(f"{self.prefix}/{p}", RETRY_BACKOFF)
            return True
        del self.outstanding[p]
        ctx.cancel_timer(f"{self.prefix}/{p}")
        self.on_records(ctx, p, tuple((msg.offset + i, record.value)
                                      for i, record in enumerate(msg.records)))
        return True

    def on_timer(self, ctx: Context, name: str) -> bool:
        prefix, _, partition = name.partition("/")
        if prefix == self.prefix and partition in self.outstanding:
            self.request(ctx, partition)
        return prefix == self.prefix

    def on_reset(self, ctx: Context, peer: str) -> None:
        for partition in sorted(self.outstanding):
            if self.sent_to.get(partition) == peer:
                self.request(ctx, partition)


class GroupMember:
    """A consumer's membership in a group: join, sync, heartbeat, commit. The host hears of
    each assignment (generation, {partition: committed offset}) and of losing it."""

    def __init__(self, group: str,
                 on_assigned: Callable[[Context, int, dict], None],
                 on_revoked: Callable[[Context], None],
                 coordinator: str = CONTROLLER, timer: str = "group") -> None:
        self.group = group
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked
        self.coordinator = coordinator
        self.timer = timer
        self.phase = ""  # joining | syncing | stable; "" before start and after leave
        self.generation = 0
        self.since = 0  # when the current join or sync was sent

    def start(self, ctx: Context) -> None:
        self.join(ctx)
        ctx.set_timer(self.timer, GROUP_HEARTBEAT)

    def leave(self, ctx: Context) -> None:
        """Stop taking part (the coordinator drops the member when its session expires)."""
        self.phase = ""
        ctx.cancel_timer(self.timer)

    def join(self, ctx: Context) -> None:
        self.phase, self.since = "joining", ctx.now()
        ctx.send(self.coordinator, JoinGroup(self.group))

    def commit(self, ctx: Context, offsets: dict[str, int]) -> None:
        if self.phase == "stable" and offsets:
            ctx.send(self.coordinator, OffsetCommit(self.group, self.generation,
                                                    tuple(sorted(offsets.items()))))

    def on_message(self, ctx: Context, src: str, msg: Any) -> bool:
        match msg:
            case JoinGroupResponse(_, generation) if self.phase == "joining":
                self.phase, self.since, self.generation = "syncing", ctx.now(), generation
                ctx.send(self.coordinator, SyncGroup(self.group, generation))
            case SyncGroupResponse(_, generation, assignment, error) \
                    if self.phase == "syncing" and generation == self.generation:
                if error:
                    self.join(ctx)
                else:
                    self.phase = "stable"
                    self.on_assigned(ctx, generation, dict(assignment))
            case HeartbeatResponse() if self.phase == "stable":
                self.on_revoked(ctx)
                self.join(ctx)
            case JoinGroupResponse() | SyncGroupResponse() | HeartbeatResponse():
                pass  # late, or after leaving
            case _:
                return False
        return True

    def on_timer(self, ctx: Context, name: str) -> bool:
        if name != self.timer:
            return False
        if self.phase == "stable":
            ctx.send(self.coordinator, Heartbeat(self.group, self.generation))
        elif ctx.now() - self.since >= JOIN_TIMEOUT:
            self.join(ctx)
        ctx.set_timer(self.timer, GROUP_HEARTBEAT)
        return True

    def on_reset(self, ctx: Context, peer: str) -> None:
        if peer == self.coordinator and self.phase in ("joining", "syncing"):
            self.join(ctx)
