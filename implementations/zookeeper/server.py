"""A ZooKeeper server: the data tree replicated by Zab, client sessions, watches, reads, sync.

Every server keeps the data tree (`models.znodes.DataTree`) and applies the transactions Zab
delivers, in zxid order. Clients connect to any one server (Hunt et al., USENIX ATC 2010,
section 4):

- Writes are forwarded to the leader, which turns them into transactions; the server the
  client is connected to answers once it has applied the transaction itself.
- Reads are answered at once from the server's own tree: possibly stale, but a client never
  connects to a server that has applied less than the client has already seen (`seen`, the
  last zxid it was told), so its reads are monotone and see its own writes.
- `sync` asks the leader how far it has committed and answers once this server has applied
  that much: a read after a sync sees every write committed before it.
- Watches are one-shot and local to the server: a read may leave one, the first change to
  that node (or its children) fires it, and it is gone.
- Sessions: clients ping their server; followers pass on which sessions they heard from in
  their ACKs; the leader expires a session it has not heard of for SESSION_TIMEOUT by
  proposing `closeSession`, a transaction like any other, which deletes its ephemerals
  everywhere. A server that stops serving (it lost its leader) drops its connections.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context
from implementations.zookeeper.zab import LEADING, Txn, ZabPeer, Zxid
from models.znodes import CloseSession, CreateSession, DataTree

SESSION_TIMEOUT = 1200  # the leader expires a session not heard from for this long

# --- client <-> server -----------------------------------------------------------------------


@attrs.frozen
class Connect:
    """Open a session (`session` None) or move one here. `seen`: the last zxid the client
    saw; a server that has applied less refuses it. `attempt`: names this connection."""

    session: Zxid | None
    seen: Zxid
    attempt: int


@attrs.frozen
class Connected:
    session: Zxid
    attempt: int


@attrs.frozen
class NotReady:
    """I am not serving (no established leader), or I am behind what the client has seen."""

    attempt: int


@attrs.frozen
class Expired:
    session: Zxid


@attrs.frozen
class Ping:
    session: Zxid


@attrs.frozen
class Pong:
    """`notified`: watch events sent on this connection, so that a client learns it missed
    one (ZooKeeper gets that from TCP: a lost message breaks the connection)."""

    session: Zxid
    notified: int


@attrs.frozen
class Request:
    session: Zxid
    req: int
    op: Any


@attrs.frozen
class Reply:
    """`zxid`: the last transaction the server had applied when it answered."""

    session: Zxid
    req: int
    result: Any
    zxid: Zxid


@attrs.frozen
class WatchEvent:
    path: str
    kind: str  # created | deleted | changed | child


# --- reads: answered by the server the client is connected to ---------------------------------


@attrs.frozen(repr=False)
class GetData:
    path: str
    watch: bool = False

    def __repr__(self) -> str:
        return f"getData({self.path!r}{', watch' if self.watch else ''})"


@attrs.frozen(repr=False)
class Exists:
    path: str
    watch: bool = False

    def __repr__(self) -> str:
        return f"exists({self.path!r}{', watch' if self.watch else ''})"


@attrs.frozen(repr=False)
class GetChildren:
    path: str
    watch: bool = False

    def __repr__(self) -> str:
        return f"getChildren({self.path!r}{', watch' if self.watch else ''})"


@attrs.frozen(repr=False)
class Sync:
    def __repr__(self) -> str:
        return "sync()"


# --- server <-> leader -----------------------------------------------------------------------


@attrs.frozen(repr=False)
class Write:
    """What a transaction carries: a session's request (session None: from the leader)."""

    session: Zxid | None
    req: int
    op: Any

    def __repr__(self) -> str:
        who = "" if self.session is None else f"{self.session!r}#{self.req}: "
        return f"{who}{self.op!r}"


@attrs.frozen
class Forward:
    write: Write


@attrs.frozen
class SyncRequest:
    client: str
    session: Zxid
    req: int


@attrs.frozen
class SyncDone:
    client: str
    session: Zxid
    req: int
    committed: int


# --- the server ------------------------------------------------------------------------------


class ZooKeeperServer(ZabPeer):
    def __init__(self, node_id: str, peers: tuple[str, ...],
                 paths: tuple[tuple[str, Any], ...]) -> None:
        super().__init__(node_id, peers)
        self.paths = paths

    def on_start(self, ctx: Context) -> None:
        self.tree = DataTree(self.paths)
        self.connections: dict[str, Zxid] = {}  # client -> its session, connected here
        self.notified: dict[str, int] = {}  # client -> watch events sent on its connection
        self.pending: dict[Write, str] = {}  # writes forwarded for a client, until applied
        self.syncs: list[SyncDone] = []  # syncs waiting until I have applied that much
        self.watches: dict[tuple[str, str], list[str]] = {}  # (path, data|child) -> clients
        self.touched: dict[Zxid, None] = {}  # sessions heard from since my last Ack
        self.deadlines: dict[Zxid, int] = {}  # leader: when each session expires
        super().on_start(ctx)

    def on_role(self, ctx: Context) -> None:
        if not self.serving():  # clients must reconnect, and leave their watches again
            self.connections, self.notified, self.pending = {}, {}, {}
            self.syncs, self.watches = [], {}
        self.deadlines = {}  # a new leader gives every session a whole timeout

    def applied_zxid(self) -> Zxid:
        return self.log[self.delivered - 1].zxid if self.delivered else Zxid(0)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Connect():
                self.on_connect(ctx, src, msg)
            case Ping(session) if self.connections.get(src) == session:
                self.touch(ctx, session)
                ctx.send(src, Pong(session, self.notified.get(src, 0)))
            case Request(session) if self.connections.get(src) == session:
                self.touch(ctx, session)
                self.on_request(ctx, src, msg)
            case Forward(write) if self.role == LEADING and self.serving():
                self.propose(ctx, write)
            case SyncRequest(client, session, req) if self.role == LEADING and self.serving():
                ctx.send(src, SyncDone(client, session, req, self.committed))
            case SyncDone() if self.serving():
                self.syncs.append(msg)
                self.answer_syncs(ctx)
            case _:
                super().on_message(ctx, src, msg)

    def on_connect(self, ctx: Context, client: str, msg: Connect) -> None:
        if not self.serving() or msg.seen > self.applied_zxid():
            ctx.send(client, NotReady(msg.attempt))  # the client tries another server
        elif msg.session is None:
            self.submit(ctx, client, Write(None, msg.attempt, CreateSession(client, msg.attempt)))
        elif msg.session in self.tree.sessions:
            self.connect(ctx, client, msg.session, msg.attempt)
        else:
            ctx.send(client, Expired(msg.session))

    def on_request(self, ctx: Context, client: str, msg: Request) -> None:
        match msg.op:
            case GetData(path, watch) | Exists(path, watch):
                node = self.tree.get(path)
                self.leave_watch(path, "data", client, watch)
                result = None if node is None else (node.data, node.stat.version)
            case GetChildren(path, watch):
                self.leave_watch(path, "child", client, watch)
                result = self.tree.children(path)
            case Sync():
                self.sync(ctx, client, msg)
                return
            case _:
                self.submit(ctx, client, Write(msg.session, msg.req, msg.op))
                return
        ctx.send(client, Reply(msg.session, msg.req, result, self.applied_zxid()))

    def sync(self, ctx: Context, client: str, msg: Request) -> None:
        """Answer once I have applied all the leader had committed when it heard of the sync
        (the leader's own committed index, if I lead)."""
        if self.role == LEADING:
            self.syncs.append(SyncDone(client, msg.session, msg.req, self.committed))
            self.answer_syncs(ctx)
        else:
            ctx.send(self.leader, SyncRequest(client, msg.session, msg.req))

    def submit(self, ctx: Context, client: str, write: Write) -> None:
        self.pending[write] = client
        if self.role == LEADING:
            self.propose(ctx, write)
        else:
            ctx.send(self.leader, Forward(write))

    def answer_syncs(self, ctx: Context) -> None:
        ready = [s for s in self.syncs if s.committed <= self.delivered]
        self.syncs = [s for s in self.syncs if s.committed > self.delivered]
        for done in ready:
            if self.connections.get(done.client) == done.session:
                ctx.send(done.client, Reply(done.session, done.req, None, self.applied_zxid()))

    # --- applying transactions ----------------------------------------------------------------

    def deliver(self, ctx: Context, txn: Txn) -> None:
        write = txn.value
        result, events = self.tree.apply(txn.zxid, write.session, write.req, write.op)
        if isinstance(write.op, CloseSession):
            self.end_session(ctx, write.op.session)
        client = self.pending.pop(write, None)
        if client is not None and isinstance(write.op, CreateSession):
            self.connect(ctx, client, result, write.req)
        elif client is not None and self.connections.get(client) == write.session:
            ctx.send(client, Reply(write.session, write.req, result, txn.zxid))
        self.fire_watches(ctx, events)
        self.answer_syncs(ctx)

    def connect(self, ctx: Context, client: str, session: Zxid, attempt: int) -> None:
        self.connections[client], self.notified[client] = session, 0
        self.touch(ctx, session)
        ctx.send(client, Connected(session, attempt))

    def end_session(self, ctx: Context, session: Zxid) -> None:
        for client, connected in list(self.connections.items()):
            if connected == session:
                del self.connections[client]
                ctx.send(client, Expired(session))
        self.deadlines.pop(session, None)

    def leave_watch(self, path: str, kind: str, client: str, watch: bool) -> None:
        watchers = self.watches.setdefault((path, kind), []) if watch else []
        if watch and client not in watchers:
            watchers.append(client)

    def fire_watches(self, ctx: Context, events: list[tuple[str, str]]) -> None:
        for path, kind in events:
            keys = [(path, "child")] if kind == "child" else [(path, "data")]
            if kind == "deleted":
                keys.append((path, "child"))
            for key in keys:
                for client in self.watches.pop(key, []):
                    self.notified[client] = self.notified.get(client, 0) + 1
                    ctx.send(client, WatchEvent(path, kind))

    # --- sessions -----------------------------------------------------------------------------

    def touch(self, ctx: Context, session: Zxid) -> None:
        if self.role == LEADING:
            self.deadlines[session] = ctx.now() + SESSION_TIMEOUT
        else:
            self.touched[session] = None

    def session_touches(self) -> tuple[Zxid, ...]:
        touched, self.touched = tuple(self.touched), {}
        return touched

    def on_touched(self, ctx: Context, sessions: tuple[Zxid, ...]) -> None:
        for session in sessions:
            self.touch(ctx, session)

    def leader_tick(self, ctx: Context) -> None:
        super().leader_tick(ctx)
        if self.role == LEADING and self.serving():
            self.expire_sessions(ctx)

    def expire_sessions(self, ctx: Context) -> None:
        """Propose closing every session not heard from for SESSION_TIMEOUT (once: its
        deadline moves a timeout away, and the close commits before that)."""
        now = ctx.now()
        for session in sorted(self.tree.sessions):
            deadline = self.deadlines.setdefault(session, now + SESSION_TIMEOUT)
            if deadline < now:
                self.deadlines[session] = now + SESSION_TIMEOUT
                self.propose(ctx, Write(None, 0, CloseSession(session)))


# --- seeded bugs -------------------------------------------------------------------------------


class ReplayHistoryOnSync(ZooKeeperServer):
    """Seeded bug: a follower that synchronises with a leader applies the history NEWLEADER
    brings from its start, onto the tree that already holds the part it had applied (a DIFF
    treated as a full snapshot, without clearing the tree first).

    Breaks: replicas agree at equal zxids: the follower applies its transactions twice;
    sequential creates make new names, conditional setData fails or moves versions on, and
    its tree differs from every other at the same zxid, serving reads no one wrote.
    Caught by: trees-match-model. Teaches: Zab's synchronisation phase: a follower's tree
    must be the leader's history applied exactly once (ZooKeeper sends a DIFF from the
    follower's last zxid, or a snapshot that replaces the tree).
    """

    def on_new_leader(self, ctx: Context, src: str, epoch: int, history: tuple) -> None:
        super().on_new_leader(ctx, src, epoch, history)
        self.delivered = 0
