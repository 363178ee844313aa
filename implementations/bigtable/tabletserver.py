"""The tablet server: serves the tablets the master assigns it, while it holds its lock.

BigTable section 5.2: "When a tablet server starts, it creates, and acquires an exclusive lock
on, a uniquely-named file in a specific Chubby directory ... A tablet server stops serving its
tablets if it loses its exclusive lock". The lock lives in Chubby (the client library of
`implementations.chubby` is mixed in): the lock file is named after the server and its Chubby
session, and the server acknowledges anything only while its session lease runs (the library's
`lease_valid`, measured conservatively with TrueTime). Once the session is gone, so is the
lock: the server forgets its tablets and starts over with a new session and a new file.

A write is committed to the tablet's commit log in GFS (synced) before it is applied to the
memtable and acknowledged (section 5.3); a row with a write in the log pipeline takes no other
write until it is applied (single-row transactions); a check-and-set reads the row's newest
version and logs its outcome.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.bigtable.messages import (
    Assign,
    AssignOk,
    NotServing,
    Ping,
    Pong,
    Reply,
    Request,
    Split,
    SplitDone,
)
from implementations.bigtable.storage import (
    AppendLog,
    Cell,
    Compact,
    Load,
    Loaded,
    LogAppended,
    Merge,
    Mutation,
    SplitTablet,
    SSTable,
    Stored,
    TabletFiles,
    TabletSplit,
    in_range,
    major_merge,
    newest_version,
)
from implementations.chubby import NO_BALLOT, NO_SESSION, Acquire, ChubbyLibrary

MEMTABLE_LIMIT = 3  # versions in a memtable that trigger a minor compaction
MERGE_AT = 2  # SSTables in a tablet that trigger a merging (major) compaction
RETRY = 300  # a server retries acquiring its lock after this long


class Tablet:
    """A tablet as its server holds it: SSTables (copies of GFS's), the memtable, each client's
    last request, and what is under way."""

    def __init__(self, name: str, files: TabletFiles, epoch: int) -> None:
        self.name, self.lo, self.hi, self.epoch = name, files.lo, files.hi, epoch
        self.sstables = list(files.sstables)
        self.memtable: list[Cell] = []
        self.requests = {client: (req, answer, ts) for client, req, answer, ts in files.requests}
        self.counter = 0  # timestamps (epoch, counter) handed out: every epoch is new
        self.applied = 0  # the highest log position applied: the next redo point
        self.in_flight: dict[str, Mutation] = {}  # row -> its record in the log pipeline
        self.storing: SSTable | None = None  # the SSTable a compaction is writing to GFS
        self.store_request: Compact | Merge | None = None  # sent for it, resent until Stored
        self.merging = False  # that compaction is a merge
        self.splitting = False
        for position, record in files.log:  # recovery: replay the log after the redo point
            self.apply(position, record)

    def cells(self) -> list[Cell]:
        return [c for s in self.sstables for c in s.cells] + self.memtable

    def read(self, row: str) -> Any:
        newest = newest_version(self.cells(), row)
        return None if newest is None else newest[1]

    def duplicate(self, client: str, req: int) -> bool:
        return self.requests.get(client, (0, None))[0] >= req

    def apply(self, position: int, record: Mutation) -> bool:
        """Apply a logged record once; False if it was not new. A request can be in the log
        twice: a retry, or sent by an earlier owner and logged late, after a later owner
        loaded the tablet and served the client's retry. The copy with the later timestamp
        is the one served: it replaces the other."""
        self.applied = max(self.applied, position)
        last_req, _, last_ts = self.requests.get(record.client, (0, None, None))
        if record.req < last_req or (record.req == last_req and record.ts <= last_ts):
            return False
        if record.req == last_req:
            self.memtable = [c for c in self.memtable if c[:2] != (record.row, last_ts)]
        self.requests[record.client] = (record.req, record.answer, record.ts)
        if record.writes:
            self.memtable.append((record.row, record.ts, record.value))
        return True

    def newest(self) -> tuple[tuple[str, Any, Any], ...]:
        """Each row's newest version (row, ts, value): what the invariants look at."""
        cells = self.cells()
        rows = sorted({r for r, _, _ in cells if in_range(r, self.lo, self.hi)})
        return tuple((row, *newest_version(cells, row)) for row in rows)

    def child(self, name: str, lo: str, hi: str | None) -> Tablet:
        files = TabletFiles(lo, hi, tuple(self.sstables))
        child = Tablet(name, files, self.epoch)
        child.memtable = [c for c in self.memtable if in_range(c[0], lo, hi)]
        child.requests, child.counter = dict(self.requests), self.counter
        child.applied = self.applied
        return child


class TabletServer(ChubbyLibrary, Node):
    """A tablet server: Chubby's client library (session, KeepAlives, its lock file) mixed into
    a node that serves the tablets the master assigned to that lock file."""

    sync_commit = True  # fsync each commit-log append before acknowledging it

    def __init__(self, node_id: str, replicas: tuple[str, ...], master: str, gfs: str) -> None:
        super().__init__(node_id)
        self.replicas, self.master, self.gfs = replicas, master, gfs

    def on_start(self, ctx: Context) -> None:
        self.tablets: dict[str, Tablet] = {}
        self.loading: dict[str, int] = {}  # tablet -> epoch of the assignment being loaded
        self.split_into: dict[str, tuple] = {}  # tablet I split -> its children, as I told
        self.start_library(ctx)
        self.new_lock_file()

    def new_lock_file(self) -> None:
        """A lock file named after my session: unique to this server's incarnation."""
        self.file = f"servers/{self.id}.{self.session.number}"
        self.generation: int | None = None  # of my lock, once Chubby granted it

    def leads(self) -> bool:
        """A server with tablets is where fail-over bugs live: the random walk cuts it off
        more often."""
        return bool(self.tablets)

    def may_serve(self, ctx: Context) -> bool:
        """I hold my lock: Chubby granted it, and my session lease surely still runs."""
        return self.generation is not None and self.lease_valid(ctx)

    # --- the lock ----------------------------------------------------------------------------

    def session_ready(self, ctx: Context) -> None:
        if self.generation is None and self.request is None:
            self.call(ctx, Acquire(NO_SESSION, NO_BALLOT, 0, self.file))

    def answered(self, ctx: Context, request: Any, reply: Any) -> None:
        """Granted: tell the master at once (the paper's master finds the file in Chubby's
        servers directory); or my file is taken (the master deleted it, as it were): I can never
        serve under it, so I start over with a new session and a new file."""
        if reply.result is not None:
            self.generation = reply.result
            ctx.send(self.master, Pong(self.file, self.may_serve(ctx)))  # I am here
        else:
            self.lose_session(ctx)

    def gave_up(self, ctx: Context, request: Any) -> None:
        ctx.set_timer("acquire", RETRY)

    def session_lost(self, ctx: Context) -> None:
        self.lost_lock(ctx)

    def lost_lock(self, ctx: Context) -> None:
        """My session ended, and my lock with it: the master may have handed my tablets to
        another server. Stop serving them; start over under a new lock file."""
        self.tablets, self.loading, self.split_into = {}, {}, {}
        self.new_lock_file()

    # --- dispatch ----------------------------------------------------------------------------

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Ping():
                ctx.send(src, Pong(self.file, self.may_serve(ctx)))
            case Assign(tablet, file, epoch):
                self.on_assign(ctx, src, tablet, file, epoch)
            case Loaded(tablet, files):
                self.on_loaded(ctx, tablet, files)
            case Request():
                self.on_request(ctx, src, msg)
            case LogAppended(tablet, position, record):
                self.on_logged(ctx, tablet, position, record)
            case Stored(tablet, sstable):
                self.on_stored(ctx, tablet, sstable)
            case Split(tablet, key):
                self.on_split(ctx, tablet, key)
            case TabletSplit(tablet, children):
                self.on_tablet_split(ctx, tablet, children)
            case _:
                self.on_library_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "acquire":
            self.session_ready(ctx)
        elif name == "store":
            self.resend_stores(ctx)
        else:
            self.on_library_timer(ctx, name)

    # --- assignment and recovery ---------------------------------------------------------------

    def on_assign(self, ctx: Context, src: str, tablet: str, file: str, epoch: int) -> None:
        if file != self.file or not self.may_serve(ctx):
            return  # meant for an earlier incarnation of me, or I cannot serve
        if tablet in self.split_into:  # I split it and serve its children: say so again
            ctx.send(src, SplitDone(tablet, self.split_into[tablet], self.file, True))
        elif tablet in self.tablets and self.tablets[tablet].epoch == epoch:
            ctx.send(src, AssignOk(tablet, epoch))
        elif tablet not in self.tablets:
            self.loading[tablet] = epoch
            ctx.send(self.gfs, Load(tablet))

    def on_loaded(self, ctx: Context, tablet: str, files: TabletFiles | None) -> None:
        """Recovery (section 5.3): the SSTables, and the log replayed from the redo point."""
        epoch = self.loading.pop(tablet, None)
        if epoch is None or files is None or not self.may_serve(ctx):
            return  # not mine to load, or I may have lost my lock meanwhile
        if files.split_into:  # split before I came to it: tell the master
            ctx.send(self.master, SplitDone(tablet, files.split_into, self.file, False))
            return
        self.tablets[tablet] = loaded = Tablet(tablet, files, epoch)
        ctx.note("tablet-state", tablet=tablet, lo=loaded.lo, hi=loaded.hi,
                 newest=loaded.newest(), file=self.file, loaded=True, epoch=epoch)
        ctx.send(self.master, AssignOk(tablet, epoch))

    # --- reads and writes ----------------------------------------------------------------------

    def on_request(self, ctx: Context, src: str, msg: Request) -> None:
        tablet = self.tablets.get(msg.tablet)
        row = msg.args[0]
        if tablet is None or not self.may_serve(ctx) or not in_range(row, tablet.lo, tablet.hi):
            ctx.send(src, NotServing(msg.req))
        elif msg.f == "read":
            ctx.note("served", row=row, file=self.file)
            ctx.send(src, Reply(msg.req, tablet.read(row)))
        elif tablet.duplicate(src, msg.req):
            if tablet.requests[src][0] == msg.req:  # its answer was lost: answer again
                self.acknowledge(ctx, src, msg.req, tablet.requests[src][1], row)
        elif tablet.splitting:
            return  # the client tries again
        elif row in tablet.in_flight:  # one mutation of a row at a time: nudge it along
            ctx.send(self.gfs, AppendLog(tablet.name, tablet.in_flight[row], self.sync_commit))
        else:
            self.commit(ctx, tablet, self.mutation(tablet, src, msg))

    @staticmethod
    def mutation(tablet: Tablet, client: str, msg: Request) -> Mutation:
        """The log record of a write, delete or check-and-set, timestamped after every version
        this tablet has seen."""
        row = msg.args[0]
        tablet.counter += 1
        ts = (tablet.epoch, tablet.counter)
        match msg.f:
            case "write":
                return Mutation(client, msg.req, row, ts, msg.args[1])
            case "delete":
                return Mutation(client, msg.req, row, ts, None)
            case _:  # cas
                _, old, new = msg.args
                if tablet.read(row) == old:
                    return Mutation(client, msg.req, row, ts, new, True)
                return Mutation(client, msg.req, row, ts, None, False, writes=False)

    def commit(self, ctx: Context, tablet: Tablet, record: Mutation) -> None:
        tablet.in_flight[record.row] = record
        ctx.send(self.gfs, AppendLog(tablet.name, record, self.sync_commit))

    def on_logged(self, ctx: Context, name: str, position: int, record: Mutation) -> None:
        """The record is in the commit log (synced): apply it, and acknowledge it if I still
        hold my lock. A record apply refuses is a request its client has given up on (it
        has sent a later one since): it takes no effect, here or in a replay of the log, so
        it gets no acknowledgement."""
        tablet = self.tablets.get(name)
        if tablet is None or tablet.in_flight.get(record.row) != record:
            return
        del tablet.in_flight[record.row]
        applied = tablet.apply(position, record)
        if applied and record.writes and record.value is None:
            ctx.note("deleted", row=record.row, ts=record.ts)
        if applied and self.may_serve(ctx):
            self.acknowledge(ctx, record.client, record.req, record.answer, record.row, record)
        self.compact(ctx, tablet)

    def acknowledge(self, ctx: Context, client: str, req: int, answer: Any, row: str,
                    record: Mutation | None = None) -> None:
        ctx.note("served", row=row, file=self.file)
        if record is not None and record.writes:
            ctx.note("acked", row=row, ts=record.ts, value=record.value)
        ctx.send(client, Reply(req, answer))

    # --- compactions -------------------------------------------------------------------------

    def compact(self, ctx: Context, tablet: Tablet) -> None:
        """Minor compaction once the memtable is big enough and nothing is in the log pipeline
        (so the redo point covers exactly the memtable); a major one once SSTables pile up."""
        if tablet.storing or tablet.in_flight or tablet.splitting:
            return
        name = f"{tablet.name}@{tablet.epoch}.{tablet.counter}"
        if len(tablet.memtable) >= MEMTABLE_LIMIT:
            tablet.storing, tablet.merging = SSTable(name, tuple(sorted(tablet.memtable))), False
            requests = tuple(sorted((c, *request) for c, request in tablet.requests.items()))
            self.store(ctx, tablet, Compact(tablet.name, tablet.storing, tablet.applied, requests))
        elif len(tablet.sstables) >= MERGE_AT:
            cells = [c for s in tablet.sstables for c in s.cells]
            tablet.storing = SSTable(name + "+", major_merge(cells, tablet.lo, tablet.hi))
            tablet.merging = True
            self.store(ctx, tablet, Merge(tablet.name, tablet.storing,
                                          tuple(s.name for s in tablet.sstables)))

    def store(self, ctx: Context, tablet: Tablet, request: Compact | Merge) -> None:
        tablet.store_request = request
        ctx.send(self.gfs, request)
        ctx.set_timer("store", RETRY)

    def resend_stores(self, ctx: Context) -> None:
        """A compaction GFS has not confirmed is sent again (GFS applies each once): a lost
        message must not leave a tablet unable to compact or split for good."""
        waiting = [t for _, t in sorted(self.tablets.items()) if t.storing is not None]
        for tablet in waiting:
            ctx.send(self.gfs, tablet.store_request)
        if waiting:
            ctx.set_timer("store", RETRY)

    def on_stored(self, ctx: Context, name: str, stored: str) -> None:
        """GFS has the compaction's SSTable: use it in place of what it replaces."""
        tablet = self.tablets.get(name)
        if tablet is None or tablet.storing is None or tablet.storing.name != stored:
            return
        sstable, tablet.storing = tablet.storing, None
        if tablet.merging:
            tablet.sstables = [sstable]
            ctx.note("tablet-state", tablet=name, lo=tablet.lo, hi=tablet.hi,
                     newest=tablet.newest(), file=self.file, loaded=False, epoch=tablet.epoch)
        else:
            tablet.sstables.append(sstable)
            tablet.memtable = [c for c in tablet.memtable if c not in sstable.cells]
        self.compact(ctx, tablet)

    # --- splits --------------------------------------------------------------------------------

    def on_split(self, ctx: Context, name: str, key: str) -> None:
        """Split a tablet I serve; the master asks again until it hears that I did. When I
        already did, my SplitDone was lost: say it again (without it the master would go on
        locating rows in a tablet nobody serves)."""
        if name in self.split_into and self.may_serve(ctx):
            ctx.send(self.master, SplitDone(name, self.split_into[name], self.file, True))
            return
        tablet = self.tablets.get(name)
        if tablet is None or not self.may_serve(ctx) or tablet.in_flight or tablet.storing:
            return  # the master asks again
        tablet.splitting = True
        ctx.send(self.gfs, SplitTablet(name, key))

    def on_tablet_split(self, ctx: Context, name: str,
                        children: tuple[tuple[str, str, str | None], ...]) -> None:
        tablet = self.tablets.get(name)
        if tablet is None or not tablet.splitting:
            return
        del self.tablets[name]
        for child, lo, hi in children:
            self.tablets[child] = tablet.child(child, lo, hi)
        self.split_into[name] = children
        ctx.send(self.master, SplitDone(name, children, self.file, True))


# --- seeded bugs --------------------------------------------------------------------------------


class ServesWithoutLock(TabletServer):
    """Seeded bug `serves-without-lock`: the server trusts the lock it was granted until its
    session is declared lost, and so serves on through jeopardy, when its session lease has
    run out and Chubby may already have ended the session and let the master take the lock.

    Breaks: a tablet served by one server at a time. Cut off from Chubby, the server keeps
    answering while the master, having taken its lock file, has the tablet loaded elsewhere:
    two servers serve it, the old one serves stale reads and acknowledges writes the new one
    never sees. Caught by: one-server-per-row (and linearizable).
    Teaches: BigTable section 5.2: "a tablet server stops serving its tablets if it loses its
    exclusive lock" -- and it must assume the worst as soon as its lease runs out.
    """

    def may_serve(self, ctx: Context) -> bool:
        return self.generation is not None


class AckBeforeLogSync(TabletServer):
    """Seeded bug `ack-before-log-sync`: commit-log appends are acknowledged once written to
    GFS, before they are synced.

    Breaks: no acknowledged write lost. A GFS crash loses the unsynced tail of the log; the
    server still has the write in its memtable, but once the tablet moves (the server crashed
    or lost its lock), the new server's log replay does not have it.
    Caught by: acked-durable, at the acknowledgement; after the crash and a reassignment,
    no-acked-write-lost and linearizable.
    Teaches: BigTable section 5.3: an update is acknowledged once committed to the log; the
    group commit must reach stable storage first.
    """

    sync_commit = False
