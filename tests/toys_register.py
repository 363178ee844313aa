"""A toy register whose only check is linearizability (not registered: tests load it with
`--system-module tests.toys_register`). The seeded bug `stale` answers a read with the value
before the last write, which only the history check sees."""

from __future__ import annotations

import random
from typing import Any

import attrs

from checker.client import Client
from checker.node import Context, Node
from checker.sim import Cluster
from checker.system import Config, System, Variant, history_invariant
from invariants.linearizability import check_linearizable
from models.sequential import Register


@attrs.frozen
class Request:
    f: str
    value: Any


@attrs.frozen
class Reply:
    value: Any


class RegisterServer(Node):
    def on_start(self, ctx: Context) -> None:
        self.value = self.before = None

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if msg.f == "write":
            self.before, self.value = self.value, msg.value
            ctx.send(src, Reply(None))
        else:
            ctx.send(src, Reply(self.read()))

    def read(self) -> Any:
        return self.value


class StaleRegister(RegisterServer):
    """Seeded bug: reads see the value before the last write."""

    def read(self) -> Any:
        return self.before


class RegisterClient(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        ctx.send("s", Request(f, args))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op:
            self.complete(ctx, "ok", msg.value)


def build(config: Config, impl: Any, rng: random.Random) -> Cluster:
    clients = [f"c{i}" for i in range(config.clients)]
    return Cluster(servers={"s": impl}, clients={c: RegisterClient for c in clients},
                   workload={c: [("write", i + 1), ("read", None)] for i, c in
                             enumerate(clients)})


@history_invariant("linearizable")
def linearizable(sim: Any) -> Any:
    """The clients' reads and writes are linearizable against a register."""
    return check_linearizable(sim.operations(), Register())


SYSTEM = System(
    name="toy-register", paper="(toy)", summary="a register checked for linearizability",
    build=build, invariants=(linearizable,),
    configs={"default": Config("default", servers=1, clients=2, ops_per_client=2)},
    variants={"correct": Variant("correct", RegisterServer),
              "stale": Variant("stale", StaleRegister, breaks="reads see the latest write",
                               caught_by="linearizable")})
