"""The client library: sends each request to a random node and keeps the causal contexts.

A `get` returns every sibling (a tombstone's value negated); the client keeps the context
that came with them (joined with its own earlier puts of the key), and its next `put` of that
key passes it back, so the new version supersedes exactly what the client has seen. The new
version's dot is the client's next entry in that clock. That is the client-side merge of
section 4.4: reading siblings and writing with their joined context reconciles them. A
`delete` is a put of a tombstone, with the same context: it supersedes what the client has
seen of the key, and nothing else.

Requests are not retried (a retry would be a second version): a put that times out or finds
too few replicas has an unknown outcome (`info`), a get simply failed. The operation `wait`
lets time pass (the ending uses it to give gossip, hinted handoff and anti-entropy time to
settle before the final reads).
"""

from __future__ import annotations

from typing import Any

from checker.client import Client
from checker.node import Context
from implementations.dynamo.node import Delete, Get, GetOk, Put, PutOk, Unavailable
from models.dynamo import EMPTY, Clock

CLIENT_TIMEOUT = 400  # longer than a coordinator's REQUEST_TIMEOUT plus a forwarding hop


class DynamoClient(Client):
    def __init__(self, node_id: str, nodes: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.nodes = nodes

    def on_start(self, ctx: Context) -> None:
        self.req = 0
        self.key = ""
        self.contexts: dict[str, Clock] = {}  # key -> the context of my last get or put

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.req += 1  # late answers to earlier requests are ignored, during a wait too
        if f == "wait":
            ctx.set_timer("wait", args[0])
            return
        self.key = args[0]
        context = self.contexts.get(self.key, EMPTY)
        if f == "read":
            msg: Get | Put | Delete = Get(self.id, self.req, self.key)
        else:  # the version will be my next write of the key: count it, whatever its outcome
            msg = Put(self.id, self.req, self.key, args[1], context) if f == "write" \
                else Delete(self.id, self.req, self.key, args[1], context)
            self.contexts[self.key] = context.add((self.id, context.get(self.id) + 1))
        ctx.send(ctx.random.choice(self.nodes), msg)
        ctx.set_timer("timeout", CLIENT_TIMEOUT)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None or msg.req != self.req:
            return  # an answer to an earlier request
        match msg:
            case GetOk(_, values, context):
                self.contexts[self.key] = context.join(self.contexts.get(self.key, EMPTY))
                self.finish(ctx, "ok", values)
            case PutOk(_, context):
                self.contexts[self.key] = context.join(self.contexts[self.key])
                self.finish(ctx, "ok")
            case Unavailable():
                self.give_up(ctx)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op is None:
            return
        if name == "wait":
            self.complete(ctx, "ok")
        else:
            self.give_up(ctx)

    def give_up(self, ctx: Context) -> None:
        self.finish(ctx, "fail" if self.op[0] == "read" else "info")

    def finish(self, ctx: Context, status: str, result: Any = None) -> None:
        ctx.cancel_timer("timeout")
        self.complete(ctx, status, result)
