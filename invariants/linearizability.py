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
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable
from typing import Any

import attrs

from invariants.history import FAIL, OK, Operation
from invariants.verdict import UNKNOWN, VIOLATED, Verdict, passed, unknown, violated
from models.sequential import SequentialModel

INVARIANT = "linearizable"
_CLOCK_EVERY = 1024  # steps between two looks at the clock


def check_linearizable(ops: list[Operation], model: SequentialModel, *,
                       max_steps: int = 2_000_000, max_seconds: float | None = None) -> Verdict:
    """Check `ops` against `model`; `unknown` (never a silent pass) once the budget is spent.

    `max_steps` and `max_seconds` bound the whole check, across all partitions.
    """
    happened = [op for op in ops if op.status != FAIL]
    parts = [part for part in model.partition(happened) if part]
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    steps_left = max_steps
    failures: list[dict] = []
    explanations: list[str] = []
    for index, part in enumerate(parts):
        search = _Search(part, model)
        outcome = search.run(steps_left, deadline)
        steps_left -= outcome.steps
        if outcome.status == UNKNOWN:
            spent = _budget_note(index, parts, max_steps - steps_left, search, outcome)
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
                             f"against {model.name} ({max_steps - steps_left} search steps)")


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
    done: int  # the prefix as a bitset


class _Search:
    """Depth-first search over one partition; single use (`run` consumes the event list).

    The `ok` ops' call and return events sit in one doubly linked list ordered by time. Walking
    it from the head, each call met before the first return belongs to an op that may take
    effect next; the op owning that first return must take effect before anything called after
    it. `info` ops have no return event: they block nobody and are never required. Their call
    events sit in a second list, ordered by time, which the walk takes up once it reaches that
    first return: the `info` ops called by then are the remaining candidates, tried after every
    `ok` one. Linearizing an op unlinks its events; backtracking relinks them (dancing links),
    so every step costs O(1) list work whatever the history length.
    """

    def __init__(self, ops: list[Operation], model: SequentialModel) -> None:
        self.ops = sorted(ops, key=lambda op: (op.call, op.id))
        self.model = model
        self.is_ok = [op.status == OK for op in self.ops]
        n = len(self.ops)
        # sentinels; op i's call event is i, its return event (ok ops only) n + i
        self.head, self.info_head = 2 * n, 2 * n + 1
        events = [(op.call, 0, i) for i, op in enumerate(self.ops) if self.is_ok[i]]
        events += [(op.ret, 1, n + i) for i, op in enumerate(self.ops) if self.is_ok[i]]
        order = [self.head] + [event for _, _, event in sorted(events)]
        info_order = [self.info_head] + [i for i in range(n) if not self.is_ok[i]]  # by call
        self.next = [-1] * (2 * n + 2)
        self.prev = [-1] * (2 * n + 2)
        for chain in (order, info_order):
            for before, after in itertools.pairwise(chain):
                self.next[before] = after
                self.prev[after] = before
        self.bit = [1 << i for i in range(n)]
        self.not_info = ~sum(bit for bit, ok in zip(self.bit, self.is_ok, strict=True) if not ok)
        self.seen: set[tuple[int, Hashable]] = set()
        self.transitions: dict[tuple[int, Hashable], list[Hashable]] = {}

    def run(self, step_limit: int, deadline: float | None) -> _Outcome:
        n, head, nxt, is_ok, bit = len(self.ops), self.head, self.next, self.is_ok, self.bit
        calls, info_head = [op.call for op in self.ops], self.info_head
        state, done, pending_ok = self.model.initial(), 0, sum(is_ok)
        self.seen.add((done, state))
        # (op, state before, alts, k, limit): `limit` is the time of the first pending return
        # when the op was chosen, the latest call of an `info` candidate at that point
        stack: list[tuple[int, Hashable, list[Hashable], int, int]] = []
        best = _Outcome(VIOLATED, 0, (), state, 0)
        entry, limit, steps = nxt[head], 0, 0
        while pending_ok:
            if steps >= step_limit or (deadline is not None and not steps % _CLOCK_EVERY
                                       and time.monotonic() > deadline):
                return attrs.evolve(_deeper(best, stack, state, done), status=UNKNOWN, steps=steps)
            steps += 1
            if entry >= n:  # the first pending return: next, the info ops called by then
                limit = self.ops[entry - n].ret
                entry = nxt[info_head]
            if 0 <= entry < n and (is_ok[entry] or calls[entry] <= limit):
                # a candidate's call: try to let its op take effect now
                i, alts, start = entry, self.next_states(entry, state), 0
            else:  # no candidate left: the pending return's op had to take effect, so undo
                best = _deeper(best, stack, state, done)
                if not stack:
                    return attrs.evolve(best, steps=steps)
                i, state, alts, k, limit = stack.pop()
                self._relink(i)
                done ^= bit[i]
                pending_ok += is_ok[i]
                start = k + 1
            k = self._first_unseen(alts, start, done, i) if start < len(alts) else -1
            if k < 0:
                entry = nxt[i]
                continue
            stack.append((i, state, alts, k, limit))
            self._unlink(i)
            state, done, pending_ok = alts[k], done | bit[i], pending_ok - is_ok[i]
            entry = nxt[head]
        prefix = tuple(frame[0] for frame in stack)
        return _Outcome(OK, steps, prefix, state, done)

    def next_states(self, i: int, state: Hashable) -> list[Hashable]:
        """States op i can reach from `state`: with any result if `info`, else the recorded one."""
        key = (i, state)
        if key not in self.transitions:
            op = self.ops[i]
            outcomes = self.model.apply(state, op.f, op.args)
            if self.is_ok[i]:
                self.transitions[key] = [after for result, after in outcomes
                                         if result == op.result]
            else:
                self.transitions[key] = list(dict.fromkeys(after for _, after in outcomes))
        return self.transitions[key]

    def _first_unseen(self, alts: list[Hashable], start: int, done: int, i: int) -> int:
        """Index of the first alternative of op i (from `done`) worth exploring, or -1.

        Its configuration is marked seen. A configuration is not worth exploring if it was seen,
        or if one with the same state and fewer `info` ops linearized was: that one can do
        everything this one can, since `info` ops are optional and block nobody.
        """
        seen = self.seen
        after = done | self.bit[i]
        fewer_info = after & self.not_info
        for k in range(start, len(alts)):
            state = alts[k]
            if ((after, state) in seen or (fewer_info, state) in seen
                    or (not self.is_ok[i] and (done, state) in seen)):
                continue
            seen.add((after, state))
            return k
        return -1

    def _unlink(self, i: int) -> None:
        self._remove(i)
        if self.is_ok[i]:
            self._remove(len(self.ops) + i)

    def _relink(self, i: int) -> None:
        """Undo `_unlink(i)`; valid because undos happen in reverse order of unlinks."""
        if self.is_ok[i]:
            self._restore(len(self.ops) + i)
        self._restore(i)

    def _remove(self, event: int) -> None:
        before, after = self.prev[event], self.next[event]
        self.next[before] = after
        if after >= 0:
            self.prev[after] = before

    def _restore(self, event: int) -> None:
        before, after = self.prev[event], self.next[event]
        self.next[before] = event
        if after >= 0:
            self.prev[after] = event

    def candidates(self, done: int) -> list[int]:
        """Ops not in `done` that may take effect next: called before the first pending return."""
        pending = [i for i in range(len(self.ops)) if not done >> i & 1]
        first_ret = min((self.ops[i].ret for i in pending if self.is_ok[i]), default=None)
        return [i for i in pending if first_ret is None or self.ops[i].call <= first_ret]


def _deeper(best: _Outcome, stack: list, state: Hashable, done: int) -> _Outcome:
    """The current path if it is deeper than the best prefix so far."""
    if len(stack) <= len(best.prefix):
        return best
    return _Outcome(best.status, best.steps, tuple(frame[0] for frame in stack), state, done)


def _violation_witness(index: int, search: _Search, outcome: _Outcome) -> dict:
    stuck = search.candidates(outcome.done)
    return {
        "partition": index,
        "linearized": [search.ops[i].id for i in outcome.prefix],
        "stuck": [search.ops[i].id for i in stuck],
        "state": search.model.describe_state(outcome.state),
        "ops": [search.ops[i].to_json() for i in (*outcome.prefix, *stuck)],
    }


def _explain_violation(search: _Search, outcome: _Outcome) -> str:
    stuck = search.candidates(outcome.done)
    misfits = [i for i in stuck if not search.next_states(i, outcome.state)]
    reasons = [_why_it_does_not_fit(search, i, outcome.state) for i in misfits]
    fits = [f"#{search.ops[i].id}" for i in stuck if i not in misfits]
    if fits:
        reasons.append(f"{', '.join(fits)} would fit, but lead only to configurations "
                       f"already ruled out")
    state_text = search.model.describe_state(outcome.state)
    text = f"{_describe_prefix(search, outcome.prefix)}, the model state is {state_text}, " \
           f"and no op can take effect next: {'; '.join(reasons)}"
    return text + _real_time_note(search, outcome.done, stuck)


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


def _real_time_note(search: _Search, done: int, stuck: list[int]) -> str:
    """Why ops outside `stuck` may not go next: they were called after some op returned."""
    later = [i for i in range(len(search.ops)) if not done >> i & 1 and i not in stuck]
    if not later:
        return ""
    blocker = min((i for i in stuck if search.is_ok[i]), key=lambda i: search.ops[i].ret)
    op = search.ops[blocker]
    return f" (the {len(later)} other pending op(s) were called after #{op.id} returned at " \
           f"t={op.ret}, so they cannot take effect before it)"


def _budget_note(index: int, parts: list, steps: int, search: _Search, outcome: _Outcome) -> str:
    return f"budget spent after {steps} search steps: {index} of {len(parts)} partition(s) " \
           f"fully checked; partition {index} ({len(search.ops)} ops) got a linearizable " \
           f"prefix of {len(outcome.prefix)} ops before giving up"


def _budget_witness(index: int, parts: list, search: _Search, outcome: _Outcome) -> dict:
    return {
        "partition": index,
        "partitions": len(parts),
        "partitions_checked": index,
        "ops_in_partition": len(search.ops),
        "linearized": [search.ops[i].id for i in outcome.prefix],
    }
