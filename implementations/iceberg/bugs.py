"""The seeded bugs: each a query engine with one method (or one setting) changed."""

from __future__ import annotations

from checker.node import Context
from implementations.iceberg.engine import CATALOG
from implementations.iceberg.messages import LoadTable, SetPointer
from implementations.iceberg.metadata import TABLE
from implementations.iceberg.operations import Engine


class CheckThenWrite(Engine):
    """Seeded bug: the pointer swap is a read followed by a blind write, not one
    compare-and-swap: the writer loads the pointer, sees its base still there, and sets the
    pointer to its new file without a condition.

    Breaks: another writer's commit that lands between the read and the write is lost: the
    new metadata was built on the old base and does not hold it.
    Caught by: committed-snapshots-reachable.
    Teaches: the Iceberg spec, "Commit Conflict Resolution and Retry": the catalog must swap
    atomically; a catalog with no conditional write cannot host concurrent writers.
    """

    def send_swap(self, ctx: Context) -> None:
        self.ask(ctx, [(CATALOG, lambda req: LoadTable(req, TABLE))], "write_if_unchanged",
                 on_timeout="swap_timed_out")

    def write_if_unchanged(self, ctx: Context, replies: list) -> None:
        job = self.job
        if replies[0].location != job.attempt_location:
            self.swapped(ctx, replies)  # seen to have moved: handled as a conflict
            return
        self.ask(ctx, [(CATALOG, lambda req: SetPointer(req, TABLE, job.new_location))],
                 "swapped", on_timeout="swap_timed_out")


class CleanupAfterAmbiguous(Engine):
    """Seeded bug: a writer that never hears its swap's answer takes the commit for failed
    and deletes every file it wrote.

    Breaks: the swap did succeed (only its answer was lost): the current metadata now names
    a manifest list, manifests and data files that are gone.
    Caught by: no-dangling-references.
    Teaches: Iceberg's CommitStateUnknownException: when the outcome is unknown, clean up
    nothing and leave the files to orphan removal.
    """

    def swap_timed_out(self, ctx: Context) -> None:
        self.fail(ctx, "swap unanswered")


class RetryWithoutValidation(Engine):
    """Seeded bug: after a failed swap the writer refreshes and retries its change on the
    new base without validating it against the snapshots committed meanwhile.

    Breaks: a change planned on an old snapshot is applied to a table that has moved on: a
    file two writers rewrite is replaced twice (its other rows are then there twice), a
    rewrite brings back a row a concurrent delete removed, a position delete names a file a
    concurrent compaction replaced.
    Caught by: snapshots-match-model (rows twice), or committed-deletes-stay-deleted (a
    deleted row back), whichever the schedule shows first.
    Teaches: the Iceberg spec, "Commit Conflict Resolution and Retry": a retry reapplies the
    change only once it is validated against the snapshots it did not see.
    """

    def conflicts(self, changes: list) -> str | None:
        return None


class OrphansWithoutAge(Engine):
    """Seeded bug: orphan removal deletes every listed file no metadata references, however
    young.

    Breaks: a writer's files are unreferenced until its swap: removed while its commit is in
    flight, they are missing once it lands. The listing's lag narrows the window, no more.
    Caught by: no-dangling-references.
    Teaches: Iceberg's remove_orphan_files `older_than`: never remove files younger than the
    longest write.
    """

    older_than = 0
