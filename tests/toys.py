"""Toy systems for testing the engine itself (not registered: the CLI never sees them)."""

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
    value: int


@attrs.frozen
class Ack:
    value: int


class Counter(Node):
    """Counts the distinct values it has been sent; acknowledges each put. Durable."""

    def on_start(self, ctx: Context) -> None:
        self.seen = set(ctx.storage.get("seen", ()))
        ctx.set_timer("tick", 10)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.seen.add(msg.value)
        ctx.storage.put("seen", tuple(sorted(self.seen)), synced=self.durable)
        ctx.send(src, Ack(msg.value))

    def on_timer(self, ctx: Context, name: str) -> None:
        ctx.set_timer("tick", 10)

    durable = True


class ForgetfulCounter(Counter):
    """Seeded bug: acknowledges before the write is synced; a crash loses it."""

    durable = False


class PutClient(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        ctx.send("s", Put(args))
        ctx.set_timer("timeout", 30)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op and msg.value == self.op[1]:
            ctx.cancel_timer("timeout")
            self.complete(ctx, "ok", msg.value)

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.op:
            self.complete(ctx, "info")


def build(config: Config, impl: Any, rng: random.Random) -> Cluster:
    clients = [f"c{i}" for i in range(config.clients)]
    return Cluster(
        servers={"s": impl},
        clients={c: PutClient for c in clients},
        workload={c: [("put", rng.randrange(1000)) for _ in range(config.ops_per_client)]
                  for c in clients},
    )


@history_invariant("acked-puts-durable")
def acked_puts_durable(sim: Any) -> Any:
    """Every acknowledged put is in the server's set at the end."""
    node = sim.nodes["s"]
    lost = [op for op in sim.operations() if op.status == "ok" and op.args not in node.seen]
    if lost:
        return violated("acked-puts-durable", f"{lost[0].describe()} was acknowledged but lost",
                        [op.to_json() for op in lost])
    return passed("acked-puts-durable")


@state_invariant("small-set")
def small_set(sim: Any) -> str | None:
    node = sim.nodes["s"]
    if node is not None and len(node.seen) > 100:
        return "the server saw more than 100 values"
    return None


COUNTER = System(
    name="counter", paper="(toy)", summary="a durable set with acknowledgements",
    build=build, invariants=(small_set, acked_puts_durable),
    configs={"default": Config("default", servers=1, clients=2, ops_per_client=3,
                               faults={"crash": 1, "drop": 1, "duplicate": 1})},
    variants={"correct": Variant("correct", Counter),
              "forgetful": Variant("forgetful", ForgetfulCounter,
                                   breaks="acknowledged puts", caught_by="acked-puts-durable")},
)
