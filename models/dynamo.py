"""A multi-value register with causal contexts: what Dynamo's `get` may return.

Every write creates one *version*: a value, a *dot* naming the write (a writer's id and a
counter the writer never reuses) and the *context* the client passed in — the vector clock of
the versions it had read. A version's *clock* is its context plus its own dot. A write
supersedes exactly the versions its context has seen: version `a` is *covered* by a clock `c`
when `c` holds `a`'s dot. The register's state is the set of versions no other version covers
(the *siblings*); a read returns their values and the join of their clocks as the context for
the next write, which is how a client reconciles siblings: it writes with the merged context.

A vector clock holding a writer's k-th dot claims its first k-1 writes too, so the writer's
writes must each have seen the previous one. A client's puts of a key are sequential and
carry each other in their contexts, so `implementations/dynamo` names versions by the client.
The paper's coordinator counters do not have that property: two writes through the same
coordinator with the same empty context would get clocks {n1:1} and {n1:2}, and the second
would wrongly dominate the first although its writer never saw it (dotted version vectors,
Preguica et al. 2010, are the general fix).

The properties, stated on the versions a read returned:
- `missing(returned, required)`: the required versions (acknowledged writes) that the read
  neither returned nor returned something whose clock covers. Quorum regularity requires none
  missing for the writes acknowledged before the read began; "no lost write" requires none
  missing from the final read after quiescence.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

Dot = tuple[str, int]  # (coordinator, counter): the name of one write


@attrs.frozen(repr=False, order=False)
class Clock:
    """A vector clock: node -> counter, kept as sorted pairs so that it is hashable."""

    entries: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, counters: dict[str, int]) -> Clock:
        return cls(tuple(sorted((n, c) for n, c in counters.items() if c > 0)))

    def get(self, node: str) -> int:
        return dict(self.entries).get(node, 0)

    def covers(self, dot: Dot) -> bool:
        """Whether a write with this clock has seen the write named `dot`."""
        node, counter = dot
        return self.get(node) >= counter

    def join(self, other: Clock) -> Clock:
        merged = dict(self.entries)
        for node, counter in other.entries:
            merged[node] = max(merged.get(node, 0), counter)
        return Clock.of(merged)

    def add(self, dot: Dot) -> Clock:
        return self.join(Clock(((dot[0], dot[1]),)))

    def __repr__(self) -> str:
        return "{" + ",".join(f"{n}:{c}" for n, c in self.entries) + "}"


EMPTY = Clock()


@attrs.frozen(repr=False)
class Version:
    """One write's value, its dot and the context it was written with. `stamp` is the
    coordinator's clock reading when it wrote (Dynamo keeps one per clock entry, for
    truncation); the correct register never compares stamps. A delete writes a *tombstone*
    (`deleted`): a version like any other, superseding what its context saw, whose value
    is the delete's name. A read shows a tombstone sibling as its value negated
    (`shown`)."""

    value: object
    dot: Dot
    context: Clock = EMPTY
    stamp: int = 0
    deleted: bool = False

    @property
    def clock(self) -> Clock:
        return self.context.add(self.dot)

    @property
    def shown(self) -> object:
        """What a read returns for this sibling: the value, or a tombstone's negated."""
        return -self.value if self.deleted else self.value  # type: ignore[operator]

    def __repr__(self) -> str:
        mark = "del:" if self.deleted else ""
        return f"{mark}{self.value!r}@{self.dot[0]}:{self.dot[1]}{self.context!r}"


def join_clocks(versions: Iterable[Version]) -> Clock:
    """The context a read hands back: everything the returned siblings have seen."""
    clock = EMPTY
    for version in versions:
        clock = clock.join(version.clock)
    return clock


def sync(*sets: Iterable[Version]) -> tuple[Version, ...]:
    """Merge sibling sets: keep each version once, drop those another version's context has
    seen. Commutative, associative and idempotent, so replicas merge in any order."""
    every = {v.dot: v for versions in sets for v in versions}
    kept = [v for v in every.values()
            if not any(w.context.covers(v.dot) for w in every.values() if w is not v)]
    return tuple(sorted(kept, key=lambda v: v.dot))


class MVRegister:
    """The sequential specification: writes apply their context, reads return siblings."""

    def __init__(self) -> None:
        self.siblings: tuple[Version, ...] = ()

    def write(self, version: Version) -> None:
        self.siblings = sync(self.siblings, (version,))

    def read(self) -> tuple[tuple[object, ...], Clock]:
        return tuple(v.value for v in self.siblings), join_clocks(self.siblings)


def covered(version: Version, returned: Iterable[Version]) -> bool:
    """The read returned this version, or a version whose clock has seen it."""
    return any(r.dot == version.dot or r.clock.covers(version.dot) for r in returned)


def shown_values(versions: Iterable[Version]) -> tuple:
    """A read's result: its siblings' values in order, tombstones negated."""
    return tuple(sorted(v.shown for v in versions))  # type: ignore[type-var]


def missing(returned: Iterable[Version], required: Iterable[Version]) -> list[Version]:
    """The required versions a read with this result silently misses."""
    returned = list(returned)
    return [v for v in required if not covered(v, returned)]
