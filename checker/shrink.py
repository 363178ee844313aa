"""Minimize a failing run: delta debugging over its choice list, with deterministic replay.

A candidate is kept when replaying it violates the same invariant. Replay skips events that
are no longer enabled, so any subsequence of choices is a valid program; after each success
the candidate is normalized to the events that actually ran. Choices of messages carry the
message itself, and replay finds it by content when its sequence number has moved: removing
one heartbeat must not rename every later message on that channel. A first pass cuts the
choices after the violation was settled (`truncate`), a second removes whole families of alike
choices at once (`drop_alike`); delta debugging then works on what is left. Where the cut
leads to a longer result than the whole list would, the whole list is shrunk too. The two
later passes run twice (`minimize`): first going on after each removal, cheap, to a 1-minimal
list; then, on a budget beyond the hunt's and with the replays left, starting over after each
removal, which at times finds a shorter one. The budget only decides how far the second gets,
never the first's result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from checker.run import RunResult, execute
from checker.sim import MESSAGE_KINDS
from checker.strategies import Replay
from checker.system import Config, System

# The hunt's budget, in replays. Shrinking every seeded bug's first counterexample costs about
# what the former 60 s each cost (docs/engine.md, "Shrinking"); most shrinks end well within.
# A larger budget also buys `minimize`'s second strategy (`shrink`'s `thorough`).
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
           invariant: str, max_replays: int = HUNT_REPLAYS, thorough: bool | None = None
           ) -> Shrunk:
    """Minimize within a budget of replays; on budget, the smallest found so far. The budget
    counts replays, never seconds, so the result depends on the run alone: the same on any
    machine, under any load, in one process or many. `thorough` runs `minimize`'s second
    strategy with the replays the first leaves; by default only a budget beyond the hunt's
    asks for it (a lesson's, `deepdives shrink --replays N`): in the hunt it made 3 more of
    71 traces shorter, by 1% in all, for a third more time (docs/engine.md, "Shrinking").

    Raises NoLongerViolates when the run does not violate `invariant`, or (a defect) when its
    shrunk form, replayed as it will be written, does not: never a 'counterexample' that
    passes."""
    first = execute(system, variant, config, seed, Replay(choices))
    if not _violates(first, invariant):
        raise NoLongerViolates(_lost("the run", invariant, first))
    budget = Replays(spent=1, limit=max_replays)

    def still_fails(candidate: list[Taken]) -> list[Taken] | None:
        if not budget.take():
            return None
        events, messages = [e for e, _ in candidate], [m for _, m in candidate]
        result = execute(system, variant, config, seed, Replay(events, messages))
        return _taken(result) if _violates(result, invariant) else None

    if thorough is None:
        thorough = max_replays > HUNT_REPLAYS
    minimal = minimize(_taken(first), still_fails, _label, budget, thorough)
    final = execute(system, variant, config, seed, Replay([event for event, _ in minimal]))
    if not _violates(final, invariant):
        raise NoLongerViolates(_lost("the shrunk run", invariant, final))
    return Shrunk(final, len(choices), len(final.choices), budget.spent)


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


@attrs.define
class Replays:
    """A shrink's budget: replays spent, and how many it may spend."""

    spent: int
    limit: int

    def take(self) -> bool:
        """Spend one replay, if any is left."""
        if self.spent >= self.limit:
            return False
        self.spent += 1
        return True


def minimize(items: list, fails: Callable[[list], list | None],
             label: Callable[[Any], Any], budget: Replays, thorough: bool = True) -> list:
    """Two strategies in turn, the cheaper first, and the shorter result kept (the first's on
    a tie). Each reduces the shortest failing prefix (`truncate`), and the whole list too when
    the cut removed something (`_cut_or_whole`). The first goes on after each removal
    (`one_pass`) and is then made 1-minimal; with the replays left and `thorough`, the second
    starts over after each removal (`start_over`): slower, but a different order of removal,
    which on a long budget at times reaches a shorter list that is no subsequence of the
    first's, so that no removal from the first's could find it. Running the cheap one first
    to its end keeps its result at every budget: the second only ever replaces it by a
    shorter one."""
    settled = truncate(items, fails)
    quick = one_minimal(_cut_or_whole(items, settled, one_pass, fails, label, budget, 0), fails)
    if not thorough or budget.spent >= budget.limit:
        return quick
    slower = _cut_or_whole(items, settled, start_over, fails, label, budget, budget.spent)
    return min(quick, slower, key=len)


Reduction = Callable[[list, Callable[[list], list | None], Callable[[Any], Any]], list]


def _cut_or_whole(items: list, settled: list, reduce: Reduction,
                  fails: Callable[[list], list | None], label: Callable[[Any], Any],
                  budget: Replays, since: int) -> list:
    """`settled` reduced, and the shorter of that and `items` reduced (the cut's on a tie)
    when the cut removed something and replays are left. The cut may lead to a longer
    1-minimal list than the whole run does (the deterministic ending it leaves to do the rest
    can need more choices than a failure the whole run allows); the whole list gets at most as
    many replays as were spent since `since`."""
    minimal = reduce(settled, fails, label)
    if len(settled) < len(items) and budget.spent < budget.limit:
        limit = budget.limit
        budget.limit = min(limit, 2 * budget.spent - since)
        minimal = min(minimal, reduce(items, fails, label), key=len)
        budget.limit = limit
    return minimal


def one_pass(items: list, fails: Callable[[list], list | None],
             label: Callable[[Any], Any]) -> list:
    """`drop_alike`, then `ddmin`: each goes on from where it is after a removal."""
    return ddmin(drop_alike(items, fails, label), fails)


def start_over(items: list, fails: Callable[[list], list | None],
               label: Callable[[Any], Any]) -> list:
    """`drop_alike` and Zeller's ddmin as published: each starts over after a removal."""
    return zeller_ddmin(drop_alike(items, fails, label, restart=True), fails)


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
               label: Callable[[Any], Any], restart: bool = False) -> list:
    """Remove every choice of one label at once -- one kind of message on one channel, one
    timer, one kind of fault -- most frequent label first, while that keeps the failure.
    Periodic traffic (lease renewals, heartbeats) goes in one replay, where one-at-a-time
    removal would get stuck: each renewal alone may be what keeps a lease alive. A pass tries
    each label once, going on after a removal (a long run has hundreds of labels, and most of
    them are needed), or with `restart` ends at the first removal, so the next counts the
    labels again and tries the most frequent first; passes repeat while one removes any."""
    progress = True
    while progress:
        progress = False
        counts = Counter(map(label, items))
        for name in sorted(counts, key=lambda n: (-counts[n], repr(n))):
            kept = [item for item in items if label(item) != name]
            if len(kept) == len(items):
                continue  # an earlier removal took this family with it
            candidate = fails(kept)
            if candidate is not None:
                items, progress = candidate, True
                if restart:
                    break
    return items


def _label(taken: Taken) -> tuple:
    """A choice's label: its kind, the nodes it involves, and for a message its type."""
    event, message = taken
    kind = event[0]
    if kind in MESSAGE_KINDS:
        return kind, event[1], event[2], type(message).__name__
    return event if kind == "fire" else (kind,)


def ddmin(items: list, fails: Callable[[list], list | None]) -> list:
    """Delta debugging by complements: remove chunks of half the list, then of a quarter, and
    so on down to single events, each tried once (1-minimal, but for an event that only a later
    removal made removable, as with Zeller's final pass). Each size sweeps the list once,
    from the end, keeping its place after a removal: Zeller's ddmin starts over from the
    first chunk, and on a long run spends its replays trying the same needed chunks again.

    `fails(candidate)` returns the normalized failing candidate, or None if it passes.
    """
    size = max(len(items) // 2, 1) if items else 0
    while size >= 1:
        items = _remove_chunks(items, size, fails)
        size = max(min(size // 2, len(items) // 2), 1) if size > 1 else 0
    return items


def _remove_chunks(items: list, size: int, fails: Callable) -> list:
    """One sweep, from the end: try removing each chunk of `size` events in turn. A removal
    leaves the events before the chunk as they were (replay is deterministic up to there), so
    the sweep goes on just before it."""
    start = max(len(items) - size, 0)
    while True:
        candidate = fails(items[:start] + items[start + size:])
        if candidate is not None:
            items = candidate
        if start == 0:
            return items
        start = max(start - size, 0)


def one_minimal(items: list, fails: Callable[[list], list | None]) -> list:
    """Single-event sweeps until one removes nothing: then removing any one event loses the
    failure (a sweep alone can leave an event that only a later removal made removable)."""
    while True:
        swept = _remove_chunks(items, 1, fails)
        if len(swept) == len(items):
            return swept
        items = swept


def zeller_ddmin(items: list, fails: Callable[[list], list | None]) -> list:
    """Zeller's delta debugging by complements: split the list into `granularity` chunks and
    try removing each; after a removal start over from the first chunk, one granularity
    coarser; when none goes, twice as fine, until chunks are single events (1-minimal)."""
    granularity = 2
    while len(items) >= 2:
        reduced = _remove_first_chunk(items, granularity, fails)
        if reduced is not None:
            items, granularity = reduced, max(granularity - 1, 2)
        elif granularity >= len(items):
            break
        else:
            granularity = min(len(items), granularity * 2)
    return items


def _remove_first_chunk(items: list, granularity: int, fails: Callable) -> list | None:
    """The first of `granularity` chunks, from the start, whose removal keeps the failure."""
    size = -(-len(items) // granularity)
    for start in range(0, len(items), size):
        candidate = fails(items[:start] + items[start + size:])
        if candidate is not None:
            return candidate
    return None
