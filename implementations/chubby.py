"""Chubby: a lock service with small files, kept by a cell of Paxos replicas with one master.

Burrows, "The Chubby lock service for loosely-coupled distributed systems" (OSDI 2006). The
cell is SSO's: Multi-Paxos replicas with a master lease (`implementations.sso.Replica`, on
`paxos_core`); the replicated state machine is Chubby's database (`models.lockservice`). What
Chubby adds lives in the master's memory and in the client library:

- Sessions. A client keeps a session alive with KeepAlives; each extends its *session
  lease*. Client and master time the lease with TrueTime intervals, so the client's view ends
  first. A master ends a session whose lease lapsed by writing `ExpireSession` to the log,
  which frees its locks. A client whose lease lapsed is in *jeopardy*: it stops trusting its
  cache and tries every replica for a grace period before giving the session up.
- Advisory locks with sequencers. A grant carries the lock's generation; the holder shows it
  (the sequencer) to the resource it writes, which refuses any older than one it has seen.
- Lock-delay. A lock freed because its holder's session expired is not granted again for
  LOCK_DELAY: the fallback for resources that do not check sequencers.
- Caching with invalidation. Clients cache file contents. Before a write proceeds, the master
  invalidates every cache of the file and waits until each holder acknowledged or its session
  lease lapsed; meanwhile the file is uncacheable.
- Fail-over with epochs. Requests carry the master's epoch (its ballot); a master rejects any
  other, and a client that learns a new epoch flushes its cache (it may have missed
  invalidations). A new master knows nobody's cache, so it writes nothing until every session
  lease its predecessor could have granted has run out, and gives sessions holding locks that
  long before it ends them.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any, NamedTuple

import attrs

from checker.client import Client
from checker.node import Context, Node
from checker.sim import Cluster, Simulation
from checker.system import Config, System, Variant, history_invariant, state_invariant
from implementations import sso, sso_checks
from implementations.paxos_core import MASTER, NO_BALLOT, NOOP, Ballot
from implementations.resource import (
    ResourceReply,
    ResourceServer,
    ResourceWrite,
    first_writes_since,
    last_write,
    stale_write,
)
from invariants.linearizability import check_linearizable
from invariants.verdict import Verdict, passed, violated
from models.lockservice import LockService

RENEW = 200  # the master renews its master lease, and looks at its sessions, this often
SESSION_LEASE = 600  # how long a KeepAlive extends a session, counted from when it was sent
KEEPALIVE = 150  # clients send a KeepAlive this often
GRACE = 1000  # a client in jeopardy keeps looking for a master this long (covers a fail-over)
LOCK_DELAY = 3000  # a lock freed by a session's expiry is not granted again for this long
CALL_TIMEOUT = 150  # a client tries another replica after this long without an answer
BACKOFF = 50  # a client told that the master is not ready asks again after this long
ATTEMPTS = 6  # requests a client sends for one call before giving up
WORK = 100  # an application holding the lock works this long before each write
WRITES = 3  # writes an application makes each time it holds the lock
THINK = 200  # an application waits this long between rounds, and after a busy lock
# The ending's first operation waits this long, so that each primary has time to write after
# the worst the faults leave behind: a fail-over (GRACE covers one), the new master's quiet
# period before it may end a dead holder's session (SESSION_LEASE, then its next RENEW),
# lock-delay, a round of work by the first primary granted the lock (THINK, WRITES * WORK),
# the other's first write after it (THINK, WORK); and GRACE again to spare.
STAND_BY = (2 * GRACE + SESSION_LEASE + RENEW + LOCK_DELAY + THINK + WRITES * WORK
            + THINK + WORK)
LOCK = "primary"  # the lock the applications compete for
NEVER = float("-inf")


class Session(NamedTuple):
    client: str
    number: int  # the client's sessions are numbered, across its restarts

    def __repr__(self) -> str:
        return f"{self.client}/{self.number}"


# --- messages: client to master (the requests are also the commands of the log) -------------


@attrs.frozen
class KeepAlive:
    """Extend my session's lease; `sent` is the earliest reading of my clock when sending."""

    session: Session
    sent: int


@attrs.frozen
class GetContents:
    session: Session
    epoch: Ballot
    req: int
    name: str


@attrs.frozen
class SetContents:
    session: Session
    epoch: Ballot
    req: int
    name: str
    contents: Any


@attrs.frozen
class Acquire:
    """`at`: set by the master when it proposes, its clock, against which lock-delay runs."""

    session: Session
    epoch: Ballot
    req: int
    name: str
    at: int = 0


@attrs.frozen
class Release:
    session: Session
    epoch: Ballot
    req: int
    name: str


@attrs.frozen
class ExpireSession:
    """A log command only: the master ended `session` at time `at`."""

    session: Session
    at: int


@attrs.frozen
class InvalidateAck:
    session: Session
    name: str
    ticket: tuple[Ballot, int]


# --- messages: master to client ---------------------------------------------------------------


@attrs.frozen
class KeepAliveOk:
    session: Session
    epoch: Ballot
    sent: int


@attrs.frozen
class Invalidate:
    """Drop `name` from your cache and acknowledge `ticket` (which names this invalidation)."""

    session: Session
    name: str
    ticket: tuple[Ballot, int]


@attrs.frozen
class Contents:
    session: Session
    req: int
    name: str
    version: int
    contents: Any
    cacheable: bool
    epoch: Ballot


@attrs.frozen
class Done:
    """The answer to SetContents (the version written), Acquire (the generation granted, or
    None: busy) and Release."""

    session: Session
    req: int
    result: Any


@attrs.frozen
class NotMaster:
    """Try `hint` (None: no idea; the replica itself: I am master, not ready yet)."""

    req: int | None
    hint: str | None


@attrs.frozen
class WrongEpoch:
    req: int
    epoch: Ballot


@attrs.frozen
class SessionExpired:
    session: Session


# --- the cell ---------------------------------------------------------------------------------


class Database:
    """Chubby's database as a replica applies the log: the model `LockService`, and each
    session's latest request and answer, so that a request the log holds twice is applied
    once."""

    def __init__(self, lock_delay: int) -> None:
        self.spec = LockService(lock_delay)
        self.state = self.spec.initial()
        self.answers: dict[Session, tuple[int, Any]] = {}

    def run(self, f: str, args: tuple) -> Any:
        [(result, self.state)] = self.spec.apply(self.state, f, args)
        return result

    def execute(self, command: Any) -> Any:
        if isinstance(command, ExpireSession):
            return self.run("expire", (command.session, command.at))
        last_req, answer = self.answers.get(command.session, (0, None))
        if command.req <= last_req:
            return answer if command.req == last_req else None
        match command:
            case SetContents(_, _, _, name, contents):
                self.run("write", (name, contents))
                answer = self.file(name)[0]
            case Acquire(session, _, _, name, at):
                answer = self.run("acquire", (name, session, at))
            case Release(session, _, _, name):
                answer = self.run("release", (name, session))
        self.answers[command.session] = (command.req, answer)
        return answer

    def file(self, name: str) -> tuple[int, Any]:
        return self.spec.file(self.state, name)

    def expired(self, session: Session) -> bool:
        return session in self.state.expired


@attrs.define
class PendingWrite:
    """A write the master holds until the caches of its file are invalidated."""

    request: SetContents
    ticket: tuple[Ballot, int]
    waiting: dict[Session, None]  # sessions that may still cache the file
    proposed: bool = False


class ChubbyReplica(sso.Replica):
    """A replica of SSO's cell whose state machine is Chubby's database. As master it also
    keeps, in memory only: session leases, who caches which file, and writes waiting on
    invalidations."""

    lock_delay = LOCK_DELAY

    def on_start(self, ctx: Context) -> None:
        self.database = Database(self.lock_delay)  # before the log is replayed into it
        self.forget_clients()
        super().on_start(ctx)

    def forget_clients(self) -> None:
        self.sessions: dict[Session, int] = {}  # session -> end of its lease (latest, my clock)
        self.ending: dict[Session, None] = {}  # sessions whose ExpireSession is proposed
        self.cachers: dict[str, dict[Session, None]] = {}  # file -> sessions that may cache it
        self.pending: list[PendingWrite] = []
        self.tickets = 0
        self.quiet_until: float = NEVER  # no write before my clock's earliest passes this

    def on_elected(self, ctx: Context) -> None:
        """A predecessor granted session leases I know nothing of, and clients cache what it
        served them: any such lease ends within a SESSION_LEASE of now (it could grant none
        once its master lease ran out, and I could not be elected before that). There was no
        predecessor if no slot holds a vote: a master serves only once its first no-op is
        chosen, and my majority of promises would have reported that vote."""
        super().on_elected(ctx)
        self.forget_clients()
        if self.next_slot > 0:
            self.quiet_until = self.clock(ctx)[1] + SESSION_LEASE

    def on_deposed(self, ctx: Context) -> None:
        super().on_deposed(ctx)
        self.forget_clients()

    def serving(self, ctx: Context) -> bool:
        return self.up_to_date() and self.lease_valid(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case KeepAlive():
                self.on_keep_alive(ctx, src, msg)
            case InvalidateAck():
                self.on_invalidate_ack(ctx, msg)
            case GetContents() | SetContents() | Acquire() | Release():
                self.on_request(ctx, src, msg)
            case _:
                super().on_message(ctx, src, msg)

    def tick(self, ctx: Context) -> None:
        if self.role == MASTER and self.serving(ctx):
            self.end_lapsed_sessions(ctx)
            self.write_when_invalidated(ctx)
        super().tick(ctx)

    def tick_period(self, ctx: Context) -> int:
        """SSO's master renews its lease every TICK; Chubby's every RENEW, which its lease
        (sso.LEASE) easily covers, so that renewals do not drown the sessions' traffic."""
        if self.role == MASTER and not self.cut_off(ctx):
            return RENEW
        return super().tick_period(ctx)

    def cut_off(self, ctx: Context) -> bool:
        return self.role == MASTER and ctx.now() - self.last_renewal > RENEW + sso.SILENT

    # --- sessions ---------------------------------------------------------------------------

    def on_keep_alive(self, ctx: Context, src: str, msg: KeepAlive) -> None:
        """Extend the lease, and repeat the invalidations the session still owes me."""
        if not self.serving(ctx):
            ctx.send(src, NotMaster(None, self.master_hint))
        elif not self.live(ctx, msg.session):
            ctx.send(src, SessionExpired(msg.session))
        else:
            self.sessions[msg.session] = self.clock(ctx)[1] + SESSION_LEASE
            ctx.note("session-renewed", session=msg.session, sent=msg.sent)
            ctx.send(src, KeepAliveOk(msg.session, self.ballot, msg.sent))
            for write in self.pending:
                if msg.session in write.waiting:
                    ctx.send(src, Invalidate(msg.session, write.request.name, write.ticket))

    def live(self, ctx: Context, session: Session) -> bool:
        """Whether the session may still act. A lease of mine that lapsed is never extended
        again (I may already have written past the session's cache): the session ends."""
        if session in self.sessions and self.lapsed(ctx, session):
            self.end_session(ctx, session)
        return session not in self.ending and not self.database.expired(session)

    def lapsed(self, ctx: Context, session: Session) -> bool:
        """Whether the session's lease has surely run out. A session I have not heard from
        (it held a lock under my predecessor) may hold a lease until my quiet period ends."""
        return (session in self.ending
                or self.clock(ctx)[0] > self.sessions.get(session, self.quiet_until))

    def end_lapsed_sessions(self, ctx: Context) -> None:
        holders = self.database.spec.holders(self.database.state)
        for session in sorted({*holders, *self.sessions}):
            if self.lapsed(ctx, session):
                self.end_session(ctx, session)

    def end_session(self, ctx: Context, session: Session) -> None:
        """Write the session's end to the log, which frees its locks (under lock-delay)."""
        if session not in self.ending and not self.database.expired(session):
            self.ending[session] = None
            ctx.note("session-ended", session=session)
            self.propose(ctx, ExpireSession(session, ctx.now()))

    # --- requests ---------------------------------------------------------------------------

    def on_request(self, ctx: Context, src: str, msg: Any) -> None:
        if not self.serving(ctx):
            ctx.send(src, NotMaster(msg.req, self.master_hint))
        elif msg.epoch != self.ballot:  # from before a fail-over, or a client that missed it
            ctx.send(src, WrongEpoch(msg.req, self.ballot))
        elif not self.live(ctx, msg.session):
            ctx.send(src, SessionExpired(msg.session))
        else:
            match msg:
                case GetContents():
                    self.on_get_contents(ctx, src, msg)
                case SetContents():
                    self.on_set_contents(ctx, msg)
                case Acquire():
                    self.propose(ctx, attrs.evolve(msg, at=ctx.now()))
                case Release():
                    self.propose(ctx, msg)

    def on_get_contents(self, ctx: Context, src: str, msg: GetContents) -> None:
        """From my state (my lease makes that linearizable). Cacheable only for a session whose
        lease I keep (else I could not tell when to stop waiting for its cache), and unless a
        write of the file is under way; a cacheable answer makes the session one I must
        invalidate."""
        version, contents = self.database.file(msg.name)
        cacheable = msg.session in self.sessions and not any(
            write.request.name == msg.name for write in self.pending)
        if cacheable:
            self.cachers.setdefault(msg.name, {})[msg.session] = None
        ctx.note("lease-read", ballot=self.ballot)
        ctx.send(src, Contents(msg.session, msg.req, msg.name, version, contents, cacheable,
                               self.ballot))

    def on_set_contents(self, ctx: Context, msg: SetContents) -> None:
        """Invalidate every cache of the file (the writer's too: this may be an old retry,
        and it may have cached the file since); write once they are gone."""
        if any((w.request.session, w.request.req) == (msg.session, msg.req)
               for w in self.pending):
            return  # a retry of a write under way
        self.tickets += 1
        ticket = (self.ballot, self.tickets)
        waiting = self.cachers.pop(msg.name, {})
        self.pending.append(PendingWrite(msg, ticket, waiting))
        for session in waiting:
            ctx.send(session.client, Invalidate(session, msg.name, ticket))
        self.write_when_invalidated(ctx)

    def on_invalidate_ack(self, ctx: Context, msg: InvalidateAck) -> None:
        for write in self.pending:
            if write.ticket == msg.ticket:
                write.waiting.pop(msg.session, None)
        self.write_when_invalidated(ctx)

    def write_when_invalidated(self, ctx: Context) -> None:
        """Writes of one file go in arrival order: a later write (with nothing left to
        invalidate) must not overtake an earlier one still waiting on caches."""
        waiting: set[str] = set()  # files with a write not yet proposed
        for write in self.pending:
            name = write.request.name
            if not write.proposed and name not in waiting and self.invalidated(ctx, write):
                write.proposed = True
                self.propose(ctx, write.request)
            if not write.proposed:
                waiting.add(name)

    def invalidated(self, ctx: Context, write: PendingWrite) -> bool:
        """Every cache of the file is gone: its holder acknowledged, or its lease lapsed. And
        no cache from my predecessor's time can remain."""
        for session in [s for s in write.waiting if self.lapsed(ctx, s)]:
            del write.waiting[session]
        return not write.waiting and self.clock(ctx)[0] > self.quiet_until

    def apply(self, ctx: Context, slot: int, value: Any) -> None:
        if value is NOOP:
            return
        answer = self.database.execute(value)
        if self.role != MASTER or isinstance(value, ExpireSession):
            return
        if isinstance(value, SetContents):
            self.pending = [w for w in self.pending if (w.request.session, w.request.req)
                            != (value.session, value.req)]
            if answer is not None:  # None: overtaken by the session's later requests
                ctx.note("acked", name=value.name, contents=value.contents)
        ctx.send(value.session.client, Done(value.session, value.req, answer))


# --- seeded bugs in the cell ------------------------------------------------------------------


class NoLockDelay(ChubbyReplica):
    """Seeded bug `no-sequencer`, with `ResourceServer(fencing=False)`: no lock-delay, and a
    resource that ignores sequencers. A lock freed by a session's expiry is granted again at
    once.

    Breaks: a holder whose session expired while it was paused (or crashed with a write in
    flight) still gets its write applied, after the next holder's. Caught by: no-stale-write.
    Teaches: Chubby section 2.4: sequencers, and lock-delay for servers that do not check them.
    """

    lock_delay = 0


class AckBeforeInvalidation(ChubbyReplica):
    """Seeded bug: the master writes, and acknowledges, without waiting for invalidations.

    Breaks: a client whose invalidation is still in flight reads the old contents from its
    cache after the writer was told the write is done. Caught by: cache-coherent (and
    linearizable). Teaches: Chubby section 2.5: "the modification proceeds only after the
    server knows that each client has invalidated its cache".
    """

    def invalidated(self, ctx: Context, write: PendingWrite) -> bool:
        return self.clock(ctx)[0] > self.quiet_until


class ServesPastLease(ChubbyReplica):
    """Seeded bug: the master serves while its log is current, whether or not its lease runs.

    Breaks: a master cut off from its cell (or paused) keeps answering reads from its own
    state after the others elected a new master, which has written since. Caught by:
    reads-within-lease. Teaches: Chubby section 2.3 (the master lease: the replicas promise
    to elect no other master while it runs, so only then may the master answer alone) and
    Paxos Made Live, on master leases: a master whose lease ran out must stop serving reads
    from its own state.
    """

    def serving(self, ctx: Context) -> bool:
        return self.up_to_date()


# --- the client library -----------------------------------------------------------------------


class ChubbyLibrary:
    """Chubby's client library, mixed into a node: a session kept alive by KeepAlives, jeopardy
    and grace, the master's epoch, a file cache, and one call to the master at a time (sent to
    the replica believed master, redirected, retried with backoff, given up after ATTEMPTS).
    The node provides `answered(ctx, request, reply)`, `gave_up(ctx, request)`,
    `session_ready(ctx)` (its lease runs again) and `session_lost(ctx)`."""

    id: str
    replicas: tuple[str, ...]

    def start_library(self, ctx: Context) -> None:
        self.epoch = NO_BALLOT
        self.target = ctx.random.choice(self.replicas)
        self.request: Any = None  # the call under way
        self.req = self.attempts = 0
        self.fetching: str | None = None  # a read under way, until an invalidation of it
        self.open_session(ctx)
        self.keep_alive(ctx)

    def clock(self, ctx: Context) -> tuple[int, int]:
        return ctx.truetime()

    def open_session(self, ctx: Context) -> None:
        number = ctx.storage.get("sessions", 0) + 1
        ctx.storage.put("sessions", number)
        self.session = Session(self.id, number)
        self.lease_end: float = self.clock(ctx)[0]  # no lease yet: the grace period runs
        self.cache: dict[str, tuple[int, Any]] = {}  # name -> (version, contents)
        self.keepalive_answered = True

    def lease_valid(self, ctx: Context) -> bool:
        return self.clock(ctx)[1] < self.lease_end

    def cached(self, ctx: Context, name: str) -> tuple[int, Any] | None:
        """Trusted only while my session lease runs: past it, the master may have written the
        file without my acknowledgement (the lease is also the cache's lease)."""
        return self.cache.get(name) if self.lease_valid(ctx) else None

    def keep_alive(self, ctx: Context) -> None:
        if self.clock(ctx)[0] > self.lease_end + GRACE:
            self.lose_session(ctx)  # jeopardy lasted the whole grace period
        if not self.keepalive_answered and not self.lease_valid(ctx):
            self.target = self.next_replica(self.target)  # in jeopardy: look elsewhere
        self.keepalive_answered = False
        self.send_keep_alive(ctx)
        ctx.set_timer("keepalive", KEEPALIVE)

    def send_keep_alive(self, ctx: Context) -> None:
        sent = self.clock(ctx)[0]
        ctx.note("keepalive-sent", session=self.session, sent=sent)
        ctx.send(self.target, KeepAlive(self.session, sent))

    def lose_session(self, ctx: Context) -> None:
        if self.request is not None:
            self.gave_up(ctx, self.end_call(ctx))
        self.open_session(ctx)
        self.session_lost(ctx)

    def adopt_epoch(self, epoch: Ballot) -> None:
        """A new master: my cache may have missed invalidations (the fail-over event)."""
        if epoch > self.epoch:
            self.epoch = epoch
            self.cache.clear()

    def call(self, ctx: Context, request: Any) -> None:
        """`request` with a placeholder session, epoch and req: filled in here."""
        self.req += 1
        self.attempts = 0
        self.fetching = None
        self.request = attrs.evolve(request, session=self.session, req=self.req)
        self.send_request(ctx)

    def send_request(self, ctx: Context) -> None:
        if self.attempts == ATTEMPTS:
            self.gave_up(ctx, self.end_call(ctx))
            return
        self.attempts += 1
        ctx.send(self.target, attrs.evolve(self.request, epoch=self.epoch))
        ctx.set_timer("timeout", CALL_TIMEOUT << (self.attempts - 1))

    def end_call(self, ctx: Context) -> Any:
        """The call is over: returns its request."""
        request, self.request = self.request, None
        ctx.cancel_timer("timeout")
        ctx.cancel_timer("backoff")
        return request

    def current(self, session: Session, req: int) -> bool:
        return self.request is not None and (session, req) == (self.session, self.req)

    def on_library_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case KeepAliveOk(session, epoch, sent) if session == self.session:
                self.keepalive_answered, self.target = True, src
                self.adopt_epoch(epoch)
                lapsed = not self.lease_valid(ctx)
                if lapsed:
                    self.cache.clear()  # back from jeopardy: invalidations may be lost
                self.lease_end = max(self.lease_end, sent + SESSION_LEASE)
                if lapsed and self.lease_valid(ctx):
                    self.session_ready(ctx)
            case SessionExpired(session) if session == self.session:
                self.lose_session(ctx)
            case Invalidate(session, name, ticket):
                self.cache.pop(name, None)
                if self.fetching == name:
                    self.fetching = None  # what is on its way may be older than the write
                ctx.send(src, InvalidateAck(session, name, ticket))
            case WrongEpoch(req, epoch) if self.current(self.session, req):
                self.adopt_epoch(epoch)
                self.send_request(ctx)
            case NotMaster(req, hint):
                self.redirect(ctx, src, req, hint)
            case Contents(session, req) | Done(session, req) if self.current(session, req):
                self.answered(ctx, self.end_call(ctx), msg)

    def redirect(self, ctx: Context, src: str, req: int | None, hint: str | None) -> None:
        """Follow a hint at once. Without one (nobody knows a master), or from a master not
        ready yet, try again after BACKOFF."""
        self.target = self.next_replica(src) if hint is None else hint
        followed = hint not in (None, src)
        if req is None:
            self.keepalive_answered = True  # by someone who knows better where to go
            if followed:
                self.send_keep_alive(ctx)
            else:
                ctx.set_timer("keepalive", BACKOFF)
        elif self.current(self.session, req):
            if followed:
                self.send_request(ctx)
            else:
                ctx.cancel_timer("timeout")
                ctx.set_timer("backoff", BACKOFF << (self.attempts - 1))

    def on_library_timer(self, ctx: Context, name: str) -> None:
        if name == "keepalive":
            self.keep_alive(ctx)
        elif name in ("timeout", "backoff") and self.request is not None:
            if name == "timeout":
                self.target = self.next_replica(self.target)
            self.send_request(ctx)

    def next_replica(self, replica: str) -> str:
        return self.replicas[(self.replicas.index(replica) + 1) % len(self.replicas)]


NO_SESSION = Session("", 0)  # the placeholder `call` replaces


class FileClient(ChubbyLibrary, Client):
    """A client reading and writing small files: reads hit the cache while the session lease
    runs. A write whose session is lost has an unknown outcome (`info`). Its `wait` operation
    only lets time pass (the ending's stand-by, while the primaries work)."""

    def __init__(self, node_id: str, replicas: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.replicas = replicas
        self.session: Session | None = None

    def start(self, ctx: Context, f: str, args: Any) -> None:
        if f == "wait":
            ctx.set_timer("wait", args[0])
            return
        if self.session is None:
            self.start_library(ctx)  # a session is opened on first use
        name = args[0]
        if f == "read" and (hit := self.cached(ctx, name)) is not None:
            ctx.note("cached-read", name=name, contents=hit[1])
            self.complete(ctx, "ok", hit[1])
        elif f == "read":
            self.call(ctx, GetContents(NO_SESSION, NO_BALLOT, 0, name))
            self.fetching = name
        else:
            self.cache.pop(name, None)
            self.call(ctx, SetContents(NO_SESSION, NO_BALLOT, 0, name, args[1]))

    def answered(self, ctx: Context, request: Any, reply: Any) -> None:
        if isinstance(reply, Contents):
            if reply.cacheable and self.fetching == reply.name and reply.epoch == self.epoch \
                    and self.lease_valid(ctx):
                self.cache[reply.name] = (reply.version, reply.contents)
            self.complete(ctx, "ok", reply.contents)
        else:
            self.complete(ctx, "ok", None)

    def gave_up(self, ctx: Context, request: Any) -> None:
        self.complete(ctx, "info" if isinstance(request, SetContents) else "fail")

    def session_ready(self, ctx: Context) -> None:
        """Nothing to do: the next read fills the cache."""

    def session_lost(self, ctx: Context) -> None:
        """Nothing to do: the cache went with the session."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.on_library_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "wait":
            self.complete(ctx, "ok")
        else:
            self.on_library_timer(ctx, name)


class Primary(ChubbyLibrary, Node):
    """An application server competing to be primary. It acquires LOCK, then WRITES times works
    for WORK and writes to the storage server under its sequencer, then releases and starts
    over. It starts work only while its session is not in jeopardy, and writes WORK later
    whatever happened meanwhile: no check can be atomic with a write that travels over a
    network from a process that may stall (a garbage-collection pause, a swapped-out VM). It
    releases the lock only once the resource has answered, so that no write of its own is left
    in flight behind it."""

    def __init__(self, node_id: str, replicas: tuple[str, ...], resource: str) -> None:
        super().__init__(node_id)
        self.replicas = replicas
        self.resource = resource

    def on_start(self, ctx: Context) -> None:
        self.generation: int | None = None  # of the lock I hold: my sequencer
        self.writes = 0
        self.writing: int | None = None  # my write the resource has not answered yet
        self.round_writes = 0  # writes answered since I was granted the lock
        self.awaiting_session = True  # a round starts once my session's lease runs
        self.start_library(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, ResourceReply):
            if msg.req == self.writing:
                self.written(ctx, msg.accepted)
        else:
            self.on_library_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        match name:
            case "round":
                self.round(ctx)
            case "work":
                self.writes += 1
                self.write(ctx)
            case "written":  # no answer: the write or its answer was lost, send it again
                self.write(ctx)
            case _:
                self.on_library_timer(ctx, name)

    def round(self, ctx: Context) -> None:
        """Try for the lock, unless a round is under way; wait while my session is in
        jeopardy."""
        if self.request is not None or self.generation is not None:
            return
        if self.lease_valid(ctx):
            self.call(ctx, Acquire(NO_SESSION, NO_BALLOT, 0, LOCK))
        else:
            self.awaiting_session = True

    def session_ready(self, ctx: Context) -> None:
        if self.awaiting_session:
            self.awaiting_session = False
            self.round(ctx)

    def answered(self, ctx: Context, request: Any, reply: Any) -> None:
        if isinstance(request, Release) or reply.result is None:  # released, or busy
            ctx.set_timer("round", THINK)
        elif self.lease_valid(ctx):
            self.generation, self.round_writes = reply.result, 0
            ctx.set_timer("work", WORK)
        else:  # granted, but my session is in jeopardy: do not act on the lock
            self.generation = reply.result
            self.release(ctx)

    def write(self, ctx: Context) -> None:
        self.writing = self.writes
        ctx.send(self.resource, ResourceWrite(self.id, self.writes, token=self.generation,
                                              generation=self.generation, payload=self.writes))
        ctx.set_timer("written", CALL_TIMEOUT)

    def written(self, ctx: Context, accepted: bool) -> None:
        """Work on, or give the lock up after WRITES writes (or once the resource refused my
        sequencer: the lock has moved on)."""
        ctx.cancel_timer("written")
        self.writing = None
        self.round_writes += 1
        if accepted and self.round_writes < WRITES:
            ctx.set_timer("work", WORK)
        else:
            self.release(ctx)

    def release(self, ctx: Context) -> None:
        ctx.cancel_timer("written")
        self.generation = self.writing = None
        self.call(ctx, Release(NO_SESSION, NO_BALLOT, 0, LOCK))

    def gave_up(self, ctx: Context, request: Any) -> None:
        ctx.set_timer("round", THINK)  # no master answered: try again later

    def session_lost(self, ctx: Context) -> None:
        """The lock went with the session."""
        ctx.cancel_timer("work")
        ctx.cancel_timer("written")
        self.generation = self.writing = None
        ctx.set_timer("round", THINK)


# --- the cell, its workload and its invariants ------------------------------------------------


@attrs.frozen
class Cell:
    """What a variant changes: the replicas' code, and whether the resource checks
    sequencers."""

    replica: type[ChubbyReplica]
    fencing: bool = True


RESOURCE = "fs"  # the storage server the lock protects


def build(config: Config, cell: Cell, rng: Any) -> Cluster:
    """A cell of replicas; two primaries competing for the lock and writing to the resource;
    clients reading (70%: caches matter) and writing unique values to a small file."""
    replicas = sso.replica_ids(config)
    primaries = [f"p{i + 1}" for i in range(config.params.get("primaries", 2))]
    clients = [f"c{i + 1}" for i in range(config.clients)]
    files = config.params.get("files", ("f",))
    values = itertools.count(1)
    workload = {c: [("read", (rng.choice(files),)) if rng.random() < 0.7
                    else ("write", (rng.choice(files), next(values)))
                    for _ in range(config.ops_per_client)] for c in clients}
    servers: dict[str, Any] = {r: functools.partial(cell.replica, replicas=replicas)
                               for r in replicas}
    servers[RESOURCE] = functools.partial(ResourceServer, fencing=cell.fencing)
    servers.update({p: functools.partial(Primary, replicas=replicas, resource=RESOURCE)
                    for p in primaries})
    return Cluster(
        servers=servers,
        clients={c: functools.partial(FileClient, replicas=replicas) for c in clients},
        workload=workload,
        final_ops=final_ops(clients, files, values),
    )


def final_ops(clients: list[str], files: tuple[str, ...],
              values: Iterator[int]) -> list[tuple[str, str, Any]]:
    """First a stand-by: one client waits STAND_BY, so that the ending lasts long enough for
    each primary to win the lock and write (`lock-holder-writes` judges that). Then, twice
    over, each file written a fresh value by one client and read by the next: after the
    faults the cell must take writes as well as answer reads (a write held back by an
    invalidation that no cache will ever acknowledge holds back every later write of its
    file). A session the client gives up (its grace ran out while the cell had no master)
    fails the call under way, as Chubby reports; the next round opens a new session and must
    succeed (`progress` judges each client's last operation, and whether some final write
    went through). Last, each reader reads its file again, nothing written since: from its
    cache (`rereads-cached` judges that)."""
    once = []
    for i, name in enumerate(files):
        once.append((clients[i % len(clients)], "write", (name, next(values))))
        once.append((clients[(i + 1) % len(clients)], "read", (name,)))
    return [(clients[0], "wait", (STAND_BY,)), *once,
            *[(client, f, (args[0], next(values)) if f == "write" else args)
              for client, f, args in once],
            *[op for op in once if op[1] == "read"]]


def cell_replicas(sim: Simulation) -> list[str]:
    """The cell's replicas, by name (the other servers are the resource and the primaries)."""
    return [n for n in sim.servers if n not in (RESOURCE,) and not n.startswith("p")]


one_lease_holder, reads_within_lease = sso_checks.lease_checks(sso.LEASE, cell_replicas)
master_kept_at_rest = sso_checks.master_kept_at_rest(sso.LEASE, cell_replicas)
chosen_on_majority = sso_checks.chosen_on_majority(cell_replicas)
promises_kept = sso_checks.promises_kept(cell_replicas)
backs_one_candidate = sso_checks.backs_one_candidate(sso.CANDIDACY, cell_replicas)
progress = sso_checks.progress()


@state_invariant("no-stale-write")
def no_stale_write(sim: Simulation) -> str | None:
    """The resource never applies a write under an older lock generation after one under a
    newer generation."""
    resource = sim.nodes[RESOURCE]
    return None if resource is None else stale_write(resource.log)


def primaries(sim: Simulation) -> list[str]:
    """The application servers competing for the lock, by name."""
    return [n for n in sim.servers if n.startswith("p")]


@history_invariant("lock-holder-writes")
def lock_holder_writes(sim: Simulation) -> Verdict:
    """After the ending heals every fault, each primary in turn is granted the lock and the
    resource applies a write under its sequencer before the ending stops (the ending waits
    STAND_BY for it): a lock its holder released, or lost with its session, goes to the
    next to ask, so no primary is kept from it for good. The resource stamps writes with its
    own clock, within epsilon of true time, so only a write stamped at least epsilon after
    the ending began surely came after it."""
    began = sim.ending_began(default=sim.time)
    log = sim.nodes[RESOURCE].log
    first = first_writes_since(log, began, sim.epsilon, fenced=True)
    idle = [p for p in primaries(sim) if p not in first]
    if not idle:
        return passed("lock-holder-writes", "; ".join(
            f"{a.holder} wrote under generation {a.generation} at t={a.time}"
            for a in first.values()) + f", after the ending began at t={began}")
    who = " and ".join(idle) + " never" if first else "no primary"
    return violated("lock-holder-writes",
                    f"{who} wrote to {RESOURCE} under its sequencer in the {sim.time - began} "
                    f"ticks the ending ran after healing every fault at t={began} "
                    f"({last_write(log)})",
                    [attrs.asdict(a) for a in log[-3:]])


def rereads(ops: list[tuple[str, str, Any]]) -> list[tuple[str, str]]:
    """(client, file) of each read in `ops` (client, f, args) that repeats the same client's
    read of the file just before it, nothing written to the file between."""
    last: dict[str, tuple[str, str]] = {}  # file -> (client, f) of the latest op on it
    repeated = []
    for client, f, args in ops:
        if f == "read" and last.get(args[0]) == (client, "read"):
            repeated.append((client, args[0]))
        if f != "wait":
            last[args[0]] = (client, f)
    return repeated


@history_invariant("rereads-cached")
def rereads_cached(sim: Simulation) -> Verdict:
    """Once the faults are healed, caching works again (Chubby 2.5: caches are what let one
    cell serve many clients; a client keeps what it read while its session lease runs and
    nobody writes the file): a client that read a file in the ending, and reads it again with
    nothing written to it since, is answered from its cache. Judged by the client's
    `cached-read` note of what the second read returned, made when it was called (a hit
    answers at once); a read that did not end `ok` is `progress`'s to judge."""
    ran = [(step.event[1], *step.detail) for step in sim.trace
           if step.phase == "quiesce" and step.event[0] == "invoke"]
    ops = sim.operations()
    judged = rereads(ran)
    for client, name in judged:
        read, reread = [op for op in ops if op.process == client and op.f == "read"
                        and op.args[0] == name][-2:]
        hits = [fact["contents"] for kind, time, node, fact in sim.ghost
                if kind == "cached-read" and node == client and fact["name"] == name
                and time == reread.call_time]
        if read.status == reread.status == "ok" and reread.result not in hits:
            return violated("rereads-cached",
                            f"{client} read {name!r} again at t={reread.call_time}, nothing "
                            f"written to it since it read {read.result!r} at "
                            f"t={read.ret_time}, and asked the master instead of its cache",
                            [read.to_json(), reread.to_json()])
    return passed("rereads-cached", f"{len(judged)} rereads in the ending answered from the "
                  f"cache")


class _Acked:
    """Per simulation: where the log holds each write (the replicas' `chosen` notes), and the
    write of each file acknowledged last in log order — placed by its contents (the workload
    writes each value once), not by the versions the cell computes."""

    def __init__(self) -> None:
        self.read = 0  # ghost entries already looked at
        self.slots: dict[Any, int] = {}  # contents -> the first slot holding its write
        self.newest: dict[str, tuple[Any, int, str]] = {}  # name -> (contents, when, master)

    def chosen(self, value: Any, slot: int) -> None:
        """A write the log holds in `slot` (a retry chosen twice takes effect at its first)."""
        if isinstance(value, SetContents):
            self.slots[value.contents] = min(slot, self.slots.get(value.contents, slot))

    def slot_of(self, contents: Any) -> int:
        """Where the log wrote `contents`: -1 for a file's initial contents."""
        return self.slots.get(contents, -1)

    def acked(self, name: str, contents: Any, time: int, master: str) -> None:
        if self.slot_of(contents) > self.slot_of(self.newest.get(name, (None,))[0]):
            self.newest[name] = (contents, time, master)


@state_invariant("cache-coherent")
def cache_coherent(sim: Simulation) -> str | None:
    """No client reads from its cache contents older than a write the master has acknowledged
    (Chubby 2.5: a write proceeds only once every cache of the file is invalidated). Judged
    by contents against the log, not by the versions the cell computes: the cached contents
    must not lie in the log before the acknowledged write."""
    seen = sim.invariant_state("cache-coherent", _Acked)
    while seen.read < len(sim.ghost):
        kind, time, node, fact = sim.ghost[seen.read]
        seen.read += 1
        if kind == "chosen":
            seen.chosen(fact["value"], fact["slot"])
        elif kind == "acked":
            seen.acked(fact["name"], fact["contents"], time, node)
        elif kind == "cached-read" and fact["name"] in seen.newest:
            contents, when, master = seen.newest[fact["name"]]
            if seen.slot_of(fact["contents"]) < seen.slot_of(contents):
                return (f"{node} read {fact['contents']!r} of {fact['name']!r} from its cache "
                        f"at t={time}, after the master {master} acknowledged the write of "
                        f"{contents!r} at t={when}, which the log holds later (slot "
                        f"{seen.slot_of(contents)})")
    return None


@history_invariant("writes-acked-by-master")
def writes_acked_by_master(sim: Simulation) -> Verdict:
    """A client is told its write is done only by a master that applied it from the log,
    having invalidated every cache of the file (Chubby 2.5): every write that ended `ok` was
    acknowledged before it returned — a master's `acked` note of its contents (the workload
    writes each value once). This is also what `cache-coherent` learns acknowledgements
    from."""
    acked: dict[tuple[str, Any], int] = {}  # (file, contents) -> when a master first acked
    for kind, time, _, fact in sim.ghost:
        if kind == "acked":
            acked.setdefault((fact["name"], fact["contents"]), time)
    writes = [op for op in sim.operations() if op.f == "write" and op.status == "ok"]
    for op in writes:
        if acked.get(op.args, op.ret_time + 1) > op.ret_time:
            return violated("writes-acked-by-master",
                            f"{op.process}'s write of {op.args[1]!r} to {op.args[0]!r} "
                            f"returned ok at t={op.ret_time}, but no master had acknowledged "
                            f"it", [op.to_json()])
    return passed("writes-acked-by-master", f"each of the {len(writes)} writes that returned "
                  f"ok was acknowledged by a master first")


class _SessionLeases:
    """Per simulation: how far, in true time, each session's lease may run."""

    def __init__(self) -> None:
        self.read = 0  # ghost entries already looked at
        self.sent: dict[tuple[Session, int], int] = {}  # (session, stamp) -> true time sent
        self.until: dict[Session, tuple[int, int, str]] = {}  # -> (lease end, sent, renewer)

    def new_facts(self, sim: Simulation) -> Iterator[tuple[str, int, str, dict]]:
        """The ghost facts not looked at yet, each learned from before it is yielded."""
        while self.read < len(sim.ghost):
            kind, time, node, fact = sim.ghost[self.read]
            self.read += 1
            if kind == "keepalive-sent":
                self.sent[(fact["session"], fact["sent"])] = time
            elif kind == "session-renewed":
                self.renewed(fact["session"], self.sent[(fact["session"], fact["sent"])], node)
            yield kind, time, node, fact

    def renewed(self, session: Session, sent: int, renewer: str) -> None:
        """A KeepAlive the client sent at true time `sent` lets it trust its session until a
        SESSION_LEASE later at most, whichever master answered it."""
        if sent + SESSION_LEASE > self.until.get(session, (NEVER,))[0]:
            self.until[session] = (sent + SESSION_LEASE, sent, renewer)


@state_invariant("session-outlives-lease")
def session_outlives_lease(sim: Simulation) -> str | None:
    """A master ends a session only once every lease granted to it has run out (Chubby 2.8:
    the master does not end a session before its lease times out). A KeepAlive the client
    sent at true time T and some master answered lets the client trust its session, and the
    locks and cache it holds, until T + SESSION_LEASE at most, whichever master comes next."""
    seen = sim.invariant_state("session-outlives-lease", _SessionLeases)
    for kind, time, node, fact in seen.new_facts(sim):
        if kind == "session-ended":
            until, sent, renewer = seen.until.get(fact["session"], (NEVER, 0, ""))
            if time < until:
                return (f"{node} ended session {fact['session']} at t={time}, but {renewer} "
                        f"had renewed its lease with a KeepAlive sent at t={sent}, which the "
                        f"client may trust until t={until}")
    return None


@state_invariant("client-lease-conservative")
def client_lease_conservative(sim: Simulation) -> str | None:
    """A client trusts its session lease, and with it its cache and its locks, no longer than
    a master granted it (Chubby 2.8: the client's local lease timeout is a conservative
    approximation of the master's, allowing for the reply's time in flight and for the
    master's clock). Judged at every step in true time: a client whose lease runs by its own
    clock (its latest reading is before the lease's end) must have sent, less than
    SESSION_LEASE ago, a KeepAlive some master renewed."""
    seen = sim.invariant_state("client-lease-conservative", _SessionLeases)
    for _ in seen.new_facts(sim):
        pass
    for name, node in sim.nodes.items():
        if not (isinstance(node, ChubbyLibrary) and trusts_its_lease(sim, name, node)):
            continue
        until, sent, renewer = seen.until.get(node.session, (NEVER, 0, ""))
        if sim.time >= until:
            granted = (f"the KeepAlive it sent at t={sent}, which {renewer} renewed, lets it "
                       f"trust the session until t={until}" if until != NEVER
                       else "no master ever renewed it")
            return (f"{name} trusts the lease of session {node.session} at t={sim.time}, but "
                    f"{granted}")
    return None


def trusts_its_lease(sim: Simulation, name: str, client: ChubbyLibrary) -> bool:
    """Whether the client's own clock says its session lease runs: the latest reading is before
    the end the client keeps (a client that never used the library has no session)."""
    return (getattr(client, "session", None) is not None
            and sim.contexts[name].truetime()[1] < client.lease_end)


@history_invariant("linearizable")
def linearizable_files(sim: Simulation) -> Verdict:
    """The clients' file reads and writes are linearizable against Chubby's database."""
    files = [op for op in sim.operations() if op.f != "wait"]
    return check_linearizable(files, LockService())


def proofs(config: Config, cell: Cell) -> list[Verdict]:
    """Any two quorums of the cell intersect (z3): SSO's proof, for the cell's replicas."""
    return sso.proofs(config, cell.replica)


FAULTS = {"drop": 6, "duplicate": 6, "crash": 6, "partition": 8, "pause": 8, "skew": 40}
# The ending may take this long: a call under way when it begins may wait out its longest
# timeout (CALL_TIMEOUT << (ATTEMPTS - 1)) after a fail-over, and the final file operations
# may do as much after the stand-by.
ENDING = (CALL_TIMEOUT << (ATTEMPTS - 1)) + GRACE + STAND_BY

SYSTEM = System(
    name="chubby",
    paper="Burrows: The Chubby lock service for loosely-coupled distributed systems "
          "(OSDI 2006)",
    summary="a lock service with small cached files: sessions and KeepAlives, sequencers and "
            "lock-delay, cache invalidation, master fail-over with epochs, on SSO's cell",
    build=build,
    invariants=(one_lease_holder, reads_within_lease, sso.one_value_per_slot,
                chosen_on_majority, promises_kept, no_stale_write, cache_coherent,
                session_outlives_lease, client_lease_conservative, writes_acked_by_master,
                linearizable_files, progress, lock_holder_writes, rereads_cached,
                master_kept_at_rest, backs_one_candidate),
    configs={
        "default": Config("default", servers=3, clients=2, ops_per_client=12, max_steps=1500,
                          epsilon=50, max_pause=2500, faults=FAULTS,
                        quiesce_horizon=ENDING, rest=sso.REST),
        "small": Config("small", servers=3, clients=2, ops_per_client=6, max_steps=800,
                        epsilon=50, max_pause=2500, faults=FAULTS,
                        quiesce_horizon=ENDING, rest=sso.REST),
        # clocks running fast or slow within epsilon (leases and session timeouts are
        # timed on them), and the master cut off right after a client is told ok
        "fail-over": Config("fail-over", servers=3, clients=2, ops_per_client=12,
                            max_steps=1500, epsilon=50, max_drift=100, max_pause=2500,
                            faults={**FAULTS, "drift": 4, "nemesis": 2},
                            quiesce_horizon=ENDING, rest=sso.REST),
        # a steady cell on a lossy network: messages lost and duplicated, nothing crashed, cut
        # off or stalled, so no fail-over clears what a lost message leaves behind (an
        # invalidation only the KeepAlive replies repeat)
        "lossy": Config("lossy", servers=3, clients=2, ops_per_client=12, max_steps=1500,
                        epsilon=50, faults={"drop": 40, "duplicate": 6, "skew": 40},
                        quiesce_horizon=ENDING, rest=sso.REST),
    },
    variants={
        "correct": Variant("correct", Cell(ChubbyReplica)),
        "no-sequencer": Variant(
            "no-sequencer", Cell(NoLockDelay, fencing=False),
            breaks="mutual exclusion at the resource: a holder paused past its session "
                   "writes after the next holder, and nothing stops the late write",
            caught_by="no-stale-write",
            teaches="Chubby section 2.4: sequencers, and lock-delay for servers that do not "
                    "check them"),
        "ack-before-invalidation": Variant(
            "ack-before-invalidation", Cell(AckBeforeInvalidation),
            breaks="cache coherence: a client reads old contents from its cache after the "
                   "write was acknowledged",
            caught_by="cache-coherent",
            teaches="Chubby section 2.5: a write waits until every cache is invalidated"),
        "serves-past-lease": Variant(
            "serves-past-lease", Cell(ServesPastLease),
            breaks="reads from the master's state: a deposed master cut off from the cell "
                   "answers reads after a new master has written",
            caught_by="reads-within-lease",
            teaches="Chubby section 2.3 and Paxos Made Live: serve reads only under the lease"),
    },
    proofs=proofs,
)

# Not a seeded bug but an experiment the lesson discusses: sequencers ignored, lock-delay on.
LOCK_DELAY_ONLY = Variant(
    "lock-delay-only", Cell(ChubbyReplica, fencing=False),
    breaks="mutual exclusion at the resource, only when a write is delayed past lock-delay",
    caught_by="no-stale-write",
    teaches="Chubby section 2.4: lock-delay protects unmodified servers from everyday delays")
