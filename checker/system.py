"""How a system registers with the engine: configurations, variants, invariants, proofs."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs

from checker.sim import Cluster, Simulation
from invariants.verdict import Verdict


@attrs.frozen
class Config:
    """One named configuration. JSON-able, so a replay file carries it whole."""

    name: str
    servers: int = 3
    clients: int = 2
    ops_per_client: int = 4
    max_steps: int = 400
    epsilon: int = 0  # bound on every node's clock offset
    max_pause: int = 0  # longest process stall a `pause` fault may inject
    faults: dict[str, int] = attrs.field(factory=dict)  # most faults of each kind per run
    quiesce_horizon: int = 400  # virtual time the ending may take to settle
    quiesce_steps: int = 20_000
    params: dict[str, Any] = attrs.field(factory=dict)  # the system's own knobs

    def to_json(self) -> dict:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Config:
        names = {a.name for a in attrs.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown config field {unknown[0]!r}")
        return cls(**data)


@attrs.frozen
class Invariant:
    """A property. State invariants run after every step and return a sentence or None;
    history invariants run at the end and return a Verdict."""

    name: str
    kind: str  # "state" | "history"
    check: Callable[[Simulation], Any]
    description: str = ""


def state_invariant(name: str, description: str = "") -> Callable:
    def wrap(fn: Callable[[Simulation], str | None]) -> Invariant:
        return Invariant(name, "state", fn, description or (fn.__doc__ or "").strip())
    return wrap


def history_invariant(name: str, description: str = "") -> Callable:
    def wrap(fn: Callable[[Simulation], Verdict]) -> Invariant:
        return Invariant(name, "history", fn, description or (fn.__doc__ or "").strip())
    return wrap


@attrs.frozen
class Variant:
    """`correct`, or a seeded bug: a small mutation with what it breaks and what it teaches."""

    name: str
    impl: Any  # handed to the system's build: usually the node class to run
    breaks: str = ""
    caught_by: str = ""  # the invariant expected to catch it
    teaches: str = ""

    @property
    def seeded(self) -> bool:
        return self.name != "correct"


@attrs.frozen
class System:
    name: str
    paper: str
    summary: str
    build: Callable[[Config, Any, random.Random], Cluster]
    invariants: tuple[Invariant, ...]
    configs: dict[str, Config]
    variants: dict[str, Variant]
    proofs: Callable[[Config, Any], list[Verdict]] | None = None

    def config(self, name: str) -> Config:
        if name not in self.configs:
            raise LookupError(f"system {self.name!r} has no config {name!r} "
                              f"(known: {', '.join(self.configs)})")
        return self.configs[name]

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            raise LookupError(f"system {self.name!r} has no variant {name!r} "
                              f"(known: {', '.join(self.variants)})")
        return self.variants[name]
