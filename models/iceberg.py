"""Iceberg's model: a table is a chain of snapshots, each a set of rows, and what the table
spec says a snapshot holds.

The logical model (`TableHistory`): the table starts as one snapshot holding its initial rows;
every committed operation adds a snapshot whose rows are the operation applied to its parent
snapshot's rows (`apply`). Rows are keyed by their `id` (every appended id is new), so a
table state is a map id -> value, and the operations are:

| operation | effect on the parent's rows |
|---|---|
| `append(rows)` | the rows are added |
| `delete(key, mode)` | the row `key` is gone (files rewritten, or delete files added) |
| `overwrite(key, value)` | the row `key`, if there, now holds `value` |
| `compact()` | nothing: data files are rewritten, the rows are the same |

Optimistic concurrency is what makes this model hold: an operation planned on an older
snapshot commits on top of whatever is current only after validating that nothing committed
in between conflicts with it, so its effect on the snapshot it committed on is the effect the
model gives it.

The spec reader (`snapshot_rows`, `live_files`, `referenced_paths`): the rows a snapshot holds
as the table spec defines them, read from the files themselves, with no pruning: the
snapshot's manifest list names manifests, whose live entries (ADDED or EXISTING) are its data
and delete files; each entry's data sequence number is its own or, when null, the one its
manifest list entry gives the manifest; a position delete removes row `pos` of `file_path`
from data files with a sequence number at or below its own, an equality delete removes rows
whose `id` equals its own from data files with a sequence number strictly below. Files are
handed in through `read(path)`, which returns the parsed JSON or None if the file is missing.

What the spec says a snapshot changed (`snapshot_changes`: the entries carrying its own id,
ADDED or DELETED) and what a metadata file keeps alive (`reachable_paths`: itself, its
metadata log, every snapshot's manifest list, manifests and the content files they name);
which snapshot a manifest or manifest list was written for (`written_for`).

The invariants the checks hold the system to, next to the model: `lineage_problem`,
`stats_problem`, `rows_problem`, `operation_problem`, `matches` (a read's filter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

Rows = dict[int, Any]  # id -> value (None: null)
Read = Callable[[str], Any]  # path -> parsed file, or None when it does not exist

EXISTING, ADDED, DELETED = 0, 1, 2  # manifest entry status, as the spec numbers them
DATA, POSITION_DELETES, EQUALITY_DELETES = 0, 1, 2  # data file content
ID, VALUE = 1, 2  # field ids of the table's two columns


# --- the logical model ----------------------------------------------------------------------


def apply(rows: Rows, f: str, args: Any) -> Rows:
    """The rows after one committed operation."""
    after = dict(rows)
    if f == "append":
        after.update((key, value) for key, value in args)
    elif f == "delete":
        after.pop(args[0], None)
    elif f == "overwrite" and args[0] in after:
        after[args[0]] = args[1]
    return after


class TableHistory:
    """The snapshots committed so far: each one's parent and rows."""

    def __init__(self, snapshot_id: int, rows: Rows) -> None:
        self.parent: dict[int, int | None] = {snapshot_id: None}
        self.rows: dict[int, Rows] = {snapshot_id: dict(rows)}
        self.ops: dict[int, tuple[str, Any]] = {}

    def commit(self, snapshot_id: int, parent: int, f: str, args: Any) -> None:
        self.parent[snapshot_id] = parent
        self.ops[snapshot_id] = (f, args)
        self.rows[snapshot_id] = apply(self.rows[parent], f, args)

    def ancestry(self, snapshot_id: int) -> list[int]:
        """The snapshot, its parent, its parent's parent... back to the first."""
        chain: list[int] = []
        current: int | None = snapshot_id
        while current is not None and current not in chain:
            chain.append(current)
            current = self.parent.get(current)
        return chain


def matches(filter_: Any, row: tuple[int, Any]) -> bool:
    """Whether a row passes a read's filter: None, or [column, low, high] inclusive (a null
    value matches no range)."""
    if filter_ is None:
        return True
    column, low, high = filter_
    value = row[0] if column == "id" else row[1]
    return value is not None and low <= value <= high


def rows_problem(expected: Rows, actual: Iterable[tuple[int, Any]]) -> str | None:
    """How a multiset of rows differs from the model's, or None."""
    have = Counter((key, value) for key, value in actual)
    want = Counter(expected.items())
    twice = sorted(key for key, value in have.items() if value > 1)
    missing = sorted(want - have)
    extra = sorted(have - want)
    if twice:
        return f"row {list(twice[0])} is there {have[twice[0]]} times"
    if missing or extra:
        parts = [f"missing {[list(r) for r in missing]}" if missing else "",
                 f"unexpected {[list(r) for r in extra]}" if extra else ""]
        return ", ".join(part for part in parts if part)
    return None


# --- the spec reader ------------------------------------------------------------------------


def snapshot(metadata: dict, snapshot_id: int | None) -> dict | None:
    return next((s for s in metadata.get("snapshots", ())
                 if s["snapshot-id"] == snapshot_id), None)


def live_files(read: Read, snap: dict) -> tuple[list[tuple[dict, int]], list[str]]:
    """The snapshot's live content files, each with its data sequence number, and the paths
    of the manifest list and manifests that are missing."""
    listing = read(snap["manifest-list"])
    if listing is None:
        return [], [snap["manifest-list"]]
    files, missing = [], []
    for item in listing["manifests"]:
        manifest = read(item["manifest_path"])
        if manifest is None:
            missing.append(item["manifest_path"])
            continue
        for entry in manifest["entries"]:
            if entry["status"] != DELETED:
                sequence = entry["sequence_number"]
                files.append((entry["data_file"],
                              item["sequence_number"] if sequence is None else sequence))
    return files, missing


def referenced_paths(read: Read, metadata: dict) -> tuple[list[str], list[str]]:
    """Every file the metadata references through its snapshots (manifest lists, manifests,
    live data and delete files), and those of them that are missing."""
    paths: list[str] = []
    missing: list[str] = []
    for snap in metadata.get("snapshots", ()):
        files, gone = live_files(read, snap)
        missing += gone
        paths.append(snap["manifest-list"])
        listing = read(snap["manifest-list"]) or {"manifests": []}
        paths += [item["manifest_path"] for item in listing["manifests"]]
        for data_file, _ in files:
            paths.append(data_file["file_path"])
            if read(data_file["file_path"]) is None:
                missing.append(data_file["file_path"])
    return list(dict.fromkeys(paths)), list(dict.fromkeys(missing))


def snapshot_rows(read: Read, snap: dict) -> tuple[list[tuple[int, Any]], list[str]]:
    """The rows the snapshot holds, as a list (a row twice is a bug to show), and the files
    missing to read it."""
    files, missing = live_files(read, snap)
    contents = {f["file_path"]: read(f["file_path"]) for f, _ in files}
    missing += [path for path, content in contents.items() if content is None]
    if missing:
        return [], missing
    deletes = [(f, seq) for f, seq in files if f["content"] != DATA]
    rows = []
    for data_file, data_seq in files:
        if data_file["content"] != DATA:
            continue
        path = data_file["file_path"]
        gone_positions = {d["pos"] for f, seq in deletes if f["content"] == POSITION_DELETES
                          and seq >= data_seq for d in contents[f["file_path"]]["rows"]
                          if d["file_path"] == path}
        gone_ids = {d["id"] for f, seq in deletes if f["content"] == EQUALITY_DELETES
                    and seq > data_seq for d in contents[f["file_path"]]["rows"]}
        rows += [(row["id"], row["value"]) for pos, row in enumerate(contents[path]["rows"])
                 if pos not in gone_positions and row["id"] not in gone_ids]
    return rows, []


def snapshot_changes(read: Read, snap: dict) -> tuple[list[dict], list[dict]] | None:
    """The content files the snapshot added and those it removed: the entries of its
    manifests that carry its own id, ADDED or DELETED (an ADDED entry's null id is inherited
    from the manifest list's `added_snapshot_id`). None when a file is missing."""
    listing = read(snap["manifest-list"])
    if listing is None:
        return None
    added: list[dict] = []
    removed: list[dict] = []
    for item in listing["manifests"]:
        manifest = read(item["manifest_path"])
        if manifest is None:
            return None
        for entry in manifest["entries"]:
            by = entry["snapshot_id"]
            if by is None and entry["status"] == ADDED:
                by = item["added_snapshot_id"]
            if by == snap["snapshot-id"] and entry["status"] in (ADDED, DELETED):
                (added if entry["status"] == ADDED else removed).append(entry["data_file"])
    return added, removed


def reachable_paths(read: Read, location: str) -> set[str]:
    """Every file a metadata file keeps alive, as orphan removal must spare it: the file
    itself, the metadata files in its log, and each snapshot's manifest list, its manifests
    and every content file they name (DELETED entries too). A missing file names nothing."""
    metadata = read(location) or {}
    found = {location, *(e["metadata-file"] for e in metadata.get("metadata-log", ()))}
    for snap in metadata.get("snapshots", ()):
        found.add(snap["manifest-list"])
        for item in (read(snap["manifest-list"]) or {"manifests": []})["manifests"]:
            found.add(item["manifest_path"])
            found.update(e["data_file"]["file_path"]
                         for e in (read(item["manifest_path"]) or {"entries": []})["entries"])
    return found


def written_for(document: dict) -> int | None:
    """The snapshot a manifest or a manifest list was written for, or None for other files.
    A manifest's ADDED and DELETED entries carry the id of the snapshot that wrote it (a
    rewrite keeps the other entries as EXISTING, with their own ids); a manifest list's
    newest manifests (the highest sequence number) are its own snapshot's."""
    if "entries" in document:
        ids = {e["snapshot_id"] for e in document["entries"] if e["status"] != EXISTING}
        return ids.pop() if len(ids) == 1 else None
    if document.get("manifests"):
        return max(document["manifests"], key=lambda m: m["sequence_number"])[
            "added_snapshot_id"]
    return None


# --- the invariants on what was written ----------------------------------------------------

# What each operation a client asks for commits: the snapshot operations the spec allows for
# it, the kinds of content file it may add, whether it must add one, whether it removes files.
ASKED = {
    "append": ({"append"}, {DATA}, True, False),
    "position-deletes": ({"delete"}, {POSITION_DELETES}, True, False),
    "equality-deletes": ({"delete"}, {EQUALITY_DELETES}, True, False),
    "copy-on-write": ({"delete", "overwrite"}, {DATA}, False, True),
    "overwrite": ({"overwrite"}, {DATA}, True, True),
    "compact": ({"replace"}, {DATA}, False, True),
}
SUMMARY_COUNTS = (("added-data-files", "added", True), ("added-delete-files", "added", False),
                  ("deleted-data-files", "removed", True),
                  ("removed-delete-files", "removed", False))


def operation_problem(f: str, args: Any, summary: dict, added: list[dict],
                      removed: list[dict]) -> str | None:
    """How a committed snapshot differs from what its client asked (an append adds data
    files; a merge-on-read delete adds delete files of its kind and rewrites nothing; a
    copy-on-write delete or an overwrite rewrites data files; a compaction is a `replace`),
    from what the spec's snapshot operations mean (an `append` removes nothing, a `delete`
    adds no data file), or from its own summary's counts."""
    asked = args[1] if f == "delete" else f
    operations, kinds, adds, removes = ASKED[asked]
    operation = summary.get("operation")
    added_kinds = {file["content"] for file in added}
    if operation not in operations:
        return f"a {asked} committed as the snapshot operation {operation!r}"
    if not added_kinds <= kinds or (adds and not added):
        return f"a {asked} added content files of kinds {sorted(added_kinds)}"
    if bool(removed) != removes:
        return f"a {asked} removed {len(removed)} files"
    if operation == "delete" and DATA in added_kinds:
        return "a 'delete' snapshot added data files"
    for field, side, data in SUMMARY_COUNTS:
        files = added if side == "added" else removed
        count = sum((file["content"] == DATA) == data for file in files)
        if field in summary and summary[field] != str(count):
            return f"its summary says {field} {summary[field]}, its manifests {count}"
    return None


def lineage_problem(metadata: dict, known: dict[int, tuple]) -> str | None:
    """What is wrong with the snapshots of one metadata file: an id listed twice, a snapshot
    whose parent is neither listed nor known (expired), a sequence number not above its
    parent's, a current snapshot that is not listed or not the newest, or an id already
    known with another parent or manifest list (`known`: id -> (parent, sequence number,
    manifest list) of every snapshot seen so far)."""
    snaps = metadata.get("snapshots", [])
    ids = [s["snapshot-id"] for s in snaps]
    if len(set(ids)) < len(ids):
        return f"snapshot {Counter(ids).most_common(1)[0][0]} is listed twice"
    listed = {s["snapshot-id"]: s for s in snaps}
    for s in snaps:
        parent = s.get("parent-snapshot-id")
        identity = (parent, s["sequence-number"], s["manifest-list"])
        if s["snapshot-id"] in known and known[s["snapshot-id"]] != identity:
            return f"snapshot id {s['snapshot-id']} was used before for another snapshot"
        if parent is None:
            continue
        parent_seq = listed[parent]["sequence-number"] if parent in listed else \
            known.get(parent, (None, None))[1]
        if parent_seq is None:
            return f"snapshot {s['snapshot-id']} has parent {parent}, which no metadata held"
        if s["sequence-number"] <= parent_seq:
            return f"snapshot {s['snapshot-id']} has sequence number {s['sequence-number']}, " \
                   f"not above its parent's {parent_seq}"
    current = metadata.get("current-snapshot-id")
    if snaps and current not in listed:
        return f"the current snapshot {current} is not among the snapshots"
    if snaps and listed[current]["sequence-number"] != max(s["sequence-number"] for s in snaps):
        return f"the current snapshot {current} is not the newest"
    if snaps and metadata.get("last-sequence-number", 0) < listed[current]["sequence-number"]:
        return "last-sequence-number is below the current snapshot's"
    return None


def stats_problem(data_file: dict, rows: list[dict]) -> str | None:
    """Whether a data file's column statistics describe its rows: the record count, and per
    column the value and null counts and bounds that hold every non-null value (bounds may be
    looser than the values, never tighter)."""
    path = data_file["file_path"]
    if data_file["record_count"] != len(rows):
        return f"{path} says {data_file['record_count']} records, holds {len(rows)}"
    for field, column in ((ID, "id"), (VALUE, "value")):
        key = str(field)
        values = [row[column] for row in rows]
        present = [v for v in values if v is not None]
        if data_file["value_counts"].get(key) != len(values) or \
                data_file["null_value_counts"].get(key) != len(values) - len(present):
            return f"{path} miscounts the values or nulls of {column}"
        low, high = data_file["lower_bounds"].get(key), data_file["upper_bounds"].get(key)
        if present and ((low is not None and low > min(present))
                        or (high is not None and high < max(present))):
            return f"{path} gives {column} the bounds [{low}, {high}], but holds " \
                   f"{sorted(present)}"
    return None
