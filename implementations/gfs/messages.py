"""GFS messages, and the constants of the protocol every part shares."""

from __future__ import annotations

import attrs

PATH = "/log"
CHUNK_SIZE = 20  # bytes: three six-byte records, then padding
BLOCK = 8  # bytes per checksum block
MAX_CHUNKS = 3
REPLICAS = 3
PAD = "_"
LEASE = 600  # ticks of true time a lease lasts
HEARTBEAT = 100  # chunkservers report their chunks this often
DEAD = 150  # the master deems a chunkserver down after this long without a heartbeat
GRANT_TIMEOUT = 100  # the master waits this long for replicas to take a new version
SCAN = 100  # the master looks for chunks to re-replicate this often
CLIENT_TIMEOUT = 200  # a client retries an operation after this long without an answer
CLIENT_BACKOFF = 100  # a client told to try later waits this long
CLIENT_ATTEMPTS = 6  # tries for one operation before giving up
REPLICATION_POLL = 400  # the ending's `replicated` asks the master again this much later
REPLICATION_POLLS = 10  # and this often at most
NEVER = float("-inf")
MASTER = "master"

# --- messages --------------------------------------------------------------------------------


@attrs.frozen
class Heartbeat:
    """A chunkserver's report: (handle, version) of every chunk it holds."""

    chunks: tuple[tuple[int, int], ...]


@attrs.frozen
class NewVersion:
    handle: int
    version: int


@attrs.frozen
class VersionOk:
    handle: int
    version: int


@attrs.frozen
class Lease:
    """The lease on a chunk, to the primary, until `until` of true time."""

    handle: int
    version: int
    until: int
    secondaries: tuple[str, ...]


@attrs.frozen
class DeleteChunk:
    """Your copy is stale: delete it (if it is still at `version` or older)."""

    handle: int
    version: int


@attrs.frozen
class CloneChunk:
    handle: int
    version: int
    target: str


@attrs.frozen
class ChunkCopy:
    handle: int
    version: int
    data: str
    checksums: tuple[int, ...]


@attrs.frozen
class CloneDone:
    handle: int
    version: int


@attrs.frozen
class FindPrimary:
    req: int
    index: int


@attrs.frozen
class PrimaryIs:
    req: int
    handle: int
    version: int
    primary: str
    secondaries: tuple[str, ...]


@attrs.frozen
class FindReplicas:
    req: int
    index: int


@attrs.frozen
class ReplicasAre:
    req: int
    handle: int | None  # None: the file has no such chunk
    version: int
    replicas: tuple[str, ...]


@attrs.frozen
class TryLater:
    req: int


@attrs.frozen
class FileFull:
    req: int


@attrs.frozen
class PushData:
    data_id: tuple[str, int]  # (client, req)
    data: str


@attrs.frozen
class DataReceived:
    data_id: tuple[str, int]


@attrs.frozen
class AppendRecord:
    req: int
    handle: int
    version: int
    data_id: tuple[str, int]


@attrs.frozen
class Mutation:
    """A mutation as the primary ordered it: write the pushed data (or `padding` bytes of
    padding) at `offset`, as the `serial`-th mutation under the lease that runs until
    `until`."""

    handle: int
    version: int
    serial: int
    offset: int
    data_id: tuple[str, int] | None
    padding: int
    until: int


@attrs.frozen
class MutationApplied:
    handle: int
    version: int
    serial: int


@attrs.frozen
class AppendOk:
    req: int
    offset: int


@attrs.frozen
class ChunkFull:
    req: int


@attrs.frozen
class AppendFailed:
    req: int


@attrs.frozen
class ReadChunk:
    req: int
    handle: int
    version: int


@attrs.frozen
class ChunkData:
    req: int
    data: str


@attrs.frozen
class ReadFailed:
    req: int
