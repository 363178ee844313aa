"""Minimize a failing run: delta debugging over its choice list, with deterministic replay.

A candidate is kept when replaying it violates the same invariant. Replay skips events that
are no longer enabled, so any subsequence of choices is a valid program; after each success
the candidate is normalized to the events that actually ran. Choices of messages carry the
message itself, and replay finds it by content when its sequence number has moved: removing
one heartbeat must not rename every later message on that channel. A first pass cuts the
choices after the violation was settled (`truncate`), a second removes whole families of alike
choices at once (`drop_alike`); delta debugging then works on what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from checker.run import RunResult, execute
from checker.sim import MESSAGE_KINDS
from checker.strategies import Replay
from checker.system import Config, System

# The hunt's budget, in replays. Shrinking every seeded bug's first counterexample costs about
# what the former 60 s each cost (docs/engine.md, "Shrinking"); most shrinks end well within.
HUNT_REPLAYS = 1000


class NoLongerViolates(Exception):
    """The run to shrink, or what shrinking made of it, does not violate the invariant."""


@attrs.frozen
class Shrunk:
    result: RunResult
    before: int
    after: int
    replays: int


def shrink(system: System, variant: str, config: Config, seed: int, choices: list[tuple],
           invariant: str, max_replays: int = HUNT_REPLAYS) -> Shrunk:
    """Minimize within a budget of replays; on budget, the smallest found so far. The budget
    counts replays, never seconds, so the result depends on the run alone: the same on any
    machine, under any load, in one process or many.

    Raises NoLongerViolates when the run does not violate `invariant`, or (a defect) when its
    shrunk form, replayed as it will be written, does not: never a 'counterexample' that
    passes."""
    first = execute(system, variant, config, seed, Replay(choices))
    if not _violates(first, invariant):
        raise NoLongerViolates(_lost("the run", invariant, first))
    replays, best = [1], [first]

    def still_fails(candidate: list[Taken]) -> list[Taken] | None:
        if replays[0] >= max_replays:
            return None
        replays[0] += 1
        events, messages = [e for e, _ in candidate], [m for _, m in candidate]
        result = execute(system, variant, config, seed, Replay(events, messages))
        if _violates(result, invariant):
            best.append(result)
            return _taken(result)
        return None

    settled = truncate(_taken(first), still_fails)
    alike_gone = drop_alike(settled, still_fails, lambda: _labels(best[-1]))
    minimal = ddmin(alike_gone, still_fails)
    final = execute(system, variant, config, seed, Replay([event for event, _ in minimal]))
    if not _violates(final, invariant):
        raise NoLongerViolates(_lost("the shrunk run", invariant, final))
    return Shrunk(final, len(choices), len(final.choices), replays[0])


def _violates(result: RunResult, invariant: str) -> bool:
    return result.violated and result.verdict.invariant == invariant


def _lost(what: str, invariant: str, result: RunResult) -> str:
    verdict = result.verdict
    return f"{what} no longer violates {invariant} (replayed: {verdict.invariant}: " \
           f"{verdict.status})"


Taken = tuple[tuple, Any]  # a choice, and the message it took (None: it took none)


def _taken(result: RunResult) -> list[Taken]:
    return [(step.event, step.detail if step.event[0] in MESSAGE_KINDS else None)
            for step in result.sim.chosen_steps()]


def truncate(items: list, fails: Callable[[list], list | None]) -> list:
    """The shortest failing prefix that bisection finds: a run whose violation was settled
    early (a follower left behind for good, a write lost) fails as well when the choices stop
    there, since the deterministic ending supplies the rest. A few replays (the logarithm of
    the length), each of a shorter run, before `drop_alike`, whose rounds cost a replay per
    family of choices and can spend a whole budget on a long run. (Bisection assumes a
    longer prefix fails whenever a shorter one does; where that is false, it keeps a
    longer prefix, which the later passes shrink.)"""
    passing = 0  # a prefix this long is not known to fail
    while len(items) - passing > 1:
        middle = (passing + len(items)) // 2
        candidate = fails(items[:middle])
        if candidate is not None and len(candidate) < len(items):
            items, passing = candidate, min(passing, len(candidate) - 1)
        else:
            passing = middle
    return items


def drop_alike(items: list, fails: Callable[[list], list | None],
               labels: Callable[[], list]) -> list:
    """Remove every choice of one label at once -- one kind of message on one channel, one
    timer, one kind of fault -- most frequent label first, while that keeps the failure.
    `labels()` names the choices of the latest failing candidate. Periodic traffic (lease
    renewals, heartbeats) goes in one replay, where one-at-a-time removal would get stuck:
    each renewal alone may be what keeps a lease alive."""
    progress = True
    while progress:
        progress = False
        names = labels()
        counts: dict = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        for name in sorted(counts, key=lambda n: (-counts[n], repr(n))):
            candidate = fails([c for c, n in zip(items, names) if n != name])
            if candidate is not None:
                items, progress = candidate, True
                break
    return items


def _labels(result: RunResult) -> list[tuple]:
    """A label for each choice of a run: its kind, the nodes it involves, and for a message
    its type."""
    labels = []
    for step in result.sim.chosen_steps():
        kind = step.event[0]
        if kind in MESSAGE_KINDS:
            labels.append((kind, step.event[1], step.event[2], type(step.detail).__name__))
        elif kind == "fire":
            labels.append(step.event)
        else:
            labels.append((kind,))
    return labels


def ddmin(items: list, fails: Callable[[list], list | None]) -> list:
    """Zeller's delta debugging, complements first, then single-event removal to 1-minimality.

    `fails(candidate)` returns the normalized failing candidate, or None if it passes.
    """
    granularity = 2
    while len(items) >= 2:
        reduced = _try_complements(items, granularity, fails)
        if reduced is not None:
            items, granularity = reduced, max(granularity - 1, 2)
        elif granularity >= len(items):
            break
        else:
            granularity = min(len(items), granularity * 2)
    return _one_minimal(items, fails)


def _try_complements(items: list, granularity: int, fails: Callable) -> list | None:
    size = -(-len(items) // granularity)
    for start in range(0, len(items), size):
        candidate = fails(items[:start] + items[start + size:])
        if candidate is not None:
            return candidate
    return None


def _one_minimal(items: list, fails: Callable) -> list:
    index = len(items) - 1
    while index >= 0:
        candidate = fails(items[:index] + items[index + 1:])
        if candidate is not None:
            items = candidate
            index = min(index, len(items)) - 1
        else:
            index -= 1
    return items
