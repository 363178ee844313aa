"""The group coordinator: one consumer group's generations, assignment and committed offsets.

A rebalance starts when a member joins (a new one, or one that lost its assignment) or a
member's session expires. Members learn of it from their next heartbeat and join again; the
rebalance completes once every current member has joined, or at REBALANCE_TIMEOUT without the
laggards: the generation is bumped and the partitions are divided among the joined members
(the range assignor, run by the coordinator as in KIP-848 rather than by a group leader).
Each member then fetches its partitions and their committed offsets with SyncGroup. Offsets
are committed only by a member of the current generation: a member fenced out of the group
(expired, or of an older generation) can no longer move the group's offsets.

Generation, assignment and offsets are in the controller's storage (Kafka keeps them in the
__consumer_offsets topic); who joined and when members were heard from is volatile.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context
from implementations.kafka.messages import (
    ILLEGAL_GENERATION,
    REBALANCE_IN_PROGRESS,
    UNKNOWN_MEMBER,
    Heartbeat,
    HeartbeatResponse,
    JoinGroup,
    JoinGroupResponse,
    OffsetCommit,
    SyncGroup,
    SyncGroupResponse,
)

GROUP_SESSION = 100  # session.timeout: a member not heard from for this long is dropped
REBALANCE_TIMEOUT = 60  # members that have not rejoined by then are left out


@attrs.frozen
class GroupState:
    generation: int = 0
    assignment: tuple = ()  # (member, partitions) in this generation
    offsets: tuple = ()  # (partition, committed offset)

    @property
    def members(self) -> tuple:
        return tuple(member for member, _ in self.assignment)


def group_key(group: str) -> str:
    return f"group/{group}"


def range_assign(members: tuple, partitions: tuple) -> tuple:
    """Kafka's range assignor: consecutive partitions to each member in order, the first
    members taking one more when they do not divide evenly."""
    share, extra = divmod(len(partitions), len(members)) if members else (0, 0)
    assignment, start = [], 0
    for i, member in enumerate(sorted(members)):
        count = share + (i < extra)
        assignment.append((member, tuple(partitions[start:start + count])))
        start += count
    return tuple(assignment)


class GroupCoordinator:
    def __init__(self, group: str, partitions: tuple) -> None:
        self.group = group
        self.partitions = partitions

    def start(self, ctx: Context) -> None:
        self.state: GroupState = ctx.storage.get(group_key(self.group), GroupState())
        self.members = set(self.state.members)  # those whose session has not expired
        self.heard = dict.fromkeys(self.members, ctx.now())
        self.joined: dict[str, None] = {}  # members that joined this rebalance, in order
        self.rebalancing_since: int | None = None

    def on_message(self, ctx: Context, member: str, msg: Any) -> None:
        self.heard[member] = ctx.now()
        match msg:
            case JoinGroup():
                self.joined[member] = None
                if self.rebalancing_since is None:
                    self.rebalancing_since = ctx.now()
            case Heartbeat(_, generation):
                error = self.heartbeat_error(member, generation)
                if error:
                    ctx.send(member, HeartbeatResponse(self.group, error))
            case SyncGroup(_, generation):
                self.sync(ctx, member, generation)
            case OffsetCommit(_, generation, offsets):
                self.commit(ctx, member, generation, offsets)

    def heartbeat_error(self, member: str, generation: int) -> str | None:
        if member not in self.members:
            return UNKNOWN_MEMBER
        if self.rebalancing_since is not None:
            return None if member in self.joined else REBALANCE_IN_PROGRESS
        return None if generation == self.state.generation else ILLEGAL_GENERATION

    def sync(self, ctx: Context, member: str, generation: int) -> None:
        assigned = dict(self.state.assignment).get(member)
        if self.rebalancing_since is not None or generation != self.state.generation \
                or assigned is None:
            ctx.send(member, SyncGroupResponse(self.group, generation, (), REBALANCE_IN_PROGRESS
                                               if self.rebalancing_since is not None
                                               else ILLEGAL_GENERATION))
            return
        committed = dict(self.state.offsets)
        ctx.send(member, SyncGroupResponse(self.group, generation,
                                           tuple((p, committed.get(p, 0)) for p in assigned)))

    def commit(self, ctx: Context, member: str, generation: int, offsets: tuple) -> None:
        """Fenced by generation: only a live member of the current generation commits."""
        if member not in self.members or generation != self.state.generation:
            return
        committed = dict(self.state.offsets) | dict(offsets)
        self.save(ctx, attrs.evolve(self.state, offsets=tuple(sorted(committed.items()))))
        for p, offset in offsets:
            ctx.note("offset-commit", group=self.group, member=member, generation=generation,
                     partition=p, offset=offset)

    def tick(self, ctx: Context) -> None:
        """Drop members whose session expired; complete a rebalance that is ready."""
        for member in sorted(self.members):
            if member not in self.joined and ctx.now() - self.heard[member] > GROUP_SESSION:
                self.members.discard(member)
                if self.rebalancing_since is None:
                    self.rebalancing_since = ctx.now()
        if self.rebalancing_since is not None and (
                self.members <= set(self.joined)
                or ctx.now() - self.rebalancing_since >= REBALANCE_TIMEOUT):
            self.complete_rebalance(ctx)

    def complete_rebalance(self, ctx: Context) -> None:
        members = tuple(sorted(self.joined))
        self.save(ctx, attrs.evolve(self.state, generation=self.state.generation + 1,
                                    assignment=range_assign(members, self.partitions)))
        self.members, self.joined, self.rebalancing_since = set(members), {}, None
        for member in members:
            ctx.send(member, JoinGroupResponse(self.group, self.state.generation))

    def save(self, ctx: Context, state: GroupState) -> None:
        ctx.storage.put(group_key(self.group), state)
        self.state = state
