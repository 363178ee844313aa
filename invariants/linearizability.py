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
independent parts (e.g. one per key), each searched on its own; the first part that cannot be
linearized settles the verdict, and the parts after it are not searched.

Why a violation used to cost orders of magnitude more than a pass, and what prunes it. A pass
ends once one path reaches the end; a violation is proved only once every configuration
reachable before the op that cannot be placed is ruled out, so whatever multiplies those
configurations costs a failing search in full. With many clients the multiplier was the reads:
k reads in flight could be taken in any subset and order, each a configuration of its own
(Lowe's memo merges equal configurations, not those that differ by reads taken). An op the
model calls read-only (`read_only`: a read, a get, a failed cas) leaves every state as it was,
so taking it as soon as it fits loses nothing: any linearization from the configuration can
drop it from where it was placed and still replay, and the configuration with it taken is
reachable from the one without. So at each configuration the first read-only candidate that
fits is taken with no alternative tried, and its configuration is ruled out with the one it
leads to; a read-only candidate that does not fit is never tried; an `info` op that is
read-only is dropped before the search. Only the ops that change the state are branched on.
On a 1,000-op register history from 10 clients with one corrupted read this took the proof
from 1.9 million steps (230,000 configurations) to about 90,000 (15,000). What still
multiplies configurations is writes in flight together whose order no read ever sees (appends
overwritten by a put before any get): every order is a different state.

Ops that commute need not be branched on. A model may give each op a `footprint` (a key):
ops with different footprints commute, whatever state and whatever results. At a
configuration, let R be the op whose return is the first pending one, and suppose some
linearization L goes on from here. Let x be the first op in L with R's footprint (R itself,
if no other). x was called no later than R returned (else R would have to precede it), so it
is a candidate here; every op before it in L has another footprint, so commutes with it, and
is pending, so returned no earlier than R, so need not precede x. Moving x to the front of L
therefore leaves every result and the final state as they were: a linearization goes on from
here with an op of R's footprint first. So only the candidates of R's footprint are tried (the
read-only rule still goes first); a configuration ruled out that way is ruled out for good,
which is all the memo needs. Searching a key-value map as one object, this stops the search
from trying, at each configuration, every interleaving of the ops on other keys: on 400 ops of
10 clients it took a violation's proof from 59,000 configurations to 3,800. A model without
footprints (one for all ops) is searched as before.

Proving a violation needs every configuration before the stuck op ruled out, unless the stuck
op could never take effect at all. `_Reachable` finds such an op without the search: applying
every op called so far to every state found so far, any number of times and in any order,
finds every state a linearization of those ops could reach (and more); an `ok` op that fits
none of the states the ops called no later than its return produce can never take effect.
Say it is X. No path ever takes X, so X is pending in the deepest path the search has reached
(the one whose first pending return is latest), whose first pending return is then X's own if
X returned no later than it: X must go next, before any op called after it returned, and the
ops before it can only reach states it does not fit. That path is the witness, and the search
stops there. The pass is made only when the search stops getting further (no later first
pending return for `_STALLED_STEPS` steps), as far as the search has got, resumed where it
left off if that happens again (`_REACHABLE_WORK` model steps at a time, so that it costs a
stalled search at most a few times what stalling did), and given up for good past
`_REACHABLE_STATES` states (the states of an append grow without end): a search that goes
straight through pays nothing. On a
1,000-op register history whose one read returns a value never written, the proof went from
57,000 steps to 2,800, about what the uncorrupted history takes to pass.

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
_STALLED_STEPS = 1024  # steps without a deeper path before looking for an op that never fits
_REACHABLE_STATES = 64  # states `_Reachable` follows before it gives up
_REACHABLE_WORK = 4 * _STALLED_STEPS  # model steps `_Reachable` takes per stall, at most
_now = time.monotonic  # the clock (tests replace it)


def check_linearizable(ops: list[Operation], model: SequentialModel, *,
                       max_steps: int | None = 2_000_000,
                       max_seconds: float | None = None) -> Verdict:
    """Check `ops` against `model`; `unknown` (never a silent pass) once the budget is spent.

    `max_steps` (deterministic: what hunts use) and `max_seconds` bound the whole check,
    across all partitions; None leaves that bound out. `max_seconds` also covers the work
    before each search (filtering, partitioning, ordering the ops).
    """
    return search_linearization(ops, model, max_steps=max_steps,
                                max_seconds=max_seconds).verdict


@attrs.frozen
class PartitionOrder:
    """What the search found in one partition: ops (ids) in the order they took effect, and
    the model state after each. When `status` is OK, that is every op of the partition that
    had to take effect; otherwise the longest linearizable prefix the search reached, and, on
    a violation, `stuck`: the ops that could have gone next, each with why none could."""

    status: str  # OK | VIOLATED | UNKNOWN
    order: tuple[int, ...]
    states: tuple[Hashable, ...]
    stuck: tuple[tuple[int, str], ...] = ()


@attrs.frozen
class Linearization:
    """A check's verdict and what its search found in each partition it searched, in the
    order searched (those after a violation or a spent budget are not searched). The search
    keeps the path anyway, so this costs the check nothing but copying it once at the end."""

    verdict: Verdict
    partitions: tuple[PartitionOrder, ...]


def search_linearization(ops: list[Operation], model: SequentialModel, *,
                         max_steps: int | None = 2_000_000,
                         max_seconds: float | None = None) -> Linearization:
    """`check_linearizable`, with the orders the search found (`deepdives check --html`)."""
    deadline = None if max_seconds is None else _now() + max_seconds
    try:
        happened = _ops_that_matter(ops, _read_only_test(model))
        _check_time(deadline)
        parts = [part for part in model.partition(happened) if part]
        _check_time(deadline)
    except _OutOfTime:
        return Linearization(unknown(
            INVARIANT, f"budget spent before the search started: the {len(ops)} ops were "
                       f"still being partitioned",
            {"partition": None, "partitions": None, "partitions_checked": 0,
             "ops_in_partition": None, "linearized": []}), ())
    limit = math.inf if max_steps is None else max_steps
    used = 0
    found: list[PartitionOrder] = []
    for index, part in enumerate(parts):
        search = _Search(part, model)
        try:
            search.prepare(deadline)
            outcome = search.run(limit - used, deadline)
        except _OutOfTime:
            outcome = _Outcome(UNKNOWN, 0, (), None, ())
        used += outcome.steps
        found.append(_partition_order(search, outcome))
        if outcome.status == UNKNOWN:
            return Linearization(unknown(INVARIANT, _budget_note(index, parts, used, search,
                                                                 outcome),
                                         _budget_witness(index, parts, search, outcome)),
                                 tuple(found))
        if outcome.status == VIOLATED:
            rest = len(parts) - index - 1
            unchecked = f"\n({rest} later partition(s) not checked: one violation settles " \
                        f"it)" if rest else ""
            return Linearization(violated(
                INVARIANT, f"not linearizable against {model.name}:\npartition {index}: "
                           f"{_explain_violation(search, outcome)}{unchecked}",
                [_violation_witness(index, search, outcome)]), tuple(found))
    return Linearization(passed(INVARIANT, f"{len(happened)} ops in {len(parts)} partition(s) "
                                           f"linearize against {model.name} ({used} search "
                                           f"steps)"), tuple(found))


def _partition_order(search: _Search, outcome: _Outcome) -> PartitionOrder:
    ids = tuple(search.ops[i].id for i in outcome.prefix)
    stuck = () if outcome.status != VIOLATED else tuple(
        (search.ops[i].id, reason) for i, reason in _stuck_reasons(search, outcome))
    return PartitionOrder(outcome.status, ids, outcome.states, stuck)


def _ops_that_matter(ops: list[Operation], read_only: Callable[[str, Any, Any], bool]
                     ) -> list[Operation]:
    """The ops the search needs: `fail` ops never happened, and an `info` op that changes
    no state may as well never have happened either (it is optional, and taking it would
    change nothing another op sees)."""
    return [op for op in ops if op.status == OK
            or (op.status != FAIL and not read_only(op.f, op.args, op.result))]


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
    states: tuple[Hashable, ...]  # model state after each op of the prefix
    dead: int | None = None  # an op (index) no reachable state fits, pending after the prefix


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

    def without_one(self, node: int) -> list[int]:
        """The sets built so far that are `node` less one of its elements."""
        elements, prefixes = [], []
        while node:
            elements.append(self.largest[node])
            node = self.rest[node]
            prefixes.append(node)
        subsets = []
        for i in range(len(elements)):  # drop elements[i]: its prefix, then the larger ones
            sub: int | None = prefixes[i]
            for element in reversed(elements[:i]):
                sub = self.links.get((sub, element))
                if sub is None:
                    break
            if sub is not None:
                subsets.append(sub)
        return subsets


class _Deepest:
    """The deepest path the search has reached: the one whose first pending return is the
    latest, and the longest of those; its ops and the state after it.

    Only the part of the path changed since it was last recorded is copied (the search tells
    how far it backtracked), so keeping it costs O(1) per step, amortized.
    """

    def __init__(self, state: Hashable) -> None:
        self.ops: list[int] = []  # as the stack frames name them
        self.befores: list[Hashable] = []  # the state before each of them
        self.state = state
        self.limit: Any = None  # the first pending return after it
        self.shared = 0  # the recorded path and the current one agree on this many frames

    def backtracked(self, depth: int) -> None:
        self.shared = min(self.shared, depth)

    def offer(self, stack: list, state: Hashable, limit: Any) -> bool:
        """Record the current path if it is deeper than the deepest so far; whether it got
        further in time (a later first pending return)."""
        further = self.limit is None or limit > self.limit
        if not further and (limit < self.limit or len(stack) <= len(self.ops)):
            return False
        del self.ops[self.shared:]
        del self.befores[self.shared:]
        self.ops += [frame[0] for frame in stack[self.shared:]]
        self.befores += [frame[1] for frame in stack[self.shared:]]
        self.shared, self.state, self.limit = len(stack), state, limit
        return further

    def outcome(self, status: str, steps: int, op_index: Callable[[int], int],
                dead: int | None = None) -> _Outcome:
        return _Outcome(status, steps, tuple(map(op_index, self.ops)), self.state,
                        _states_after(self.befores, self.state), dead)


class _Reachable:
    """The states the ops called so far could produce, and which `ok` ops fit one of them.

    Every op called so far may be applied to every state found so far, any number of times
    and in any order (an `ok` op only with its recorded result, an `info` op with any): that
    finds every state a linearization of those ops can reach, and more. Calls are taken in
    order of time, so that when an `ok` op's return comes, the states are those the ops called
    no later than it could produce. Built only when the search stalls, as far as the search
    has got, and given up for good past `_REACHABLE_STATES` states (the states of an append
    grow without end; those of a register are its initial value and the values written).
    """

    def __init__(self, search: _Search) -> None:
        self.search = search
        self.states = [search.model.initial()]
        self.known = set(self.states)
        self.called: list[int] = []  # op indices, in order of call
        self.fits = [False] * len(search.ops)  # by op index: fits a state found so far
        self.next_call = 0  # the first op (index, in call order) not called yet
        self.next_return = 0  # the first place in the return chain not looked at yet
        self.given_up = False
        self.work = 0  # model steps taken since the search last asked

    def first_dead(self, until: Any) -> int | None:
        """The first `ok` op (rank), by return, among those that returned no later than
        `until` and not looked at before, that fits none of the states the ops called no
        later than its return could produce; None if there is none, or once given up, or
        after `_REACHABLE_WORK` model steps (the next call goes on from there)."""
        search = self.search
        self.work = 0
        while self.next_return < len(search.rets) and search.rets[self.next_return] <= until:
            if self.work > _REACHABLE_WORK:
                return None
            ret = search.rets[self.next_return]
            while self.next_call < len(search.ops) and search.ops[self.next_call].call <= ret:
                self._call(self.next_call)
                self.next_call += 1
            if self.given_up:
                return None
            rank = search.by_ret[self.next_return]
            self.next_return += 1
            if not self.fits[search.ok_ops[rank]]:
                return rank
        return None

    def _call(self, i: int) -> None:
        """Op i is called: apply it to every state, then every op to each new state."""
        self.called.append(i)
        fresh: list[Hashable] = []
        for state in self.states[:]:
            self._apply(i, state, fresh)
        while fresh and not self.given_up:
            state = fresh.pop()
            for j in self.called:
                self._apply(j, state, fresh)

    def _apply(self, i: int, state: Hashable, fresh: list[Hashable]) -> None:
        after = self.search.next_states(i, state)
        self.work += 1
        if after:
            self.fits[i] = True
        for new in after:
            if new not in self.known:
                self.known.add(new)
                self.states.append(new)
                fresh.append(new)
        if len(self.states) > _REACHABLE_STATES:
            self.given_up = True


class _Search:
    """Depth-first search over one partition; single use (`run` consumes the chains).

    `ok` ops are numbered by call (their *rank*), `info` ops too, separately. Four doubly
    linked chains hold the pending ops: the read-only `ok` ops by call (those the model says
    change no state: reads, failed cas), the other `ok` ops by call, all `ok` ops by return,
    and the `info` ops by call. The candidates to take effect next are the minimal pending
    ops: those called no later than the first pending return (the head of the return chain);
    each chain is walked from its head only while calls come no later than that, so the ops
    called after it are never looked at, however many they are. Linearizing an op unlinks
    it; backtracking relinks it (dancing links), so every step costs O(1) list work whatever
    the history length.

    At each configuration a read-only candidate that fits the state is taken at once, with
    no alternative tried (see the module's docstring); only when none fits are the others
    tried, the `ok` ones before the `info` ones, and of those only the ones with the footprint
    of the op whose return is the first pending one (the others commute with every op it may
    have to wait for). A read-only op that does not fit is never tried, and `info` ops that
    change nothing were dropped before the search.
    """

    def __init__(self, ops: list[Operation], model: SequentialModel) -> None:
        self.ops = ops  # in call order once `prepare` has run
        self.model = model
        self.seen: set[tuple[int, int, int, Hashable]] = set()
        self.transitions: dict[tuple[int, Hashable], list[Hashable]] = {}
        self.states: dict[Hashable, Hashable] = {}  # each state met, as its first object
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
        """Number the `ok` ops by call (their rank), and the `info` ops; mark the read-only."""
        ops = self.ops
        self.is_ok = is_ok = [op.status == OK for op in ops]
        self.ok_ops = ok_ops = [i for i, ok in zip(numbers, is_ok) if ok]  # rank -> op index
        self.info_ops = info_ops = [i for i, ok in zip(numbers, is_ok) if not ok]
        self.ok_calls = [ops[i].call for i in ok_ops]
        self.info_calls = [ops[i].call for i in info_ops]
        read_only = _read_only_test(self.model)
        self.read_only = [read_only(ops[i].f, ops[i].args, ops[i].result) for i in ok_ops]
        footprint = getattr(self.model, "footprint", None) or (lambda f, args: 0)
        self.ok_fp = [footprint(ops[i].f, ops[i].args) for i in ok_ops]
        self.info_fp = [footprint(ops[i].f, ops[i].args) for i in info_ops]

    def _order_by_return(self, numbers: list[int]) -> None:
        """The `ok` ops' returns in the order of the return chain, and each rank's place there."""
        ok_ops = self.ok_ops
        ok_rets = [self.ops[i].ret for i in ok_ops]
        by_ret = sorted(numbers[:len(ok_ops)], key=ok_rets.__getitem__)  # by (return, rank)
        self.rets = [ok_rets[rank] for rank in by_ret]  # the return chain's times, ascending
        self.by_ret = by_ret  # place in the return chain -> rank
        self.fp_by_place = [self.ok_fp[rank] for rank in by_ret]
        self.ret_place = numbers[:len(ok_ops)]  # rank -> place in the return chain
        for place, rank in zip(numbers, by_ret):
            self.ret_place[rank] = place

    def _build_chains(self, numbers: list[int]) -> None:
        """The chains, each in order (`next` -1 after the last). The two chains of `ok` ops by
        call share one pair of arrays: the others' head is at n, the read-only ones' at n + 1."""
        self.call_next, self.call_prev = _split_chain(self.read_only)
        self.ret_next, self.ret_prev = _chain(len(self.ok_ops), numbers)
        self.info_next, self.info_prev = _chain(len(self.info_ops), numbers)

    def run(self, step_limit: float, deadline: float | None) -> _Outcome:
        ok_ops, info_ops, ok_calls, info_calls = self.ok_ops, self.info_ops, self.ok_calls, \
            self.info_calls
        call_next, ret_next, info_next, rets = self.call_next, self.ret_next, self.info_next, \
            self.rets
        next_states, seen = self.next_states, self.seen
        ok_fp, info_fp, fp_by_place = self.ok_fp, self.info_fp, self.fp_by_place
        n_ok = len(ok_ops)
        changers_head, readers_head, info_head = n_ok, n_ok + 1, len(info_ops)
        state, pending_ok = self.model.initial(), n_ok
        # the configuration: ok ops of rank below `low` all taken, `above` bit j: ok op of rank
        # low + j taken (bit 0 never set), `info`: the set of info ops taken (`_InfoSets`)
        low, above, info = 0, 0, 0
        seen.add((low, above, info, state))
        # (op, state before, alts, k, limit, low, above, info before): op is an ok op's rank r
        # or an info op's ~rank; `alts` None for a read-only op taken at once (no alternative
        # to try); `limit` is the time of the first pending return when the op was taken
        stack: list[tuple[int, Hashable, list[Hashable] | None, int, Any, int, int, int]] = []
        deepest = _Deepest(state)
        # the step when the deepest path last got further in time (`_Reachable`)
        reachable: _Reachable | None = _Reachable(self)
        further_at = 0
        # the walk: a phase (_READS, _CHANGERS, _INFO), its chain's `entry`, and once the
        # entry's successor states are known, `alts` and the first one not yet tried
        phase, entry, alts, start, steps = _READS, call_next[readers_head], None, 0, 0
        limit = rets[ret_next[n_ok]] if pending_ok else 0
        while pending_ok:
            if steps >= step_limit or (deadline is not None and not steps % _CLOCK_EVERY
                                       and _now() > deadline):
                deepest.offer(stack, state, limit)
                return deepest.outcome(UNKNOWN, steps, self._op_index)
            steps += 1
            if phase == _READS:  # the first read-only candidate that fits, if any, goes next
                while entry >= 0 and ok_calls[entry] <= limit \
                        and not next_states(ok_ops[entry], state):
                    entry = call_next[entry]
                if entry < 0 or ok_calls[entry] > limit:
                    phase, entry = _CHANGERS, call_next[changers_head]
                    continue
                low_after, above_after = _taken(entry, low, above)
                if not ((low_after, above_after, info, state) in seen
                        or (info and self._dominated(low_after, above_after, info, state))):
                    seen.add((low_after, above_after, info, state))
                    stack.append((entry, state, None, 0, limit, low, above, info))
                    self._unlink(entry)
                    low, above, pending_ok = low_after, above_after, pending_ok - 1
                    if pending_ok:
                        limit = rets[ret_next[n_ok]]
                    entry = call_next[entry]  # the reads before it do not fit this state
                    continue
                # else: this configuration is the one with that read taken, already ruled out
            else:
                in_info = phase == _INFO
                if alts is None:
                    if entry >= 0 and (info_calls if in_info else ok_calls)[entry] <= limit:
                        if (info_fp if in_info else ok_fp)[entry] != fp_by_place[ret_next[n_ok]]:
                            entry = (info_next if in_info else call_next)[entry]
                            continue  # another footprint than the first pending return's
                        alts = next_states(info_ops[entry] if in_info else ok_ops[entry], state)
                        start = 0
                    elif not in_info:
                        phase, entry = _INFO, info_next[info_head]
                        continue
                if alts is not None:  # a candidate: try to let its op take effect now
                    if in_info:
                        low_after, above_after = low, above
                    else:
                        low_after, above_after = _taken(entry, low, above)
                    k, info_after = self._first_unseen(alts, start, low_after, above_after,
                                                       info, entry if in_info else -1)
                    if k >= 0:
                        op = ~entry if in_info else entry
                        stack.append((op, state, alts, k, limit, low, above, info))
                        self._unlink(op)
                        state, low, above, info = alts[k], low_after, above_after, info_after
                        pending_ok -= not in_info
                        if pending_ok:
                            limit = rets[ret_next[n_ok]]
                        phase, entry, alts = _READS, call_next[readers_head], None
                        continue
                    entry, alts = (info_next if in_info else call_next)[entry], None
                    continue
            # no candidate left: the pending return's op had to take effect, so undo
            if deepest.offer(stack, state, limit):
                further_at = steps
            elif steps - further_at > _STALLED_STEPS and reachable is not None:
                further_at, dead = steps, reachable.first_dead(deepest.limit)
                if dead is not None:  # the deepest path waits for it: see `_Reachable`
                    return deepest.outcome(VIOLATED, steps, self._op_index, self.ok_ops[dead])
                if reachable.given_up:
                    reachable = None
            while True:
                if not stack:
                    return deepest.outcome(VIOLATED, steps, self._op_index)
                op, state, alts, k, limit, low, above, info = stack.pop()
                self._relink(op)
                pending_ok += op >= 0
                if alts is not None:
                    break  # a read-only op taken at once: its configuration is ruled out too
            deepest.backtracked(len(stack))
            phase, entry, start = (_INFO, ~op, k + 1) if op < 0 else (_CHANGERS, op, k + 1)
        return _Outcome(OK, steps, tuple(self._op_index(frame[0]) for frame in stack), state,
                        _states_after([frame[1] for frame in stack], state))

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
            # equal states made one object: memo look-ups then compare them by identity, not
            # element by element (a whole map of many keys)
            alts = [self.states.setdefault(after, after) for after in alts]
            if len(self.transitions) >= _TRANSITIONS_KEPT:  # a cache: bounded, not a record
                self.transitions.clear()
                self.states.clear()
            self.transitions[key] = alts
        return alts

    def _dominated(self, low: int, above: int, info: int, state: Hashable) -> bool:
        """Whether a configuration with the same ok ops and state and fewer `info` ops taken
        was seen (none taken, or one less): it can do everything this one can, since `info`
        ops are optional and block nobody."""
        seen = self.seen
        return (low, above, 0, state) in seen or any(
            (low, above, sub, state) in seen for sub in self.info_sets.without_one(info))

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
                if (low, above, info, state) in seen \
                        or (info and self._dominated(low, above, info, state)):
                    continue
                seen.add((low, above, info, state))
                return k, info
            return -1, info
        after = -1  # the info set with the op: looked up once needed; None: never built
        for k in range(start, len(alts)):
            state = alts[k]
            if (low, above, info, state) in seen or (low, above, 0, state) in seen:
                continue  # dominated: taking the op changed nothing, or need not have
            if after == -1:
                after = self.info_sets.find(info, info_rank)
            if after is not None and ((low, above, after, state) in seen
                                      or self._dominated(low, above, after, state)):
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


def _states_after(befores: list[Hashable], last: Hashable) -> tuple[Hashable, ...]:
    """The state after each op of a path, from the state before each and the one at its end."""
    return (*befores[1:], last) if befores else ()


_READS, _CHANGERS, _INFO = 0, 1, 2  # the phases of the walk at a configuration


def _taken(rank: int, low: int, above: int) -> tuple[int, int]:
    """The watermark and bitset once the ok op of `rank` (not taken yet) is taken."""
    if rank != low:
        return low, above | 1 << (rank - low)
    bits = above | 1  # the watermark moves past it and the taken ops above
    ones = (~bits & (bits + 1)).bit_length() - 1  # trailing ones
    return low + ones, bits >> ones


def _read_only_test(model: SequentialModel) -> Callable[[str, Any, Any], bool]:
    """The model's `read_only`, or "never" for a model without one."""
    return getattr(model, "read_only", None) or (lambda f, args, result: False)


def _split_chain(second: list[bool]) -> tuple[list[int], list[int]]:
    """`next` and `prev` of two chains over 0..n-1, each in order: the items with `second`
    false headed at n, the others at n + 1."""
    n = len(second)
    following, preceding = [-1] * (n + 2), [-1] * (n + 2)
    tails = [n, n + 1]
    for item, chain in enumerate(second):
        tail = tails[chain]
        following[tail], preceding[item], tails[chain] = item, tail, item
    return following, preceding


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
        "steps": outcome.steps,
        "linearized": [search.ops[i].id for i in outcome.prefix],
        "stuck": [search.ops[i].id for i in stuck],
        "state": search.model.describe_state(outcome.state),
        "ops": [search.ops[i].to_json() for i in (*outcome.prefix, *stuck)],
    }


def _explain_violation(search: _Search, outcome: _Outcome) -> str:
    stuck = _stuck_reasons(search, outcome)
    fitting = _LEADS_NOWHERE if outcome.dead is None else _PUTS_OFF
    reasons = [reason for _, reason in stuck if reason != fitting]
    fits = [f"#{search.ops[i].id}" for i, reason in stuck if reason == fitting]
    if fits and outcome.dead is None:
        reasons.append(f"{', '.join(fits)} would fit, but lead only to configurations "
                       f"already ruled out")
    elif fits:
        pronoun = "it" if len(fits) == 1 else "them"
        reasons.append(f"{', '.join(fits)} would fit, but taking {pronoun} only puts off "
                       f"#{search.ops[outcome.dead].id}")
    state_text = search.model.describe_state(outcome.state)
    text = f"{_describe_prefix(search, outcome.prefix)}, the model state is {state_text}, " \
           f"and no op can take effect next: {'; '.join(reasons)}"
    return text + _real_time_note(search, set(outcome.prefix), [i for i, _ in stuck])


_LEADS_NOWHERE = "it would fit, but leads only to configurations already ruled out"
_PUTS_OFF = "it would fit, but taking it only puts off the op that can never take effect"
WOULD_FIT = frozenset({_LEADS_NOWHERE, _PUTS_OFF})  # reasons of stuck ops that fit the state
_NEVER_FITS = ", nor could it in any state the ops called before it returned could produce"


def _stuck_reasons(search: _Search, outcome: _Outcome) -> list[tuple[int, str]]:
    """The ops that could go next after the deepest prefix (indices into `search.ops`), each
    with why it cannot: the result it could not return, or that it would fit but leads only
    to configurations ruled out (`_LEADS_NOWHERE`), or, when an op that no reachable state
    fits is pending (`_Reachable`), only puts that one off (`_PUTS_OFF`)."""
    fitting = _LEADS_NOWHERE if outcome.dead is None else _PUTS_OFF
    return [(i, fitting if search.next_states(i, outcome.state)
             else _why_it_does_not_fit(search, i, outcome.state)
             + (_NEVER_FITS if i == outcome.dead else ""))
            for i in search.candidates(set(outcome.prefix))]


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
