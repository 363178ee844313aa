"""The chunkserver: replicas on disk with checksums, the primary that orders record appends,
the secondaries that apply them in its order, and reads."""

from __future__ import annotations

import zlib
from typing import Any

import attrs

from checker.node import Context, Node
from implementations.gfs.messages import (
    BLOCK,
    CHUNK_SIZE,
    HEARTBEAT,
    MASTER,
    PAD,
    AppendFailed,
    AppendOk,
    AppendRecord,
    ChunkCopy,
    ChunkData,
    ChunkFull,
    CloneChunk,
    CloneDone,
    DataReceived,
    DeleteChunk,
    Heartbeat,
    Lease,
    Mutation,
    MutationApplied,
    NewVersion,
    PushData,
    ReadChunk,
    ReadFailed,
    VersionOk,
)

# --- a chunk replica on disk -----------------------------------------------------------------


def checksums(data: str) -> tuple[int, ...]:
    return tuple(zlib.crc32(data[i:i + BLOCK].encode()) for i in range(0, len(data), BLOCK))


@attrs.frozen
class Replica:
    """One chunkserver's copy of a chunk, as stored: its version, its bytes, the serial number
    of the last mutation applied under this version, and a checksum per block."""

    version: int
    data: str = ""
    serial: int = 0
    sums: tuple[int, ...] = ()

    def write(self, offset: int, data: str, serial: int) -> Replica:
        """`data` at `offset` (a gap before it, left by a failed mutation, is padded)."""
        before = self.data[:offset].ljust(offset, PAD)
        new = before + data + self.data[offset + len(data):]
        return Replica(self.version, new, serial, checksums(new))

    def intact(self) -> bool:
        return checksums(self.data) == self.sums


@attrs.frozen
class LeaseHeld:
    version: int
    until: int
    secondaries: tuple[str, ...]


@attrs.define
class Pending:
    """An append the primary applied and forwarded, waiting for its secondaries."""

    client: str
    req: int
    offset: int
    waiting: set[str]


# --- the chunkserver -------------------------------------------------------------------------


class ChunkServer(Node):
    """Holds replicas on disk (`ctx.storage`, key `chunk:<handle>`); pushed data, leases and
    mutations waiting for their turn are volatile."""

    def on_start(self, ctx: Context) -> None:
        self.buffer: dict[tuple[str, int], str] = {}  # pushed data, by data id
        self.leases: dict[int, LeaseHeld] = {}
        self.pending: dict[tuple[int, int, int], Pending] = {}  # (handle, version, serial)
        self.held: dict[int, dict[int, tuple[str, Mutation]]] = {}  # handle -> serial -> ...
        self.heartbeat(ctx)

    def leads(self) -> bool:
        return bool(self.leases)

    def replica(self, ctx: Context, handle: int) -> Replica | None:
        return ctx.storage.get(f"chunk:{handle}")

    def store(self, ctx: Context, handle: int, replica: Replica | None) -> None:
        ctx.storage.put(f"chunk:{handle}", replica)

    def lease_valid(self, ctx: Context, handle: int) -> bool:
        lease = self.leases.get(handle)
        return lease is not None and ctx.truetime()[1] < lease.until

    def heartbeat(self, ctx: Context) -> None:
        held = sorted((int(key.split(":")[1]), replica.version)
                      for key, replica in ctx.storage.items().items() if replica is not None)
        ctx.send(MASTER, Heartbeat(tuple(held)))
        ctx.set_timer("heartbeat", HEARTBEAT)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "heartbeat":
            self.heartbeat(ctx)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case NewVersion(handle, version):
                self.on_new_version(ctx, handle, version)
            case Lease(handle, version, until, secondaries):
                replica = self.replica(ctx, handle)
                if replica is not None and replica.version == version:
                    self.leases[handle] = LeaseHeld(version, until, secondaries)
            case DeleteChunk(handle, version):
                replica = self.replica(ctx, handle)
                if replica is not None and replica.version <= version:
                    self.store(ctx, handle, None)
            case CloneChunk(handle, version, target):
                replica = self.replica(ctx, handle)
                if replica is not None and replica.version == version and replica.intact():
                    ctx.send(target, ChunkCopy(handle, version, replica.data, replica.sums))
            case ChunkCopy(handle, version, data, sums):
                self.on_chunk_copy(ctx, handle, Replica(version, data, 0, sums))
            case PushData(data_id, data):
                self.buffer[data_id] = data
                ctx.send(src, DataReceived(data_id))
            case AppendRecord():
                self.on_append(ctx, src, msg)
            case Mutation():
                self.on_mutation(ctx, src, msg)
            case MutationApplied(handle, version, serial):
                self.on_applied(ctx, src, (handle, version, serial))
            case ReadChunk(req, handle, version):
                self.on_read(ctx, src, req, handle, version)

    def on_new_version(self, ctx: Context, handle: int, version: int) -> None:
        """The master is about to grant a lease: take the new version (a new chunk starts at
        version 1), and forget a lease or mutations of an older one."""
        replica = self.replica(ctx, handle)
        if replica is None and version == 1:
            replica = Replica(0)
        if replica is None or replica.version > version:
            return
        if replica.version < version:
            self.store(ctx, handle, Replica(version, replica.data, 0, replica.sums))
            self.leases.pop(handle, None)
            self.held.pop(handle, None)
        ctx.send(MASTER, VersionOk(handle, version))

    def on_chunk_copy(self, ctx: Context, handle: int, copy: Replica) -> None:
        mine = self.replica(ctx, handle)
        if copy.intact() and (mine is None or mine.version <= copy.version):
            self.store(ctx, handle, copy)
            ctx.send(MASTER, CloneDone(handle, copy.version))

    # --- as primary -----------------------------------------------------------------------

    def on_append(self, ctx: Context, client: str, msg: AppendRecord) -> None:
        """Record append: the primary picks the offset (its end of the chunk) and the order."""
        replica = self.replica(ctx, msg.handle)
        lease = self.leases.get(msg.handle)
        if replica is None or lease is None or not self.lease_valid(ctx, msg.handle) \
                or lease.version != msg.version or replica.version != msg.version \
                or msg.data_id not in self.buffer:
            ctx.send(client, AppendFailed(msg.req))
            return
        record, offset = self.buffer[msg.data_id], len(replica.data)
        if offset + len(record) > CHUNK_SIZE:  # pad the chunk; the client tries the next
            if offset < CHUNK_SIZE:
                self.order(ctx, lease, Mutation(msg.handle, msg.version, replica.serial + 1,
                                                offset, None, CHUNK_SIZE - offset, lease.until))
            ctx.send(client, ChunkFull(msg.req))
            return
        mutation = Mutation(msg.handle, msg.version, replica.serial + 1, offset, msg.data_id, 0,
                            lease.until)
        self.pending[(msg.handle, msg.version, mutation.serial)] = Pending(
            client, msg.req, offset, set(lease.secondaries))
        self.order(ctx, lease, mutation)
        self.on_applied(ctx, self.id, (msg.handle, msg.version, mutation.serial))

    def order(self, ctx: Context, lease: LeaseHeld, mutation: Mutation) -> None:
        """Apply the mutation in serial order here, and forward it to every secondary."""
        self.apply(ctx, mutation, mutation.offset)
        for secondary in lease.secondaries:
            ctx.send(secondary, mutation)

    def on_applied(self, ctx: Context, src: str, key: tuple[int, int, int]) -> None:
        pending = self.pending.get(key)
        if pending is None:
            return
        pending.waiting.discard(src)
        if not pending.waiting:
            del self.pending[key]
            ctx.send(pending.client, AppendOk(pending.req, pending.offset))

    # --- as secondary ---------------------------------------------------------------------

    def on_mutation(self, ctx: Context, primary: str, mutation: Mutation) -> None:
        """Apply mutations in the primary's serial order: hold back one that arrives early."""
        replica = self.replica(ctx, mutation.handle)
        if replica is None or replica.version != mutation.version:
            return
        if mutation.serial <= replica.serial:  # already applied: a duplicate
            ctx.send(primary, MutationApplied(mutation.handle, mutation.version, mutation.serial))
            return
        held = self.held.setdefault(mutation.handle, {})
        held[mutation.serial] = (primary, mutation)
        while (nxt := held.get(replica.serial + 1)) is not None and self.ready(ctx, nxt[1]):
            primary, mutation = held.pop(replica.serial + 1)
            replica = self.apply(ctx, mutation, self.secondary_offset(mutation, replica))
            ctx.send(primary, MutationApplied(mutation.handle, mutation.version, mutation.serial))

    def ready(self, ctx: Context, mutation: Mutation) -> bool:
        """Its data has been pushed here, and the lease it was ordered under still runs."""
        return (mutation.data_id is None or mutation.data_id in self.buffer) \
            and ctx.truetime()[1] < mutation.until

    def secondary_offset(self, mutation: Mutation, replica: Replica) -> int:
        """Where a secondary writes: where the primary did."""
        return mutation.offset

    def apply(self, ctx: Context, mutation: Mutation, offset: int) -> Replica:
        replica = self.replica(ctx, mutation.handle)
        assert replica is not None
        data = PAD * mutation.padding if mutation.data_id is None else self.buffer[mutation.data_id]
        replica = replica.write(offset, data, mutation.serial)
        self.store(ctx, mutation.handle, replica)
        ctx.note("applied", handle=mutation.handle, version=mutation.version,
                 serial=mutation.serial, offset=mutation.offset, data_id=mutation.data_id)
        return replica

    # --- reads ----------------------------------------------------------------------------

    def on_read(self, ctx: Context, client: str, req: int, handle: int, version: int) -> None:
        replica = self.replica(ctx, handle)
        if replica is None or not self.serves(replica, version) or not replica.intact():
            ctx.send(client, ReadFailed(req))
            return
        ctx.note("served", handle=handle, version=replica.version, asked=version)
        ctx.send(client, ChunkData(req, replica.data))

    def serves(self, replica: Replica, version: int) -> bool:
        """Only the version the master named: a stale replica refuses."""
        return replica.version == version


# --- seeded bug ------------------------------------------------------------------------------


class SecondaryOwnOffset(ChunkServer):
    """Seeded bug: a secondary appends the record at its own end of the chunk.

    Breaks: a replica that missed a failed append is shorter than the primary; it then writes
    later records where its chunk ends, not at the offset the primary returned to the client.
    Caught by: appends-at-offset. Teaches: GFS section 3.3: the primary chooses the offset and
    tells the secondaries to write at that exact offset, which is what makes the appended
    region defined.
    """

    def secondary_offset(self, mutation: Mutation, replica: Replica) -> int:
        return len(replica.data)
