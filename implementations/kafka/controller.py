"""The controller: the partitions' leaders, leader epochs and ISRs, kept in its storage.

Brokers heartbeat to it. One not heard from for SESSION ticks, or heard from under a new
incarnation (it restarted), is fenced: it leaves every ISR it is in (unless it is the last
member) and a new leader is elected from the rest of the ISR — or, with
`unclean.leader.election.enable`, from any live replica when no ISR member is left. A leader
change bumps the leader epoch; every change bumps the partition epoch. Leaders change the ISR
through AlterPartition, which the controller applies only if it is based on the current
partition epoch. The controller also hands out producer ids, answers metadata requests, and
hosts the group coordinator.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.kafka.broker import Settings
from implementations.kafka.group import GroupCoordinator
from implementations.kafka.messages import (
    AlterPartition,
    AlterPartitionResponse,
    BrokerHeartbeat,
    InitProducerId,
    InitProducerIdResponse,
    LeaderAndIsr,
    MetadataRequest,
    MetadataResponse,
    PartitionState,
)

SESSION = 60  # a broker not heard from for this long (three heartbeats) is fenced
TICK = 20  # the controller looks for expired sessions this often


def partition_key(partition: str) -> str:
    return f"partition/{partition}"


class Controller(Node):
    def __init__(self, node_id: str, layout: dict[str, tuple], settings: Settings,
                 groups: tuple = ("g",)) -> None:
        super().__init__(node_id)
        self.layout = layout  # partition -> its replicas, preferred leader first
        self.settings = settings
        self.groups = groups

    def on_start(self, ctx: Context) -> None:
        self.partitions: dict[str, PartitionState] = {}
        for p, replicas in sorted(self.layout.items()):
            state = ctx.storage.get(partition_key(p))
            if state is None:  # the cluster's first boot
                state = PartitionState(p, replicas[0], 1, replicas, 1)
                ctx.storage.put(partition_key(p), state)
                ctx.note("partition", partition=p, replicas=replicas)
            self.partitions[p] = state
        brokers = sorted({b for replicas in self.layout.values() for b in replicas})
        # fencing is durable, as the partition states that follow from it are; after a
        # restart every unfenced broker gets a fresh session
        self.alive = set(brokers) - set(ctx.storage.get("fenced", ()))
        self.last_seen = dict.fromkeys(brokers, ctx.now())
        self.coordinators = {g: GroupCoordinator(g, tuple(sorted(self.layout))) for g in
                             self.groups}
        for coordinator in self.coordinators.values():
            coordinator.start(ctx)
        ctx.set_timer("tick", TICK)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case BrokerHeartbeat():
                self.on_heartbeat(ctx, src, msg)
            case AlterPartition():
                self.on_alter_partition(ctx, src, msg)
            case MetadataRequest(req):
                ctx.send(src, MetadataResponse(req, tuple(
                    (p, s.leader, s.leader_epoch, self.layout[p], s.isr)
                    for p, s in self.partitions.items())))
            case InitProducerId(req):
                producer = ctx.storage.get("next_producer_id", 1)
                ctx.storage.put("next_producer_id", producer + 1)
                ctx.send(src, InitProducerIdResponse(req, producer))
            case _ if (coordinator := self.coordinators.get(getattr(msg, "group", None))):
                coordinator.on_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        for broker in sorted(self.alive):
            if ctx.now() - self.last_seen[broker] > SESSION:
                self.fence(ctx, broker)
        for coordinator in self.coordinators.values():
            coordinator.tick(ctx)
        ctx.set_timer("tick", TICK)

    # --- broker liveness ------------------------------------------------------------------

    def on_heartbeat(self, ctx: Context, broker: str, msg: BrokerHeartbeat) -> None:
        known = ctx.storage.get(f"incarnation/{broker}", 0)
        if msg.incarnation < known:
            return  # from before a restart
        if msg.incarnation > known:
            if known and broker in self.alive:
                self.fence(ctx, broker)  # it restarted within its session: as good as dead
            ctx.storage.put(f"incarnation/{broker}", msg.incarnation)
        self.last_seen[broker] = ctx.now()
        if broker not in self.alive:
            self.unfence(ctx, broker)
        for p, leader_epoch, partition_epoch in msg.known:  # tell it what it missed
            state = self.partitions[p]
            if (leader_epoch, partition_epoch) != (state.leader_epoch, state.partition_epoch):
                self.tell(ctx, broker, state)

    def tell(self, ctx: Context, broker: str, state: PartitionState) -> None:
        ctx.send(broker, LeaderAndIsr(*attrs.astuple(state, recurse=False),
                                      broker_epoch=ctx.storage.get(f"incarnation/{broker}", 0)))

    def fence(self, ctx: Context, broker: str) -> None:
        self.set_alive(ctx, broker, False)
        for p, state in self.partitions.items():
            if broker not in state.isr and broker != state.leader:
                continue
            isr = state.isr if state.isr == (broker,) else \
                tuple(b for b in state.isr if b != broker)
            if state.leader == broker:
                self.elect(ctx, p, isr)
            else:
                self.update(ctx, p, state.leader, isr)

    def unfence(self, ctx: Context, broker: str) -> None:
        self.set_alive(ctx, broker, True)
        for p, state in self.partitions.items():
            if state.leader is None:
                self.elect(ctx, p, state.isr)

    def set_alive(self, ctx: Context, broker: str, alive: bool) -> None:
        (self.alive.add if alive else self.alive.discard)(broker)
        fenced = {b for replicas in self.layout.values() for b in replicas} - self.alive
        ctx.storage.put("fenced", tuple(sorted(fenced)))

    def elect(self, ctx: Context, p: str, isr: tuple) -> None:
        """The first live ISR member leads; with none, the partition is offline until one
        comes back — unless unclean leader election takes any live replica."""
        live = [b for b in self.layout[p] if b in self.alive]
        in_sync = [b for b in live if b in isr]
        if in_sync:
            self.update(ctx, p, in_sync[0], isr)
        elif live and self.settings.unclean:
            self.update(ctx, p, live[0], (live[0],))
        else:
            self.update(ctx, p, None, isr)

    def update(self, ctx: Context, p: str, leader: str | None, isr: tuple,
               skip: str | None = None) -> None:
        """Write the partition's new state, then tell its replicas (but `skip`)."""
        state = self.partitions[p]
        if (leader, isr) == (state.leader, state.isr):
            return
        epoch = state.leader_epoch + (leader != state.leader)
        state = PartitionState(p, leader, epoch, isr, state.partition_epoch + 1)
        ctx.storage.put(partition_key(p), state)
        self.partitions[p] = state
        for replica in self.layout[p]:
            if replica != skip:
                self.tell(ctx, replica, state)

    # --- ISR changes ----------------------------------------------------------------------

    def on_alter_partition(self, ctx: Context, leader: str, msg: AlterPartition) -> None:
        """Apply the leader's ISR change if it is based on the current state and adds no
        fenced broker; answer with the state that stands either way."""
        state = self.partitions[msg.partition]
        current = (leader, msg.leader_epoch, msg.partition_epoch) == \
            (state.leader, state.leader_epoch, state.partition_epoch)
        if current and leader in msg.isr \
                and all(b in self.alive for b in msg.isr if b not in state.isr):
            self.update(ctx, msg.partition, leader, msg.isr, skip=leader)
        ctx.send(leader, AlterPartitionResponse(msg, self.partitions[msg.partition]))
