"""Mesa's messages, by who sends them to whom. Rows are (key, value) pairs sorted by key."""

from __future__ import annotations

import attrs

from models.mesa import Rows

# --- clients and the committer ---------------------------------------------------------------


@attrs.frozen
class Submit:
    """An upstream system hands over an update batch, named so that a retry is recognised."""

    req: int
    batch: str
    rows: Rows


@attrs.frozen
class SubmitOk:
    """The batch is committed as `version`."""

    req: int
    version: int


# --- clients and the Mesa instances ----------------------------------------------------------


@attrs.frozen
class Query:
    """The value of `key` at `version`, or at the latest committed version if None."""

    req: int
    key: str
    version: int | None


@attrs.frozen
class QueryOk:
    req: int
    version: int
    value: int | None


@attrs.frozen
class Refused:
    """This instance cannot answer at that version: not committed (as far as it knows), not
    loaded yet, or older than its base."""

    req: int
    reason: str


# --- the committer and the versions database -------------------------------------------------


@attrs.frozen
class Update:
    """The versions database's record of one version: which batch it is, and its rows (the
    rows stand for the location of the update's files, which Mesa's metadata holds)."""

    version: int
    batch: str
    rows: Rows


@attrs.frozen
class Assign:
    """Give `batch` the next version, or tell me the one it already has."""

    committer: str
    batch: str
    rows: Rows


@attrs.frozen
class CommitVersion:
    """Make `version` the committed version, if it is the one after the committed version."""

    committer: str
    version: int


@attrs.frozen
class ReadVersions:
    """The committed version and every version's metadata (a stateless committer starting)."""


@attrs.frozen
class Assigned:
    batch: str
    version: int
    rows: Rows


@attrs.frozen
class CommittedUpTo:
    version: int


@attrs.frozen
class Versions:
    committed: int
    updates: tuple[Update, ...]


@attrs.frozen
class NotMaster:
    """Ask `hint` instead (None: no master known)."""

    hint: str | None


# --- the committer and the Mesa instances ----------------------------------------------------


@attrs.frozen
class Load:
    """Load `version`'s rows as a singleton delta; versions up to `committed` are committed."""

    version: int
    rows: Rows
    committed: int


@attrs.frozen
class Committed:
    """Versions up to `version` are committed."""

    version: int


@attrs.frozen
class Loaded:
    """I hold every version up to `loaded` durably, and know versions up to `committed` are
    committed."""

    loaded: int
    committed: int
