"""The catalog: for each table, the location of its current metadata file.

Swapping that pointer with compare-and-swap is the commit point of every Iceberg write: the
new metadata file is written first, then `CommitTable(base, new)` succeeds only if the pointer
still names `base`, the metadata the writer started from. A writer whose swap fails refreshes
and tries again; one whose swap succeeds has committed, whether or not it hears so.

The catalog also refuses a swap that arrives after the writer's deadline. Iceberg leaves this
implicit: removing orphan files is safe only if no write runs longer than the age the removal
spares (`older_than`); the deadline makes "no commit lands later than that" a fact the commit
point enforces, however long a request was delayed in the network.

`create_table` writes the table as it stands before a run: its first metadata file and one
snapshot of data files.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.iceberg.messages import (
    CommitTable,
    Committed,
    Conflict,
    LoadTable,
    Refused,
    SetPointer,
    TableLoaded,
)
from implementations.iceberg.metadata import (
    ADDED,
    DATA_MANIFEST,
    LOCATION,
    TABLE,
    add_snapshot,
    data_file,
    dumps,
    entry,
    manifest,
    manifest_list_entry,
    new_table,
    summary,
)


@attrs.frozen
class Creation:
    """The table before the run: its metadata location, snapshot and rows."""

    location: str
    snapshot_id: int
    rows: tuple
    files: dict = attrs.field(repr=False)


class Catalog(Node):
    def __init__(self, node_id: str, creation: Creation) -> None:
        super().__init__(node_id)
        self.creation = creation

    def on_start(self, ctx: Context) -> None:
        created = self.creation
        ctx.storage.put(f"pointer/{TABLE}", created.location)
        ctx.note("created", table=TABLE, location=created.location,
                 snapshot_id=created.snapshot_id, rows=created.rows)
        self.on_recover(ctx)

    def on_recover(self, ctx: Context) -> None:
        self.pointer = ctx.storage.get(f"pointer/{TABLE}")

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case LoadTable(req):
                ctx.send(src, TableLoaded(req, self.pointer))
            case CommitTable(req, _, base, new, deadline):
                ctx.send(src, self.swap(ctx, req, base, new, deadline))
            case SetPointer(req, _, new):
                self.set(ctx, new)
                ctx.send(src, Committed(req))

    def swap(self, ctx: Context, req: tuple, base: str, new: str,
             deadline: int) -> Committed | Conflict | Refused:
        if ctx.now() > deadline:
            return Refused(req)
        if self.pointer != base:
            return Conflict(req, self.pointer)
        self.set(ctx, new)
        return Committed(req)

    def set(self, ctx: Context, location: str) -> None:
        self.pointer = location
        ctx.storage.put(f"pointer/{TABLE}", location)


def create_table(uuid: str, snapshot_id: int, files_rows: list[list[dict]]) -> Creation:
    """The table's first metadata file and one appended snapshot holding `files_rows`."""
    files: dict[str, str] = {}

    def write(path: str, document: Any) -> int:
        files[path] = dumps(document)
        return len(files[path])

    content = []
    for i, rows in enumerate(files_rows):
        path = f"{LOCATION}/data/init-{i}.json"
        content.append(data_file(path, rows, write(path, {"rows": rows})))
    doc = manifest(DATA_MANIFEST, [entry(ADDED, snapshot_id, f) for f in content])
    manifest_path = f"{LOCATION}/metadata/init-m0.json"
    listing = [manifest_list_entry(manifest_path, write(manifest_path, doc), doc, 1, snapshot_id)]
    list_path = f"{LOCATION}/metadata/snap-{snapshot_id}-1-init.json"
    write(list_path, {"manifests": listing})
    created = new_table(uuid, {"commit.retry.num-retries": "3"}, 0)
    metadata = add_snapshot(created, f"{LOCATION}/metadata/00000-init.metadata.json",
                            snapshot_id, list_path, summary("append", content, [], listing), 0)
    metadata["metadata-log"] = []  # the empty table was never written: created with its data
    location = f"{LOCATION}/metadata/00001-init.metadata.json"
    write(location, metadata)
    rows = tuple((row["id"], row["value"]) for batch in files_rows for row in batch)
    return Creation(location, snapshot_id, rows, files)
