"""The Debezium MySQL connector, as the one task of a Kafka Connect source connector.

On start it reads its last committed offset from its offset store. With none, it takes
the initial snapshot: it opens a repeatable-read transaction and reads the binlog position in
one step, so that the view holds exactly the entries up to that position; it reads every
row through the view and emits one `read` event per row, all carrying the snapshot's
position. Then it streams the binlog from the next position: one change event per row
changed, with the row before and after, the entry's position and the table's schema version
there. With an offset, it skips the snapshot and streams from just after it.

Events go to one topic per table, keyed by primary key, through Kafka's idempotent producer.
Every `FLUSH_INTERVAL` the worker commits the connector's offset to the offset store (a file
in the worker's storage: Kafka Connect's standalone mode, Debezium Server's default): the
position of the last binlog entry (or the snapshot) whose events, and all before them, the
log has acknowledged (Kafka Connect's committable offsets). A crash loses what was not yet
acknowledged; the restart resumes from the offset and emits it again: at least once.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.debezium.messages import (
    CONSISTENT_SNAPSHOT,
    MASTER_STATUS,
    Answers,
    BinlogEvents,
    ChangeEvent,
    GetOffsets,
    Offsets,
    Query,
    ReadBinlog,
    Rows,
    Select,
    SourceOffset,
)
from implementations.kafka.client import Metadata, Producer
from implementations.kafka.messages import MetadataResponse

NAME = "shop-connector"
CONNECTOR = "connector"  # the node running it
OFFSETS = "offsets/shop-connector"  # the offset store's key (a file, in standalone mode)
DATABASE = "mysql"
DB_TIMEOUT = 40  # an unanswered statement is sent again after this long
BINLOG_POLL = 20  # after reaching the binlog's end, read again this much later
FLUSH_INTERVAL = 20  # offset.flush.interval: how often offsets are committed


def topic_of(table: str) -> str:
    """Debezium's topic naming: <topic.prefix>.<table>."""
    return f"shop.{table}"


def partition_for(key: tuple, partitions: int) -> str:
    """Kafka's keyed partitioner: one key always goes to one partition of its table's topic
    (a stable hash, not Python's, which changes with PYTHONHASHSEED)."""
    table, pk = key
    return f"{topic_of(table)}-{pk % partitions}"


class FreshMetadata(Metadata):
    """Kafka's metadata, taking the answer to any request newer than the last one taken.
    The connector and the sink refresh metadata from several retry timers at once; taking
    only the answer to the latest request, each answer would be stale on arrival whenever
    requests go out faster than answers come back, and the metadata would never be
    learned."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0  # the request whose answer the metadata holds

    def on_message(self, ctx: Context, src: str, msg: Any) -> bool:
        if not isinstance(msg, MetadataResponse):
            return False
        if msg.req > self.taken:
            self.taken = msg.req
            self.partitions = {p: (leader, replicas, isr)
                               for p, leader, _, replicas, isr in msg.partitions}
        return True


class Connector(Node):
    def __init__(self, node_id: str, partitions: int) -> None:
        super().__init__(node_id)
        self.partitions = partitions

    def on_start(self, ctx: Context) -> None:
        self.metadata = FreshMetadata()
        self.producer = Producer(self.metadata, self.acked)
        # requests are numbered (incarnation, n): an answer to an earlier incarnation's
        # request, still in flight when it crashed, is not taken for an answer to this one's
        self.incarnation = ctx.storage.get("incarnation", 0) + 1
        ctx.storage.put("incarnation", self.incarnation)
        self.requests = 0
        self.asked: dict[tuple, Any] = {}  # req -> the request awaiting the database
        self.pending_statements: list[tuple] = []
        self.view: int | None = None
        self.position: int | None = None  # the snapshot's, then the next entry's to stream
        self.schemas: dict[str, int] = {}
        self.emitted = 0  # events handed to the producer so far
        self.unacked: dict[ChangeEvent, int] = {}  # event -> its number
        self.checkpoints: list[tuple[int, SourceOffset]] = []  # (events emitted, offset)
        self.metadata.refresh(ctx)
        ctx.set_timer("flush", FLUSH_INTERVAL)
        restored = ctx.storage.get(OFFSETS)
        if restored is None:
            self.start_snapshot(ctx)
        else:
            self.schemas = dict(restored.schemas)
            self.stream_from(ctx, restored.position + 1)

    # --- offsets: committed periodically, read on start -----------------------------------

    def committable(self) -> SourceOffset | None:
        """The offset of the last checkpoint whose events, and all events before them, the
        log has acknowledged."""
        first_unacked = min(self.unacked.values(), default=self.emitted)
        ready = [offset for emitted, offset in self.checkpoints if emitted <= first_unacked]
        return ready[-1] if ready else None

    def flush(self, ctx: Context) -> None:
        """Commit the committable offset to the offset store."""
        offset = self.committable()
        if offset is not None:
            ctx.storage.put(OFFSETS, offset)
            self.checkpoints = [c for c in self.checkpoints if c[1].position > offset.position]

    def acked(self, ctx: Context, partition: str, value: Any, offset: int) -> None:
        self.unacked.pop(value, None)

    # --- snapshot ---------------------------------------------------------------------------

    # The snapshot's statements, grouped into requests the database runs one after the
    # other; the statements of one request run as one unit, with no other transaction
    # committing in between (MySQL: under the global read lock; PostgreSQL: the replication
    # slot's exported snapshot). The view and the position must be read in one unit.
    snapshot_requests: tuple = ((CONSISTENT_SNAPSHOT, MASTER_STATUS),)

    def start_snapshot(self, ctx: Context) -> None:
        self.view, self.position = None, None
        self.pending_statements = list(self.snapshot_requests)
        self.ask(ctx, Query, self.pending_statements.pop(0))

    def snapshot_answers(self, ctx: Context, answers: tuple) -> None:
        for statement, position in answers:
            if statement == CONSISTENT_SNAPSHOT:
                self.view = position
            else:
                self.position = position
        if self.pending_statements:
            self.ask(ctx, Query, self.pending_statements.pop(0))
        else:
            self.ask(ctx, Select, self.view)

    def snapshot_rows(self, ctx: Context, schemas: tuple, rows: tuple) -> None:
        """One read event per row, at the snapshot's position; then stream from after it."""
        self.schemas = dict(schemas)
        for table, pk, row in rows:
            self.emit(ctx, ChangeEvent((table, pk), "r", None, row, self.position,
                                       self.schemas[table]))
        self.checkpoint(self.position)
        self.stream_from(ctx, self.position + 1)

    # --- streaming --------------------------------------------------------------------------

    def stream_from(self, ctx: Context, position: int) -> None:
        self.position = position
        self.ask(ctx, ReadBinlog, position)

    def binlog_events(self, ctx: Context, entries: tuple) -> None:
        for entry in entries:
            if entry.ddl is not None:
                table, version = entry.ddl
                self.schemas[table] = version
            for change in entry.changes:
                self.emit(ctx, ChangeEvent((change.table, change.pk), change.op, change.before,
                                           change.after, entry.position,
                                           self.schemas[change.table]))
            self.checkpoint(entry.position)
        if entries:
            self.stream_from(ctx, entries[-1].position + 1)
        else:
            ctx.set_timer("binlog", BINLOG_POLL)

    def emit(self, ctx: Context, event: ChangeEvent) -> None:
        self.unacked[event] = self.emitted
        self.emitted += 1
        self.producer.send(ctx, partition_for(event.key, self.partitions), event)

    def checkpoint(self, position: int) -> None:
        """Every event emitted so far comes from at or before `position`."""
        offset = SourceOffset(NAME, position, tuple(sorted(self.schemas.items())))
        self.checkpoints.append((self.emitted, offset))

    # --- talking to the database -------------------------------------------------------------

    def ask(self, ctx: Context, kind: type, *args: Any) -> None:
        """Send the database a request, numbered, sent again until answered."""
        self.requests += 1
        request = kind((self.incarnation, self.requests), *args)
        self.asked[request.req] = request
        self.send_request(ctx, request)

    def send_request(self, ctx: Context, request: Any) -> None:
        ctx.send(DATABASE, request)
        ctx.set_timer(f"db/{request.req[1]}", DB_TIMEOUT)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.metadata.on_message(ctx, src, msg) or self.producer.on_message(ctx, src, msg):
            return
        if isinstance(msg, GetOffsets):
            offset = ctx.storage.get(OFFSETS)
            ctx.send(src, Offsets(msg.req, None if offset is None else offset.position))
            return
        if self.asked.pop(getattr(msg, "req", None), None) is None:
            return  # a late answer to a request already answered
        ctx.cancel_timer(f"db/{msg.req[1]}")
        match msg:
            case Answers(_, answers):
                self.snapshot_answers(ctx, answers)
            case Rows(_, _, schemas, rows):
                self.snapshot_rows(ctx, schemas, rows)
            case BinlogEvents(_, entries):
                self.binlog_events(ctx, entries)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.producer.on_timer(ctx, name):
            return
        if name == "flush":
            self.flush(ctx)
            ctx.set_timer("flush", FLUSH_INTERVAL)
        elif name == "binlog":
            self.ask(ctx, ReadBinlog, self.position)
        elif (req := (self.incarnation, int(name.removeprefix("db/")))) in self.asked:
            self.send_request(ctx, self.asked[req])

    def on_reset(self, ctx: Context, peer: str) -> None:
        self.producer.on_reset(ctx, peer)
        if peer == DATABASE:
            for req in sorted(self.asked):
                self.send_request(ctx, self.asked[req])


class PositionAfterSnapshot(Connector):
    """Seeded bug: the snapshot fixes its view, then reads the binlog position in a second
    request, without the lock. A transaction that commits between them is after the view
    (no read event shows it) and at or before the position (streaming starts after it): it
    is lost."""

    snapshot_requests = ((CONSISTENT_SNAPSHOT,), (MASTER_STATUS,))


class OffsetsBeforeAck(Connector):
    """Seeded bug: the offset committed is that of the last binlog entry the connector
    handed to the producer, whether or not the log has acknowledged its events. A crash
    then loses the producer's unsent events, and the restart resumes after them."""

    def committable(self) -> SourceOffset | None:
        return self.checkpoints[-1][1] if self.checkpoints else None
