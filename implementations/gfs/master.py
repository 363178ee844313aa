"""The master: namespace, chunk versions and replicas, leases, stale-replica detection and
re-replication."""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.gfs.messages import (
    DEAD,
    GRANT_TIMEOUT,
    LEASE,
    MAX_CHUNKS,
    NEVER,
    PATH,
    REPLICAS,
    SCAN,
    CloneChunk,
    CloneDone,
    DeleteChunk,
    FileFull,
    FindPrimary,
    FindReplicas,
    Heartbeat,
    Lease,
    NewVersion,
    PrimaryIs,
    ReplicasAre,
    TryLater,
    VersionOk,
)

# --- the master ------------------------------------------------------------------------------


@attrs.define
class Grant:
    """A lease being granted: the new version, the replicas told, those that took it, and the
    clients waiting for the primary."""

    version: int
    told: list[str]
    clients: list[tuple[str, int]]
    took: set[str] = attrs.Factory(set)


class Master(Node):
    """Durable: the namespace (how many chunks `/log` has; chunk handle i is chunk index i),
    each chunk's version, its replicas (those that took the version of its latest lease, plus
    clones made since), and whether a version bump is under way (`bumping:<h>`: no lease was
    issued at the new version yet, so replicas one version behind are still current).
    Liveness and leases are volatile: after a restart the master hears from chunkservers
    again, and grants no lease until one it may have granted has surely run out.

    The paper's master does not persist replica locations but asks chunkservers at startup;
    it keeps the version instead. Here the replica set is kept too, because a replica can take
    a new version too late to be named in the lease: it holds the current version but misses
    the lease's appends, and only the replica set tells it apart."""

    def on_start(self, ctx: Context) -> None:
        self.chunks: int = ctx.storage.get(PATH, 0)
        self.version = {h: ctx.storage.get(f"version:{h}", 0) for h in range(self.chunks)}
        self.replicas = {h: list(ctx.storage.get(f"replicas:{h}", ())) for h in range(self.chunks)}
        self.lease_until: dict[int, float] = dict.fromkeys(range(self.chunks), NEVER)
        self.primary: dict[int, str] = {}
        self.secondaries: dict[int, tuple[str, ...]] = {}
        self.granting: dict[int, Grant] = {}
        self.cloning: dict[int, int] = {}  # handle -> when a clone was asked for
        self.heard: dict[str, int] = {}  # chunkserver -> when it last sent a heartbeat
        ctx.set_timer("scan", SCAN)

    def on_recover(self, ctx: Context) -> None:
        self.on_start(ctx)
        self.lease_until = dict.fromkeys(range(self.chunks), ctx.truetime()[1] + LEASE)

    def alive(self, ctx: Context, server: str) -> bool:
        return ctx.now() - self.heard.get(server, NEVER) <= DEAD

    def bumping(self, ctx: Context, handle: int) -> bool:
        return ctx.storage.get(f"bumping:{handle}", False)

    def lease_running(self, ctx: Context, handle: int) -> bool:
        """Whether a lease granted on the chunk may still run, by the master's TrueTime."""
        return ctx.truetime()[0] <= self.lease_until[handle]

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Heartbeat(chunks):
                self.heard[src] = ctx.now()
                for handle, version in chunks:
                    self.on_report(ctx, src, handle, version)
            case VersionOk(handle, version):
                self.on_version_ok(ctx, src, handle, version)
            case CloneDone(handle, version):
                if version == self.version.get(handle) and src not in self.replicas[handle]:
                    self.set_replicas(ctx, handle, [*self.replicas[handle], src])
                self.cloning.pop(handle, None)
            case FindPrimary(req, index):
                self.on_find_primary(ctx, src, req, index)
            case FindReplicas(req, index):
                self.on_find_replicas(ctx, src, req, index)

    def set_replicas(self, ctx: Context, handle: int, replicas: list[str]) -> None:
        self.replicas[handle] = replicas
        ctx.storage.put(f"replicas:{handle}", tuple(replicas))

    def on_report(self, ctx: Context, server: str, handle: int, version: int) -> None:
        """Detect stale copies by their version, and tell them to go. A copy at the current
        version that is not a replica took the version too late to be in the lease: it is
        never named, and the next version bump makes it stale.

        A replica is never stale by its report: it took the version of the latest lease (or
        was cloned since), and a copy's version only grows, so a replica reporting an older
        version is either behind a bump under way (nobody took it yet: bring it up) or the
        report is older than its VersionOk, overtaken on the way (ignore it). A replica that
        misses a bump stops being one when the lease is granted without it."""
        member = server in self.replicas.get(handle, ())
        current = self.version.get(handle, version + 1)
        if version == current:
            return
        if member and version < current:
            if self.bumping(ctx, handle) and handle not in self.granting:
                ctx.send(server, NewVersion(handle, current))  # not stale: bring it up
            return
        if member:
            self.set_replicas(ctx, handle, [r for r in self.replicas[handle] if r != server])
        ctx.send(server, DeleteChunk(handle, version))

    def on_version_ok(self, ctx: Context, server: str, handle: int, version: int) -> None:
        grant = self.granting.get(handle)
        if grant is None or version != grant.version or server not in grant.told:
            return
        grant.took.add(server)
        if len(grant.took) == len(grant.told):
            self.finish_grant(ctx, handle)

    # --- leases ---------------------------------------------------------------------------

    def on_find_primary(self, ctx: Context, client: str, req: int, index: int) -> None:
        if index >= MAX_CHUNKS:
            ctx.send(client, FileFull(req))
            return
        if index == self.chunks:
            self.create_chunk(ctx)
        if index >= self.chunks:
            ctx.send(client, TryLater(req))
        elif index in self.granting:
            self.granting[index].clients.append((client, req))
        elif self.lease_running(ctx, index):
            self.tell_primary(ctx, client, req, index)
        else:
            self.grant(ctx, index, [(client, req)])

    def create_chunk(self, ctx: Context) -> None:
        """A new chunk on three live chunkservers, at version 0: its first lease makes it."""
        live = [s for s in sorted(self.heard) if self.alive(ctx, s)]
        if not live:
            return
        handle = self.chunks
        self.chunks += 1
        ctx.storage.put(PATH, self.chunks)
        ctx.storage.put(f"version:{handle}", 0)
        self.version[handle], self.lease_until[handle] = 0, NEVER
        self.set_replicas(ctx, handle, ctx.random.sample(live, min(REPLICAS, len(live))))

    def grant(self, ctx: Context, handle: int, clients: list[tuple[str, int]]) -> None:
        """Raise the chunk's version (durably, before telling anyone) and tell every live
        replica; the lease goes out once they all took it, or GRANT_TIMEOUT passed. A bump
        nobody took is asked for again at the same version: no lease ran at it, so no
        mutation tells its takers apart (and a new chunk stays creatable at version 1)."""
        told = [r for r in self.replicas[handle] if self.alive(ctx, r)]
        if not told:
            for client, req in clients:
                ctx.send(client, TryLater(req))
            return
        version = self.version[handle] + (0 if self.bumping(ctx, handle) else 1)
        self.record_version(ctx, handle, version)
        ctx.storage.put(f"bumping:{handle}", True)
        self.version[handle] = version
        self.granting[handle] = Grant(version, told, clients)
        for replica in told:
            ctx.send(replica, NewVersion(handle, version))
        ctx.set_timer(f"grant:{handle}", GRANT_TIMEOUT)

    def record_version(self, ctx: Context, handle: int, version: int) -> None:
        """On disk before any replica hears of it (GFS section 4.5): a master that restarted
        behind its replicas would take their copies for stale."""
        ctx.storage.put(f"version:{handle}", version)

    def finish_grant(self, ctx: Context, handle: int) -> None:
        """Replicas that did not take the new version are stale from now on; one that did
        becomes primary, until earliest(now) + LEASE of true time."""
        grant = self.granting.pop(handle)
        ctx.cancel_timer(f"grant:{handle}")
        current = [r for r in grant.told if r in grant.took]
        if not current:  # nobody took it: still bumping, the replicas are still current
            for client, req in grant.clients:
                ctx.send(client, TryLater(req))
            return
        self.set_replicas(ctx, handle, current)
        ctx.storage.put(f"bumping:{handle}", False)
        if not grant.clients:  # a bump settled between leases: nobody waits for a primary
            return
        primary, secondaries = current[0], tuple(current[1:])
        until = ctx.truetime()[0] + LEASE
        self.lease_until[handle], self.primary[handle] = until, primary
        self.secondaries[handle] = secondaries
        ctx.note("lease", handle=handle, version=grant.version, primary=primary, until=until)
        ctx.send(primary, Lease(handle, grant.version, until, secondaries))
        for client, req in grant.clients:
            self.tell_primary(ctx, client, req, handle)

    def tell_primary(self, ctx: Context, client: str, req: int, handle: int) -> None:
        if handle not in self.primary:  # a lease from before my restart may run: wait
            ctx.send(client, TryLater(req))
            return
        ctx.send(client, PrimaryIs(req, handle, self.version[handle], self.primary[handle],
                                   self.secondaries[handle]))

    def on_find_replicas(self, ctx: Context, client: str, req: int, index: int) -> None:
        if index >= self.chunks:
            ctx.send(client, ReplicasAre(req, None, 0, ()))
            return
        live = tuple(r for r in self.replicas[index] if self.alive(ctx, r))
        ctx.note("named", handle=index, replicas=live)
        ctx.send(client, ReplicasAre(req, index, self.version[index], live) if live
                 else TryLater(req))

    # --- timers: grant timeouts and re-replication ----------------------------------------

    def on_timer(self, ctx: Context, name: str) -> None:
        if name.startswith("grant:"):
            self.finish_grant(ctx, int(name.split(":")[1]))
        elif name == "scan":
            for handle in range(self.chunks):
                self.re_replicate(ctx, handle)
            ctx.set_timer("scan", SCAN)

    def re_replicate(self, ctx: Context, handle: int) -> None:
        """Between leases, copy a chunk with fewer than three live replicas to another live
        chunkserver (one clone at a time per chunk). A version bump nobody took is settled
        first: with no client waiting, nothing else would ever end it."""
        if handle in self.granting or self.lease_running(ctx, handle):
            return
        if self.bumping(ctx, handle):
            self.grant(ctx, handle, [])  # no client waits: the replicas, without a lease
            return
        if ctx.now() - self.cloning.get(handle, NEVER) <= GRANT_TIMEOUT:
            return
        live = [r for r in self.replicas[handle] if self.alive(ctx, r)]
        spare = [s for s in sorted(self.heard)
                 if self.alive(ctx, s) and s not in self.replicas[handle]]
        if live and spare and self.under_replicated(handle, live):
            self.cloning[handle] = ctx.now()
            ctx.send(live[0], CloneChunk(handle, self.version[handle], spare[0]))


    def under_replicated(self, handle: int, live: list[str]) -> bool:
        """Fewer live replicas than the goal: whether replicas died or dropped out as stale."""
        return len(live) < REPLICAS


# --- seeded bugs ------------------------------------------------------------------------------


class RegrantUnreachable(Master):
    """Seeded bug: the master treats a lease as over once its primary stops heartbeating.

    Breaks: at most one unexpired lease per chunk: a primary cut off from the master (but not
    from its clients) still trusts its lease when the master grants another; two primaries
    order appends independently and the replicas diverge.
    Caught by: one-lease-per-chunk. Teaches: GFS section 3.1: a master that loses touch with
    a primary must wait for the lease to expire before granting a new one.
    """

    def lease_running(self, ctx: Context, handle: int) -> bool:
        primary = self.primary.get(handle)
        return super().lease_running(ctx, handle) and (primary is None
                                                       or self.alive(ctx, primary))


class VersionLoggedLazily(Master):
    """Seeded bug: the master writes a chunk's new version to its log without forcing it to
    disk, and tells the replicas at once (the write reaches the disk with some later flush,
    or never, if the master crashes first).

    Breaks: the master's version is the authority on which copies are current: for as long
    as the bump is only in the page cache, replicas hold a version a crash would take from
    the master. Restarted, this master would find them ahead, call them stale and delete
    them, acknowledged appends and all (the paper's master instead adopts a higher version it
    is shown, assuming it failed while granting).
    Caught by: chunk-versions. Teaches: GFS section 4.5: the master and the replicas record
    the new version in their persistent state before any client is told of the lease.
    """

    def record_version(self, ctx: Context, handle: int, version: int) -> None:
        ctx.storage.put(f"version:{handle}", version, synced=False)


class ReplaceOnlyDead(Master):
    """Seeded bug: re-replication replaces replicas that died, counting against the replica
    set on record rather than the replication goal.

    Breaks: a replica that drops out of the set (it missed a version bump: stale) or a chunk
    created while fewer than three chunkservers were up is never brought back to three
    copies: the chunk lives on two, or one, for good.
    Caught by: progress-at-quiescence. Teaches: GFS section 4.3: the master re-replicates as
    soon as the number of available replicas falls below the goal, whatever the cause; stale
    replicas count as lost (section 4.5).
    """

    def under_replicated(self, handle: int, live: list[str]) -> bool:
        return len(live) < len(self.replicas[handle])
