"""Linearizability: could the history have come from one copy, each op taking effect at once?

Each `ok` op must take effect at a single point between its call and its return, with the
result it recorded; `fail` ops never happened; `info` ops may take effect at any point after
their call, with any result, or never. The search is Wing & Gong's, with Lowe's memoization
(as in Porcupine): a configuration is (set of ops already taken effect, model state), and a
configuration seen before is never explored again. Nor is one that differs from a seen one only
by having taken more `info` ops: those are optional and block nobody, so the configuration with
fewer of them can do everything this one can. At each configuration the required (`ok`)
candidates are tried before the optional `info` ones: which candidates are tried is unchanged,
only their order, so the verdict is the same, but a history where the `info` ops never need to
take effect (say many unacknowledged writes and a read of the initial value) is settled at once
instead of after trying every subset of them. The model's `partition` splits the history into
independent parts (e.g. one per key), each searched on its own.

How a configuration is stored, and why memory stays linear in the history. The `ok` ops are
ranked by call. An `ok` op can take effect only if it was called before the first pending
return, so every `ok` op that has taken effect above the lowest pending one (the *watermark*)
was called while that one was running. The `ok` part of a configuration is therefore the pair
(watermark, bitset of the ops taken above it, shifted down to the watermark): the bitset has at
most as many bits as ops were called while the oldest pending op ran, a handful in a history of
a few clients, however long the history. `info` ops never return and may be taken at any point
or never, so they stay out of the watermark: the set of those taken is hash-consed
(`_InfoSets`): one small int per set, the same int however the set was reached, built one op at
a time along the search path (adding an op costs one look-up, plus one per op already in the
set and called after it). A memo key is (watermark, bitset, info set, model state): three ints
of a machine word or so, plus the state, and the search adds at most one key per step. Stack
frames hold only what undoing a step needs (the op, the state and key before it, the
alternatives left); the deepest path reached is updated by copying only what changed since it
was last recorded; the memo of model steps is a bounded cache. So memory grows linearly with
the steps taken (about one per op in a mostly sequential history), and a step costs the same at
the end of a long history as at its start. The work before the search (dropping the `fail`
ops, partitioning, ordering the ops by call and by return, building the chains of `_Search`) is
a few passes, each linear or n log n and mostly in C (a fraction of a second for 400,000 ops):
the clock is looked at after each, so `max_seconds` holds there too, give or take one pass.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Hashable
from typing import Any

import attrs

from invariants.history import FAIL, OK, Operation
from invariants.verdict import UNKNOWN, VIOLATED, Verdict, passed, unknown, violated
from models.sequential import SequentialModel

INVARIANT = "linearizable"
_CLOCK_EVERY = 1024  # search steps between two looks at the clock
_TRANSITIONS_KEPT = 1 << 16  # model steps remembered before that memo starts afresh
_now = time.monotonic  # the clock (tests replace it)


def check_linearizable(ops: list[Operation], model: SequentialModel, *,
                       max_steps: int | None = 2_000_000,
                       max_seconds: float | None = None) -> Verdict:
    """Check `ops` against `model`; `unknown` (never a silent pass) once the budget is spent.

    `max_steps` (deterministic: what hunts use) and `max_seconds` bound the whole check,
    across all partitions; None leaves that bound out. `max_seconds` also covers the work
    before each search (filtering, partitioning, ordering the ops).
    """
    deadline = None if max_seconds is None else _now() + max_seconds
    try:
        happened = [op for op in ops if op.status != FAIL]
        _check_time(deadline)
        parts = [part for part in model.partition(happened) if part]
        _check_time(deadline)
    except _OutOfTime:
        return unknown(INVARIANT, f"budget spent before the search started: the {len(ops)} "
                                  f"ops were still being partitioned",
                       {"partition": None, "partitions": None, "partitions_checked": 0,
                        "ops_in_partition": None, "linearized": []})
    limit = math.inf if max_steps is None else max_steps
    used = 0
    failures: list[dict] = []
    explanations: list[str] = []
    for index, part in enumerate(parts):
        search = _Search(part, model)
        try:
            search.prepare(deadline)
            outcome = search.run(limit - used, deadline)
        except _OutOfTime:
            outcome = _Outcome(UNKNOWN, 0, (), None)
        used += outcome.steps
        if outcome.status == UNKNOWN:
            spent = _budget_note(index, parts, used, search, outcome)
            if failures:
                return violated(INVARIANT, "\n".join([*explanations, spent]), failures)
            return unknown(INVARIANT, spent, _budget_witness(index, parts, search, outcome))
        if outcome.status == VIOLATED:
            if not failures:
                explanations.append(f"not linearizable against {model.name}:")
            failures.append(_violation_witness(index, search, outcome))
            explanations.append(f"partition {index}: {_explain_violation(search, outcome)}")
    if failures:
        return violated(INVARIANT, "\n".join(explanations), failures)
    return passed(INVARIANT, f"{len(happened)} ops in {len(parts)} partition(s) linearize "
                             f"against {model.name} ({used} search steps)")


def linearizable(model: SequentialModel, **budget: Any) -> Callable[[list[Operation]], Verdict]:
    """The check as a history invariant: `linearizable(KV())(ops) -> Verdict`."""
    def check(ops: list[Operation]) -> Verdict:
        return check_linearizable(ops, model, **budget)
    check.__name__ = f"linearizable_{model.name}"
    return check


@attrs.frozen
class _Outcome:
    """How a partition's search ended, and the deepest linearizable prefix it reached."""

    status: str  # OK | VIOLATED | UNKNOWN (budget spent)
    steps: int
    prefix: tuple[int, ...]  # op indices (into `_Search.ops`) in linearization order
    state: Hashable  # model state after the prefix


class _OutOfTime(Exception):
    """The time budget ran out before a search could start."""


def _check_time(deadline: float | None) -> None:
    """Raise `_OutOfTime` if the deadline (None: none) has passed."""
    if deadline is not None and _now() > deadline:
        raise _OutOfTime


class _InfoSets:
    """Sets of `info` ops (by rank), hash-consed: one int per set (0: the empty set).

    A set is a chain of its elements in increasing order, each link `(set without its
    largest element, largest element) -> set`; so a set has a single int however it was
    built, and adding the op called last (the usual case) is one dict look-up.
    """

    def __init__(self) -> None:
        self.links: dict[tuple[int, int], int] = {}
        self.rest: list[int] = [0]  # set -> the set without its largest element
        self.largest: list[int] = [-1]  # set -> its largest element

    def find(self, node: int, op: int, *, create: bool = False) -> int | None:
        """The set `node` plus `op` (not in it); None if it was never built and not `create`."""
        larger = []
        while node and self.largest[node] > op:
            larger.append(self.largest[node])
            node = self.rest[node]
        for element in (op, *reversed(larger)):
            child = self.links.get((node, element))
            if child is None:
                if not create:
                    return None
                child = len(self.rest)
                self.links[node, element] = child
                self.rest.append(node)
                self.largest.append(element)
            node = child
        return node


class _Deepest:
    """The deepest path the search has reached: its ops and the state after it.

    Only the part of the path changed since it was last recorded is copied (the search tells
    how far it backtracked), so keeping it costs O(1) per step, amortized.
    """

    def __init__(self, state: Hashable) -> None:
        self.ops: list[int] = []  # as the stack frames name them
        self.state = state
        self.shared = 0  # the recorded path and the current one agree on this many frames

    def backtracked(self, depth: int) -> None:
        self.shared = min(self.shared, depth)

    def offer(self, stack: list, state: Hashable) -> None:
        """Record the current path if it is deeper than the deepest so far."""
        if len(stack) <= len(self.ops):
            return
        del self.ops[self.shared:]
        self.ops += [frame[0] for frame in stack[self.shared:]]
        self.shared, self.state = len(stack), state

    def outcome(self, status: str, steps: int, op_index: Callable[[int], int]) -> _Outcome:
        return _Outcome(status, steps, tuple(map(op_index, self.ops)), self.state)


class _Search:
    """Depth-first search over one partition; single use (`run` consumes the chains).

    `ok` ops are numbered by call (their *rank*), `info` ops too, separately. Three doubly
    linked chains hold the pending ops: the `ok` ops by call, the `ok` ops by return, the `info`
    ops by call. Walking the first while calls come no later than the head of the second (the
    first pending return), each op met may take effect next; the op owning that return must
    take effect before anything called after it. `info` ops have no return: they block nobody
    and are never required. The walk then takes up the third chain: the `info` ops called by
    that return are the remaining candidates, tried after every `ok` one. Linearizing an op
    unlinks it; backtracking relinks it (dancing links), so every step costs O(1) list work
    whatever the history length.
    """

    def __init__(self, ops: list[Operation], model: SequentialModel) -> None:
        self.ops = ops  # in call order once `prepare` has run
        self.model = model
        self.seen: set[tuple[int, int, int, Hashable]] = set()
        self.transitions: dict[tuple[int, Hashable], list[Hashable]] = {}
        self.info_sets = _InfoSets()
        self.prepared = False

    def prepare(self, deadline: float | None) -> None:
        """Order the ops by call, rank them, order them by return, chain them; `_OutOfTime`
        once past the deadline (looked at after each of those)."""
        self.ops = sorted(self.ops, key=_CALL_AND_ID)
        _check_time(deadline)
        numbers = list(range(len(self.ops) + 2))  # one int object per number, shared by lists
        self._rank(numbers)
        _check_time(deadline)
        self._order_by_return(numbers)
        _check_time(deadline)
        self._build_chains(numbers)
        _check_time(deadline)
        self.prepared = True

    def _rank(self, numbers: list[int]) -> None:
        """Number the `ok` ops by call (their rank), and the `info` ops."""
        ops = self.ops
        self.is_ok = is_ok = [op.status == OK for op in ops]
        self.ok_ops = ok_ops = [i for i, ok in zip(numbers, is_ok) if ok]  # rank -> op index
        self.info_ops = info_ops = [i for i, ok in zip(numbers, is_ok) if not ok]
        self.ok_calls = [ops[i].call for i in ok_ops]
        self.info_calls = [ops[i].call for i in info_ops]

    def _order_by_return(self, numbers: list[int]) -> None:
        """The `ok` ops' returns in the order of the return chain, and each rank's place there."""
        ok_ops = self.ok_ops
        ok_rets = [self.ops[i].ret for i in ok_ops]
        by_ret = sorted(numbers[:len(ok_ops)], key=ok_rets.__getitem__)  # by (return, rank)
        self.rets = [ok_rets[rank] for rank in by_ret]  # the return chain's times, ascending
        self.ret_place = numbers[:len(ok_ops)]  # rank -> place in the return chain
        for place, rank in zip(numbers, by_ret):
            self.ret_place[rank] = place

    def _build_chains(self, numbers: list[int]) -> None:
        """The three chains, each in order, its head at the end (`next` -1 after the last)."""
        self.call_next, self.call_prev = _chain(len(self.ok_ops), numbers)
        self.ret_next, self.ret_prev = _chain(len(self.ok_ops), numbers)
        self.info_next, self.info_prev = _chain(len(self.info_ops), numbers)

    def run(self, step_limit: float, deadline: float | None) -> _Outcome:
        ok_ops, info_ops, ok_calls, info_calls = self.ok_ops, self.info_ops, self.ok_calls, \
            self.info_calls
        call_next, ret_next, info_next, rets = self.call_next, self.ret_next, self.info_next, \
            self.rets
        ok_head, info_head = len(ok_ops), len(info_ops)
        state, pending_ok = self.model.initial(), len(ok_ops)
        # the configuration: ok ops of rank below `low` all taken, `above` bit j: ok op of rank
        # low + j taken (bit 0 never set), `info`: the set of info ops taken (`_InfoSets`)
        low, above, info = 0, 0, 0
        self.seen.add((low, above, info, state))
        # (op, state before, alts, k, limit, low, above, info before): op is an ok op's rank r
        # or an info op's ~rank; `limit` is the time of the first pending return when the op
        # was chosen, the latest call of an `info` candidate at that point
        stack: list[tuple[int, Hashable, list[Hashable], int, Any, int, int, int]] = []
        deepest = _Deepest(state)
        # the walk: `entry`, a rank in the call chain, or in the info chain once `in_info`
        entry, in_info, limit, steps = call_next[ok_head], False, 0, 0
        while pending_ok:
            if steps >= step_limit or (deadline is not None and not steps % _CLOCK_EVERY
                                       and _now() > deadline):
                deepest.offer(stack, state)
                return deepest.outcome(UNKNOWN, steps, self._op_index)
            steps += 1
            if not in_info and (entry < 0 or ok_calls[entry] > rets[ret_next[ok_head]]):
                # the first pending return: next, the info ops called by then
                limit, entry, in_info = rets[ret_next[ok_head]], info_next[info_head], True
            if not in_info or (entry >= 0 and info_calls[entry] <= limit):
                # a candidate: try to let its op take effect now
                op = ~entry if in_info else entry
                alts, start = self.next_states(info_ops[entry] if in_info else ok_ops[entry],
                                               state), 0
            else:  # no candidate left: the pending return's op had to take effect, so undo
                deepest.offer(stack, state)
                if not stack:
                    return deepest.outcome(VIOLATED, steps, self._op_index)
                op, state, alts, k, limit, low, above, info = stack.pop()
                deepest.backtracked(len(stack))
                self._relink(op)
                in_info, entry = op < 0, ~op if op < 0 else op
                pending_ok += not in_info
                start = k + 1
            if start < len(alts):
                if in_info:
                    low_after, above_after = low, above
                elif entry == low:  # the watermark moves past it and the taken ops above
                    bits = above | 1
                    ones = (~bits & (bits + 1)).bit_length() - 1  # trailing ones
                    low_after, above_after = low + ones, bits >> ones
                else:
                    low_after, above_after = low, above | 1 << (entry - low)
                k, info_after = self._first_unseen(alts, start, low_after, above_after, info,
                                                   entry if in_info else -1)
                if k >= 0:
                    stack.append((op, state, alts, k, limit, low, above, info))
                    self._unlink(op)
                    state, low, above, info = alts[k], low_after, above_after, info_after
                    pending_ok -= not in_info
                    entry, in_info = call_next[ok_head], False
                    continue
            entry = info_next[entry] if in_info else call_next[entry]
        return _Outcome(OK, steps, tuple(self._op_index(frame[0]) for frame in stack), state)

    def _op_index(self, op: int) -> int:
        """The index in `ops` of an ok op's rank r, or of an info op's ~rank."""
        return self.ok_ops[op] if op >= 0 else self.info_ops[~op]

    def next_states(self, i: int, state: Hashable) -> list[Hashable]:
        """States op i can reach from `state`: with any result if `info`, else the recorded one."""
        key = (i, state)
        alts = self.transitions.get(key)
        if alts is None:
            op = self.ops[i]
            outcomes = self.model.apply(state, op.f, op.args)
            if self.is_ok[i]:
                alts = [after for result, after in outcomes if result == op.result]
            else:
                alts = list(dict.fromkeys(after for _, after in outcomes))
            if len(self.transitions) >= _TRANSITIONS_KEPT:  # a cache: bounded, not a record
                self.transitions.clear()
            self.transitions[key] = alts
        return alts

    def _first_unseen(self, alts: list[Hashable], start: int, low: int, above: int,
                      info: int, info_rank: int) -> tuple[int, int]:
        """Index of the first alternative worth exploring (or -1), and the info set after.

        The op is an ok one if `info_rank` is -1, else that info op. `low` and `above` are the
        ok ops taken once it is; `info` the info ops taken before it. The chosen configuration
        is marked seen. A configuration is not worth exploring if it was seen, or if one with
        the same state and fewer `info` ops linearized was: that one can do everything this
        one can, since `info` ops are optional and block nobody.
        """
        seen = self.seen
        if info_rank < 0:
            for k in range(start, len(alts)):
                state = alts[k]
                if (low, above, info, state) in seen or (info and (low, above, 0, state) in seen):
                    continue
                seen.add((low, above, info, state))
                return k, info
            return -1, info
        after = -1  # the info set with the op: looked up once needed; None: never built
        for k in range(start, len(alts)):
            state = alts[k]
            if (low, above, info, state) in seen or (low, above, 0, state) in seen:
                continue  # dominated: a read-only info op always is, by the first test
            if after == -1:
                after = self.info_sets.find(info, info_rank)
            if after is not None and (low, above, after, state) in seen:
                continue
            if after is None:
                after = self.info_sets.find(info, info_rank, create=True)
            seen.add((low, above, after, state))
            return k, after
        return -1, info

    def _unlink(self, op: int) -> None:
        if op >= 0:
            _remove(self.call_next, self.call_prev, op)
            _remove(self.ret_next, self.ret_prev, self.ret_place[op])
        else:
            _remove(self.info_next, self.info_prev, ~op)

    def _relink(self, op: int) -> None:
        """Undo `_unlink(op)`; valid because undos happen in reverse order of unlinks."""
        if op >= 0:
            _restore(self.ret_next, self.ret_prev, self.ret_place[op])
            _restore(self.call_next, self.call_prev, op)
        else:
            _restore(self.info_next, self.info_prev, ~op)

    def candidates(self, done: set[int]) -> list[int]:
        """Ops not in `done` that may take effect next: called before the first pending return."""
        pending = [i for i in range(len(self.ops)) if i not in done]
        first_ret = min((self.ops[i].ret for i in pending if self.is_ok[i]), default=None)
        return [i for i in pending if first_ret is None or self.ops[i].call <= first_ret]


def _chain(size: int, numbers: list[int]) -> tuple[list[int], list[int]]:
    """`next` and `prev` of a doubly linked chain of 0..size-1 in order, its head at `size`.

    `numbers` is `list(range(size + 2))` or longer: its int objects are shared, not copied.
    """
    if not size:
        return [-1], [-1]
    return [*numbers[1:size], -1, 0], [numbers[size], *numbers[:size - 1], -1]


def _remove(following: list[int], preceding: list[int], item: int) -> None:
    before, after = preceding[item], following[item]
    following[before] = after
    if after >= 0:
        preceding[after] = before


def _restore(following: list[int], preceding: list[int], item: int) -> None:
    before, after = preceding[item], following[item]
    following[before] = item
    if after >= 0:
        preceding[after] = item


_CALL_AND_ID = operator.attrgetter("call", "id")


def _violation_witness(index: int, search: _Search, outcome: _Outcome) -> dict:
    stuck = search.candidates(set(outcome.prefix))
    return {
        "partition": index,
        "linearized": [search.ops[i].id for i in outcome.prefix],
        "stuck": [search.ops[i].id for i in stuck],
        "state": search.model.describe_state(outcome.state),
        "ops": [search.ops[i].to_json() for i in (*outcome.prefix, *stuck)],
    }


def _explain_violation(search: _Search, outcome: _Outcome) -> str:
    done = set(outcome.prefix)
    stuck = search.candidates(done)
    misfits = [i for i in stuck if not search.next_states(i, outcome.state)]
    reasons = [_why_it_does_not_fit(search, i, outcome.state) for i in misfits]
    fits = [f"#{search.ops[i].id}" for i in stuck if i not in misfits]
    if fits:
        reasons.append(f"{', '.join(fits)} would fit, but lead only to configurations "
                       f"already ruled out")
    state_text = search.model.describe_state(outcome.state)
    text = f"{_describe_prefix(search, outcome.prefix)}, the model state is {state_text}, " \
           f"and no op can take effect next: {'; '.join(reasons)}"
    return text + _real_time_note(search, done, stuck)


def _describe_prefix(search: _Search, prefix: tuple[int, ...]) -> str:
    if not prefix:
        return "before any op takes effect"
    ids = [f"#{search.ops[i].id}" for i in prefix]
    if len(ids) <= 6:
        return "after linearizing " + ", ".join(ids)
    return f"after linearizing {len(ids)} ops ending with " + ", ".join(ids[-3:])


def _why_it_does_not_fit(search: _Search, i: int, state: Hashable) -> str:
    op = search.ops[i]
    outcomes = search.model.apply(state, op.f, op.args)
    if not outcomes:
        return f"#{op.id} {op.describe()} cannot be applied in this state"
    possible = " or ".join(dict.fromkeys(repr(result) for result, _ in outcomes))
    return f"#{op.id} {op.describe()}, but here it could only return {possible}"


def _real_time_note(search: _Search, done: set[int], stuck: list[int]) -> str:
    """Why ops outside `stuck` may not go next: they were called after some op returned."""
    stuck_set = set(stuck)
    later = [i for i in range(len(search.ops)) if i not in done and i not in stuck_set]
    if not later:
        return ""
    blocker = min((i for i in stuck if search.is_ok[i]), key=lambda i: search.ops[i].ret)
    op = search.ops[blocker]
    return f" (the {len(later)} other pending op(s) were called after #{op.id} returned at " \
           f"t={op.ret_time}, so they cannot take effect before it)"


def _budget_note(index: int, parts: list, steps: int, search: _Search, outcome: _Outcome) -> str:
    progress = f"got a linearizable prefix of {len(outcome.prefix)} ops before giving up" \
        if search.prepared else "was still being put in order for the search"
    return f"budget spent after {steps} search steps: {index} of {len(parts)} partition(s) " \
           f"fully checked; partition {index} ({len(search.ops)} ops) {progress}"


def _budget_witness(index: int, parts: list, search: _Search, outcome: _Outcome) -> dict:
    return {
        "partition": index,
        "partitions": len(parts),
        "partitions_checked": index,
        "ops_in_partition": len(search.ops),
        "linearized": [search.ops[i].id for i in outcome.prefix],
    }
