"""The commit protocol: optimistic concurrency through the catalog's compare-and-swap.

A writer plans against the snapshot it read and writes its new data and delete files and
their manifests once. Then each attempt:

1. builds a manifest list on the base it read: the base's manifests, with those holding files
   it removes rewritten (their entries DELETED), plus its new manifests;
2. writes a new metadata file: the base's, plus a snapshot (new sequence number, parent = the
   base's current snapshot), with the base in its metadata log;
3. asks the catalog to swap the pointer from the base to the new metadata file.

If the pointer has moved, the attempt failed for good (the pointer never returns to an old
file): the writer deletes the attempt's manifest list and metadata file, refreshes, and
validates its change against the snapshots committed since it planned; if none conflicts,
it tries again on the new base (at most RETRIES times), otherwise it fails. If the swap's
answer is lost, the writer cannot tell: it sends the swap again (a duplicate succeeds or finds
the pointer on its own file), and if it still hears nothing it reports `info` and deletes
nothing. A swap answered "moved on" after a lost answer may be hiding its own success: the
writer looks for its metadata file in the new metadata's log before it concludes anything.
"""

from __future__ import annotations

from typing import Any

from checker.node import Context
from implementations.iceberg.engine import CATALOG, INFO, OK, EngineBase
from implementations.iceberg.messages import CommitTable, Committed, Conflict, Refused
from implementations.iceberg.metadata import (
    ADDED,
    DATA,
    DATA_MANIFEST,
    DELETE_MANIFEST,
    DELETED,
    EQUALITY_DELETES,
    EXISTING,
    LOCATION,
    POSITION_DELETES,
    TABLE,
    add_snapshot,
    ancestors,
    data_file,
    dumps,
    entry,
    equality_delete_file,
    manifest,
    manifest_list_entry,
    position_delete_file,
    snapshot,
    summary,
    with_sequence,
)
from implementations.iceberg.scan import may_hold_id

DEADLINE = 2000  # a job's commit must reach the catalog within this long of its start
RESENDS = 2  # a swap whose answer is lost is sent again this many times
RETRIES = 3  # attempts after the first (the table property commit.retry.num-retries)
RECORDS = {DATA: data_file, POSITION_DELETES: position_delete_file,
           EQUALITY_DELETES: equality_delete_file}


class Writer(EngineBase):
    # --- what the job commits, written once --------------------------------------------------

    def begin_snapshot(self, ctx: Context) -> None:
        """The job's snapshot id, drawn once: every attempt commits the same snapshot."""
        job = self.job
        job.snapshot_id = ctx.random.randrange(1, 2**31)
        job.starting = job.base["current-snapshot-id"]
        ctx.note("snapshot", snapshot_id=job.snapshot_id, client=job.client, req=job.req)

    def write_changes(self, ctx: Context, operation: str, contents: list[tuple[int, list]],
                      removed: tuple[str, ...] = (), referenced: tuple[str, ...] = ()) -> None:
        """Write the new content files and one manifest per kind (data, deletes), then
        attempt the commit."""
        job = self.job
        documents: dict[str, Any] = {}
        for content, rows in contents:
            path = self.new_path("data" if content == DATA else "deletes")
            documents[path] = {"rows": rows}
            job.added_files.append(RECORDS[content](path, rows, len(dumps(documents[path]))))
        for kind in (DATA_MANIFEST, DELETE_MANIFEST):
            chosen = [f for f in job.added_files
                      if (f["content"] == DATA) == (kind == DATA_MANIFEST)]
            if chosen:
                path = self.new_path("manifest")
                documents[path] = manifest(kind, [entry(ADDED, job.snapshot_id, f)
                                                  for f in chosen])
                job.added.append(path)
        job.operation, job.removed, job.referenced = operation, removed, referenced
        self.put(ctx, documents, "attempt")

    # --- one attempt ------------------------------------------------------------------------

    def attempt(self, ctx: Context) -> None:
        if self.job.removed:
            self.fetch_manifests(ctx, "write_attempt")
        else:
            self.write_attempt(ctx)

    def write_attempt(self, ctx: Context) -> None:
        job = self.job
        job.attempt += 1
        sequence = job.base["last-sequence-number"] + 1
        documents: dict[str, Any] = {}
        listing, removed_files = [], []
        for item in job.listing["manifests"]:
            rewritten = self.without_removed(item)
            if rewritten is None:
                listing.append(item)
                continue
            path = self.new_path("manifest")
            documents[path] = rewritten
            listing.append(manifest_list_entry(path, len(dumps(rewritten)), rewritten,
                                               sequence, job.snapshot_id))
            removed_files += [e["data_file"] for e in rewritten["entries"]
                              if e["status"] == DELETED and e["snapshot_id"] == job.snapshot_id]
        for path in job.added:
            listing.append(manifest_list_entry(path, len(dumps(job.files[path])),
                                               job.files[path], sequence, job.snapshot_id))
        list_path = f"{LOCATION}/metadata/snap-{job.snapshot_id}-{job.attempt}-{self.token()}.json"
        documents[list_path] = {"manifests": listing}
        metadata = add_snapshot(job.base, job.location, job.snapshot_id, list_path,
                                summary(job.operation, job.added_files, removed_files, listing),
                                ctx.now())
        self.write_metadata(ctx, metadata, documents)

    def without_removed(self, item: dict) -> dict | None:
        """The manifest rewritten with the files this job removes marked DELETED, or None if
        it holds none of them."""
        job = self.job
        if not job.removed:
            return None
        entries = [e for e in job.files[item["manifest_path"]]["entries"]
                   if e["status"] != DELETED]
        hit = [e for e in entries if e["data_file"]["file_path"] in job.removed]
        if not hit:
            return None
        return manifest(job.files[item["manifest_path"]]["content"], [
            {**with_sequence(item, e), "status": EXISTING} for e in entries if e not in hit] + [
            {**with_sequence(item, e), "status": DELETED, "snapshot_id": job.snapshot_id}
            for e in hit])

    def write_metadata(self, ctx: Context, metadata: dict, documents: dict[str, Any]) -> None:
        job = self.job
        version = len(metadata["metadata-log"]) + 1
        job.new_location = f"{LOCATION}/metadata/{version:05d}-{self.token()}.metadata.json"
        documents[job.new_location] = metadata
        job.attempt_location = job.location
        job.attempt_paths = list(documents)
        self.put(ctx, documents, "swap")

    # --- the swap -----------------------------------------------------------------------------

    def swap(self, ctx: Context) -> None:
        self.job.resends = 0
        self.send_swap(ctx)

    def send_swap(self, ctx: Context) -> None:
        job = self.job
        self.ask(ctx, [(CATALOG, lambda req: CommitTable(
            req, TABLE, job.attempt_location, job.new_location, job.started + DEADLINE))],
            "swapped", on_timeout="swap_timed_out")

    def swapped(self, ctx: Context, replies: list) -> None:
        reply = replies[0]
        if isinstance(reply, Committed) or \
                (isinstance(reply, Conflict) and reply.current == self.job.new_location):
            self.committed(ctx)
        elif isinstance(reply, Refused) and not self.job.unsure:
            self.fail(ctx, "past its deadline")  # no copy of this swap can succeed any more
        else:  # the pointer has moved on, perhaps through our own file: look
            self.refresh(ctx, "after_conflict")

    def swap_timed_out(self, ctx: Context) -> None:
        """The swap's answer is lost: it may have succeeded. Ask again; in the end, say so."""
        job = self.job
        job.unsure = True
        if job.resends < RESENDS:
            job.resends += 1
            self.send_swap(ctx)
        else:
            self.finish(ctx, INFO)

    def committed(self, ctx: Context) -> None:
        job = self.job
        job.committed, job.unsure, job.result = True, False, job.snapshot_id
        after = getattr(self, f"after_{job.f}", None)
        if after is None:
            self.finish(ctx, OK, job.result)
        else:
            after(ctx)

    # --- after a failed swap: refresh, validate, retry ---------------------------------------

    def after_conflict(self, ctx: Context) -> None:
        job = self.job
        log = [e["metadata-file"] for e in job.base["metadata-log"]]
        if job.new_location == job.location or job.new_location in log:
            self.committed(ctx)  # an earlier copy of the swap succeeded
            return
        job.unsure = False  # the pointer left our base without passing through our file
        self.delete(ctx, job.attempt_paths)
        if job.attempt > RETRIES or ctx.now() > job.started + DEADLINE:
            self.fail(ctx, "out of retries")
        elif job.f == "expire":
            self.plan_expire(ctx)  # expiry is planned again on the new base
        elif job.f == "append":
            self.attempt(ctx)  # an append conflicts with nothing
        else:
            self.revalidate(ctx)

    def revalidate(self, ctx: Context) -> None:
        """Read what the snapshots committed since the job planned added and deleted."""
        job = self.job
        chain = ancestors(job.base, job.base["current-snapshot-id"])
        if job.starting not in chain:  # expired: the history in between is unknown
            self.fail(ctx, f"snapshot {job.starting} expired: cannot validate")
            return
        job.unseen = chain[:chain.index(job.starting)]
        lists = [snapshot(job.base, s)["manifest-list"] for s in job.unseen]
        self.fetch(ctx, lists, "unseen_lists_loaded")

    def unseen_lists_loaded(self, ctx: Context) -> None:
        job = self.job
        paths = [item["manifest_path"] for s in job.unseen
                 for item in job.files[snapshot(job.base, s)["manifest-list"]]["manifests"]
                 if item["added_snapshot_id"] == s]
        self.fetch(ctx, paths, "validate")

    def validate(self, ctx: Context) -> None:
        conflict = self.conflicts(self.changes())
        if conflict is None:
            self.attempt(ctx)
        else:
            self.fail(ctx, conflict)

    def changes(self) -> list[tuple[str, list[dict], set[str]]]:
        """Per unseen snapshot: its operation, the files it added, the paths it deleted."""
        job = self.job
        found = []
        for s in job.unseen:
            snap = snapshot(job.base, s)
            added, deleted = [], set()
            for item in job.files[snap["manifest-list"]]["manifests"]:
                if item["added_snapshot_id"] != s:
                    continue
                for e in job.files[item["manifest_path"]]["entries"]:
                    if e["snapshot_id"] == s and e["status"] == ADDED:
                        added.append(e["data_file"])
                    elif e["snapshot_id"] == s and e["status"] == DELETED:
                        deleted.add(e["data_file"]["file_path"])
            found.append((snap["summary"]["operation"], added, deleted))
        return found

    def conflicts(self, changes: list[tuple[str, list[dict], set[str]]]) -> str | None:
        """Why the job cannot commit on top of the unseen snapshots, or None. Iceberg's
        validations, at the serializable isolation level:
        - a file the job removes, or that its position deletes name, was removed meanwhile;
        - delete files were added meanwhile, and the job rewrites data files (it would bring
          back the rows they delete);
        - a delete or overwrite of one id, and data that may hold that id was added
          meanwhile by an append or overwrite (a compaction's rewrite adds no new rows)."""
        job = self.job
        key = job.args[0] if job.f in ("delete", "overwrite") else None
        for operation, added, deleted in changes:
            gone = deleted & (set(job.removed) | set(job.referenced))
            if gone:
                return f"{sorted(gone)[0]} was removed by a concurrent {operation}"
            if job.removed and any(f["content"] != DATA for f in added):
                return f"a concurrent {operation} added deletes for files this rewrites"
            if key is not None and operation in ("append", "overwrite") and \
                    any(f["content"] == DATA and may_hold_id(f, key) for f in added):
                return f"a concurrent {operation} added data that may hold id {key}"
        return None
