"""The hunt's clients, built from the client library's parts: producers send, consumers in a
group poll, and both record a Jepsen-style history in the shape the log checker reads
(`invariants/logs.py`): `send` and `poll` operations of micro-ops, and `assign` operations
(rebalances) whenever a consumer's partitions change.
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.kafka.client import Fetcher, GroupMember, Metadata, Producer

POLL_TIMEOUT = 60  # a poll returns what it has after this long
POLL_BACKOFF = 20  # between the final poll's rounds


class ProducerClient(Client):
    """Each `send` op hands one value to the producer and completes when it is acknowledged:
    the producer retries until it is, so a send never ends in an unknown outcome."""

    def __init__(self, node_id: str, producer: type[Producer] = Producer) -> None:
        super().__init__(node_id)
        self.producer_class = producer

    def on_start(self, ctx: Context) -> None:
        self.metadata = Metadata()
        self.producer = self.producer_class(self.metadata, self.acked)
        self.metadata.refresh(ctx)

    def start(self, ctx: Context, f: str, args: Any) -> None:
        [(_, partition, value)] = args
        self.producer.send(ctx, partition, value)

    def acked(self, ctx: Context, partition: str, value: Any, offset: int) -> None:
        self.complete(ctx, "ok", [["send", partition, [offset, value]]])

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if not self.metadata.on_message(ctx, src, msg):
            self.producer.on_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        self.producer.on_timer(ctx, name)

    def on_reset(self, ctx: Context, peer: str) -> None:
        self.producer.on_reset(ctx, peer)


class ConsumerClient(Client):
    """A member of group `g`. A `poll` reads each assigned partition once from the consumer's
    position (what it has read, or the committed offset after a rebalance), then commits the
    new positions. A new assignment ends the poll in progress and is recorded as an `assign`
    operation. The final `assign` of every partition leaves the group and reads from offset 0
    (manual assignment); the final poll reads in rounds until two rounds in a row found
    nothing new with every partition fully replicated (as metadata says), so that it returns
    every committed record once the cluster has healed."""

    def __init__(self, node_id: str, group: str = "g") -> None:
        super().__init__(node_id)
        self.group = group

    def on_start(self, ctx: Context) -> None:
        self.metadata = Metadata()
        self.fetcher = Fetcher(self.metadata, self.fetched)
        self.member = GroupMember(self.group, self.assigned, self.revoked)
        self.positions: dict[str, int] = {}
        self.final = False  # manually assigned: the ending's reader
        self.metadata.refresh(ctx)
        self.member.start(ctx)

    def start(self, ctx: Context, f: str, args: Any) -> None:
        if f == "assign":
            self.member.leave(ctx)
            self.fetcher.cancel(ctx)
            self.positions, self.final = dict.fromkeys(args, 0), True
            self.complete(ctx, "ok", args)
            return
        self.read: dict[str, list] = {}
        self.settled = False  # the final poll's previous round found the cluster settled
        if not self.final:
            ctx.set_timer("poll", POLL_TIMEOUT)
        self.round(ctx)

    def round(self, ctx: Context) -> None:
        self.unanswered, self.news = set(self.positions), False
        if self.final:
            self.metadata.refresh(ctx)
        for partition in sorted(self.positions):
            self.fetcher.fetch(ctx, partition, self.positions[partition])

    def fetched(self, ctx: Context, partition: str, records: tuple) -> None:
        if self.op is None:
            return
        self.read.setdefault(partition, []).extend([offset, value] for offset, value in records)
        self.positions[partition] += len(records)
        self.news = self.news or bool(records)
        if records and self.final:  # read on to the high watermark
            self.fetcher.fetch(ctx, partition, self.positions[partition])
            return
        self.unanswered.discard(partition)
        if self.unanswered:
            return
        if not self.final:
            self.finish(ctx)
            return
        settled = not self.news and self.metadata.fully_replicated()
        if settled and self.settled:
            self.finish(ctx)
        else:
            self.settled = settled
            ctx.set_timer("poll", POLL_BACKOFF)

    def finish(self, ctx: Context, commit: bool = True) -> None:
        self.fetcher.cancel(ctx)
        ctx.cancel_timer("poll")
        self.complete(ctx, "ok", [["poll", self.read]])
        if commit and not self.final:
            self.member.commit(ctx, {p: self.positions[p] for p in self.read})

    def assigned(self, ctx: Context, generation: int, offsets: dict) -> None:
        """A new generation: the poll in progress returns what it read (its positions are
        not committed: they may be another member's partitions now); then the new
        partitions are read from their committed offsets."""
        partitions = sorted(offsets)
        ctx.note("owns", member=self.id, generation=generation, partitions=tuple(partitions))
        if self.op is not None:
            self.finish(ctx, commit=False)
        self.fetcher.cancel(ctx)
        self.positions = dict(offsets)
        ctx.record("invoke", "assign", partitions)
        ctx.record("ok", "assign", partitions)

    def revoked(self, ctx: Context) -> None:
        self.fetcher.cancel(ctx)
        if self.op is not None:
            self.finish(ctx)
        self.positions = {}

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        for part in (self.metadata, self.fetcher, self.member):
            if part.on_message(ctx, src, msg):
                return

    def on_timer(self, ctx: Context, name: str) -> None:
        if name != "poll":
            self.fetcher.on_timer(ctx, name) or self.member.on_timer(ctx, name)
        elif self.op is not None:
            if self.final:
                self.round(ctx)
            else:
                self.finish(ctx)

    def on_reset(self, ctx: Context, peer: str) -> None:
        self.fetcher.on_reset(ctx, peer)
        self.member.on_reset(ctx, peer)
