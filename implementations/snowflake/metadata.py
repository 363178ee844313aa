"""The metadata service: which files make up each version of the table.

Snowflake's cloud services keep, in a transactional key-value store, the list of files of
every table version and each file's statistics. A write (insert, update, delete) produces a
new version by adding and removing whole files relative to the previous one, committed at
once: a reader sees the old version or the new one, never a mix. Old versions stay, which
is what time travel reads (`AT`), until their retention period ends (never, here).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from implementations.snowflake.storage import FileMeta


@attrs.frozen
class TableVersion:
    number: int
    files: tuple[FileMeta, ...]

    def names(self) -> list[str]:
        return [meta.name for meta in self.files]


class Metadata:
    def __init__(self) -> None:
        self.versions: list[TableVersion] = [TableVersion(0, ())]  # CREATE TABLE

    @property
    def current(self) -> TableVersion:
        return self.versions[-1]

    def at(self, number: int | None) -> TableVersion:
        """Time travel: the version a query names, or the current one."""
        return self.current if number is None else self.versions[number]

    def commit(self, removed: Sequence[FileMeta], added: Sequence[FileMeta]) -> TableVersion:
        """The next version: the current files less `removed`, plus `added`."""
        gone = {meta.name for meta in removed}
        files = tuple(meta for meta in self.current.files if meta.name not in gone) + \
            tuple(added)
        self.versions.append(TableVersion(len(self.versions), files))
        return self.current
