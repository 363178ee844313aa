"""Breadth-first exploration of a finite protocol model, stopping at the first violation.

A model offers `initial()`, `successors(state)` as (label, next state) pairs, and
`invariant(state)` (None when it holds, else a sentence). Breadth-first order makes the trace
to a violation a shortest one, which is the easiest for a reader to follow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Protocol

import attrs


class Model(Protocol):
    def initial(self) -> Hashable: ...

    def successors(self, state: Hashable) -> list[tuple[str, Hashable]]: ...

    def invariant(self, state: Hashable) -> str | None: ...


@attrs.frozen
class ExploreResult:
    """`states` distinct states reached; `complete` is False when `max_states` cut the search
    short, so a missing violation is then no proof."""

    states: int
    violation: str | None
    trace: list[str]
    complete: bool = True


def bfs(model: Model, max_states: int | None = None) -> ExploreResult:
    """Visit every reachable state once; return the shortest trace to a violation, if any."""
    start = model.initial()
    parents: dict[Hashable, tuple[Hashable, str] | None] = {start: None}
    problem = model.invariant(start)
    if problem is not None:
        return ExploreResult(1, problem, [])
    frontier = deque([start])
    while frontier:
        state = frontier.popleft()
        for label, successor in model.successors(state):
            if successor in parents:
                continue
            parents[successor] = (state, label)
            problem = model.invariant(successor)
            if problem is not None:
                return ExploreResult(len(parents), problem, _trace_to(successor, parents))
            if max_states is not None and len(parents) >= max_states:
                return ExploreResult(len(parents), None, [], complete=False)
            frontier.append(successor)
    return ExploreResult(len(parents), None, [])


def _trace_to(state: Hashable, parents: dict[Hashable, tuple[Hashable, str] | None]) -> list[str]:
    labels = []
    step = parents[state]
    while step is not None:
        state, label = step
        labels.append(label)
        step = parents[state]
    return labels[::-1]
