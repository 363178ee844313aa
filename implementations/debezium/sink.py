"""The sink: a Kafka Connect sink task consuming the change topics into a search index.

The task is a consumer in group `connect-shop-sink`. It fetches each assigned partition from
its position and writes each fetched event to the index: an index request for its key, the
row (a delete: a tombstone) versioned by the event's source position. The requests of one
fetch are in flight together (the Elasticsearch sink's `max.in.flight.requests`), and those
unanswered after `WRITE_TIMEOUT` are sent again; once all are answered the task fetches on.
Every `COMMIT_INTERVAL` it commits its positions to the group. So an event can reach the index
again after a later one (a retry), a restart or a rebalance fetches again from the committed
positions (at least once), and Debezium itself emits events again after it restarts.

The index makes that harmless with external versioning: a write is applied only if its
version is above the document's, and a delete leaves a tombstone with its version, so that an
older event, redelivered, cannot bring back or roll back a row.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.debezium.connector import FreshMetadata
from implementations.debezium.messages import (
    ChangeEvent,
    Doc,
    Hits,
    Indexed,
    IndexRequest,
    Search,
    Write,
)
from implementations.kafka.client import Fetcher, GroupMember

GROUP = "connect-shop-sink"
SINK = "sink"  # the node running the task
INDEX = "index"
POLL_INTERVAL = 20  # a partition found empty is fetched again this much later
WRITE_TIMEOUT = 20  # unanswered index requests are sent again after this long
COMMIT_INTERVAL = 40  # how often the task commits its positions


class SinkTask(Node):
    def on_start(self, ctx: Context) -> None:
        self.incarnation = ctx.storage.get("incarnation", 0) + 1
        ctx.storage.put("incarnation", self.incarnation)
        self.metadata = FreshMetadata()
        self.fetcher = Fetcher(self.metadata, self.fetched)
        self.member = GroupMember(GROUP, self.assigned, self.revoked)
        self.positions: dict[str, int] = {}  # partition -> offset of the next event to apply
        self.committed: dict[str, int] = {}
        # partition -> its requests in flight, and the offset after the fetch they come from
        self.writing: dict[str, dict[tuple, IndexRequest]] = {}
        self.fetched_to: dict[str, int] = {}
        self.requests = 0
        self.metadata.refresh(ctx)
        self.member.start(ctx)
        ctx.set_timer("commit", COMMIT_INTERVAL)

    def assigned(self, ctx: Context, generation: int, offsets: dict) -> None:
        self.revoked(ctx)
        self.positions = dict(offsets)
        self.committed = dict(self.positions)
        for p in sorted(self.positions):
            self.fetcher.fetch(ctx, p, self.positions[p])

    def revoked(self, ctx: Context) -> None:
        self.fetcher.cancel(ctx)
        for p in self.positions:
            ctx.cancel_timer(f"poll/{p}")
            ctx.cancel_timer(f"write/{p}")
        self.positions, self.writing, self.fetched_to = {}, {}, {}

    def fetched(self, ctx: Context, partition: str, records: tuple) -> None:
        if partition not in self.positions:
            return
        if not records:
            ctx.set_timer(f"poll/{partition}", POLL_INTERVAL)
            return
        self.writing[partition] = {}
        for _, event in records:
            self.requests += 1
            request = IndexRequest((self.incarnation, self.requests), self.write_for(event))
            self.writing[partition][request.req] = request
        self.fetched_to[partition] = records[-1][0] + 1
        self.send_writes(ctx, partition)

    def write_for(self, event: ChangeEvent) -> Write:
        """The event's row (None for a delete) under its key, versioned by its position."""
        return Write(event.key, event.position, event.after)

    def send_writes(self, ctx: Context, partition: str) -> None:
        """Send the partition's unanswered requests (again), in offset order."""
        for req in sorted(self.writing[partition]):
            ctx.send(INDEX, self.writing[partition][req])
        ctx.set_timer(f"write/{partition}", WRITE_TIMEOUT)

    def indexed(self, ctx: Context, req: tuple) -> None:
        for p, requests in sorted(self.writing.items()):
            if requests.pop(req, None) is not None and not requests:
                del self.writing[p]
                ctx.cancel_timer(f"write/{p}")
                self.positions[p] = self.fetched_to[p]
                self.fetcher.fetch(ctx, p, self.positions[p])

    def commit(self, ctx: Context) -> None:
        changed = {p: o for p, o in self.positions.items() if self.committed.get(p) != o}
        if changed and self.member.phase == "stable":
            self.member.commit(ctx, changed)
            self.committed |= changed

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Indexed):
            self.indexed(ctx, msg.req)
            return
        for part in (self.metadata, self.fetcher, self.member):
            if part.on_message(ctx, src, msg):
                return

    def on_timer(self, ctx: Context, name: str) -> None:
        kind, _, partition = name.partition("/")
        if name == "commit":
            self.commit(ctx)
            ctx.set_timer("commit", COMMIT_INTERVAL)
        elif kind == "poll" and partition in self.positions:
            self.fetcher.fetch(ctx, partition, self.positions[partition])
        elif kind == "write" and partition in self.writing:
            self.send_writes(ctx, partition)
        else:
            self.fetcher.on_timer(ctx, name) or self.member.on_timer(ctx, name)

    def on_reset(self, ctx: Context, peer: str) -> None:
        self.fetcher.on_reset(ctx, peer)
        self.member.on_reset(ctx, peer)
        if peer == INDEX:
            for p in sorted(self.writing):
                self.send_writes(ctx, p)


class NoPositionCheck(SinkTask):
    """Seeded bug: the sink writes without external versioning, so the index applies every
    write. When an older event is applied again (a retried request, a redelivery after a
    restart or a rebalance, an event Debezium emitted twice), the document goes back to an
    older row."""

    def write_for(self, event: ChangeEvent) -> Write:
        return Write(event.key, event.position, event.after, if_newer=False)


class SearchIndex(Node):
    """The target: documents by key, each with the row and the version it was written at."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        docs = ctx.storage.get("docs", {})
        match msg:
            case IndexRequest(req, write):
                if self.applies(docs.get(write.key), write):
                    ctx.storage.put("docs", {**docs, write.key: Doc(write.position, write.row)})
                ctx.send(src, Indexed(req))
            case Search(req, keys):
                wanted = sorted(docs) if keys is None else [k for k in keys if k in docs]
                ctx.send(src, Hits(req, tuple((key, docs[key]) for key in wanted)))

    @staticmethod
    def applies(current: Doc | None, write: Write) -> bool:
        """External versioning: a write older than (or as old as) the document is a version
        conflict, and changes nothing."""
        return not (write.if_newer and current is not None
                    and write.position <= current.position)
