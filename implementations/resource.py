"""A protected resource: the storage server a lock is meant to protect.

Chubby and ZooKeeper both hand a lock holder something to show the resource — Chubby a
sequencer (the lock's generation), ZooKeeper the lock node's czxid — and the resource refuses a
request whose token is older than one it has already honoured. This is the only defence against
a holder that paused past its lease and still believes it holds the lock: a lease bounds when
the *service* may grant the lock again, not when the old holder's request arrives.

Every request also carries, as a ghost field the resource never reads, the generation of the
lock the writer believed it held. The resource logs what it applied, so one checker —
"mutual exclusion as the resource saw it" — serves every lock service.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.node import Context, Node


@attrs.frozen
class ResourceWrite:
    """`token`: what the holder shows (None: it shows nothing). `generation`: a ghost, the lock
    instance the holder believed it held; a larger generation is a later grant of the lock."""

    holder: str
    req: int
    token: int | None
    generation: int
    payload: Any = None


@attrs.frozen
class ResourceReply:
    req: int
    accepted: bool


@attrs.frozen
class Applied:
    time: int
    holder: str
    token: int | None
    generation: int
    payload: Any


class ResourceServer(Node):
    """Applies writes in arrival order. With `fencing`, it refuses any token lower than the
    highest it has honoured (a request with no token is refused once tokens are in use)."""

    def __init__(self, node_id: str, fencing: bool = True) -> None:
        super().__init__(node_id)
        self.fencing = fencing

    def on_start(self, ctx: Context) -> None:
        self.highest = ctx.storage.get("highest", None)
        self.log: list[Applied] = list(ctx.storage.get("log", []))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if not isinstance(msg, ResourceWrite):
            return
        if self.fencing and not self.admits(msg.token):
            ctx.send(src, ResourceReply(msg.req, False))
            return
        if msg.token is not None:
            self.highest = msg.token if self.highest is None else max(self.highest, msg.token)
        self.log.append(Applied(ctx.now(), msg.holder, msg.token, msg.generation, msg.payload))
        ctx.storage.put("highest", self.highest)
        ctx.storage.put("log", list(self.log))
        ctx.send(src, ResourceReply(msg.req, True))

    def admits(self, token: int | None) -> bool:
        if self.highest is None:
            return True
        return token is not None and token >= self.highest


def first_writes_since(log: list[Applied], since: int, epsilon: int,
                       fenced: bool = False) -> dict[str, Applied]:
    """Each holder's first write the resource surely applied after `since` (with `fenced`,
    only writes under the current grant): the resource stamps writes with its own clock,
    within epsilon of true time, so only a stamp at least epsilon later surely came after."""
    first: dict[str, Applied] = {}
    for applied in log:
        if applied.time - epsilon >= since and not (fenced and applied.token != applied.generation):
            first.setdefault(applied.holder, applied)
    return first


def last_write(log: list[Applied]) -> str:
    """The resource's last write, said for an explanation."""
    return (f"the last write it applied was {log[-1].holder}'s, at t={log[-1].time}" if log
            else "it never applied one")


def stale_write(log: list[Applied]) -> str | None:
    """Mutual exclusion as the resource saw it: once it applied a write from the holder of
    generation g, it never applies one from an older generation. A sentence, or None."""
    newest: Applied | None = None
    for applied in log:
        if newest is not None and applied.generation < newest.generation:
            return (f"the resource applied {applied.holder}'s write under lock generation "
                    f"{applied.generation} after {newest.holder}'s under generation "
                    f"{newest.generation}")
        if newest is None or applied.generation > newest.generation:
            newest = applied
    return None
