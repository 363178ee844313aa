"""The messages between BigTable's master, tablet servers and clients (GFS's are in
`storage`, Chubby's in `implementations.chubby`)."""

from __future__ import annotations

from typing import Any

import attrs

# --- master and tablet servers -----------------------------------------------------------------


@attrs.frozen
class Ping:
    """The master asks a tablet server for the status of its lock."""


@attrs.frozen
class Pong:
    """`file`: my lock file in Chubby's servers directory; `serving`: I hold it (my session
    lease runs)."""

    file: str
    serving: bool


@attrs.frozen
class Assign:
    """Serve `tablet` (rows [lo, hi)) under lock `file`; `epoch` numbers the assignment."""

    tablet: str
    file: str
    epoch: int


@attrs.frozen
class AssignOk:
    tablet: str
    epoch: int


@attrs.frozen
class Split:
    """Split `tablet` at row `key`."""

    tablet: str
    key: str


@attrs.frozen
class SplitDone:
    """`tablet` is now `children`; `serving`: this server serves them already (it split
    them), else it found the split done when it came to load the tablet."""

    tablet: str
    children: tuple[tuple[str, str, str | None], ...]
    file: str
    serving: bool


# --- clients -----------------------------------------------------------------------------------


@attrs.frozen
class Locate:
    """Which tablet holds `row`, and who serves it? (The METADATA lookup.)"""

    row: str


@attrs.frozen
class Location:
    """`server` None: the tablet is not assigned right now."""

    row: str
    tablet: str
    lo: str
    hi: str | None
    server: str | None


@attrs.frozen
class Request:
    """`f` is read, write, delete or cas; `args` as in `models.bigtable`."""

    req: int
    tablet: str
    f: str
    args: Any


@attrs.frozen
class Reply:
    req: int
    result: Any


@attrs.frozen
class NotServing:
    req: int
