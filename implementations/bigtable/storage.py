"""A tablet's storage: commit log, memtable and immutable SSTables, on a shared file system.

BigTable section 5.3. Updates are committed to a commit log; recent ones live in memory in the
*memtable*, older ones in a sequence of immutable *SSTables*. A read merges the memtable and
the SSTables. A *minor compaction* writes the memtable as a new SSTable and moves the log's
*redo point* past it; a *merging compaction* rewrites several SSTables as one, and a merge of
all of them (a *major* compaction) drops the deletion entries and the data they shadow.

GFS is modelled as one durable storage node (`gfs`): it keeps, per tablet, the SSTables, the
log after the redo point and the split record, and syncs a log append before answering (the
group commit's fsync). That is all BigTable asks of it here: a durable place every tablet
server can read.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node

GFS_NODE = "gfs"
Timestamp = tuple[int, int]  # (assignment epoch, counter): a later owner writes later versions
Cell = tuple[str, Timestamp, Any]  # (row, timestamp, value); value None is a tombstone


@attrs.frozen
class Mutation:
    """A commit-log record: `client`'s request `req` on `row`. It writes the version
    (`ts`, `value`) unless `writes` is False (a check-and-set that failed: logged only so that
    a retry of it gets the same answer). `answer` is what the client is told."""

    client: str
    req: int
    row: str
    ts: Timestamp
    value: Any
    answer: Any = None
    writes: bool = True


@attrs.frozen
class SSTable:
    """An immutable sorted file of cells, named uniquely by its writer."""

    name: str
    cells: tuple[Cell, ...]


@attrs.frozen
class TabletFiles:
    """What GFS holds of a tablet: rows [lo, hi) (hi None: to the end), its SSTables, its log
    after the redo point as (position, record), each client's last request as of the redo
    point, and, once split, its two children."""

    lo: str
    hi: str | None
    sstables: tuple[SSTable, ...] = ()
    log: tuple[tuple[int, Mutation], ...] = ()
    requests: tuple[tuple[str, int, Any, Timestamp], ...] = ()  # (client, req, answer, ts)
    split_into: tuple[tuple[str, str, str | None], ...] = ()  # (name, lo, hi) of each child


def in_range(row: str, lo: str, hi: str | None) -> bool:
    return lo <= row and (hi is None or row < hi)


def newest_version(cells: list[Cell], row: str) -> tuple[Timestamp, Any] | None:
    """Merge every level's versions of `row`: the newest wins (a tombstone hides the row)."""
    found = [(ts, value) for r, ts, value in cells if r == row]
    return max(found, key=lambda v: v[0]) if found else None


def major_merge(cells: list[Cell], lo: str, hi: str | None) -> tuple[Cell, ...]:
    """Merge all of a tablet's SSTables into one: drop each row's tombstones and every version
    they shadow (safe only because no other SSTable of the tablet remains to hold older data)."""
    merged: list[Cell] = []
    for row in sorted({r for r, _, _ in cells if in_range(r, lo, hi)}):
        row_cells = sorted({(ts, value) for r, ts, value in cells if r == row})
        deleted = [ts for ts, value in row_cells if value is None]
        merged += [(row, ts, value) for ts, value in row_cells
                   if value is not None and (not deleted or ts > max(deleted))]
    return tuple(merged)


# --- GFS: the shared durable store --------------------------------------------------------------


@attrs.frozen
class AppendLog:
    """Append `record` to the tablet's commit log; with `sync`, fsync before answering."""

    tablet: str
    record: Mutation
    sync: bool = True


@attrs.frozen
class LogAppended:
    tablet: str
    position: int
    record: Mutation


@attrs.frozen
class Load:
    tablet: str


@attrs.frozen
class Loaded:
    tablet: str
    files: TabletFiles | None


@attrs.frozen
class Compact:
    """A minor compaction: add `sstable` and drop the log up to `redo`; `requests` are the
    clients' last requests it covers."""

    tablet: str
    sstable: SSTable
    redo: int
    requests: tuple[tuple[str, int, Any, Timestamp], ...]


@attrs.frozen
class Merge:
    """A merging compaction: `merged` replaces the SSTables named `replaced`."""

    tablet: str
    merged: SSTable
    replaced: tuple[str, ...]


@attrs.frozen
class Stored:
    """The answer to Compact and Merge: `sstable` is in the tablet's files."""

    tablet: str
    sstable: str


@attrs.frozen
class SplitTablet:
    tablet: str
    key: str


@attrs.frozen
class TabletSplit:
    tablet: str
    children: tuple[tuple[str, str, str | None], ...]


class GFS(Node):
    """The shared file system, as one durable node. Every change but a log append is synced
    at once; a log append is synced when its writer asks (`AppendLog.sync`)."""

    def __init__(self, node_id: str, tablets: tuple[tuple[str, str, str | None], ...]) -> None:
        super().__init__(node_id)
        self.initial = tablets

    def on_start(self, ctx: Context) -> None:
        for name, lo, hi in self.initial:
            if ctx.storage.get(f"tablet/{name}") is None:
                ctx.storage.put(f"tablet/{name}", TabletFiles(lo, hi))

    def on_recover(self, ctx: Context) -> None:
        """Everything is in storage."""

    def files(self, ctx: Context, tablet: str) -> TabletFiles | None:
        return ctx.storage.get(f"tablet/{tablet}")

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case AppendLog(tablet, record, sync):
                self.append(ctx, src, tablet, record, sync)
            case Load(tablet):
                ctx.send(src, Loaded(tablet, self.files(ctx, tablet)))
            case Compact(tablet, sstable, redo, requests):
                files = self.files(ctx, tablet)
                if sstable.name not in [s.name for s in files.sstables]:
                    log = tuple((p, r) for p, r in files.log if p > redo)
                    ctx.storage.put(f"tablet/{tablet}", attrs.evolve(
                        files, sstables=(*files.sstables, sstable), log=log, requests=requests))
                ctx.send(src, Stored(tablet, sstable.name))
            case Merge(tablet, merged, replaced):
                files = self.files(ctx, tablet)
                names = [s.name for s in files.sstables]
                if all(name in names for name in replaced):
                    kept = tuple(s for s in files.sstables if s.name not in replaced)
                    ctx.storage.put(f"tablet/{tablet}",
                                    attrs.evolve(files, sstables=(merged, *kept)))
                ctx.send(src, Stored(tablet, merged.name))
            case SplitTablet(tablet, key):
                ctx.send(src, TabletSplit(tablet, self.split(ctx, tablet, key)))

    def append(self, ctx: Context, src: str, tablet: str, record: Mutation, sync: bool) -> None:
        """A retried record is appended once. A record for a tablet since split goes to the
        child holding its row."""
        files = self.files(ctx, tablet)
        for name, lo, hi in files.split_into:
            if in_range(record.row, lo, hi):
                tablet, files = name, self.files(ctx, name)
        position = next((p for p, r in files.log if r == record), None)
        if position is None:
            position = ctx.storage.get("positions", 0) + 1
            ctx.storage.put("positions", position)
            ctx.storage.put(f"tablet/{tablet}",
                            attrs.evolve(files, log=(*files.log, (position, record))),
                            synced=False)
            ctx.note("logged", tablet=tablet, row=record.row, ts=record.ts, value=record.value,
                     writes=record.writes)
        if sync:
            ctx.storage.sync()
        ctx.send(src, LogAppended(tablet, position, record))

    def split(self, ctx: Context, tablet: str, key: str) -> tuple[tuple[str, str, str | None],
                                                                  ...]:
        """Split at `key`: each child shares the parent's SSTables (reads keep to its rows) and
        takes the parent's log records of its rows. Done once; a retry gets the same answer."""
        files = self.files(ctx, tablet)
        if files.split_into:
            return files.split_into
        children = ((f"{tablet}<{key}", files.lo, key), (f"{tablet}>={key}", key, files.hi))
        for name, lo, hi in children:
            ctx.storage.put(f"tablet/{name}", attrs.evolve(files, lo=lo, hi=hi,
                                                          log=self.child_log(files, lo, hi)))
        ctx.storage.put(f"tablet/{tablet}", attrs.evolve(files, split_into=children))
        return children

    @staticmethod
    def child_log(files: TabletFiles, lo: str, hi: str | None) -> tuple[tuple[int, Mutation],
                                                                        ...]:
        """The parent's commit log after its redo point, for the child's rows: what is not
        yet in any SSTable, which the child's recovery must replay."""
        return tuple((p, r) for p, r in files.log if in_range(r.row, lo, hi))


# --- seeded bugs --------------------------------------------------------------------------------


class SplitLeavesLog(GFS):
    """Seeded bug `split-drops-log`: a split gives each child the parent's SSTables and
    nothing of its commit log, as if the data were all in SSTables.

    Breaks: acknowledged mutations are durable. What the parent's server logged since its
    last minor compaction lives only in its memtable and in the parent's log, which no
    recovery reads once the tablet is split. The server goes on serving the children from
    memory, so reads look right; a crash now, and the next server's recovery, would lose
    them. Caught by: acked-durable, at the split (long after each acknowledgement).
    Teaches: BigTable sections 5.3–5.4: a tablet's state is its SSTables plus the log after
    its redo point; a split must hand both on.
    """

    @staticmethod
    def child_log(files: TabletFiles, lo: str, hi: str | None) -> tuple[tuple[int, Mutation],
                                                                        ...]:
        return ()
