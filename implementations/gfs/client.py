"""The GFS client library: record append with retries, and reads."""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.gfs.messages import (
    CLIENT_ATTEMPTS,
    CLIENT_BACKOFF,
    CLIENT_TIMEOUT,
    MASTER,
    REPLICAS,
    REPLICATION_POLL,
    REPLICATION_POLLS,
    AppendFailed,
    AppendOk,
    AppendRecord,
    ChunkData,
    ChunkFull,
    DataReceived,
    FileFull,
    FindPrimary,
    FindReplicas,
    PrimaryIs,
    PushData,
    ReadChunk,
    ReadFailed,
    ReplicasAre,
    TryLater,
)

# --- the client -------------------------------------------------------------------------------


class GFSClient(Client):
    """Appends records to `/log` and reads its chunks. An append asks the master for the
    primary of the last chunk it knows, pushes the record to all replicas, then asks the
    primary to append; on `ChunkFull` it moves to the next chunk, on any failure it starts
    over, and after CLIENT_ATTEMPTS it gives up (`info`: the record may be there).

    `replicated` is the run's ending's question, an operator's rather than an application's:
    it asks the master where each chunk is, in turn, every REPLICATION_POLL ticks until the
    master names REPLICAS live replicas for it (at most REPLICATION_POLLS times), and returns
    what it was told: (handle, version, replicas) for each chunk."""

    def on_start(self, ctx: Context) -> None:
        self.req = 0
        self.attempts = 0
        self.index = 0  # the chunk appends go to
        self.pushing: set[str] = set()
        self.target: PrimaryIs | None = None
        self.located: list[tuple[int, int, tuple[str, ...]]] = []  # for `replicated`

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.attempts = 0
        self.located = []
        self.try_again(ctx)

    def try_again(self, ctx: Context) -> None:
        assert self.op is not None
        f, args = self.op
        if self.attempts == self.patience(f, args):
            self.finish(ctx, "info" if f == "append" else "fail")
            return
        self.attempts += 1
        self.req += 1
        if f == "append":
            ctx.send(MASTER, FindPrimary(self.req, self.index))
        elif f == "replicated":
            ctx.send(MASTER, FindReplicas(self.req, len(self.located)))
        else:
            ctx.send(MASTER, FindReplicas(self.req, args[0]))
        ctx.set_timer("timeout", CLIENT_TIMEOUT)

    def patience(self, f: str, args: Any) -> int:
        """Tries before giving up: an append may name its own (the ending's outlasts a
        restarted master's wait for leases it may have granted to run out)."""
        if f == "replicated":
            return REPLICATION_POLLS
        return args[1] if f == "append" and len(args) > 1 else CLIENT_ATTEMPTS

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or getattr(msg, "req", None) not in (None, self.req):
            return  # an answer to an earlier attempt or operation
        match msg:
            case PrimaryIs(req, handle, version, primary, secondaries):
                self.target = msg
                self.pushing = {primary, *secondaries}
                for replica in sorted(self.pushing):
                    ctx.send(replica, PushData((self.id, req), self.op[1][0]))
            case DataReceived(data_id) if data_id == (self.id, self.req) and self.target:
                self.pushing.discard(src)
                if not self.pushing:
                    t = self.target
                    ctx.send(t.primary, AppendRecord(self.req, t.handle, t.version, data_id))
            case AppendOk(_, offset):
                self.finish(ctx, "ok", (self.index, offset))
            case ChunkFull():
                self.index += 1
                self.attempts -= 1  # moving on is not a failure
                self.try_again(ctx)
            case FileFull():
                self.finish(ctx, "fail")
            case ReplicasAre(req, None, _, _):
                self.finish(ctx, "ok", tuple(self.located) if self.op[0] == "replicated" else None)
            case ReplicasAre(req, handle, version, replicas) if self.op[0] == "replicated":
                self.on_located(ctx, handle, version, replicas)
            case ReplicasAre(req, handle, version, replicas):
                ctx.send(ctx.random.choice(replicas), ReadChunk(req, handle, version))
            case ChunkData(_, data):
                self.finish(ctx, "ok", data)
            case TryLater() | AppendFailed() | ReadFailed():
                ctx.set_timer("timeout", CLIENT_BACKOFF)

    def on_located(self, ctx: Context, handle: int, version: int,
                   replicas: tuple[str, ...]) -> None:
        """`replicated`: the next chunk once this one has all its replicas, else ask later."""
        if len(replicas) < REPLICAS:
            ctx.set_timer("timeout", REPLICATION_POLL)
            return
        self.located.append((handle, version, replicas))
        self.attempts -= 1  # moving on is not a failure
        self.try_again(ctx)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is not None:
            self.try_again(ctx)

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("timeout")
        self.target = None
        self.complete(ctx, status, result)
