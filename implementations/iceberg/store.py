"""The object store: files by path, immutable once written, and listings that lag.

A put of a path that exists is refused (a conditional put, as S3's If-None-Match gives), so a
file, once written, never changes; a delete removes it. A listing shows what was there `LAG`
ticks ago: new files appear late and deleted ones linger, as the listings of object stores
have long done. Every write is durable before it is answered.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.iceberg.messages import Delete, Get, List, Listing, Object, Put, Stored

LAG = 100  # a listing shows the store as it was this many ticks ago


@attrs.frozen
class Blob:
    """A file, or the tombstone of a deleted one (content None), with its times."""

    content: str | None
    modified: int
    deleted: int | None = None


class ObjectStore(Node):
    def __init__(self, node_id: str, initial: dict[str, str]) -> None:
        super().__init__(node_id)
        self.initial = initial  # the files of the table as created before the run

    def on_start(self, ctx: Context) -> None:
        for path, content in sorted(self.initial.items()):
            ctx.storage.put(f"file/{path}", Blob(content, 0))
        self.on_recover(ctx)

    def on_recover(self, ctx: Context) -> None:
        stored = ctx.storage.items()
        self.files: dict[str, Blob] = {key.removeprefix("file/"): stored[key]
                                       for key in sorted(stored) if key.startswith("file/")}

    def state(self) -> dict[str, Any]:
        return {"files": sorted(path for path, blob in self.files.items() if blob.content)}

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Put(req, path, content):
                ctx.send(src, Stored(req, self.put(ctx, path, content)))
            case Get(req, path):
                content = self.content(path)
                ctx.send(src, Object(req, path, content, len(content or "")))
            case Delete(path) if self.content(path) is not None:
                self.write(ctx, path, attrs.evolve(self.files[path], content=None,
                                                   deleted=ctx.now()))
            case List(req, prefix):
                ctx.send(src, Listing(req, self.listing(prefix, ctx.now() - LAG)))

    def content(self, path: str) -> str | None:
        blob = self.files.get(path)
        return None if blob is None else blob.content

    def put(self, ctx: Context, path: str, content: str) -> bool:
        if self.content(path) is not None:
            return self.content(path) == content  # a duplicate of the same write succeeds
        self.write(ctx, path, Blob(content, ctx.now()))
        return True

    def write(self, ctx: Context, path: str, blob: Blob) -> None:
        self.files[path] = blob
        ctx.storage.put(f"file/{path}", blob)

    def listing(self, prefix: str, as_of: int) -> tuple[tuple[str, int], ...]:
        """The files under `prefix` as of `as_of`: written by then, not yet deleted then."""
        return tuple((path, blob.modified) for path, blob in sorted(self.files.items())
                     if path.startswith(prefix) and blob.modified <= as_of
                     and (blob.deleted is None or blob.deleted > as_of))
