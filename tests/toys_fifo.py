"""A toy system on FIFO channels, for testing the engine's FIFO channels and `reset` fault
(not registered: the CLI never sees it).

Each client operation streams a tuple of values to the server as chunks, then an end marker;
the server assembles each client's chunks in arrival order, which FIFO channels make the send
order, and answers with what it assembled. A broken connection (`reset`) loses what is in
flight: the server discards the partial stream and the client streams the operation again.

- `correct`: right on FIFO channels; declared on reordering channels (`STREAM_UNORDERED`) it
  assembles chunks out of order, which is how a protocol that relies on FIFO fails;
- `sticky` (seeded bug): the server keeps a partial stream across a reset, and the client's
  new stream is appended to it. Only a reset in mid-stream exposes it.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from checker.client import Client
from checker.node import Context, Node
from checker.sim import Cluster
from checker.system import Config, System, Variant, history_invariant
from invariants.verdict import passed, violated


@attrs.frozen
class Chunk:
    op: int
    value: int


@attrs.frozen
class End:
    op: int


@attrs.frozen
class Done:
    op: int
    values: tuple


class Assembler(Node):
    keeps_partial = False

    def on_start(self, ctx: Context) -> None:
        self.partial: dict[str, list[int]] = {}
        self.resets: list[str] = []

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if isinstance(msg, Chunk):
            self.partial.setdefault(src, []).append(msg.value)
        elif isinstance(msg, End):
            ctx.send(src, Done(msg.op, tuple(self.partial.pop(src, ()))))

    def on_reset(self, ctx: Context, peer: str) -> None:
        self.resets.append(peer)
        if not self.keeps_partial:
            self.partial.pop(peer, None)  # a broken stream is garbage


class StickyAssembler(Assembler):
    """Seeded bug: keeps the partial stream of a broken connection."""

    keeps_partial = True


class StreamClient(Client):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.serial = 0
        self.resets: list[str] = []

    def start(self, ctx: Context, f: str, args: Any) -> None:
        self.serial += 1
        self._stream(ctx)

    def _stream(self, ctx: Context) -> None:
        assert self.op is not None
        for value in self.op[1]:
            ctx.send("s", Chunk(self.serial, value))
        ctx.send("s", End(self.serial))

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op and isinstance(msg, Done) and msg.op == self.serial:
            self.complete(ctx, "ok", msg.values)

    def on_reset(self, ctx: Context, peer: str) -> None:
        self.resets.append(peer)
        if self.op:  # a new connection: the whole stream again
            self._stream(ctx)


def build(config: Config, impl: Any, rng: random.Random) -> Cluster:
    clients = [f"c{i}" for i in range(config.clients)]
    chunks = config.params.get("chunks", 3)
    return Cluster(
        servers={"s": impl},
        clients={c: StreamClient for c in clients},
        workload={c: [("stream", tuple(rng.randrange(100) for _ in range(chunks)))
                      for _ in range(config.ops_per_client)] for c in clients},
    )


@history_invariant("streams-intact")
def streams_intact(sim: Any) -> Any:
    """The server assembled every acknowledged stream exactly as the client sent it."""
    broken = [op for op in sim.operations() if op.status == "ok" and op.result != op.args]
    if broken:
        return violated("streams-intact", f"{broken[0].describe()}: sent {broken[0].args!r}",
                        [op.to_json() for op in broken])
    return passed("streams-intact")


STREAM = System(
    name="stream", paper="(toy)", summary="chunked streams assembled in channel order",
    build=build, invariants=(streams_intact,),
    configs={"default": Config("default", servers=1, clients=2, ops_per_client=2,
                               faults={"reset": 2, "partition": 1}),
             "small": Config("small", servers=1, clients=2, ops_per_client=1,
                             faults={"reset": 1}, params={"chunks": 2})},
    variants={"correct": Variant("correct", Assembler),
              "sticky": Variant("sticky", StickyAssembler, breaks="streams across a reset",
                                caught_by="streams-intact")},
    fifo=True,
)

# The same protocol declared on channels that reorder: it relies on FIFO, and fails.
STREAM_UNORDERED = attrs.evolve(STREAM, name="stream-unordered", fifo=False)
