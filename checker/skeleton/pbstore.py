"""pbstore: a primary-backup key-value store."""

from __future__ import annotations

import random
from typing import Any

import attrs

from checker.client import Client
from checker.node import Context, Node
from checker.sim import Cluster
from checker.system import Config, System, Variant, history_invariant, state_invariant
from invariants.verdict import passed, violated


@attrs.frozen
class Put:
    key: str
    value: int


@attrs.frozen
class Replicate:
    key: str
    value: int


@attrs.frozen
class Replicated:
    key: str
    value: int


@attrs.frozen
class PutOk:
    key: str


class Primary(Node):
    def on_start(self, ctx: Context) -> None:
        self.waiting: dict[str, str] = {}  # key -> the client to acknowledge

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Put):
            self.waiting[msg.key] = src
            ctx.send("backup", Replicate(msg.key, msg.value))
        elif isinstance(msg, Replicated):
            ctx.storage.put(msg.key, msg.value)
            if msg.key in self.waiting:
                ctx.send(self.waiting.pop(msg.key), PutOk(msg.key))


class Backup(Node):
    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Replicate):
            ctx.storage.put(msg.key, msg.value)  # on disk before the answer
            ctx.send(src, Replicated(msg.key, msg.value))


class EagerBackup(Backup):
    """The seeded bug: answer at once, write to the page cache, sync every 20 ticks."""

    def on_start(self, ctx: Context) -> None:
        ctx.set_timer("flush", 20)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Replicate):
            ctx.storage.put(msg.key, msg.value, synced=False)
            ctx.send(src, Replicated(msg.key, msg.value))

    def on_timer(self, ctx: Context, name: str) -> None:
        ctx.storage.sync()
        ctx.set_timer("flush", 20)


class StoreClient(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.send_put(ctx)

    def send_put(self, ctx: Context) -> None:
        key, value = self.op[1]
        ctx.send("primary", Put(key, value))
        ctx.set_timer("retry", 40)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op and isinstance(msg, PutOk) and msg.key == self.op[1][0]:
            ctx.cancel_timer("retry")
            self.complete(ctx, "ok", msg.key)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op:
            self.send_put(ctx)


def build(config: Config, impl: Any, rng: random.Random) -> Cluster:
    clients = [f"c{i}" for i in range(config.clients)]
    return Cluster(
        servers={"primary": Primary, "backup": impl},
        clients={c: StoreClient for c in clients},
        workload={c: [("put", (f"{c}.{i}", rng.randrange(100)))
                      for i in range(config.ops_per_client)] for c in clients})


@state_invariant("acked-on-both-disks")
def acked_on_both_disks(sim: Any) -> str | None:
    """Every acknowledged put is on the disk of both replicas, at every moment: what a
    crash now would leave (`Storage.durable`), not what the nodes hold in memory."""
    for op in sim.operations():
        if op.status != "ok":
            continue
        key, value = op.args
        for node in ("primary", "backup"):
            if sim.contexts[node].storage.durable(key) != value:
                return f"{op.describe()} was acknowledged, but {node}'s disk lacks it"
    return None


@history_invariant("every-put-completes")
def every_put_completes(sim: Any) -> Any:
    """Progress: once faults stop, every put is acknowledged. (A store that does nothing
    keeps every safety promise; this is the check it fails.)"""
    pending = [op for op in sim.operations() if op.status != "ok"]
    if pending:
        return violated("every-put-completes", f"{pending[0].describe()} never completed",
                        [op.to_json() for op in pending])
    return passed("every-put-completes")


SYSTEM = System(
    name="pbstore",
    paper="(a tutorial)",
    summary="a primary-backup key-value store",
    build=build,
    invariants=(acked_on_both_disks, every_put_completes),
    configs={"default": Config("default", servers=2, clients=2, ops_per_client=3,
                               faults={"crash": 1, "drop": 2})},
    variants={
        "correct": Variant("correct", Backup),
        "eager-backup": Variant("eager-backup", EagerBackup,
                                breaks="acknowledged writes survive a backup crash",
                                caught_by="acked-on-both-disks",
                                teaches="write-ahead: on disk before the acknowledgement"),
    },
)
