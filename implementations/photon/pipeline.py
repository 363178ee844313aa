"""One datacenter's pipeline: the dispatcher, the joiner, the event store and the output log.

Each datacenter holds a copy of both logs and runs the whole pipeline on them, so every click
is joined in both; the IdRegistry (`registry.py`) lets exactly one of them output it.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node
from implementations.photon.messages import (
    AlreadyJoined,
    Click,
    Found,
    HowFar,
    Idle,
    Insert,
    Inserted,
    Join,
    Joined,
    JoinedClick,
    LogClick,
    Logged,
    LogQuery,
    Lookup,
    Missing,
    NotMaster,
    NotYet,
    Output,
    OutputDone,
    Query,
    Token,
)

JOIN_TIMEOUT = 400  # a dispatcher sends a click again after this long without an answer
BACKOFF = 20  # ... and retries a click whose query is not there yet after this, doubled
MAX_BACKOFF = 160  # each time up to this
CALL_TIMEOUT = 200  # a joiner asks again (another registry replica) after this long
NO_MASTER = 150  # a joiner told that no registry master is known asks again after this long
LOOKUP, REGISTER, OUTPUT = "lookup", "register", "output"  # the stages of a join


def retry_timer(click_id: str) -> str:
    return f"retry/{click_id}"


class Worker(Node):
    """A dispatcher or a joiner: answers the harness's `HowFar` once it has nothing left to
    do (the harness asks again now and then: an answer may be lost, or the worker crash)."""

    watchers: dict[str, int]  # who asked, and in which round

    def busy(self) -> bool:
        raise NotImplementedError

    def watch(self, ctx: Context, src: str, round_: int) -> None:
        self.watchers[src] = round_
        self.report_idle(ctx)

    def report_idle(self, ctx: Context) -> None:
        if not self.busy():
            for watcher, round_ in self.watchers.items():
                ctx.send(watcher, Idle(round_))
            self.watchers = {}


class Dispatcher(Worker):
    """Reads the datacenter's click log and sends every click to the joiner until it is
    joined here or known to be joined elsewhere. A click whose query is not in the event store
    yet comes back, and is retried after an exponential backoff. The click log and which
    clicks are done are durable; what is in flight is not."""

    def __init__(self, node_id: str, joiner: str) -> None:
        super().__init__(node_id)
        self.joiner = joiner

    def on_start(self, ctx: Context) -> None:
        stored = ctx.storage.items()
        self.backlog: dict[str, Click] = {
            key.removeprefix("click/"): click for key, click in sorted(stored.items())
            if key.startswith("click/") and f"done/{click.click_id}" not in stored}
        self.tries: dict[str, int] = {}  # "not yet" answers per click, for the backoff
        self.watchers = {}
        for click in self.backlog.values():
            self.dispatch(ctx, click)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case LogClick(click):
                self.log(ctx, src, click)
            case Joined(click_id) | AlreadyJoined(click_id):
                self.done(ctx, click_id)
            case NotYet(click_id):
                self.retry_later(ctx, click_id)
            case HowFar(round_):
                self.watch(ctx, src, round_)

    def busy(self) -> bool:
        return bool(self.backlog)

    def log(self, ctx: Context, src: str, click: Click) -> None:
        if ctx.storage.get(f"click/{click.click_id}") is None:
            ctx.storage.put(f"click/{click.click_id}", click)
            self.backlog[click.click_id] = click
            self.dispatch(ctx, click)
        ctx.send(src, Logged(click.click_id))

    def dispatch(self, ctx: Context, click: Click) -> None:
        ctx.send(self.joiner, Join(click))
        ctx.set_timer(retry_timer(click.click_id), JOIN_TIMEOUT)

    def done(self, ctx: Context, click_id: str) -> None:
        if self.backlog.pop(click_id, None) is not None:
            ctx.storage.put(f"done/{click_id}", True)
            ctx.cancel_timer(retry_timer(click_id))
            self.tries.pop(click_id, None)
            self.report_idle(ctx)

    def retry_later(self, ctx: Context, click_id: str) -> None:
        if click_id in self.backlog:
            tries = self.tries[click_id] = self.tries.get(click_id, 0) + 1
            ctx.set_timer(retry_timer(click_id), min(BACKOFF << (tries - 1), MAX_BACKOFF))

    def on_timer(self, ctx: Context, name: str) -> None:
        click = self.backlog.get(name.removeprefix("retry/"))
        if click is not None:
            self.dispatch(ctx, click)


@attrs.define
class Attempt:
    """One click being joined: looked up, then registered with `token`, then output."""

    click: Click
    stage: str = LOOKUP
    query: Query | None = None
    token: Token | None = None

    def joined(self) -> JoinedClick:
        assert self.query is not None
        return JoinedClick(self.click.click_id, self.query.query_id, self.query.ad)


class Joiner(Worker):
    """Joins a click with its query: looks the query up in the event store, registers the
    click id in the IdRegistry with a fresh token, and only once the registry says the id is
    registered for that token writes the joined click to the output log. A click the
    registry holds for another token is dropped: someone else joined it.

    The gap between the registry's commit and the output is closed by a durable list of the
    registrations under way (`registering/<click>`: the click, its query and the token),
    written before the insert is sent and cleared once the output log has the click. The
    recovery scan, at every boot, presents each listed token to the registry again: it
    answers success only if that token holds the id, and the click is then output once."""

    def __init__(self, node_id: str, dispatcher: str, event_store: str, output_log: str,
                 registry: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.dispatcher, self.event_store, self.output_log = dispatcher, event_store, output_log
        self.registry = registry

    def on_start(self, ctx: Context) -> None:
        self.life = ctx.storage.get("life", 0) + 1  # tokens of different lives differ
        ctx.storage.put("life", self.life)
        self.attempts = 0
        self.working: dict[str, Attempt] = {}  # click id -> its join under way
        self.master = self.registry[0]  # where inserts go: the registry master, I believe
        self.watchers = {}
        self.recover_registrations(ctx)

    def recover_registrations(self, ctx: Context) -> None:
        """The recovery scan: registrations an earlier life began and never saw output."""
        for key, entry in sorted(ctx.storage.items().items()):
            if key.startswith("registering/") and entry is not None:
                click, query, token = entry
                attempt = self.working[click.click_id] = Attempt(click, REGISTER, query, token)
                self.insert(ctx, attempt)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Join(click) if click.click_id not in self.working:  # else: answered later
                attempt = self.working[click.click_id] = Attempt(click)
                self.lookup(ctx, attempt)
            case Found(query):
                for attempt in self.looking_up(query.query_id):
                    attempt.query = query
                    self.register(ctx, attempt)
            case Missing(query_id):
                for attempt in self.looking_up(query_id):
                    self.finish(ctx, attempt, NotYet(attempt.click.click_id))
            case Inserted():
                self.on_inserted(ctx, msg)
            case NotMaster(click_id, hint):
                self.on_not_master(ctx, src, click_id, hint)
            case OutputDone(click_id):
                self.on_output_done(ctx, click_id)
            case HowFar(round_):
                self.watch(ctx, src, round_)

    def busy(self) -> bool:
        return bool(self.working)

    def looking_up(self, query_id: str) -> list[Attempt]:
        return [attempt for attempt in self.working.values()
                if attempt.stage == LOOKUP and attempt.click.query_id == query_id]

    # --- the stages ---------------------------------------------------------------------------

    def lookup(self, ctx: Context, attempt: Attempt) -> None:
        ctx.send(self.event_store, Lookup(attempt.click.query_id))
        ctx.set_timer(retry_timer(attempt.click.click_id), CALL_TIMEOUT)

    def register(self, ctx: Context, attempt: Attempt) -> None:
        """A fresh token, listed durably before the registry can commit it."""
        self.attempts += 1
        attempt.stage, attempt.token = REGISTER, Token(self.id, self.life, self.attempts)
        ctx.storage.put(f"registering/{attempt.click.click_id}",
                        (attempt.click, attempt.query, attempt.token))
        self.insert(ctx, attempt)

    def insert(self, ctx: Context, attempt: Attempt) -> None:
        assert attempt.token is not None
        ctx.send(self.master, Insert(attempt.click.click_id, attempt.token))
        ctx.set_timer(retry_timer(attempt.click.click_id), CALL_TIMEOUT)

    def on_inserted(self, ctx: Context, msg: Inserted) -> None:
        ctx.note("inserted", click=msg.click_id, token=msg.token, ok=msg.ok)
        attempt = self.working.get(msg.click_id)
        if attempt is None or attempt.stage != REGISTER or attempt.token != msg.token:
            return  # the answer to an earlier attempt
        if msg.ok:
            self.output(ctx, attempt)
        else:
            ctx.storage.put(f"registering/{msg.click_id}", None)
            self.finish(ctx, attempt, AlreadyJoined(msg.click_id))

    def output(self, ctx: Context, attempt: Attempt) -> None:
        attempt.stage = OUTPUT
        ctx.send(self.output_log, Output(attempt.joined()))
        ctx.set_timer(retry_timer(attempt.click.click_id), CALL_TIMEOUT)

    def on_output_done(self, ctx: Context, click_id: str) -> None:
        attempt = self.working.get(click_id)
        if attempt is not None and attempt.stage == OUTPUT:
            ctx.storage.put(f"registering/{click_id}", None)
            self.finish(ctx, attempt, Joined(click_id))

    def finish(self, ctx: Context, attempt: Attempt, answer: Any) -> None:
        del self.working[attempt.click.click_id]
        ctx.cancel_timer(retry_timer(attempt.click.click_id))
        ctx.send(self.dispatcher, answer)
        self.report_idle(ctx)

    # --- finding the registry master, and asking again --------------------------------------

    def on_not_master(self, ctx: Context, src: str, click_id: str, hint: str | None) -> None:
        attempt = self.working.get(click_id)
        if attempt is None or attempt.stage != REGISTER:
            return
        if hint is not None and hint != src:
            self.master = hint
            self.insert(ctx, attempt)
        else:  # nobody knows a master yet: wait before asking again
            self.master = self.next_replica(src)
            ctx.set_timer(retry_timer(click_id), NO_MASTER)

    def next_replica(self, replica: str) -> str:
        return self.registry[(self.registry.index(replica) + 1) % len(self.registry)]

    def on_timer(self, ctx: Context, name: str) -> None:
        attempt = self.working.get(name.removeprefix("retry/"))
        if attempt is None:
            return
        if attempt.stage == LOOKUP:
            self.lookup(ctx, attempt)
        elif attempt.stage == REGISTER:
            self.master = self.next_replica(self.master)
            self.insert(ctx, attempt)
        else:
            self.output(ctx, attempt)


class OutputBeforeInsert(Joiner):
    """Seeded bug: writes the joined click to the output log before registering it.

    Breaks: both datacenters join every click, and both output it; the registry then refuses
    one of the two, too late. Caught by: no-duplicate-join. Teaches: Photon (SIGMOD'13),
    the joiner: it outputs only after the IdRegistry committed the click id.
    """

    def register(self, ctx: Context, attempt: Attempt) -> None:
        ctx.send(self.output_log, Output(attempt.joined()))
        super().register(ctx, attempt)


class NoRecoveryScan(Joiner):
    """Seeded bug: after a crash the joiner forgets the registrations under way.

    Breaks: a joiner that crashes between the registry's commit and the output leaves the
    click registered for a token nobody will present again: its dispatcher's retry gets a new
    token, refused, and so is the other datacenter: the click is never output.
    Caught by: joined-exactly-once (lost). Teaches: Photon (SIGMOD'13), joiner failures:
    the token names the joiner, so that what it registered and never output can be recovered.
    """

    def recover_registrations(self, ctx: Context) -> None:
        """Forgets them: the list is never read again."""


class EventStore(Node):
    """The lookup service over the primary log: query id -> query, durably."""

    def on_start(self, ctx: Context) -> None:
        self.queries: dict[str, Query] = {
            key.removeprefix("query/"): query for key, query in ctx.storage.items().items()
            if key.startswith("query/")}

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case LogQuery(query):
                if query.query_id not in self.queries:
                    self.queries[query.query_id] = query
                    ctx.storage.put(f"query/{query.query_id}", query)
                ctx.send(src, Logged(query.query_id))
            case Lookup(query_id) if query_id in self.queries:
                ctx.send(src, Found(self.queries[query_id]))
            case Lookup(query_id):
                ctx.send(src, Missing(query_id))


class OutputLog(Node):
    """The datacenter's joined clicks, durably, in the order written. It is keyed by click id:
    a joiner writes again until acknowledged, and a rewrite of a click it holds only
    acknowledges it again."""

    def on_start(self, ctx: Context) -> None:
        self.joined: list[JoinedClick] = list(ctx.storage.get("joined", ()))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Output):
            if all(joined.click_id != msg.joined.click_id for joined in self.joined):
                self.joined.append(msg.joined)
                ctx.storage.put("joined", tuple(self.joined))
            ctx.send(src, OutputDone(msg.joined.click_id))
