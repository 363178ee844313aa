"""Brute-force oracles: slow, obviously correct references for differential tests."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator

from invariants.history import FAIL, INFO, Operation
from models.sequential import SequentialModel


def brute_force_linearizable(ops: list[Operation], model: SequentialModel) -> bool:
    """Try every order of every admissible set of ops; only for a handful of ops.

    `fail` ops are dropped, every `ok` op is included, each `info` op is either included or
    omitted. An order is admissible if whenever a returned before b was called, a comes first.
    """
    happened = [op for op in ops if op.status != FAIL]
    required = [op for op in happened if op.status != INFO]
    optional = [op for op in happened if op.status == INFO]
    return any(_replays(order, model)
               for chosen in _subsets(optional)
               for order in itertools.permutations(required + chosen)
               if _respects_real_time(order))


def _subsets(ops: list[Operation]) -> Iterator[list[Operation]]:
    for size in range(len(ops) + 1):
        for subset in itertools.combinations(ops, size):
            yield list(subset)


def _respects_real_time(order: tuple[Operation, ...]) -> bool:
    return not any(later.ret is not None and later.ret < earlier.call
                   for i, earlier in enumerate(order) for later in order[i + 1:])


def _replays(order: tuple[Operation, ...], model: SequentialModel) -> bool:
    """Whether some run of the (maybe nondeterministic) model produces the recorded results."""
    states: set[Hashable] = {model.initial()}
    for op in order:
        states = {after for state in states
                  for result, after in model.apply(state, op.f, op.args)
                  if op.status == INFO or result == op.result}
        if not states:
            return False
    return True
