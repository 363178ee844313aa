"""ZooKeeper's client side: the session library, the lock recipe, lock holders, and clients.

The library keeps one session, talks to one server at a time, pings it, and moves to the next
server when that one falls silent (carrying `seen`, so reads never go back in time). A request
without an answer is a connection loss: its outcome is unknown.

The lock recipe (Hunt et al., USENIX ATC 2010, section 2.4; the ZooKeeper recipes page):
create an ephemeral sequential child of /lock; list the children; the lowest holds the lock;
any other watches the child just before its own and checks again when that one goes. No herd:
each release or expiry wakes one waiter. The lock's fencing token is the lock node's czxid:
every later grant is to a node created later, so tokens grow with grants.
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context, Node
from implementations.resource import ResourceReply, ResourceWrite
from implementations.zookeeper.server import (
    Connect,
    Connected,
    Exists,
    Expired,
    GetChildren,
    GetData,
    NotReady,
    Ping,
    Pong,
    Reply,
    Request,
    Sync,
    WatchEvent,
)
from implementations.zookeeper.zab import Zxid
from models.znodes import Create, Delete, Err, SetData, name_of

PING_EVERY = 400  # a connected client pings its server this often
CONNECTION_LOST = 800  # a server not heard from for this long is given up for the next one
REQUEST_TIMEOUT = 1000  # a request not answered by then is a connection loss
CONNECT_BACKOFF = 200  # after a server said it is not ready, try the next one this much later
WORK = 300  # a lock holder works this long before each write to the resource
WRITES = 3  # writes a holder makes before releasing the lock
REST = 200  # and rests this long after releasing the lock

LOCK_DIR = "/lock"


class SessionClient:
    """The client library, as a mixin for a node. Subclasses react to `session_ready`,
    `replied`, `watched` and `session_lost` (expired: the session is gone; else only the
    connection, and the subclass chooses to `reconnect` or `abandon`)."""

    servers: tuple[str, ...]
    pinned: str | None = None  # the one server to (re)connect to, if any

    def init_session(self, ctx: Context) -> None:
        self.session: Zxid | None = None
        self.server = self.servers[ctx.random.randrange(len(self.servers))]
        self.connected = self.connecting = False
        self.seen = Zxid(0)  # the last zxid any server told me about
        self.last_heard = ctx.now()
        self.req = 0
        self.awaiting = False  # a request is in flight
        self.pinging = False  # a ping is in flight
        self.notified = 0  # watch events received on this connection

    def connect(self, ctx: Context) -> None:
        """Connect to my server with my session (a new one if None), carrying `seen`."""
        attempt = ctx.storage.get("attempts", 0) + 1  # never reused, even after a restart
        ctx.storage.put("attempts", attempt)
        self.attempt, self.connected, self.connecting = attempt, False, True
        ctx.send(self.server, Connect(self.session, self.seen, attempt))
        ctx.set_timer("connect", REQUEST_TIMEOUT)

    def reconnect(self, ctx: Context) -> None:
        self.server = self.pinned or \
            self.servers[(self.servers.index(self.server) + 1) % len(self.servers)]
        self.connect(ctx)

    def abandon(self, ctx: Context) -> None:
        """Give up the session (it expires on its own), and whatever step the caller was at,
        and open a new session elsewhere."""
        self.session, self.step = None, None
        self.reconnect(ctx)

    def call(self, ctx: Context, op: Any) -> None:
        self.req += 1
        self.awaiting = True
        ctx.send(self.server, Request(self.session, self.req, op))
        ctx.set_timer("request", REQUEST_TIMEOUT)

    def on_session_message(self, ctx: Context, src: str, msg: Any) -> None:
        if src == self.server:
            self.last_heard = ctx.now()
        match msg:
            case Connected(session, attempt) if attempt == self.attempt and not self.connected:
                ctx.cancel_timer("connect")
                self.session, self.connected, self.connecting = session, True, False
                self.pinging, self.notified = False, 0
                self.seen = max(self.seen, session)
                ctx.set_timer("ping", PING_EVERY)
                self.session_ready(ctx)
            case NotReady(attempt) if attempt == self.attempt and self.connecting:
                ctx.set_timer("connect", CONNECT_BACKOFF)
            case Pong(session, notified) if session == self.session:
                self.pinging = False
                if notified > self.notified:  # a watch event was lost on the way
                    self.notified = notified
                    self.watched(ctx, None)
            case Expired(session) if session == self.session:
                self.lose(ctx, expired=True)
            case Reply(session, req, result, zxid) \
                    if session == self.session and req == self.req and self.awaiting:
                ctx.cancel_timer("request")
                self.awaiting = False
                self.seen = max(self.seen, zxid)
                self.replied(ctx, result, zxid)
            case WatchEvent() if src == self.server:
                self.notified += 1
                self.watched(ctx, msg)

    def on_session_timer(self, ctx: Context, name: str) -> None:
        if name == "connect" and not self.connected:
            self.reconnect(ctx)  # that server did not take me: try the next
        elif name == "request" and self.awaiting:
            self.lose(ctx, expired=False)
        elif name == "ping" and self.connected:
            if ctx.now() - self.last_heard > CONNECTION_LOST:
                self.lose(ctx, expired=False)
                return
            if not self.pinging:  # one ping in flight
                self.pinging = True
                ctx.send(self.server, Ping(self.session))
            ctx.set_timer("ping", PING_EVERY)

    def lose(self, ctx: Context, expired: bool) -> None:
        self.connected = self.connecting = self.awaiting = False
        for timer in ("request", "ping", "connect"):
            ctx.cancel_timer(timer)
        if expired:
            self.session = None
        self.session_lost(ctx, expired)

    # --- hooks --------------------------------------------------------------------------------

    def session_ready(self, ctx: Context) -> None: ...

    def replied(self, ctx: Context, result: Any, zxid: Zxid) -> None: ...

    def watched(self, ctx: Context, event: WatchEvent | None) -> None:
        """A watch fired (None: one fired, but its event was lost)."""

    def session_lost(self, ctx: Context, expired: bool) -> None: ...


class LockRecipe(SessionClient):
    """The lock recipe's steps: create, getChildren, exists(predecessor, watch), wait.
    Calls `locked` once my node is the lowest; on any trouble the caller abandons the session
    (its ephemeral node goes when the session expires) and starts again."""

    ephemeral_lock = True

    def acquire(self, ctx: Context) -> None:
        self.step, self.lock_node, self.czxid = "create", None, None
        self.call(ctx, Create(LOCK_DIR + "/lock-", self.id, ephemeral=self.ephemeral_lock,
                              sequential=True))

    def check(self, ctx: Context) -> None:
        self.step = "children"
        self.call(ctx, GetChildren(LOCK_DIR))

    def lock_replied(self, ctx: Context, result: Any, zxid: Zxid) -> None:
        if isinstance(result, Err):
            self.abandon(ctx)
            return
        match self.step:
            case "create":
                self.lock_node, self.czxid = result, zxid  # the fencing token
                self.check(ctx)
            case "children":
                mine = name_of(self.lock_node)
                lower = [name for name in result if name < mine]
                if mine not in result:
                    self.abandon(ctx)  # my node is gone: my session expired
                elif not lower:
                    self.step = "held"
                    self.locked(ctx)
                else:
                    self.step, self.woken = "exists", False
                    self.call(ctx, Exists(f"{LOCK_DIR}/{lower[-1]}", watch=True))
            case "exists":
                if result is None or self.woken:
                    self.check(ctx)  # my predecessor went before (or after) I watched it
                else:
                    self.step = "waiting"

    def watched(self, ctx: Context, event: WatchEvent | None) -> None:
        """The network may deliver the event before the reply that left the watch."""
        if self.step == "waiting":
            self.check(ctx)
        elif self.step == "exists":
            self.woken = True

    def locked(self, ctx: Context) -> None: ...


class Locker(LockRecipe, Node):
    """A process that takes the lock, works and writes to the protected resource (WRITES
    times, with the lock's fencing token), releases the lock, rests, and again. It can pause
    (a GC pause, a stall) and crash."""

    def __init__(self, node_id: str, servers: tuple[str, ...], resource: str) -> None:
        super().__init__(node_id)
        self.servers, self.resource = servers, resource

    def on_start(self, ctx: Context) -> None:
        self.init_session(ctx)
        self.step = None
        self.writes = 0
        self.connect(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, ResourceReply):
            if self.step == "writing" and msg.req == self.writes:
                ctx.cancel_timer("resource")
                self.written(ctx, msg.accepted)
        else:
            self.on_session_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "work" and self.step == "held":
            self.work(ctx)
        elif name == "rest" and self.step == "rested" and self.connected:
            self.acquire(ctx)
        elif name == "resource" and self.step == "writing":
            self.abandon(ctx)  # no answer from the resource: let the lock go
        else:
            self.on_session_timer(ctx, name)

    def session_ready(self, ctx: Context) -> None:
        self.acquire(ctx)

    def session_lost(self, ctx: Context, expired: bool) -> None:
        if self.step not in ("held", "writing"):  # a holder decides at its next write
            self.abandon(ctx)

    def replied(self, ctx: Context, result: Any, zxid: Zxid) -> None:
        if self.step == "releasing":
            self.step = "rested"
            ctx.set_timer("rest", REST)
        else:
            self.lock_replied(ctx, result, zxid)

    def locked(self, ctx: Context) -> None:
        self.done = 0
        ctx.set_timer("work", WORK)

    def written(self, ctx: Context, accepted: bool) -> None:
        self.done += 1
        if not accepted:
            self.abandon(ctx)  # the resource saw a newer token: my lock is gone
        elif self.done < WRITES:
            self.step = "held"
            ctx.set_timer("work", WORK)
        else:
            self.release(ctx)

    def work(self, ctx: Context) -> None:
        """Write to the resource. The ghost `generation` is the grant I believe I hold, named
        by my node's czxid: grants go to nodes in creation order, so czxids grow with grants."""
        if not self.still_holds(ctx):
            self.abandon(ctx)
            return
        self.step, self.writes = "writing", self.writes + 1
        ctx.send(self.resource, ResourceWrite(self.id, self.writes, self.fencing_token(),
                                              generation=self.czxid))
        ctx.set_timer("resource", REQUEST_TIMEOUT)

    def release(self, ctx: Context) -> None:
        self.step = "releasing"
        self.call(ctx, Delete(self.lock_node))

    def still_holds(self, ctx: Context) -> bool:
        """Act as holder only while my session is surely alive: connected, and my server
        heard from recently. Not enough on its own: a write can still arrive late."""
        return self.connected and ctx.now() - self.last_heard < CONNECTION_LOST

    def fencing_token(self) -> int | None:
        return self.czxid


class NoFencingToken(Locker):
    """Seeded bug: the holder trusts its lock until told otherwise and shows the resource no
    token (the resource, given none, checks nothing).

    Breaks: a holder paused past its session timeout wakes up and writes; meanwhile its session
    expired, its lock node went, and the next waiter took the lock and wrote: two holders, and
    the resource applies the old holder's write after the new one's.
    Caught by: monotone-tokens (the resource's log, `resource.stale_write`).
    Teaches: Kleppmann, "How to do distributed locking" (2016); the fencing token ZooKeeper
    offers is the lock node's czxid (or its version).
    """

    def still_holds(self, ctx: Context) -> bool:
        return True

    def fencing_token(self) -> int | None:
        return None


class PersistentLockNode(Locker):
    """Seeded bug: the lock node is created persistent (sequential, not ephemeral).

    Breaks: when a holder or waiter dies, pauses past its session or gives its session up, its
    node stays forever: everyone behind it waits forever.
    Caught by: lock-released (after the run, a fresh client must get the lock).
    Teaches: why the recipe uses ephemeral nodes: the lock is released by session expiry.
    """

    ephemeral_lock = False


class ZkClient(LockRecipe, Client):
    """A client running one operation at a time: read, incr (getData then a conditional
    setData on the version read), seq (an ephemeral sequential node), sync (then read),
    read-at (a read through one named server: the client moves its session there, as a
    client rebalanced onto another server does), sync-at (a sync and read through one named
    server, where the client stays, and opens a new session if it expires), wait (stand by
    for a number of ticks) and lock (no release: the run's ending asks a fresh client to
    sync-at every server, to wait, then to take the lock). After a connection loss it moves
    its session to the next server."""

    def __init__(self, node_id: str, servers: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.servers = servers

    def on_start(self, ctx: Context) -> None:
        self.init_session(ctx)
        self.step = None

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.step = None
        if f == "wait":  # stand by for args[0] ticks: no request, the session as it is
            ctx.set_timer("wait", args[0])
            return
        self.pinned = args[1] if f in ("read-at", "sync-at") else None
        if self.pinned is not None and self.server != self.pinned:
            self.server = self.pinned
            self.connect(ctx)  # `session_ready` runs the operation
        elif self.connected:
            self.run(ctx)
        elif not self.connecting:
            self.connect(ctx)  # else `session_ready` runs the operation

    def run(self, ctx: Context) -> None:
        f, args = self.op
        match f:
            case "read" | "read-at" | "incr":
                self.call(ctx, GetData(args[0]))
            case "sync" | "sync-at":
                self.step = "sync"
                self.call(ctx, Sync())
            case "seq":
                self.call(ctx, Create(args[0], self.id, ephemeral=True, sequential=True))
            case "lock":
                self.acquire(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.on_session_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "wait":
            self.complete(ctx, "ok")
        else:
            self.on_session_timer(ctx, name)

    def session_ready(self, ctx: Context) -> None:
        if self.op is not None:
            self.run(ctx)

    def replied(self, ctx: Context, result: Any, zxid: Zxid) -> None:
        f, args = self.op
        if f == "lock":
            self.lock_replied(ctx, result, zxid)
        elif f == "incr" and self.step is None and result is not None:
            data, version = result
            self.step = "set"
            self.call(ctx, SetData(args[0], data + 1, version))
        elif f == "incr" and result == Err("bad-version"):
            self.complete(ctx, "ok", "bad-version")
        elif self.step == "sync":
            self.step = "read"
            self.call(ctx, GetData(args[0]))
        else:
            self.complete(ctx, "fail" if isinstance(result, Err) else "ok", result)

    def locked(self, ctx: Context) -> None:
        self.complete(ctx, "ok", self.lock_node)

    def session_lost(self, ctx: Context, expired: bool) -> None:
        if self.op is not None and self.op[0] in ("lock", "sync-at"):
            self.abandon(ctx)  # start again with a new session; never give up
            return
        if self.op is not None and self.op[0] != "wait":  # standing by needs no session
            writing = self.op[0] == "seq" or self.step == "set"
            self.complete(ctx, "info" if writing else "fail")
        if expired:
            self.session = None
        else:
            self.reconnect(ctx)
