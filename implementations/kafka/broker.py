"""A broker: the replicas of its partitions, as leader or follower.

The leader appends produced records, answers fetches, advances the high watermark to the
smallest log end offset over the ISR, acknowledges acks=all produce requests once the high
watermark is past their record, and asks the controller to shrink the ISR when a follower
lags or to expand it when one catches up. A follower first truncates its log where it
diverges from the leader's (OffsetsForLeaderEpoch), then fetches from its log end offset.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.kafka.log import UNDEFINED, PartitionLog, truncation_offset
from implementations.kafka.messages import (
    CONTROLLER,
    DIVERGING,
    NOT_ENOUGH_REPLICAS,
    NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    NOT_LEADER,
    OUT_OF_ORDER_SEQUENCE,
    AlterPartition,
    AlterPartitionResponse,
    BrokerHeartbeat,
    EpochEndOffset,
    Fetch,
    FetchResponse,
    LeaderAndIsr,
    OffsetsForLeaderEpoch,
    Produce,
    ProduceResponse,
    Record,
)

HEARTBEAT = 20  # a broker tells the controller it is alive this often
ISR_CHECK = 20  # a leader looks for lagging followers this often
REPLICA_LAG = 30  # replica.lag.time.max: a follower not caught up for this long leaves the ISR
FETCH_INTERVAL = 20  # a follower that found nothing new fetches again after this long
REQUEST_TIMEOUT = 50  # an unanswered fetch or AlterPartition is sent again after this long
MAX_RECORDS = 4  # records in one fetch response


@attrs.frozen
class Settings:
    """The cluster's durability knobs."""

    min_insync: int = 2  # min.insync.replicas
    unclean: bool = False  # unclean.leader.election.enable


@attrs.define
class Replica:
    """This broker's replica of one partition: its durable log, and what it knows of the
    partition's leader and ISR (volatile: relearned from the controller after a restart)."""

    log: PartitionLog
    assigned: tuple  # the partition's replicas
    leader: str | None = None
    leader_epoch: int = UNDEFINED
    partition_epoch: int = UNDEFINED
    isr: tuple = ()
    # as leader
    pending: AlterPartition | None = None  # an ISR change the controller has not answered
    pending_since: int = 0
    follower_leo: dict = attrs.Factory(dict)  # follower -> its last fetch offset
    caught_up_at: dict = attrs.Factory(dict)  # follower -> when it last fetched to the end
    waiting: list = attrs.Factory(list)  # (offset, producer node, Produce) awaiting the HW
    # as follower: "truncate" (asked OffsetsForLeaderEpoch about epoch `asked`) or "fetch"
    phase: str = ""
    asked: int = UNDEFINED

    @property
    def maximal_isr(self) -> tuple:
        """The ISR with any pending change added: the high watermark waits for all of them,
        so a record is committed on every replica the controller may yet count in the ISR."""
        pending = self.pending.isr if self.pending is not None else ()
        return tuple(r for r in self.assigned if r in self.isr or r in pending)


class Broker(Node):
    def __init__(self, node_id: str, layout: dict[str, tuple], settings: Settings) -> None:
        super().__init__(node_id)
        self.layout = layout  # partition -> its replicas, preferred leader first
        self.settings = settings

    def on_start(self, ctx: Context) -> None:
        self.incarnation = ctx.storage.get("incarnation", 0) + 1
        ctx.storage.put("incarnation", self.incarnation)
        self.replicas = {p: Replica(PartitionLog(ctx.storage, p), assigned)
                         for p, assigned in sorted(self.layout.items()) if self.id in assigned}
        self.heartbeat(ctx)
        ctx.set_timer("isr", ISR_CHECK)

    def leads(self) -> bool:
        return any(r.leader == self.id for r in self.replicas.values())

    def heartbeat(self, ctx: Context) -> None:
        known = tuple((p, r.leader_epoch, r.partition_epoch) for p, r in self.replicas.items())
        ctx.send(CONTROLLER, BrokerHeartbeat(self.incarnation, known))
        ctx.set_timer("heartbeat", HEARTBEAT)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if getattr(msg, "partition", None) not in (None, *self.replicas):
            return  # not a partition of this broker
        match msg:
            case LeaderAndIsr() if msg.broker_epoch == self.incarnation:
                self.on_leader_and_isr(ctx, msg)
            case AlterPartitionResponse():
                self.on_alter_partition_response(ctx, msg)
            case Produce():
                self.on_produce(ctx, src, msg)
            case Fetch():
                self.on_fetch(ctx, src, msg)
            case OffsetsForLeaderEpoch():
                self.on_offsets_for_leader_epoch(ctx, src, msg)
            case EpochEndOffset():
                self.on_epoch_end_offset(ctx, src, msg)
            case FetchResponse():
                self.on_fetch_response(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "heartbeat":
            self.heartbeat(ctx)
        elif name == "isr":
            self.check_isr(ctx)
            ctx.set_timer("isr", ISR_CHECK)
        else:  # "fetch/<partition>": nothing heard for a while, or time to fetch again
            self.follow(ctx, self.replicas[name.removeprefix("fetch/")])

    def on_reset(self, ctx: Context, peer: str) -> None:
        """A broken connection lost what was in flight: ask again at once."""
        if peer == CONTROLLER:
            self.heartbeat(ctx)
            for r in self.replicas.values():
                if r.pending is not None:
                    self.send_alter(ctx, r, r.pending)
        for r in self.replicas.values():
            if r.leader == peer != self.id:
                self.follow(ctx, r)

    # --- the controller's word ------------------------------------------------------------

    def on_leader_and_isr(self, ctx: Context, msg: LeaderAndIsr) -> None:
        r = self.replicas[msg.partition]
        if msg.leader_epoch < r.leader_epoch or (
                msg.leader_epoch == r.leader_epoch and msg.partition_epoch <= r.partition_epoch):
            return  # stale
        new_leader = msg.leader_epoch > r.leader_epoch
        r.leader, r.leader_epoch = msg.leader, msg.leader_epoch
        r.isr, r.partition_epoch = msg.isr, msg.partition_epoch
        if not new_leader:  # the ISR changed; a pending change based on an older one is void
            if r.pending is not None and r.pending.partition_epoch < msg.partition_epoch:
                r.pending = None
            if r.leader == self.id:
                self.advance_hw(ctx, r)
            return
        self.answer_waiting(ctx, r, NOT_LEADER)
        r.pending, r.phase = None, ""
        ctx.cancel_timer(f"fetch/{msg.partition}")
        if msg.leader == self.id:
            self.become_leader(ctx, r)
        elif msg.leader is not None:
            self.truncate(ctx, r)

    def on_alter_partition_response(self, ctx: Context, msg: AlterPartitionResponse) -> None:
        """The pending change is settled when this answers it, or when the state is past
        the one it was based on. An answer to an earlier request settles nothing else: the
        pending change may still be granted, and until then the HW must wait for it."""
        r, state = self.replicas[msg.state.partition], msg.state
        if state.leader_epoch != r.leader_epoch or r.leader != self.id:
            return
        if state.partition_epoch > r.partition_epoch:
            r.isr, r.partition_epoch = state.isr, state.partition_epoch
        if r.pending is not None and (msg.request == r.pending
                                      or state.partition_epoch > r.pending.partition_epoch):
            r.pending = None
        self.advance_hw(ctx, r)

    # --- leader ---------------------------------------------------------------------------

    def become_leader(self, ctx: Context, r: Replica) -> None:
        r.log.begin_epoch(r.leader_epoch)
        r.follower_leo = {}
        r.caught_up_at = dict.fromkeys(r.assigned, ctx.now())
        ctx.note("leader", partition=r.log.partition, epoch=r.leader_epoch)

    def on_produce(self, ctx: Context, src: str, msg: Produce) -> None:
        r = self.replicas[msg.partition]
        if r.leader != self.id:
            ctx.send(src, ProduceResponse(msg.partition, msg.producer, msg.seq, None, NOT_LEADER))
            return
        offset = None if msg.producer is None else r.log.offset_of(msg.producer, msg.seq)
        if offset is None:  # a new batch, not a retry of one already appended
            error = self.refuse(r, msg)
            if error:
                ctx.send(src, ProduceResponse(msg.partition, msg.producer, msg.seq, None, error))
                return
            offset = r.log.leo
            r.log.append([Record(r.leader_epoch, msg.value, msg.producer, msg.seq)])
        r.waiting.append((offset, src, msg))
        self.advance_hw(ctx, r)

    def refuse(self, r: Replica, msg: Produce) -> str | None:
        """Why a new batch may not be appended: a gap in its producer's sequence numbers,
        or an ISR smaller than min.insync.replicas."""
        if msg.producer is not None and msg.seq != r.log.last_seq(msg.producer) + 1:
            return OUT_OF_ORDER_SEQUENCE
        if len(r.isr) < self.settings.min_insync:
            return NOT_ENOUGH_REPLICAS
        return None

    def on_fetch(self, ctx: Context, src: str, msg: Fetch) -> None:
        r = self.replicas[msg.partition]
        if r.leader != self.id or (msg.replica is not None
                                   and msg.leader_epoch != r.leader_epoch):
            ctx.send(src, FetchResponse(msg.partition, msg.offset, (), 0, NOT_LEADER))
            return
        if msg.replica is None:  # a consumer reads committed records only
            records = r.log.records[msg.offset:r.log.hw][:MAX_RECORDS]
            ctx.send(src, FetchResponse(msg.partition, msg.offset, records, r.log.hw))
            return
        if msg.offset > 0:
            epoch, end = r.log.end_offset_for(msg.last_epoch)
            if epoch != msg.last_epoch or end < msg.offset:
                ctx.send(src, FetchResponse(msg.partition, msg.offset, (), r.log.hw,
                                            DIVERGING, (epoch, end)))
                return
        self.follower_fetched(ctx, r, msg.replica, msg.offset)
        records = r.log.records[msg.offset:msg.offset + MAX_RECORDS]
        ctx.send(src, FetchResponse(msg.partition, msg.offset, records, r.log.hw))

    def follower_fetched(self, ctx: Context, r: Replica, follower: str, offset: int) -> None:
        """A follower's fetch offset is its log end offset: it has everything before."""
        r.follower_leo[follower] = offset
        if offset >= r.log.leo:
            r.caught_up_at[follower] = ctx.now()
        epoch_start = dict(r.log.epochs).get(r.leader_epoch, 0)
        if follower not in r.maximal_isr and r.pending is None \
                and offset >= max(r.log.hw, epoch_start):
            self.propose_isr(ctx, r, (*r.isr, follower))
        self.advance_hw(ctx, r)

    def advance_hw(self, ctx: Context, r: Replica) -> None:
        """HW = the smallest log end offset over the (maximal) ISR; it never goes back."""
        ends = [r.log.leo if b == self.id else r.follower_leo.get(b, 0) for b in r.maximal_isr]
        r.log.set_hw(max(r.log.hw, min(ends)))
        self.answer_committed(ctx, r)

    def answer_committed(self, ctx: Context, r: Replica) -> None:
        """Acknowledge the produce requests whose record is now committed, if the ISR is
        still at least min.insync.replicas (else the producer must retry)."""
        done = [w for w in r.waiting if w[0] < r.log.hw]
        r.waiting = [w for w in r.waiting if w[0] >= r.log.hw]
        enough = len(r.isr) >= self.settings.min_insync
        for offset, producer, msg in done:
            error = None if enough else NOT_ENOUGH_REPLICAS_AFTER_APPEND
            ctx.send(producer, ProduceResponse(msg.partition, msg.producer, msg.seq,
                                               offset if enough else None, error))

    def answer_waiting(self, ctx: Context, r: Replica, error: str) -> None:
        for _, producer, msg in r.waiting:
            ctx.send(producer, ProduceResponse(msg.partition, msg.producer, msg.seq, None, error))
        r.waiting = []

    def check_isr(self, ctx: Context) -> None:
        """Leaders drop followers that have not caught up for REPLICA_LAG (through the
        controller), and send again an ISR change left unanswered."""
        for r in self.replicas.values():
            if r.leader != self.id:
                continue
            if r.pending is not None:
                if ctx.now() - r.pending_since >= REQUEST_TIMEOUT:
                    self.send_alter(ctx, r, r.pending)
                continue
            lagging = [b for b in r.isr if b != self.id
                       and ctx.now() - r.caught_up_at.get(b, ctx.now()) > REPLICA_LAG]
            if lagging:
                self.propose_isr(ctx, r, tuple(b for b in r.isr if b not in lagging))

    def propose_isr(self, ctx: Context, r: Replica, isr: tuple) -> None:
        ordered = tuple(b for b in r.assigned if b in isr)
        self.send_alter(ctx, r, AlterPartition(r.log.partition, r.leader_epoch,
                                               r.partition_epoch, ordered))

    def send_alter(self, ctx: Context, r: Replica, request: AlterPartition) -> None:
        r.pending, r.pending_since = request, ctx.now()
        ctx.send(CONTROLLER, request)

    def on_offsets_for_leader_epoch(self, ctx: Context, src: str,
                                    msg: OffsetsForLeaderEpoch) -> None:
        r = self.replicas[msg.partition]
        epoch, end = r.log.end_offset_for(msg.epoch)
        error = NOT_LEADER if r.leader != self.id or msg.leader_epoch != r.leader_epoch \
            or epoch == UNDEFINED else None
        ctx.send(src, EpochEndOffset(msg.partition, msg.epoch, epoch, end, error))

    # --- follower -------------------------------------------------------------------------

    def truncate(self, ctx: Context, r: Replica) -> None:
        """A new follower cuts its log where it diverges from the leader's: it asks where its
        latest epoch ends on the leader (KIP-101). Its own high watermark is no guide: it may
        lag the leader's, and records past it may be committed."""
        if r.log.leo == 0:
            r.log.truncate(0)  # nothing to keep; forget any empty epoch this replica led
            self.start_fetching(ctx, r)
            return
        r.phase, r.asked = "truncate", r.log.latest_epoch
        self.follow(ctx, r)

    def on_epoch_end_offset(self, ctx: Context, src: str, msg: EpochEndOffset) -> None:
        r = self.replicas[msg.partition]
        if r.phase != "truncate" or msg.asked != r.asked or src != r.leader:
            return
        if msg.error:
            ctx.set_timer(f"fetch/{msg.partition}", FETCH_INTERVAL)
            return
        self.truncate_to(ctx, r, msg.asked, msg.epoch, msg.end_offset)

    def truncate_to(self, ctx: Context, r: Replica, asked: int, epoch: int, end: int) -> None:
        offset, done = truncation_offset(r.log.epochs, r.log.leo, asked, epoch, end)
        r.log.truncate(offset)
        if done or r.log.leo == 0:
            self.start_fetching(ctx, r)
        else:
            r.asked = r.log.latest_epoch
            self.follow(ctx, r)

    def start_fetching(self, ctx: Context, r: Replica) -> None:
        r.phase = "fetch"
        self.follow(ctx, r)

    def follow(self, ctx: Context, r: Replica) -> None:
        """Send the follower's current request to its leader: the truncation question, or
        a fetch from its log end offset with the epoch of its last record."""
        if r.leader in (None, self.id) or not r.phase:
            return
        p = r.log.partition
        if r.phase == "truncate":
            ctx.send(r.leader, OffsetsForLeaderEpoch(p, r.leader_epoch, r.asked))
        else:
            last = r.log.latest_epoch if r.log.leo > 0 else None
            ctx.send(r.leader, Fetch(p, self.id, r.log.leo, r.leader_epoch, last))
        ctx.set_timer(f"fetch/{p}", REQUEST_TIMEOUT)

    def on_fetch_response(self, ctx: Context, src: str, msg: FetchResponse) -> None:
        r = self.replicas[msg.partition]
        if r.phase != "fetch" or src != r.leader or msg.offset != r.log.leo:
            return  # an answer to an older request
        if msg.error == DIVERGING:
            self.truncate_to(ctx, r, r.log.latest_epoch, *msg.diverging)
            return
        if msg.error:
            ctx.set_timer(f"fetch/{msg.partition}", FETCH_INTERVAL)
            return
        r.log.append(msg.records)
        r.log.set_hw(max(r.log.hw, min(msg.hw, r.log.leo)))
        if msg.records:
            self.follow(ctx, r)
        else:
            ctx.set_timer(f"fetch/{msg.partition}", FETCH_INTERVAL)


class TruncateToHighWatermark(Broker):
    """Seeded bug (Kafka before KIP-101): a replica truncates its log to its own high
    watermark when it restarts and when it becomes a follower. A follower's high watermark
    can lag the leader's by one fetch: committed records past it are cut from a replica the
    controller still counts in the ISR, and may be elected leader without them."""

    def on_recover(self, ctx: Context) -> None:
        super().on_recover(ctx)
        for r in self.replicas.values():
            r.log.truncate(r.log.hw)

    def truncate(self, ctx: Context, r: Replica) -> None:
        r.log.truncate(r.log.hw)
        self.start_fetching(ctx, r)
