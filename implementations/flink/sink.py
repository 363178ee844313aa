"""The exactly-once sink: a two-phase commit driven by checkpoints (Flink's
TwoPhaseCommitSinkFunction), into an external transactional store.

Between two barriers the sink collects the window results in its open transaction. At a
checkpoint's barrier it **pre-commits** the transaction: flushes it to the store, which keeps
it durable but pending (invisible to readers), and only then acknowledges the checkpoint,
its snapshot listing the pre-committed transactions not yet known committed. When the
JobManager says the checkpoint is **complete**, the sink commits them. A restarted job's sink
commits the pending transactions of the checkpoint it was restored from (committing twice is
harmless) and aborts every newer one: they belong to checkpoints that never completed, and
their results will be computed again from the restored offsets.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.flink.messages import (
    AbortAfter,
    Commit,
    CommitDone,
    Committed,
    Complete,
    Deploy,
    PreCommit,
    PreCommitted,
    Read,
    ReadResult,
    Result,
)
from implementations.flink.tasks import Task


@attrs.frozen
class SinkState:
    """The sink's snapshot: its pre-committed transactions not yet known committed; a
    transaction is named by the checkpoint whose barrier closed it."""

    pending: tuple[int, ...]


class TwoPhaseCommitSink(Task):
    def __init__(self, node_id: str, jobmanager: str, inputs: tuple[str, ...],
                 store: str) -> None:
        super().__init__(node_id, jobmanager, inputs)
        self.store = store

    def deploy(self, ctx: Context, msg: Deploy) -> None:
        self.open: list[tuple[str, int, int]] = []  # the open transaction's records
        self.pending = list(msg.state.pending) if msg.state else []
        self.preparing: int | None = None  # pre-committed, not yet confirmed by the store
        self.final = msg.checkpoint if msg.final else None  # to report once committed
        ctx.send(self.store, AbortAfter(self.attempt, msg.checkpoint))
        for txn in self.pending:
            ctx.send(self.store, Commit(self.attempt, txn))
        self.report_final(ctx)

    def on_record(self, ctx: Context, src: str, result: Result) -> None:
        self.open.append((result.key, result.start, result.value))

    def snapshot(self, ctx: Context, checkpoint: int) -> None:
        """Pre-commit the open transaction, as Flink's snapshotState does: synchronously, the
        inputs held until the store has it."""
        if not self.open:  # nothing to flush: the snapshot is the pending list as it is
            self.ack(ctx, checkpoint, SinkState(tuple(self.pending)))
            return
        self.preparing = checkpoint
        self.pre_commit(ctx, checkpoint, tuple(self.open))
        self.open = []
        self.blocked = set(self.inputs)

    def pre_commit(self, ctx: Context, txn: int, records: tuple) -> None:
        ctx.send(self.store, PreCommit(self.attempt, txn, records))

    def on_control(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case PreCommitted(_, txn) if txn == self.preparing:
                self.preparing = None
                self.pending.append(txn)
                self.ack(ctx, txn, SinkState(tuple(self.pending)))
                self.blocked = set()
                self.resume(ctx)
            case Complete(_, checkpoint, final):
                for txn in self.pending:
                    if txn <= checkpoint:
                        ctx.send(self.store, Commit(self.attempt, txn))
                self.final = checkpoint if final else None
                self.report_final(ctx)
            case CommitDone(_, txn) if txn in self.pending:
                self.pending.remove(txn)
                self.report_final(ctx)

    def report_final(self, ctx: Context) -> None:
        """Once the final checkpoint's transactions are committed, the job is done."""
        if self.final is not None and not any(txn <= self.final for txn in self.pending):
            ctx.send(self.jobmanager, Committed(self.attempt, self.final))
            self.final = None


class CommitAtPreCommit(TwoPhaseCommitSink):
    """Seeded bug: the sink commits its transaction as soon as it pre-commits it, without
    waiting for the checkpoint to complete.

    Breaks: if the job fails before that checkpoint completes, it restarts from the one
    before; the windows are computed again and committed again.
    Caught by: committed-output (a window's result committed twice).
    Teaches: Flink's TwoPhaseCommitSinkFunction: commit only on notifyCheckpointComplete,
    since a checkpoint that never completes is rolled back.
    """

    def pre_commit(self, ctx: Context, txn: int, records: tuple) -> None:
        super().pre_commit(ctx, txn, records)
        ctx.send(self.store, Commit(self.attempt, txn))


# --- the external store ----------------------------------------------------------------------


@attrs.frozen
class Transaction:
    status: str  # PENDING, COMMITTED or ABORTED
    records: tuple[tuple[str, int, int], ...]


PENDING, COMMITTED, ABORTED = "pending", "committed", "aborted"


class TransactionalStore(Node):
    """An external store with transactions: a pre-committed transaction is durable and
    invisible; committing it appends its records to the committed output, once. Readers see
    only the committed output. Everything lives in durable storage."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case PreCommit(attempt, txn, records):
                if self.transaction(ctx, txn) is None:
                    ctx.storage.put(f"txn/{txn}", Transaction(PENDING, records))
                ctx.send(src, PreCommitted(attempt, txn))
            case Commit(attempt, txn):
                self.commit(ctx, txn)
                ctx.send(src, CommitDone(attempt, txn))
            case AbortAfter(_, txn):
                for other in self.transactions(ctx):
                    if other > txn and self.transaction(ctx, other).status == PENDING:
                        ctx.storage.put(f"txn/{other}", Transaction(ABORTED, ()))
            case Read(req, key):
                output = ctx.storage.get("output", ())
                ctx.send(src, ReadResult(req, tuple(r for r in output
                                                    if key is None or r[0] == key)))

    def commit(self, ctx: Context, txn: int) -> None:
        transaction = self.transaction(ctx, txn)
        if transaction is None or transaction.status != PENDING:
            return  # committed already (or never pre-committed)
        ctx.storage.put("output", ctx.storage.get("output", ()) + transaction.records)
        ctx.storage.put(f"txn/{txn}", Transaction(COMMITTED, transaction.records))

    @staticmethod
    def transaction(ctx: Context, txn: int) -> Transaction | None:
        return ctx.storage.get(f"txn/{txn}")

    @staticmethod
    def transactions(ctx: Context) -> list[int]:
        return sorted(int(key.removeprefix("txn/")) for key in ctx.storage.items()
                      if key.startswith("txn/"))
