"""A query engine's Iceberg library: one job at a time, each a chain of requests to the
catalog and the object store.

This module is the plumbing every operation shares: asking (with one timeout for a batch of
requests), reading the table (`refresh`: the catalog's pointer, the metadata file, the current
snapshot's manifest list), reading and writing files, and answering the client. The commit
protocol is in `commit.py`, the operations in `operations.py`.

A job ends in one of three ways. `fail` when it certainly committed nothing: everything it
wrote is deleted. `info` when a swap's answer was lost and never learned: nothing is deleted,
since the swap may have succeeded (Iceberg's CommitStateUnknownException; orphan removal
collects the files later if it did not). `ok` once the swap is known to have succeeded; what
follows a commit (deleting expired files) is best effort and cannot make it fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from checker.node import Context, Node
from implementations.iceberg.messages import (
    Delete,
    Done,
    Get,
    LoadTable,
    Lost,
    Op,
    Probe,
    Put,
    Working,
)
from implementations.iceberg.metadata import LOCATION, TABLE, current_snapshot, dumps

STORE, CATALOG = "store", "catalog"
RPC_TIMEOUT = 400  # a batch of requests unanswered this long has failed
OK, FAIL, INFO = "ok", "fail", "info"


@attrs.define
class Job:
    """One client operation in progress, and everything it has read and written."""

    client: str
    req: int
    f: str
    args: Any
    started: int  # the engine's clock when the job began
    files: dict[str, Any] = attrs.Factory(dict)  # path -> parsed JSON (files never change)
    written: list[str] = attrs.Factory(list)  # every path the job wrote
    location: str | None = None  # the metadata file the job last read (its base)
    base: dict | None = None
    loaded_at: int = 0  # when the job asked the catalog for that pointer
    committed: bool = False
    unsure: bool = False  # a swap's answer was lost: the commit may have happened
    result: Any = None
    # what the job commits, planned once and reused by every attempt
    snapshot_id: int | None = None
    starting: int | None = None  # the snapshot it planned against: validation starts here
    operation: str = ""  # the snapshot summary's
    added: list[str] = attrs.Factory(list)  # manifests of the files it adds
    added_files: list[dict] = attrs.Factory(list)
    removed: tuple[str, ...] = ()  # content files it removes
    referenced: tuple[str, ...] = ()  # data files its position deletes name
    scan: tuple = ()  # (data files, delete files) a plan chose to read
    expired: tuple[int, ...] = ()
    # the attempt in progress
    attempt: int = 0
    attempt_location: str = ""  # the base it swaps from
    new_location: str = ""  # the metadata file it swaps in
    attempt_paths: list[str] = attrs.Factory(list)
    resends: int = 0
    unseen: list[int] = attrs.Factory(list)  # snapshots committed since `starting`
    # the request in progress: its ids, their answers, and which method takes them
    asked: list[tuple] = attrs.Factory(list)
    replies: dict[tuple, Any] = attrs.Factory(dict)
    then: str = ""
    on_timeout: str = "abort"
    after: list[str] = attrs.Factory(list)  # where refresh, fetch and put go on to

    @property
    def listing(self) -> dict:
        """The base's current manifest list (empty before the first snapshot)."""
        snap = current_snapshot(self.base)
        return self.files[snap["manifest-list"]] if snap else {"manifests": []}


class EngineBase(Node):
    """Runs its client's operations, one at a time; volatile but for the last request id of
    each client (so that a duplicated request never runs twice) and an incarnation number
    (so that the paths it writes are new after a restart)."""

    def on_start(self, ctx: Context) -> None:
        self.incarnation = ctx.storage.get("incarnation", 0) + 1
        ctx.storage.put("incarnation", self.incarnation)
        self.requests = 0
        self.names = 0
        self.job: Job | None = None
        self.answered: dict[str, Done] = {}

    def leads(self) -> bool:
        return self.job is not None

    # --- jobs and clients -----------------------------------------------------------------

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Op():
                self.on_op(ctx, src, msg)
            case Probe(req) if req <= ctx.storage.get(f"last/{src}", 0):
                ctx.send(src, self.progress(src, req))  # (an operation not arrived: silence)
            case _ if self.awaits(getattr(msg, "req", None)):
                self.on_reply(ctx, msg)

    def awaits(self, req: Any) -> bool:
        """Whether the request in progress is waiting for this answer (not a duplicate, not
        the answer to an earlier request or job)."""
        job = self.job
        return job is not None and req in job.asked and req not in job.replies

    def on_op(self, ctx: Context, client: str, msg: Op) -> None:
        if msg.req <= ctx.storage.get(f"last/{client}", 0):
            return  # a duplicate, or older than one already started
        ctx.storage.put(f"last/{client}", msg.req)
        ctx.cancel_timer("rpc")  # a job still running was given up by its client: abandon it
        self.job = Job(client, msg.req, msg.f, msg.args, ctx.now())
        self.refresh(ctx, "plan")

    def plan(self, ctx: Context) -> None:
        getattr(self, "plan_" + self.job.f.replace("-", "_"))(ctx)

    def progress(self, client: str, req: int) -> Done | Working | Lost:
        """How the operation stands (unanswered while it has not arrived: it may yet)."""
        done = self.answered.get(client)
        if done is not None and done.req == req:
            return done
        job = self.job
        return Working(req) if job and (job.client, job.req) == (client, req) else Lost(req)

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        job = self.job
        self.answered[job.client] = Done(job.req, status, result)
        ctx.send(job.client, self.answered[job.client])
        ctx.cancel_timer("rpc")
        self.job = None

    def abort(self, ctx: Context, why: str = "timed out") -> None:
        """A request failed or timed out: the job ends as far as it got."""
        job = self.job
        if job.committed:
            self.finish(ctx, OK, job.result)
        elif job.unsure:
            self.finish(ctx, INFO)
        else:
            self.fail(ctx, why)

    def fail(self, ctx: Context, why: str) -> None:
        """Nothing was committed: delete everything the job wrote."""
        self.delete(ctx, self.job.written)
        self.finish(ctx, FAIL, why)

    # --- requests ---------------------------------------------------------------------------

    def ask(self, ctx: Context, calls: list[tuple[str, Callable[[tuple], Any]]], then: str,
            on_timeout: str = "abort") -> None:
        """Send every request, then hand all the answers to `then` (a method name, so that
        the job stays plain data) once they are in; `on_timeout` if they are not within
        RPC_TIMEOUT."""
        job = self.job
        job.asked, job.replies, job.then, job.on_timeout = [], {}, then, on_timeout
        for dst, make in calls:
            self.requests += 1
            req = (self.id, self.incarnation, self.requests)
            job.asked.append(req)
            ctx.send(dst, make(req))
        if not calls:
            getattr(self, then)(ctx, [])
            return
        ctx.set_timer("rpc", RPC_TIMEOUT)

    def on_reply(self, ctx: Context, msg: Any) -> None:
        job = self.job
        job.replies[msg.req] = msg
        if len(job.replies) == len(job.asked):
            ctx.cancel_timer("rpc")
            getattr(self, job.then)(ctx, [job.replies[req] for req in job.asked])

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "rpc" and self.job is not None:
            getattr(self, self.job.on_timeout)(ctx)

    def go_on(self, ctx: Context) -> None:
        getattr(self, self.job.after.pop())(ctx)

    # --- reading the table ------------------------------------------------------------------

    def refresh(self, ctx: Context, then: str) -> None:
        """Read the pointer, the metadata file it names, and its current manifest list."""
        self.job.after.append(then)
        self.job.loaded_at = ctx.now()
        self.ask(ctx, [(CATALOG, lambda req: LoadTable(req, TABLE))], "pointer_loaded")

    def pointer_loaded(self, ctx: Context, replies: list) -> None:
        self.job.location = replies[0].location
        self.fetch(ctx, [self.job.location], "metadata_loaded")

    def metadata_loaded(self, ctx: Context) -> None:
        job = self.job
        job.base = job.files[job.location]
        snap = current_snapshot(job.base)
        self.fetch(ctx, [snap["manifest-list"]] if snap else [], "go_on")

    def fetch_manifests(self, ctx: Context, then: str) -> None:
        self.fetch(ctx, [m["manifest_path"] for m in self.job.listing["manifests"]], then)

    def fetch(self, ctx: Context, paths: list[str], then: str) -> None:
        """Read the files not read yet, then go on to `then`; a missing file fails the job."""
        job = self.job
        job.after.append(then)
        wanted = [path for path in dict.fromkeys(paths) if path not in job.files]
        self.ask(ctx, [(STORE, lambda req, path=path: Get(req, path)) for path in wanted],
                 "fetched")

    def fetched(self, ctx: Context, replies: list) -> None:
        missing = [reply.path for reply in replies if reply.content is None]
        if missing:
            self.abort(ctx, f"{missing[0]} not found")
            return
        for reply in replies:
            self.job.files[reply.path] = json.loads(reply.content)
        self.go_on(ctx)

    # --- writing files ----------------------------------------------------------------------

    def token(self) -> str:
        """A name no writer has used: this engine's name, incarnation and a counter."""
        self.names += 1
        return f"{self.id}.{self.incarnation}-{self.names}"

    def new_path(self, kind: str) -> str:
        token = self.token()
        return {"data": f"{LOCATION}/data/{token}.json",
                "deletes": f"{LOCATION}/data/{token}-deletes.json",
                "manifest": f"{LOCATION}/metadata/{token}-m0.json"}[kind]

    def put(self, ctx: Context, documents: dict[str, Any], then: str) -> None:
        job = self.job
        job.after.append(then)
        calls = []
        for path, document in documents.items():
            job.files[path] = document
            job.written.append(path)
            content = dumps(document)
            calls.append((STORE, lambda req, path=path, content=content:
                          Put(req, path, content, len(content))))
        self.ask(ctx, calls, "stored")

    def stored(self, ctx: Context, replies: list) -> None:
        if all(reply.ok for reply in replies):
            self.go_on(ctx)
        else:
            self.abort(ctx, "a file to write existed")

    def delete(self, ctx: Context, paths: list[str]) -> None:
        """Delete files; nobody waits: a delete lost leaves an orphan for later removal."""
        for path in dict.fromkeys(paths):
            ctx.send(STORE, Delete(path))
