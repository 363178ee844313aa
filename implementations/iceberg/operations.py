"""The operations a query engine runs on the table, each planned on the snapshot it read.

- `append(rows)`: a new data file (a fast append: the base's manifests are kept as they are).
- `delete(key, mode)`: copy-on-write rewrites each data file holding the row without it;
  merge-on-read writes a position delete file (file_path, pos) or an equality delete file
  (id = key) and leaves the data files alone.
- `overwrite(key, value)`: copy-on-write rewrite of the file holding the row, with its new value.
- `compact()`: rewrites every live data file, with its deletes applied, into one file, and
  drops the delete files it applied (the `replace` operation: same rows, fewer files).
- `read(filter)`: pins the current snapshot, prunes data files by their column statistics,
  applies the delete files, and answers [snapshot id, rows].
- `expire()`: keeps the current snapshot and its parent (RETAIN_LAST), commits metadata without
  the others, and then, only once the commit is known, deletes the files no retained snapshot
  references.
- `remove-orphans()`: lists the table's files and deletes those no metadata references and
  that are older than `older_than`: a younger one may belong to a commit still in flight.
"""

from __future__ import annotations

from checker.node import Context
from implementations.iceberg.commit import DEADLINE, Writer
from implementations.iceberg.engine import OK, STORE
from implementations.iceberg.messages import List
from implementations.iceberg.metadata import (
    DATA,
    DELETED,
    EQUALITY_DELETES,
    LOCATION,
    POSITION_DELETES,
    ancestors,
    current_snapshot,
    without_snapshots,
)
from implementations.iceberg.scan import (
    applicable,
    live_files,
    live_rows,
    may_hold_id,
    may_match,
    passes,
)

RETAIN_LAST = 2  # snapshot expiry keeps this many: the current snapshot and its parent
OLDER_THAN = DEADLINE  # orphan removal spares files younger than any commit may take


class Engine(Writer):
    older_than = OLDER_THAN

    # --- append -----------------------------------------------------------------------------

    def plan_append(self, ctx: Context) -> None:
        self.begin_snapshot(ctx)
        rows = [{"id": key, "value": value} for key, value in self.job.args]
        self.write_changes(ctx, "append", [(DATA, rows)])

    # --- read -------------------------------------------------------------------------------

    def plan_read(self, ctx: Context) -> None:
        if current_snapshot(self.job.base) is None:
            self.finish(ctx, OK, [None, []])
            return
        self.fetch_manifests(ctx, "plan_scan")

    def plan_scan(self, ctx: Context) -> None:
        data, deletes = live_files(self.job.listing, self.job.files)
        self.read_files(ctx, [d for d in data if may_match(d.file, self.job.args)], deletes,
                        "scanned")

    def read_files(self, ctx: Context, data: list, deletes: list, then: str) -> None:
        """Read the chosen data files and the delete files that apply to them."""
        self.job.scan = (data, deletes)
        needed = [d.path for d in data] + [x.path for d in data for x in applicable(d, deletes)]
        self.fetch(ctx, needed, then)

    def scan_rows(self) -> list[tuple[object, int, dict]]:
        """(data file, position, row) of every live row of the files read."""
        data, deletes = self.job.scan
        return [(d, pos, row) for d in data
                for pos, row in live_rows(d, self.job.files[d.path]["rows"], deletes,
                                          self.job.files)]

    def scanned(self, ctx: Context) -> None:
        rows = sorted([row["id"], row["value"]] for _, _, row in self.scan_rows()
                      if passes(self.job.args, row))
        self.finish(ctx, OK, [self.job.base["current-snapshot-id"], rows])

    # --- row-level changes --------------------------------------------------------------------

    def plan_delete(self, ctx: Context) -> None:
        self.fetch_manifests(ctx, "find_rows")

    plan_overwrite = plan_delete

    def find_rows(self, ctx: Context) -> None:
        """Read the data files whose statistics may hold the key."""
        data, deletes = live_files(self.job.listing, self.job.files)
        self.read_files(ctx, [d for d in data if may_hold_id(d.file, self.job.args[0])],
                        deletes, "change_rows")

    def change_rows(self, ctx: Context) -> None:
        job = self.job
        key = job.args[0]
        hits = [(d, pos) for d, pos, row in self.scan_rows() if row["id"] == key]
        if not hits:
            self.finish(ctx, OK, None)  # no such row: nothing to commit
            return
        self.begin_snapshot(ctx)
        mode = "copy-on-write" if job.f == "overwrite" else job.args[1]
        if mode == "position-deletes":
            self.write_changes(ctx, "delete", [(POSITION_DELETES, [
                {"file_path": d.path, "pos": pos} for d, pos in hits])],
                referenced=tuple(sorted({d.path for d, _ in hits})))
        elif mode == "equality-deletes":
            self.write_changes(ctx, "delete", [(EQUALITY_DELETES, [{"id": key}])])
        else:
            self.copy_on_write(ctx, {d.path for d, _ in hits})

    def copy_on_write(self, ctx: Context, paths: set[str]) -> None:
        """Rewrite each file holding the row: without it (delete), or with its new value."""
        job = self.job
        key = job.args[0]
        rewritten: dict[str, list] = {path: [] for path in sorted(paths)}
        for d, _, row in self.scan_rows():
            if d.path not in paths or (row["id"] == key and job.f == "delete"):
                continue
            rewritten[d.path].append({"id": key, "value": job.args[1]}
                                     if row["id"] == key else row)
        contents = [(DATA, rows) for rows in rewritten.values() if rows]
        self.write_changes(ctx, "overwrite" if contents else "delete", contents,
                           removed=tuple(sorted(paths)))

    # --- compaction ---------------------------------------------------------------------------

    def plan_compact(self, ctx: Context) -> None:
        self.fetch_manifests(ctx, "gather")

    def gather(self, ctx: Context) -> None:
        data, deletes = live_files(self.job.listing, self.job.files)
        if len(data) < 2 and not deletes:
            self.finish(ctx, OK, None)  # nothing to compact
            return
        self.job.scan = (data, deletes)
        self.fetch(ctx, [d.path for d in data + deletes], "compacted")

    def compacted(self, ctx: Context) -> None:
        data, deletes = self.job.scan
        rows = [row for _, _, row in self.scan_rows()]
        self.begin_snapshot(ctx)
        self.write_changes(ctx, "replace", [(DATA, rows)] if rows else [],
                           removed=tuple(d.path for d in data + deletes))

    # --- snapshot expiry ----------------------------------------------------------------------

    def plan_expire(self, ctx: Context) -> None:
        job = self.job
        keep = ancestors(job.base, job.base["current-snapshot-id"])[:RETAIN_LAST]
        job.expired = tuple(s["snapshot-id"] for s in job.base["snapshots"]
                            if s["snapshot-id"] not in keep)
        if not job.expired:
            self.finish(ctx, OK, 0)
            return
        job.attempt += 1
        self.write_metadata(ctx, without_snapshots(job.base, job.location, set(job.expired),
                                                   ctx.now()), {})

    def after_expire(self, ctx: Context) -> None:
        """Committed: now read every snapshot's manifests, expired and retained."""
        old = self.job.files[self.job.attempt_location]
        self.fetch(ctx, [s["manifest-list"] for s in old["snapshots"]], "expired_lists_loaded")

    def expired_lists_loaded(self, ctx: Context) -> None:
        old = self.job.files[self.job.attempt_location]
        self.fetch(ctx, [item["manifest_path"] for s in old["snapshots"]
                         for item in self.job.files[s["manifest-list"]]["manifests"]],
                   "delete_expired")

    def delete_expired(self, ctx: Context) -> None:
        """Delete what only expired snapshots reference: their manifest lists, manifests no
        retained list names, and content files no retained manifest holds live."""
        job = self.job
        old, new = job.files[job.attempt_location], job.files[job.new_location]
        retained = {s["manifest-list"] for s in new["snapshots"]}
        kept_manifests = {item["manifest_path"] for path in retained
                          for item in job.files[path]["manifests"]}
        kept_files = {e["data_file"]["file_path"] for path in kept_manifests
                      for e in job.files[path]["entries"] if e["status"] != DELETED}
        lists = [s["manifest-list"] for s in old["snapshots"] if s["manifest-list"] not in retained]
        manifests = [item["manifest_path"] for path in lists
                     for item in job.files[path]["manifests"]
                     if item["manifest_path"] not in kept_manifests]
        content = [e["data_file"]["file_path"] for path in manifests
                   for e in job.files[path]["entries"]
                   if e["data_file"]["file_path"] not in kept_files]
        self.delete(ctx, lists + manifests + content)
        self.finish(ctx, OK, len(job.expired))

    # --- orphan removal ------------------------------------------------------------------------

    def plan_remove_orphans(self, ctx: Context) -> None:
        self.ask(ctx, [(STORE, lambda req: List(req, f"{LOCATION}/"))], "listed")

    def listed(self, ctx: Context, replies: list) -> None:
        self.job.scan = replies[0].files
        self.fetch(ctx, [s["manifest-list"] for s in self.job.base["snapshots"]],
                   "orphan_lists_loaded")

    def orphan_lists_loaded(self, ctx: Context) -> None:
        base = self.job.base
        self.fetch(ctx, [item["manifest_path"] for s in base["snapshots"]
                         for item in self.job.files[s["manifest-list"]]["manifests"]],
                   "remove_orphans")

    def remove_orphans(self, ctx: Context) -> None:
        job = self.job
        orphans = [path for path, modified in job.scan if path not in self.reachable_files()
                   and job.loaded_at - modified > self.older_than]
        self.delete(ctx, orphans)
        self.finish(ctx, OK, len(orphans))

    def reachable_files(self) -> set[str]:
        """Every file the metadata the job read names: itself, the metadata files in its
        log, and every snapshot's manifest list, manifests and content files (deleted
        entries too)."""
        job = self.job
        found = {job.location, *(e["metadata-file"] for e in job.base["metadata-log"])}
        for s in job.base["snapshots"]:
            found.add(s["manifest-list"])
            for item in job.files[s["manifest-list"]]["manifests"]:
                found.add(item["manifest_path"])
                found.update(e["data_file"]["file_path"]
                             for e in job.files[item["manifest_path"]]["entries"])
        return found

