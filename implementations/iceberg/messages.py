"""The messages: clients to engines, engines to the catalog and to the object store.

File contents travel in `Put` and `Object` but are left out of their printed form (a metadata
file is a page of JSON): a trace shows the path and the size.
"""

from __future__ import annotations

from typing import Any

import attrs

# --- client and engine -----------------------------------------------------------------------


@attrs.frozen
class Op:
    """A client's operation, handed to its query engine."""

    req: int
    f: str
    args: Any


@attrs.frozen
class Done:
    """The operation's outcome: ok (with its result), fail (it certainly did not happen) or
    info (the engine cannot tell whether its commit took effect)."""

    req: int
    status: str
    result: Any = None


@attrs.frozen
class Probe:
    """The client asks whether its operation is still running."""

    req: int


@attrs.frozen
class Working:
    req: int


@attrs.frozen
class Lost:
    """The engine holds no such operation (it restarted, or gave it up)."""

    req: int


# --- catalog ---------------------------------------------------------------------------------


@attrs.frozen
class LoadTable:
    req: tuple
    table: str


@attrs.frozen
class TableLoaded:
    req: tuple
    location: str


@attrs.frozen
class CommitTable:
    """Swap the table's metadata pointer from `base` to `new`, if it still names `base` and
    the catalog's clock has not passed the writer's `deadline`: the commit point."""

    req: tuple
    table: str
    base: str
    new: str
    deadline: int


@attrs.frozen
class SetPointer:
    """Set the pointer with no condition (a plain key-value write)."""

    req: tuple
    table: str
    new: str


@attrs.frozen
class Committed:
    req: tuple


@attrs.frozen
class Conflict:
    """The pointer names another metadata file: `current`."""

    req: tuple
    current: str


@attrs.frozen
class Refused:
    """The commit came after its deadline."""

    req: tuple


# --- object store ----------------------------------------------------------------------------


@attrs.frozen
class Put:
    """Write a new file; refused if the path exists (files are immutable)."""

    req: tuple
    path: str
    content: str = attrs.field(repr=False)
    size: int = 0


@attrs.frozen
class Stored:
    req: tuple
    ok: bool


@attrs.frozen
class Get:
    req: tuple
    path: str


@attrs.frozen
class Object:
    """A file's content, or None: no such file."""

    req: tuple
    path: str
    content: str | None = attrs.field(repr=False)
    size: int = 0


@attrs.frozen
class Delete:
    """Remove a file; nobody waits for the answer."""

    path: str


@attrs.frozen
class List:
    req: tuple
    prefix: str


@attrs.frozen
class Listing:
    """(path, last modified) of the files the listing shows: it lags behind writes and
    deletes."""

    req: tuple
    files: tuple
