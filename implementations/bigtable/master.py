"""The master: assigns tablets to tablet servers, and takes them back from servers that lost
their lock.

BigTable section 5.2. "The master is responsible for detecting when a tablet server is no
longer serving its tablets ... The master periodically asks each tablet server for the status
of its lock. If a tablet server reports that it has lost its lock, or if the master was unable
to reach a server during its last several attempts, the master attempts to acquire an
exclusive lock on the server's file. If the master is able to acquire the lock, then Chubby is
live and the tablet server is either dead or having trouble reaching Chubby, so the master
ensures that the tablet server can never serve again by deleting its server file. Once a
server's file has been deleted, the master can move all the tablets that were previously
assigned to that server into the set of unassigned tablets."

Here the master keeps the lock it took for good, which is the deletion: nobody can hold that
file again, and its server's session (the only one that could) has expired. Every assignment
gets a new epoch, which the new server puts in the timestamps it writes, so its versions are
newer than any its predecessors logged. The tablet map (BigTable's METADATA table) is kept in
the master's durable storage rather than as a tablet of its own; the master is a single node
(the paper elects one with a Chubby lock), and clients ask it where a row lives.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context, Node
from implementations.bigtable.messages import (
    Assign,
    AssignOk,
    Locate,
    Location,
    Ping,
    Pong,
    Split,
    SplitDone,
)
from implementations.bigtable.storage import in_range
from implementations.chubby import NO_BALLOT, NO_SESSION, Acquire, ChubbyLibrary

TICK = 200  # the master pings servers, and retries what is unfinished, this often
SUSPECT = 500  # a server not heard holding its lock for this long is suspected dead

Entry = tuple[str, str | None, str | None, int]  # lo, hi, lock file of its server, epoch


def server_of(file: str) -> str:
    """The tablet server whose lock file this is: servers/<server>.<session>."""
    return file.removeprefix("servers/").rsplit(".", 1)[0]


class Master(ChubbyLibrary, Node):
    def __init__(self, node_id: str, replicas: tuple[str, ...], servers: tuple[str, ...],
                 tablets: tuple[tuple[str, str, str | None], ...], split_key: str | None) -> None:
        super().__init__(node_id)
        self.replicas, self.servers = replicas, servers
        self.initial, self.split_key = tablets, split_key

    def on_start(self, ctx: Context) -> None:
        initial = {name: (lo, hi, None, 0) for name, lo, hi in self.initial}
        self.tablets: dict[str, Entry] = dict(ctx.storage.get("tablets", initial))
        self.live: list[str] = list(ctx.storage.get("live", []))  # lock files of servers
        self.epochs: int = ctx.storage.get("epochs", 0)
        self.heard: dict[str, int] = {}  # file -> when its server last said it holds it
        self.booted = ctx.now()
        self.confirmed: dict[str, int] = {}  # tablet -> epoch its server reports loaded
        self.start_library(ctx)
        ctx.set_timer("tick", TICK)

    def save(self, ctx: Context) -> None:
        ctx.storage.put("tablets", dict(self.tablets))
        ctx.storage.put("live", list(self.live))
        ctx.storage.put("epochs", self.epochs)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Pong(file, serving):
                self.on_pong(ctx, file, serving)
            case AssignOk(tablet, epoch) if self.tablets.get(tablet, (0, 0, 0, -1))[3] == epoch:
                self.confirmed[tablet] = epoch
            case SplitDone():
                self.on_split_done(ctx, msg)
            case Locate(row):
                ctx.send(src, self.locate(row))
            case _:
                self.on_library_message(ctx, src, msg)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "tick":
            self.tick(ctx)
            ctx.set_timer("tick", TICK)
        else:
            self.on_library_timer(ctx, name)

    def tick(self, ctx: Context) -> None:
        for server in self.servers:
            ctx.send(server, Ping())
        suspects = [f for f in self.live if self.suspected(ctx, f)]
        if suspects and self.request is None:
            self.call(ctx, Acquire(NO_SESSION, NO_BALLOT, 0, suspects[0]))
        for tablet, (lo, hi, file, epoch) in sorted(self.tablets.items()):
            if file is None:
                continue
            if self.confirmed.get(tablet) != epoch:
                ctx.send(server_of(file), Assign(tablet, file, epoch))
            elif self.split_key is not None and lo < self.split_key \
                    and in_range(self.split_key, lo, hi):
                ctx.send(server_of(file), Split(tablet, self.split_key))
        self.assign(ctx)

    def suspected(self, ctx: Context, file: str) -> bool:
        return ctx.now() - self.heard.get(file, self.booted) > SUSPECT

    # --- servers and their locks ---------------------------------------------------------------

    def on_pong(self, ctx: Context, file: str, serving: bool) -> None:
        """A server holding its lock file: a live server, known from now on."""
        if not serving:
            return
        self.heard[file] = ctx.now()
        if file not in self.live:
            self.live.append(file)
            self.save(ctx)
            self.assign(ctx)

    def answered(self, ctx: Context, request: Any, reply: Any) -> None:
        """I hold the suspect's lock: its session is over, so it stopped serving. Its file is
        as good as deleted; its tablets are unassigned."""
        dead = request.name
        if reply.result is None or dead not in self.live:
            return  # its session still runs: ask again next tick
        self.live.remove(dead)
        for tablet, (lo, hi, file, _) in sorted(self.tablets.items()):
            if file == dead:
                self.tablets[tablet] = (lo, hi, None, 0)
        self.save(ctx)
        self.assign(ctx)

    def gave_up(self, ctx: Context, request: Any) -> None:
        """Chubby did not answer: the next tick asks again."""

    def session_ready(self, ctx: Context) -> None:
        """Nothing to do: locks are taken at the next tick."""

    def session_lost(self, ctx: Context) -> None:
        """The locks I took go with my session; their files' sessions are over for good."""

    # --- tablets -----------------------------------------------------------------------------

    def assign(self, ctx: Context) -> None:
        """Give each unassigned tablet to the live server with fewest tablets."""
        fresh = [f for f in self.live if not self.suspected(ctx, f)]
        for tablet, (lo, hi, file, _) in sorted(self.tablets.items()):
            if file is not None or not fresh:
                continue
            load = {f: sum(e[2] == f for e in self.tablets.values()) for f in fresh}
            chosen = min(fresh, key=lambda f: (load[f], f))
            self.epochs += 1
            self.tablets[tablet] = (lo, hi, chosen, self.epochs)
            self.save(ctx)
            ctx.send(server_of(chosen), Assign(tablet, chosen, self.epochs))

    def on_split_done(self, ctx: Context, msg: SplitDone) -> None:
        """Record the split in the tablet map: the children stay with the server that split
        them, or are assigned afresh if it found the split done on loading."""
        entry = self.tablets.get(msg.tablet)
        if entry is None or entry[2] != msg.file:
            return
        del self.tablets[msg.tablet]
        for child, lo, hi in msg.children:
            if msg.serving:
                self.tablets[child] = (lo, hi, msg.file, entry[3])
                self.confirmed[child] = entry[3]
            else:
                self.tablets[child] = (lo, hi, None, 0)
        self.save(ctx)
        self.assign(ctx)

    def locate(self, row: str) -> Location:
        for tablet, (lo, hi, file, epoch) in sorted(self.tablets.items()):
            if in_range(row, lo, hi):
                serving = file is not None and self.confirmed.get(tablet) == epoch
                return Location(row, tablet, lo, hi, server_of(file) if serving else None)
        raise LookupError(f"no tablet holds row {row!r}")
