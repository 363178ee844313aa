"""The files of an Iceberg table, as the table spec (format version 2) lays them out.

- **Table metadata** (JSON, the spec's field names): schemas, partition specs, sort orders,
  properties, the snapshots (id, parent id, sequence number, manifest list, summary), the
  snapshot log, the metadata log and `current-snapshot-id`. One file per commit; the catalog
  points at the current one.
- **Manifest list** (one per snapshot): the snapshot's manifests, each with the sequence
  number and id of the snapshot that added it and its file and row counts.
- **Manifest**: entries, each a data or delete file with its status (EXISTING, ADDED,
  DELETED), the snapshot that added or deleted it, its sequence numbers (null while
  inherited from the manifest list), and its column statistics.
- **Data and delete files**: rows; position deletes name (file_path, pos), equality deletes
  the `id` of the rows they delete.

The spec stores manifests, manifest lists and content files as Avro or Parquet; here they are
JSON with the spec's field names (the table metadata is the spec's own JSON).
"""

from __future__ import annotations

import json
from typing import Any

LOCATION = "s3://bucket/events"
TABLE = "db.events"
EXISTING, ADDED, DELETED = 0, 1, 2  # manifest entry status
DATA, POSITION_DELETES, EQUALITY_DELETES = 0, 1, 2  # content file content
DATA_MANIFEST, DELETE_MANIFEST = 0, 1  # manifest content
ID, VALUE = 1, 2  # field ids
FILE_PATH = 2147483546  # the reserved field id of a position delete's file_path

SCHEMA = {
    "type": "struct", "schema-id": 0, "identifier-field-ids": [ID],
    "fields": [{"id": ID, "name": "id", "required": True, "type": "long"},
               {"id": VALUE, "name": "value", "required": False, "type": "long"}],
}


def dumps(document: Any) -> str:
    return json.dumps(document, sort_keys=True)


# --- table metadata --------------------------------------------------------------------------


def new_table(uuid: str, properties: dict[str, str], now: int) -> dict:
    """The metadata of a table with no snapshot yet."""
    return {
        "format-version": 2, "table-uuid": uuid, "location": LOCATION,
        "last-sequence-number": 0, "last-updated-ms": now, "last-column-id": VALUE,
        "schemas": [SCHEMA], "current-schema-id": 0,
        "partition-specs": [{"spec-id": 0, "fields": []}], "default-spec-id": 0,
        "last-partition-id": 999,
        "sort-orders": [{"order-id": 0, "fields": []}], "default-sort-order-id": 0,
        "properties": properties, "current-snapshot-id": -1, "refs": {},
        "snapshots": [], "snapshot-log": [], "metadata-log": [],
    }


def current_snapshot(metadata: dict) -> dict | None:
    return snapshot(metadata, metadata["current-snapshot-id"])


def snapshot(metadata: dict, snapshot_id: int) -> dict | None:
    return next((s for s in metadata["snapshots"] if s["snapshot-id"] == snapshot_id), None)


def successor(base: dict, base_location: str, now: int) -> dict:
    """The next metadata file's starting point: the base, with the base in its metadata log."""
    metadata = json.loads(dumps(base))
    metadata["metadata-log"].append({"timestamp-ms": base["last-updated-ms"],
                                     "metadata-file": base_location})
    metadata["last-updated-ms"] = now
    return metadata


def add_snapshot(base: dict, base_location: str, snapshot_id: int, manifest_list: str,
                 summary: dict[str, str], now: int) -> dict:
    """The metadata with a new current snapshot, child of the base's current one."""
    metadata = successor(base, base_location, now)
    sequence = base["last-sequence-number"] + 1
    new = {"snapshot-id": snapshot_id, "sequence-number": sequence, "timestamp-ms": now,
           "manifest-list": manifest_list, "summary": summary, "schema-id": 0}
    if base["current-snapshot-id"] != -1:
        new["parent-snapshot-id"] = base["current-snapshot-id"]
    metadata["snapshots"].append(new)
    metadata["last-sequence-number"] = sequence
    metadata["current-snapshot-id"] = snapshot_id
    metadata["refs"] = {"main": {"snapshot-id": snapshot_id, "type": "branch"}}
    metadata["snapshot-log"].append({"timestamp-ms": now, "snapshot-id": snapshot_id})
    return metadata


def without_snapshots(base: dict, base_location: str, expired: set[int], now: int) -> dict:
    """The metadata with the expired snapshots (and their snapshot-log entries) removed."""
    metadata = successor(base, base_location, now)
    metadata["snapshots"] = [s for s in metadata["snapshots"] if s["snapshot-id"] not in expired]
    metadata["snapshot-log"] = [e for e in metadata["snapshot-log"]
                                if e["snapshot-id"] not in expired]
    return metadata


def ancestors(metadata: dict, snapshot_id: int | None) -> list[int]:
    """The snapshot and its ancestors that the metadata still lists, newest first."""
    chain = []
    snap = snapshot(metadata, snapshot_id) if snapshot_id is not None else None
    while snap is not None:
        chain.append(snap["snapshot-id"])
        snap = snapshot(metadata, snap.get("parent-snapshot-id"))
    return chain


def summary(operation: str, added: list[dict], removed: list[dict],
            listing: list[dict]) -> dict[str, str]:
    """The snapshot summary: its operation, what it changed, and the table's totals."""
    def data(files: list[dict]) -> list[dict]:
        return [f for f in files if f["content"] == DATA]

    def deletes(files: list[dict]) -> list[dict]:
        return [f for f in files if f["content"] != DATA]

    def total(content: int, counted: str) -> int:
        return sum(m[f"added_{counted}"] + m[f"existing_{counted}"]
                   for m in listing if m["content"] == content)

    return {"operation": operation,
            "added-data-files": str(len(data(added))),
            "added-delete-files": str(len(deletes(added))),
            "added-records": str(sum(f["record_count"] for f in data(added))),
            "deleted-data-files": str(len(data(removed))),
            "removed-delete-files": str(len(deletes(removed))),
            "total-data-files": str(total(DATA_MANIFEST, "files_count")),
            "total-delete-files": str(total(DELETE_MANIFEST, "files_count")),
            "total-records": str(total(DATA_MANIFEST, "rows_count"))}


# --- content files and their statistics ------------------------------------------------------


def data_file(path: str, rows: list[dict], size: int) -> dict:
    """A data file's manifest record, with the column statistics scan planning prunes by."""
    stats: dict[str, dict] = {"value_counts": {}, "null_value_counts": {}, "lower_bounds": {},
                              "upper_bounds": {}}
    for field, column in ((ID, "id"), (VALUE, "value")):
        values = [row[column] for row in rows]
        present = [v for v in values if v is not None]
        stats["value_counts"][str(field)] = len(values)
        stats["null_value_counts"][str(field)] = len(values) - len(present)
        if present:
            stats["lower_bounds"][str(field)] = min(present)
            stats["upper_bounds"][str(field)] = max(present)
    return {"content": DATA, "file_path": path, "file_format": "JSON", "partition": {},
            "record_count": len(rows), "file_size_in_bytes": size, **stats}


def position_delete_file(path: str, deletes: list[dict], size: int) -> dict:
    paths = [d["file_path"] for d in deletes]
    return {"content": POSITION_DELETES, "file_path": path, "file_format": "JSON",
            "partition": {}, "record_count": len(deletes), "file_size_in_bytes": size,
            "lower_bounds": {str(FILE_PATH): min(paths)},
            "upper_bounds": {str(FILE_PATH): max(paths)}}


def equality_delete_file(path: str, deletes: list[dict], size: int) -> dict:
    ids = [d["id"] for d in deletes]
    return {"content": EQUALITY_DELETES, "file_path": path, "file_format": "JSON",
            "partition": {}, "record_count": len(deletes), "file_size_in_bytes": size,
            "equality_ids": [ID], "lower_bounds": {str(ID): min(ids)},
            "upper_bounds": {str(ID): max(ids)}}


# --- manifests and manifest lists ------------------------------------------------------------


def entry(status: int, snapshot_id: int, content_file: dict,
          sequence_number: int | None = None) -> dict:
    """A manifest entry. An ADDED entry's sequence numbers stay null: readers inherit them
    from the manifest list, so a manifest written once serves every retry of a commit."""
    return {"status": status, "snapshot_id": snapshot_id, "sequence_number": sequence_number,
            "file_sequence_number": sequence_number, "data_file": content_file}


def manifest(content: int, entries: list[dict]) -> dict:
    return {"format-version": 2, "content": content, "partition-spec-id": 0,
            "entries": entries}


def manifest_list_entry(path: str, size: int, doc: dict, sequence_number: int,
                        snapshot_id: int) -> dict:
    """How a manifest list names a manifest written by `snapshot_id` at `sequence_number`."""
    def counted(status: int) -> tuple[int, int]:
        chosen = [e["data_file"] for e in doc["entries"] if e["status"] == status]
        return len(chosen), sum(f["record_count"] for f in chosen)

    (added, added_rows), (existing, existing_rows), (deleted, deleted_rows) = \
        counted(ADDED), counted(EXISTING), counted(DELETED)
    sequences = [e["sequence_number"] for e in doc["entries"]
                 if e["sequence_number"] is not None]
    return {"manifest_path": path, "manifest_length": size, "partition_spec_id": 0,
            "content": doc["content"], "sequence_number": sequence_number,
            "min_sequence_number": min([*sequences, sequence_number]),
            "added_snapshot_id": snapshot_id, "added_files_count": added,
            "existing_files_count": existing, "deleted_files_count": deleted,
            "added_rows_count": added_rows, "existing_rows_count": existing_rows,
            "deleted_rows_count": deleted_rows}


def data_sequence(item: dict, item_entry: dict) -> int:
    """An entry's data sequence number: its own, or inherited from its manifest list entry."""
    own = item_entry["sequence_number"]
    return item["sequence_number"] if own is None else own


def with_sequence(item: dict, item_entry: dict) -> dict:
    """The entry with its inherited sequence numbers written out, as a manifest rewritten by a
    later snapshot must carry them."""
    sequence = data_sequence(item, item_entry)
    file_sequence = item_entry["file_sequence_number"]
    return {**item_entry, "sequence_number": sequence,
            "file_sequence_number": sequence if file_sequence is None else file_sequence}
