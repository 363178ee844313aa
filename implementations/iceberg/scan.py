"""Scan planning: a snapshot's live files, pruned by their column statistics, and the delete
files that apply to each data file.

A reader never opens a data file whose statistics say no row can match its filter: the lower
and upper bounds of a column hold every non-null value (inclusive), and a column whose values
are all null matches no range. Delete files apply by sequence number: a position delete to
data files at or below its own, an equality delete to data files strictly below it (an
equality delete must not delete a row written after it).
"""

from __future__ import annotations

from typing import Any

import attrs

from implementations.iceberg.metadata import (
    DATA,
    DELETED,
    EQUALITY_DELETES,
    FILE_PATH,
    ID,
    POSITION_DELETES,
    VALUE,
    data_sequence,
)


@attrs.frozen
class Live:
    """A live content file of a snapshot, with its data sequence number."""

    file: dict
    sequence: int

    @property
    def path(self) -> str:
        return self.file["file_path"]


def live_files(listing: dict, manifests: dict[str, dict]) -> tuple[list[Live], list[Live]]:
    """The snapshot's live data files and live delete files (entries not DELETED)."""
    data, deletes = [], []
    for item in listing["manifests"]:
        for item_entry in manifests[item["manifest_path"]]["entries"]:
            if item_entry["status"] == DELETED:
                continue
            live = Live(item_entry["data_file"], data_sequence(item, item_entry))
            (data if live.file["content"] == DATA else deletes).append(live)
    return data, deletes


def may_match(data_file: dict, filter_: Any) -> bool:
    """Whether the file's statistics allow a row matching the filter ([column, low, high])."""
    if filter_ is None:
        return True
    column, low, high = filter_
    field = str(ID if column == "id" else VALUE)
    if data_file["null_value_counts"].get(field) == data_file["value_counts"].get(field):
        return False  # only nulls: no value in any range
    lower, upper = data_file["lower_bounds"].get(field), data_file["upper_bounds"].get(field)
    return not ((upper is not None and upper < low) or (lower is not None and lower > high))


def passes(filter_: Any, row: dict) -> bool:
    """Whether one row matches the filter (a null matches no range)."""
    if filter_ is None:
        return True
    column, low, high = filter_
    return row[column] is not None and low <= row[column] <= high


def may_hold_id(data_file: dict, key: int) -> bool:
    return may_match(data_file, ["id", key, key])


def applicable(data: Live, deletes: list[Live]) -> list[Live]:
    """The delete files that apply to a data file."""
    chosen = []
    for delete in deletes:
        if delete.file["content"] == POSITION_DELETES:
            low = delete.file["lower_bounds"].get(str(FILE_PATH))
            high = delete.file["upper_bounds"].get(str(FILE_PATH))
            if delete.sequence >= data.sequence and low <= data.path <= high:
                chosen.append(delete)
        elif delete.file["content"] == EQUALITY_DELETES and delete.sequence > data.sequence:
            chosen.append(delete)
    return chosen


def live_rows(data: Live, rows: list[dict], deletes: list[Live],
              contents: dict[str, dict]) -> list[tuple[int, dict]]:
    """The (position, row) pairs of a data file that no applicable delete removes."""
    positions: set[int] = set()
    ids: set[int] = set()
    for delete in applicable(data, deletes):
        for record in contents[delete.path]["rows"]:
            if delete.file["content"] == POSITION_DELETES and record["file_path"] == data.path:
                positions.add(record["pos"])
            elif delete.file["content"] == EQUALITY_DELETES:
                ids.add(record["id"])
    return [(pos, row) for pos, row in enumerate(rows)
            if pos not in positions and row["id"] not in ids]
