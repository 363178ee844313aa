"""Workers run the transactions (Percolator's client library); clients hand them over."""

from __future__ import annotations

from typing import Any

import attrs

from checker.client import Client
from checker.node import Context, Node
from implementations.percolator.oracle import GetTimestamp, Timestamp
from implementations.percolator.store import (
    Acknowledge,
    CheckPrimary,
    Commit,
    Done,
    Get,
    Locked,
    Notified,
    Prewrite,
    Resolve,
    Scan,
    Status,
    Value,
)
from invariants.transactions import APPEND, READ

BACKOFF = 20  # a reader that meets a lock waits this long before resolving it
SCAN = 1000  # an observer looks for notified rows this often
ACKNOWLEDGE = "ack"  # an observer's micro-op
PROBE = 200  # a client asks its worker this often whether its transaction still moves
STALLS = 2  # probes in a row without progress after which a client gives up
PATIENCE = 2  # probe timers a client lets pass before sending an unanswered probe again
AWAIT_OBSERVERS = "await-observers"  # a client's operation: wait until no row is notified


@attrs.frozen
class Txn:
    """A client's transaction: micro-ops ["r", key, None] and ["append", key, value]."""

    req: int
    mops: tuple


@attrs.frozen
class TxnOk:
    req: int
    result: tuple


@attrs.frozen
class TxnAborted:
    req: int


@attrs.frozen
class Probe:
    """The client asks whether its transaction is still making progress. It carries the
    transaction, so that a worker the `Txn` has not reached (lost, or overtaken by the probe)
    takes it from the probe."""

    req: int
    mops: tuple


@attrs.frozen
class Progress:
    req: int
    moving: bool


# --- workers: the transactions ---------------------------------------------------------------


@attrs.define
class Transaction:
    client: str
    req: int
    mops: tuple
    start_ts: int = 0
    position: int = 0  # micro-ops done
    snapshot: dict[str, tuple] = attrs.Factory(dict)  # rows read as of start_ts
    writes: dict[str, tuple] = attrs.Factory(dict)  # buffered; the first is the primary
    result: list = attrs.Factory(list)
    prewritten: int = 0
    blocked: tuple | None = None  # (row, lock_ts, primary) a read waits on
    commit_ts: int = 0

    @property
    def primary(self) -> str:
        return next(iter(self.writes))


class Worker(Node):
    """Runs one client's transactions; its state is volatile (a crash abandons its locks),
    except the last request of each client, so that a duplicated request never runs twice."""

    def __init__(self, node_id: str, placement: dict[str, str], oracle: str) -> None:
        super().__init__(node_id)
        self.placement = placement  # row -> tablet server
        self.oracle = oracle

    def on_start(self, ctx: Context) -> None:
        self.incarnation = ctx.storage.get("incarnation", 0) + 1  # request ids stay unique
        ctx.storage.put("incarnation", self.incarnation)
        ctx.note("worker-started", incarnation=self.incarnation)
        self.requests = 0
        self.waiting: dict[tuple, str] = {}  # request -> the method that takes its answer
        self.sent: dict[tuple, tuple[str, Any]] = {}  # request -> (server, message) unanswered
        self.answers = self.answers_at_probe = 0  # answers received, and as of the last probe
        self.answered: dict[str, TxnOk | TxnAborted] = {}  # each client's last answer
        self.txn: Transaction | None = None

    def leads(self) -> bool:
        return self.txn is not None

    def call(self, ctx: Context, dst: str, make: Any, then: str) -> None:
        """Send `make(req)` and, once answered, hand the answer to `then`. A request still
        unanswered when the client next finds the transaction stalled is sent again
        (`resend`): every step is idempotent at the tablet server, and of two timestamps the
        oracle hands out for one request the first answer is taken."""
        self.requests += 1
        req = (self.id, self.incarnation, self.requests)
        self.waiting[req] = then
        self.sent[req] = (dst, make(req))
        ctx.send(dst, self.sent[req][1])

    def resend(self, ctx: Context) -> bool:
        """Send every unanswered request again; whether there was any."""
        for dst, msg in self.sent.values():
            ctx.send(dst, msg)
        return bool(self.sent)

    def tell(self, ctx: Context, row: str, make: Any) -> None:
        """A request whose answer nobody waits for: lazy commits and rollbacks."""
        ctx.send(self.placement[row], make((self.id, self.incarnation, 0)))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Txn):
            self.on_txn(ctx, src, msg)
        elif isinstance(msg, Probe):
            self.on_probe(ctx, src, msg)
        elif (then := self.waiting.pop(getattr(msg, "req", None), None)) is not None:
            self.sent.pop(msg.req, None)
            self.answers += 1
            getattr(self, then)(ctx, msg)

    def on_probe(self, ctx: Context, client: str, msg: Probe) -> None:
        """Resend the answer if the transaction is over; otherwise it moves if it got an
        answer since the last probe, has requests to send again, or waits out a lock."""
        txn = self.txn
        if self.answered.get(client, TxnAborted(0)).req == msg.req:
            ctx.send(client, self.answered[client])
            return
        if msg.req > ctx.storage.get(f"last/{client}", 0):  # its Txn has not arrived
            self.on_txn(ctx, client, Txn(msg.req, msg.mops))
            txn = self.txn
        mine = txn is not None and txn.req == msg.req
        moving = mine and (self.answers > self.answers_at_probe or self.resend(ctx)
                           or txn.blocked is not None)
        self.answers_at_probe = self.answers
        ctx.send(client, Progress(msg.req, moving))

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "backoff" and self.txn is not None:
            self.resolve_lock(ctx, self.txn)

    # --- start and reads ------------------------------------------------------------------

    def on_txn(self, ctx: Context, client: str, msg: Txn) -> None:
        if msg.req <= ctx.storage.get(f"last/{client}", 0):
            return  # a duplicate
        ctx.storage.put(f"last/{client}", msg.req)
        self.forget(ctx)  # the client gave up on any earlier one: abandon it, locks and all
        self.txn = Transaction(client, msg.req, msg.mops)
        self.call(ctx, self.oracle, GetTimestamp, "began")

    def began(self, ctx: Context, msg: Timestamp) -> None:
        self.txn.start_ts = msg.ts
        self.run_mops(ctx, self.txn)

    def run_mops(self, ctx: Context, txn: Transaction) -> None:
        """Reads see the transaction's own writes, else the snapshot as of start_ts."""
        while txn.position < len(txn.mops):
            f, row, value = txn.mops[txn.position]
            if row not in txn.writes and row not in txn.snapshot:
                self.call(ctx, self.placement[row],
                          lambda req, row=row: Get(req, row, txn.start_ts), "got")
                return
            current = txn.writes.get(row, txn.snapshot.get(row))
            if f == APPEND:
                txn.writes[row] = (*current, value)
                txn.result.append([APPEND, row, value])
            elif f == ACKNOWLEDGE:  # an observer's: append the change, unless already there
                if value not in current:
                    txn.writes[row] = (*current, value)
            else:
                txn.result.append([READ, row, list(current)])
            txn.position += 1
        self.prewrite_primary(ctx, txn)

    def got(self, ctx: Context, msg: Value | Locked) -> None:
        txn = self.txn
        row = txn.mops[txn.position][1]
        if isinstance(msg, Locked):
            txn.blocked = (row, msg.lock_ts, msg.primary)
            ctx.set_timer("backoff", BACKOFF)
            return
        txn.snapshot[row] = msg.value
        self.run_mops(ctx, txn)

    def resolve_lock(self, ctx: Context, txn: Transaction) -> None:
        """After backing off, ask the lock's primary what became of its transaction."""
        _, lock_ts, primary = txn.blocked
        self.call(ctx, self.placement[primary],
                  lambda req: CheckPrimary(req, primary, lock_ts), "checked")

    def checked(self, ctx: Context, msg: Status) -> None:
        txn = self.txn
        row, lock_ts, primary = txn.blocked
        if msg.pending:
            ctx.set_timer("backoff", BACKOFF)
        elif row == primary:  # the primary's answer resolved it already
            self.retry_read(ctx)
        else:  # roll the secondary forward or back, as the primary decided
            self.call(ctx, self.placement[row],
                      lambda req: Resolve(req, row, lock_ts, msg.commit_ts), "retry_read")

    def retry_read(self, ctx: Context, msg: Any = None) -> None:
        self.txn.blocked = None
        self.run_mops(ctx, self.txn)

    # --- commit ---------------------------------------------------------------------------

    def prewrite_primary(self, ctx: Context, txn: Transaction) -> None:
        if not txn.writes:
            self.finish(ctx, TxnOk(txn.req, tuple(txn.result)))
            return
        ctx.note("writes", start_ts=txn.start_ts, rows=tuple(txn.writes))
        self.prewrite(ctx, txn, txn.primary, "prewrote_primary")

    def prewrite(self, ctx: Context, txn: Transaction, row: str, then: str) -> None:
        self.call(ctx, self.placement[row],
                  lambda req: Prewrite(req, row, txn.start_ts, txn.primary, txn.writes[row]),
                  then)

    def prewrote_primary(self, ctx: Context, msg: Done) -> None:
        """Secondaries are prewritten only once the primary is locked, so that any lock a
        reader meets names a primary that is locked or decided."""
        txn = self.txn
        if not msg.ok:
            self.abort(ctx, txn)
            return
        txn.prewritten = 1
        for row in list(txn.writes)[1:]:
            self.prewrite(ctx, txn, row, "prewrote")
        if len(txn.writes) == 1:
            self.call(ctx, self.oracle, GetTimestamp, "commit_primary")

    def prewrote(self, ctx: Context, msg: Done) -> None:
        txn = self.txn
        if not msg.ok:
            self.abort(ctx, txn)
            return
        txn.prewritten += 1
        if txn.prewritten == len(txn.writes):
            self.call(ctx, self.oracle, GetTimestamp, "commit_primary")

    def commit_primary(self, ctx: Context, msg: Timestamp) -> None:
        txn = self.txn
        txn.commit_ts = msg.ts
        self.call(ctx, self.placement[txn.primary],
                  lambda req: Commit(req, txn.primary, txn.start_ts, msg.ts), "committed")

    def committed(self, ctx: Context, msg: Done) -> None:
        """The primary's write record is the commit point: answer, then commit the
        secondaries lazily (a reader rolls forward any the worker does not live to commit)."""
        txn = self.txn
        if not msg.ok:  # a reader found the transaction stale and rolled it back
            self.abort(ctx, txn)
            return
        for row in list(txn.writes)[1:]:
            self.tell(ctx, row,
                      lambda req, row=row: Commit(req, row, txn.start_ts, txn.commit_ts))
        self.finish(ctx, TxnOk(txn.req, tuple(txn.result)))

    def abort(self, ctx: Context, txn: Transaction) -> None:
        for row in txn.writes:
            self.tell(ctx, row, lambda req, row=row: Resolve(req, row, txn.start_ts, None))
        self.finish(ctx, TxnAborted(txn.req))

    def finish(self, ctx: Context, answer: TxnOk | TxnAborted) -> None:
        ctx.send(self.txn.client, answer)
        self.answered[self.txn.client] = answer
        self.forget(ctx)

    def forget(self, ctx: Context) -> None:
        self.txn = None
        self.waiting.clear()
        self.sent.clear()
        ctx.cancel_timer("backoff")


# --- observers -------------------------------------------------------------------------------


class Observer(Worker):
    """Percolator's notifications: every commit sets the row's `notify` column; an observer
    scans for notified rows and runs one transaction per change, at most once: it appends the
    change (its commit timestamp) to the row's acknowledgement row `ack/<row>` unless it is
    there already. Two runs for one change write the same row, so write-write conflict aborts
    one; a run after a committed one finds the change acknowledged and writes nothing. Then
    the notification is cleared (Percolator keeps the acknowledgement in a column of the
    observed row; with one lock per row here, a row of its own keeps it out of the data's way).
    """

    def __init__(self, node_id: str, placement: dict[str, str], oracle: str,
                 watched: tuple[str, ...]) -> None:
        super().__init__(node_id, placement, oracle)
        self.watched = watched

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.observing: tuple[str, int] | None = None  # (row, change)
        ctx.set_timer("scan", SCAN)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name != "scan":
            super().on_timer(ctx, name)
            return
        self.forget(ctx)  # what has not finished since the last scan has stalled: abandon it
        for tablet in sorted(set(self.placement.values())):
            self.call(ctx, tablet, Scan, "notified")
        ctx.set_timer("scan", SCAN)

    def notified(self, ctx: Context, msg: Notified) -> None:
        changes = [(row, change) for row, change in msg.changes if row in self.watched]
        if self.txn is not None or not changes:
            return
        self.observing = row, change = changes[0]
        self.txn = Transaction(self.id, 0, ((ACKNOWLEDGE, f"ack/{row}", change),))
        self.call(ctx, self.oracle, GetTimestamp, "began")

    def finish(self, ctx: Context, answer: TxnOk | TxnAborted) -> None:
        """Clear the notification once the change is acknowledged (or found acknowledged)."""
        row, change = self.observing
        if isinstance(answer, TxnOk):
            self.tell(ctx, row, lambda req: Acknowledge(req, row, change))
        self.forget(ctx)


# --- the client ------------------------------------------------------------------------------


class PercolatorClient(Client):
    """Hands each transaction to its worker and probes it every PROBE ticks. Once the worker
    answers STALLS probes in a row that the transaction is not moving (it crashed and lost
    it, or has nothing left to wait for), the outcome is unknown: `info`.

    Its other operation, AWAIT_OBSERVERS of some rows, asks every tablet server which rows
    are notified, every PROBE ticks, and returns once none of those rows is: the observers
    have taken every change to them. It is how an application waits for its incremental
    processing to catch up, and how the run's ending gives the observers their time."""

    def __init__(self, node_id: str, worker: str, tablets: tuple[str, ...] = ()) -> None:
        super().__init__(node_id)
        self.worker = worker
        self.tablets = tablets

    def on_start(self, ctx: Context) -> None:
        self.req = 0

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1
        if f == AWAIT_OBSERVERS:
            self.scan(ctx)
            return
        self.mops = tuple(tuple(mop) for mop in args)
        ctx.send(self.worker, Txn(self.req, self.mops))
        self.unanswered = 0  # probe timers since the last probe went unanswered
        self.probing = False  # a probe is unanswered
        self.stalls = 0
        ctx.set_timer("probe", PROBE)

    def scan(self, ctx: Context) -> None:
        """Ask every tablet server for its notified rows, and again after PROBE ticks."""
        self.unscanned = set(self.tablets)
        self.notified: set[str] = set()
        for tablet in self.tablets:
            ctx.send(tablet, Scan(self.req))
        ctx.set_timer("probe", PROBE)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return
        match msg:
            case TxnOk(_, result):
                self.finish(ctx, "ok", [list(mop) for mop in result])
            case TxnAborted():
                self.finish(ctx, "fail")
            case Progress(_, moving) if self.probing:
                self.probing, self.unanswered = False, 0
                self.stalls = 0 if moving else self.stalls + 1
                if self.stalls == STALLS:
                    self.finish(ctx, "info")
            case Notified(_, changes):
                self.unscanned.discard(src)
                self.notified |= {row for row, _ in changes if row in self.op[1]}
                if not self.unscanned and not self.notified:
                    self.finish(ctx, "ok")

    def on_timer(self, ctx: Context, name: str) -> None:
        """Probe again, or scan again. An unanswered probe is no verdict: the worker may be
        slow, cut off or down, and a restarted worker answers that it lost the transaction. It
        is sent again only after PATIENCE timers, in case it was lost: probes do not pile up
        meanwhile."""
        if self.op is None:
            return
        if self.op[0] == AWAIT_OBSERVERS:
            self.scan(ctx)
            return
        if self.probing and self.unanswered < PATIENCE:
            self.unanswered += 1
            ctx.set_timer("probe", PROBE)
            return
        self.probing, self.unanswered = True, 0
        ctx.send(self.worker, Probe(self.req, self.mops))
        ctx.set_timer("probe", PROBE)

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("probe")
        self.complete(ctx, status, result)


# --- seeded bug ----------------------------------------------------------------------------


class CleanupSecondaryFirst(Worker):
    """Seeded bug: a reader that meets a secondary lock rolls it back without asking the
    primary.

    Breaks: the primary is still locked and its worker alive; the worker commits the primary,
    so the transaction is committed, yet one of its writes was erased (torn transaction).
    Caught by: atomic (a committed transaction's write is missing at quiescence).
    Teaches: Percolator section 2.2: the primary lock is the single point that decides a
    transaction; cleanup must resolve the primary first and then follow its decision.
    """

    def resolve_lock(self, ctx: Context, txn: Transaction) -> None:
        row, lock_ts, primary = txn.blocked
        if row == primary:
            super().resolve_lock(ctx, txn)
            return
        self.call(ctx, self.placement[row],
                  lambda req: Resolve(req, row, lock_ts, None), "retry_read")


class AckBeforeCommitPoint(Worker):
    """Seeded bug: the worker tells its client the transaction committed as soon as it sends
    the primary's Commit, without waiting for the tablet server's answer.

    Breaks: the commit point is the primary's write record, and it may never be written: the
    Commit is lost, or a reader found the primary lock stale and rolled it back first. The
    client was told `ok`; a transaction that starts afterwards does not see the write.
    Caught by: reads-see-earlier-commits. Teaches: Percolator section 2.2: the transaction
    commits when the primary's write record replaces its lock, and not a moment before.
    """

    def commit_primary(self, ctx: Context, msg: Timestamp) -> None:
        super().commit_primary(ctx, msg)
        ctx.send(self.txn.client, TxnOk(self.txn.req, tuple(self.txn.result)))
