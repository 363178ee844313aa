"""Toy systems for the exhaustive search (not registered: the CLI never sees them).

- `REGISTER`: clients increment a register by read-modify-write. The correct register
  compares and sets; the seeded bug writes blindly, and two increments that both read 0 both
  write 1. The shortest trace to the lost update is 8 events: each client's invoke, Get,
  Value and Put, with both Gets answered before either Put.
- `COMMIT`: a coordinator commits once every participant voted. The three participants run
  the same code and draw nothing at random, so the configuration declares them symmetric. The
  seeded bug commits on two votes of three.
- `ALARM`: a node ticks every 10 time units and its alarm rings at 100 (a client waits). The
  seeded bug breaks its invariant when the alarm rings: one decision ("let time pass to the
  alarm"), nine ticks implied before it.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from checker.client import Client
from checker.node import Context, Node
from checker.sim import Cluster, Simulation
from checker.system import Config, System, Variant, state_invariant

# --- a register incremented by read-modify-write --------------------------------------------


@attrs.frozen
class Get:
    pass


@attrs.frozen
class Value:
    value: int


@attrs.frozen
class Put:
    expected: int
    value: int


@attrs.frozen
class Done:
    ok: bool


class Register(Node):
    """Compare-and-set: a put applies only if the register still holds what the writer read.
    The value is durable."""

    def on_start(self, ctx: Context) -> None:
        self.value = ctx.storage.get("value", 0)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Get():
                ctx.send(src, Value(self.value))
            case Put(expected, value):
                ok = self.accepts(expected)
                if ok:
                    self.value = value
                    ctx.storage.put("value", value)
                    ctx.note("write", value=value)
                ctx.send(src, Done(ok))

    def accepts(self, expected: int) -> bool:
        return self.value == expected


class BlindRegister(Register):
    """Seeded bug: ignores what the writer read; concurrent increments lose updates."""

    def accepts(self, expected: int) -> bool:
        return True


class Incrementer(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        ctx.send("r", Get())

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is None:
            return  # a duplicate of an answer already taken
        match msg:
            case Value(value):
                ctx.send("r", Put(value, value + 1))
            case Done(ok):
                self.complete(ctx, "ok" if ok else "fail")


def build_register(config: Config, impl: Any, rng: random.Random) -> Cluster:
    clients = [f"c{i + 1}" for i in range(config.clients)]
    return Cluster(servers={"r": impl}, clients=dict.fromkeys(clients, Incrementer),
                   workload={c: [("incr", None)] * config.ops_per_client for c in clients})


@state_invariant("no-lost-update")
def no_lost_update(sim: Simulation) -> str | None:
    """Every write of the register writes a value never written before."""
    written = [fact["value"] for kind, _, _, fact in sim.ghost if kind == "write"]
    if len(set(written)) < len(written):
        return f"the register was written {written}: an increment was lost"
    return None


REGISTER = System(
    name="register", paper="(toy)", summary="read-modify-write increments of one register",
    build=build_register, invariants=(no_lost_update,),
    configs={"small": Config("small", servers=1, clients=2, ops_per_client=1,
                             faults={"drop": 1, "duplicate": 1, "crash": 1})},
    variants={"correct": Variant("correct", Register),
              "blind": Variant("blind", BlindRegister, breaks="no lost update",
                               caught_by="no-lost-update")},
)

# --- atomic commit with interchangeable participants ----------------------------------------

PARTICIPANTS = ("p1", "p2", "p3")


@attrs.frozen
class Begin:
    pass


@attrs.frozen
class Prepare:
    pass


@attrs.frozen
class Vote:
    pass


@attrs.frozen
class Committed:
    pass


class Coordinator(Node):
    def on_start(self, ctx: Context) -> None:
        self.votes: set[str] = set()
        self.client: str | None = ctx.storage.get("client")
        self.committed = False

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        match msg:
            case Begin():
                self.client = src
                ctx.storage.put("client", src)
                ctx.broadcast(list(PARTICIPANTS), Prepare())
            case Vote():
                self.votes.add(src)
                if not self.committed and self.enough():
                    self.committed = True
                    ctx.send(self.client, Committed())

    def enough(self) -> bool:
        return len(self.votes) == len(PARTICIPANTS)


class HastyCoordinator(Coordinator):
    """Seeded bug: commits on a majority of votes."""

    def enough(self) -> bool:
        return len(self.votes) >= 2


class Participant(Node):
    def on_start(self, ctx: Context) -> None:
        self.voted = ctx.storage.get("voted", False)

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        self.voted = True
        ctx.storage.put("voted", True)
        ctx.send(src, Vote())


class Requester(Client):
    def start(self, ctx: Context, f: str, args: Any) -> None:
        ctx.send("co", Begin())

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        if self.op is not None:
            self.complete(ctx, "ok")


def build_commit(config: Config, impl: Any, rng: random.Random) -> Cluster:
    return Cluster(servers={"co": impl, **dict.fromkeys(PARTICIPANTS, Participant)},
                   clients={"c1": Requester}, workload={"c1": [("commit", None)]})


@state_invariant("all-voted-before-commit")
def all_voted_before_commit(sim: Simulation) -> str | None:
    """A commit only after every participant voted."""
    coordinator = sim.nodes["co"]
    missing = [p for p in PARTICIPANTS if not sim.contexts[p].storage.get("voted", False)]
    if coordinator is not None and coordinator.committed and missing:
        return f"committed without a vote from {', '.join(missing)}"
    return None


COMMIT = System(
    name="commit", paper="(toy)", summary="a coordinator and three interchangeable voters",
    build=build_commit, invariants=(all_voted_before_commit,),
    configs={"small": Config("small", servers=4, clients=1, ops_per_client=1,
                             faults={"crash": 1, "drop": 1},
                             params={"symmetric": [list(PARTICIPANTS)],
                                     "time_invariant": True})},
    variants={"correct": Variant("correct", Coordinator),
              "hasty": Variant("hasty", HastyCoordinator, breaks="atomic commit",
                               caught_by="all-voted-before-commit")},
)


# --- a timer far in the future ----------------------------------------------------------------


class Clock(Node):
    """Ticks every 10 time units; the alarm rings once, at 100."""

    def on_start(self, ctx: Context) -> None:
        self.ticks = 0
        self.rang = False
        ctx.set_timer("tick", 10)
        ctx.set_timer("alarm", 100)

    def on_timer(self, ctx: Context, name: str) -> None:
        if name == "tick":
            self.ticks += 1
            ctx.set_timer("tick", 10)
        else:
            self.rang = self.rings()

    def rings(self) -> bool:
        return False


class RingingClock(Clock):
    """Seeded bug: the alarm rings."""

    def rings(self) -> bool:
        return True


class Sleeper(Client):
    """Waits forever: the run is not over while time may still pass."""

    def start(self, ctx: Context, f: str, args: Any) -> None:
        pass


@state_invariant("silent")
def silent(sim: Simulation) -> str | None:
    clock = sim.nodes["n1"]
    return f"the alarm rang after {clock.ticks} ticks" if clock is not None and clock.rang \
        else None


ALARM = System(
    name="alarm", paper="(toy)", summary="a ticking node whose alarm rings at 100",
    build=lambda config, impl, rng: Cluster(servers={"n1": impl}, clients={"c1": Sleeper},
                                            workload={"c1": [("sleep", None)]}),
    invariants=(silent,),
    configs={"small": Config("small", servers=1, clients=1, ops_per_client=1, faults={})},
    variants={"correct": Variant("correct", Clock),
              "rings": Variant("rings", RingingClock, breaks="silence", caught_by="silent")},
)
