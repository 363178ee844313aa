"""The shared output store: a GFS-like file system with appends and an atomic rename."""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.mapreduce.messages import (
    Append,
    Appended,
    Contents,
    Read,
    Rename,
    Renamed,
)


@attrs.frozen
class File:
    records: tuple = ()
    applied: frozenset = frozenset()  # (writer, index) of the appends it holds


class OutputStore(Node):
    """Files survive crashes (every change is synced before it is acknowledged). A rename is
    one step of one node, so it is atomic, and the first rename to a name wins: a later
    rename to a name that exists does nothing, which is what lets two executions of one
    reduce task both try to commit."""

    def on_start(self, ctx: Context) -> None:
        self.files: dict[str, File] = dict(ctx.storage.get("files", {}))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Append):
            self.append(ctx, msg)
            ctx.send(src, Appended(msg.file, msg.writer, msg.index))
        elif isinstance(msg, Rename):
            self.rename(ctx, msg)
            ctx.send(src, Renamed(msg.dst, msg.writer))
        elif isinstance(msg, Read):
            file = self.files.get(msg.file)
            ctx.send(src, Contents(msg.req, msg.file, None if file is None else file.records))

    def append(self, ctx: Context, msg: Append) -> None:
        file = self.files.get(msg.file, File())
        if (msg.writer, msg.index) not in file.applied:
            self.files[msg.file] = File(file.records + msg.records,
                                        file.applied | {(msg.writer, msg.index)})
            self.save(ctx)

    def rename(self, ctx: Context, msg: Rename) -> None:
        if msg.dst in self.files or msg.src not in self.files:
            return
        self.files[msg.dst] = self.files.pop(msg.src)
        self.save(ctx)
        ctx.note("committed", file=msg.dst, writer=repr(msg.writer),
                 records=self.files[msg.dst].records)

    def save(self, ctx: Context) -> None:
        ctx.storage.put("files", dict(self.files))
