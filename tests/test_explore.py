"""Exhaustive search: shortest counterexamples that replay, reductions that hide nothing,
pinned state counts, and fingerprints that name states the same way in every process."""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest

from checker import registry
from checker.explore import (
    _advance,
    _Canon,
    _ForkedRandom,
    _generator_token,
    _NodeTexts,
    _pending_timers,
    _Search,
    _Shared,
    _Snapshot,
    canonical,
    explore,
)
from checker.run import execute, new_simulation
from checker.strategies import RandomWalk, Replay
from tests.toys import COUNTER
from tests.toys_explore import ALARM, COMMIT, REGISTER

NO_FAULTS: dict[str, int] = {}
REDUCTIONS = [(False, False), (True, False), (False, True), (True, True)]  # (sleep, symmetry)

# Pinned: a change to the search or the fingerprint changes these and must be deliberate.
REGISTER_STATES, REGISTER_TRANSITIONS, REGISTER_SLEEPING = 1_523, 2_652, 2_386
COMMIT_STATES, COMMIT_SYMMETRIC = 576, 162


def replayed(system, variant, config, seed, choices):
    return execute(system, variant, config, seed, Replay(choices))


def test_bfs_finds_the_lost_update_at_its_known_depth_and_the_trace_replays() -> None:
    config = REGISTER.config("small")
    result = explore(REGISTER, "blind", config, seed=3, faults=NO_FAULTS, max_depth=None,
                     ends="leaves")
    assert result.violated and result.verdict.invariant == "no-lost-update"
    assert len(result.choices) == 8  # both clients' invoke, Get, Value, Put
    assert [e[0] for e in result.choices].count("invoke") == 2
    again = replayed(REGISTER, "blind", config, 3, result.choices)
    assert (again.verdict.invariant, again.verdict.status) == ("no-lost-update", "violated")
    assert again.choices == result.choices


def test_depth_counts_decisions_not_ticks() -> None:
    """Waiting for a later timer is one transition, the earlier timers firing on the way, as
    replay runs it: the alarm at 100 is one choice away, with nine ticks implied."""
    config = ALARM.config("small")
    result = explore(ALARM, "rings", config, faults=NO_FAULTS, max_depth=1)
    assert result.violated and result.choices == [("fire", "n1", "alarm")]
    again = replayed(ALARM, "rings", config, 0, result.choices)
    assert again.verdict.invariant == "silent" and "9 ticks" in again.verdict.explanation
    assert [step.phase for step in again.sim.trace].count("implied") == 9
    assert again.choices == result.choices


def test_ending_every_state_finds_the_shortest_prefix_whose_ending_fails() -> None:
    """Quiescence delivers in send order: both Gets before either Put."""
    config = REGISTER.config("small")
    result = explore(REGISTER, "blind", config, seed=3, faults=NO_FAULTS, max_depth=None)
    assert result.choices == [("invoke", "c1"), ("invoke", "c2")]
    assert replayed(REGISTER, "blind", config, 3, result.choices).verdict.invariant == \
        "no-lost-update"


def test_with_faults_the_shortest_trace_duplicates_a_put() -> None:
    config = REGISTER.config("small")
    result = explore(REGISTER, "blind", config, max_depth=None, ends="leaves")
    assert len(result.choices) == 6
    assert [e[0] for e in result.choices].count("duplicate") == 1
    assert replayed(REGISTER, "blind", config, 0, result.choices).verdict.invariant == \
        "no-lost-update"


def test_a_correct_system_is_explored_completely_with_pinned_counts() -> None:
    config = REGISTER.config("small")
    full, reduced = (explore(REGISTER, "correct", config, max_depth=None, sleep_sets=sleep,
                             faults={"duplicate": 1}, ends="leaves")
                     for sleep in (False, True))
    for result in (full, reduced):
        assert result.complete and result.verdict.ok and result.stopped_by is None
        assert result.states == REGISTER_STATES and result.frontier == 0
    assert full.transitions == REGISTER_TRANSITIONS
    assert reduced.transitions == REGISTER_SLEEPING
    assert reduced.slept > 0


@pytest.mark.parametrize("system, variant, config_name, depth", [
    (REGISTER, "blind", "small", None), (REGISTER, "correct", "small", 7),
    (COMMIT, "hasty", "small", None), (COMMIT, "correct", "small", None),
    (COUNTER, "forgetful", "default", 5), (COUNTER, "correct", "default", 5),
])
@pytest.mark.parametrize("order", ["bfs", "dfs"])
def test_reductions_hide_no_state_and_no_violation(system, variant, config_name, depth,
                                                   order) -> None:
    config = system.config(config_name)
    results = [explore(system, variant, config, seed=1, order=order, max_depth=depth,
                       sleep_sets=sleep, symmetry=symmetry) for sleep, symmetry in REDUCTIONS]
    verdicts = {(r.verdict.status, r.verdict.invariant) for r in results}
    assert len(verdicts) == 1
    full, sleeping, symmetric, both = results
    if order == "bfs":  # shortest counterexamples, whatever the reduction
        assert len({len(r.choices) for r in results}) == 1
        if not full.violated:  # a search that stopped at a violation counts what it saw
            assert full.states == sleeping.states and symmetric.states == both.states
            assert sleeping.transitions <= full.transitions
    for result in results:
        if result.violated:
            again = replayed(system, variant, config, 1, result.choices)
            assert again.verdict.invariant == result.verdict.invariant


def test_symmetry_merges_interchangeable_participants() -> None:
    config = COMMIT.config("small")
    plain = explore(COMMIT, "correct", config, max_depth=None, symmetry=False)
    merged = explore(COMMIT, "correct", config, max_depth=None)
    assert plain.complete and merged.complete and plain.verdict.ok and merged.verdict.ok
    assert (plain.states, merged.states) == (COMMIT_STATES, COMMIT_SYMMETRIC)
    asymmetric = attrs.evolve(config, params={"time_invariant": True})
    assert explore(COMMIT, "correct", asymmetric, max_depth=None).states == COMMIT_STATES


def test_a_depth_bound_leaves_the_search_incomplete_and_says_so() -> None:
    result = explore(COUNTER, "correct", COUNTER.config("default"), max_depth=4)
    assert not result.complete and result.stopped_by == "depth"
    assert result.verdict.status == "unknown" and "depth" in result.verdict.explanation
    assert result.depth == 4 and result.ended == result.states


def test_max_states_stops_the_search_with_counts() -> None:
    seen = []
    result = explore(REGISTER, "correct", REGISTER.config("small"), max_depth=None,
                     max_states=500, progress=seen.append, progress_every=0.0)
    assert not result.complete and result.stopped_by == "max_states"
    assert result.states == 500 and result.frontier > 0 and result.transitions >= 499
    assert result.verdict.status == "unknown"
    assert seen and seen[-1].states == 500 and seen[-1].frontier == result.frontier
    assert [p.states for p in seen] == sorted(p.states for p in seen)


def test_history_invariants_are_checked_at_the_end_of_the_shortest_run() -> None:
    """The forgetful counter loses an acknowledged put when it crashes before syncing: the
    history shows it once the run ends (quiescence restarts the counter, delivers the ack)."""
    config = COUNTER.config("default")
    result = explore(COUNTER, "forgetful", config, seed=2, max_depth=8)
    assert result.violated and result.verdict.invariant == "acked-puts-durable"
    assert result.choices == [("invoke", "c0"), ("deliver", "c0", "s", 0), ("crash", "s")]
    assert replayed(COUNTER, "forgetful", config, 2, result.choices).verdict.invariant == \
        "acked-puts-durable"
    leaves_only = explore(COUNTER, "forgetful", config, seed=2, max_depth=5,
                          ends="leaves")
    assert leaves_only.violated and len(leaves_only.choices) == 5  # padded to the bound


def test_ending_only_done_states_checks_the_same_states_and_misses_history_bugs_at_the_bound(
        ) -> None:
    """With ends="done" a state cut by the depth bound is checked, not run on: the search
    keeps the same states and transitions as with ends="leaves", ends none of the counter's
    (its workload is not done within the bound), and so cannot see a history bug there."""
    config = COUNTER.config("default")
    leaves = explore(COUNTER, "correct", config, max_depth=6, ends="leaves")
    done = explore(COUNTER, "correct", config, max_depth=6, ends="done")
    assert (done.states, done.transitions) == (leaves.states, leaves.transitions)
    assert leaves.ended > 0 and done.ended == 0 and done.verdict.status == "unknown"
    missed = explore(COUNTER, "forgetful", config, seed=2, max_depth=5, ends="done")
    assert not missed.violated and missed.stopped_by == "depth"
    with pytest.raises(ValueError, match="ends must be one of"):
        explore(COUNTER, "correct", config, ends="some")


def test_dfs_counterexamples_replay() -> None:
    config = COMMIT.config("small")
    result = explore(COMMIT, "hasty", config, order="dfs", max_depth=None)
    assert result.violated
    assert replayed(COMMIT, "hasty", config, 0, result.choices).verdict.invariant == \
        "all-voted-before-commit"


def test_canonical_text_ignores_insertion_order() -> None:
    @attrs.define
    class Box:
        items: dict

    assert canonical({"b": 1, "a": {2, 1}}) == canonical({"a": {1, 2}, "b": 1})
    assert canonical(Box({"x": 1, "y": 2})) == canonical(Box({"y": 2, "x": 1}))
    assert canonical({1: "a"}) != canonical({"1": "a"})
    assert canonical([1, 2]) != canonical((1, 2)) != canonical({1, 2})


@pytest.mark.parametrize("seed", range(3))
def test_incremental_fingerprint_texts_match_a_fresh_computation(seed: int) -> None:
    """The search re-encodes only the nodes an event acts on; check that against encoding
    everything anew, along random walks of SSO with faults and, now and then, a wait for a
    later timer (time passes: the timers before it fire too)."""
    system = registry.lookup("sso")
    config = system.config("small")
    sim = new_simulation(system, "correct", config, seed)
    texts = _NodeTexts(sim)
    sim.start()
    canon = _Canon.of(sim, texts)
    walk = RandomWalk(seed, max_pause=config.max_pause)
    for step in range(150):
        event = walk.next(sim)
        if event is None:
            break
        if step % 10 == 9:
            event = walk.rng.choice(_pending_timers(sim))
        touched = _advance(sim, event, [])
        if touched is None:  # the awaited timer was cancelled: the search drops this copy
            canon = _Canon.of(sim, texts)
            continue
        canon = canon.after(sim, touched, texts)
        unmemoized = _NodeTexts(sim)
        unmemoized.fresh = texts.fresh
        assert canon == _Canon.of(sim, unmemoized), event


def test_a_clock_drift_rate_tells_states_apart() -> None:
    """Two nodes whose clocks read the same now but run at different rates will not read
    the same later: the rate is part of the node's text."""
    system = registry.lookup("sso")
    sim = new_simulation(system, "correct", system.config("small"), 0)
    texts = _NodeTexts(sim)
    sim.start()
    before = texts.of(sim, "n1")
    sim.contexts["n1"].drift(5)
    assert sim.contexts["n1"].offset == 0 and texts.of(sim, "n1") != before


def test_forks_of_a_snapshot_are_independent_copies() -> None:
    """A snapshot shares the trace and history entries (immutable) but not the lists, nor
    anything a node may change."""
    system = registry.lookup("sso")
    sim = new_simulation(system, "correct", system.config("small"), 0)
    sim.start()
    snapshot = _Snapshot.of(sim)
    one, other = snapshot.fork(), snapshot.fork()
    assert one.trace == other.trace == sim.trace and one.trace is not other.trace
    event = one.enabled("fire")[0]
    _advance(one, event, [])
    assert len(one.trace) > len(other.trace) == len(sim.trace)
    assert one.nodes[event[1]].state() != other.nodes[event[1]].state() or \
        one.time != other.time
    assert other.contexts["n1"]._sim is other and one.contexts["n1"]._sim is one


@pytest.mark.parametrize("seed", range(2))
def test_snapshots_sharing_the_first_states_objects_fork_exact_copies_of_later_states(
        seed: int) -> None:
    """A search numbers the first state's immutable objects in every snapshot's pickle (see
    `_Shared`); states far from it, with messages, ballots and strings the first state never
    had, must still fork to copies that encode exactly as the original, and to independent
    ones."""
    system = registry.lookup("sso")
    config = system.config("small")
    sim = new_simulation(system, "correct", config, seed)
    texts = _NodeTexts(sim)
    sim.start()
    shared = _Shared.of(sim)
    walk = RandomWalk(seed, max_pause=config.max_pause)
    for _ in range(120):
        event = walk.next(sim)
        if event is None:
            break
        sim.execute(event)
    snapshot = _Snapshot.of(sim, shared)
    one, other = snapshot.fork(), snapshot.fork()
    assert _Canon.of(one, texts) == _Canon.of(sim, texts) == _Canon.of(other, texts)
    assert one.trace == sim.trace and one.history == sim.history and one.ghost == sim.ghost
    assert sim.fingerprint() == one.fingerprint()
    event = next(e for e in _pending_timers(one) if one.timer_before(e) is None)
    _advance(one, event, [])
    assert len(one.trace) == len(other.trace) + 1 and _Canon.of(other, texts) == \
        _Canon.of(sim, texts)


class _Pair(NamedTuple):
    left: Any
    right: Any


class _Labelled(tuple):
    """A tuple with attributes of its own besides its items."""


def test_named_tuples_are_shared_by_forks_only_when_all_they_hold_is_immutable() -> None:
    """A snapshot keeps a named tuple of immutable values (an envelope of a frozen message, a
    ballot) by reference, shared by every fork; one holding a mutable value, at any depth, is
    copied, so that a fork changing that value leaves the other forks alone; so is a tuple
    with attributes of its own."""
    frozen, mutable, deep = _Pair(("a", 1), _Pair("b", None)), _Pair("c", [1]), \
        _Pair(("d", [2]), 3)
    labelled = _Labelled((1, 2))
    labelled.notes = ["x"]
    snapshot = _Snapshot.of([frozen, mutable, deep, labelled], _Shared.of([]))
    one, other = snapshot.fork(), snapshot.fork()
    assert one[0] is frozen and other[0] is frozen
    assert one[1] == other[1] == mutable and one[1] is not mutable
    assert one[2] == deep and one[2] is not deep
    assert one[3] == labelled and one[3] is not labelled and one[3].notes == ["x"]
    one[1].right.append(2)
    one[2].left[1].append(3)
    one[3].notes.append("y")
    assert other[1] == mutable and other[2] == deep and other[3].notes == ["x"]


def test_code_made_after_the_first_state_is_shared_by_forks() -> None:
    """Functions and classes are pickled by name unless the first state held them; a lambda,
    or a function or class made in a function, has no name to be found by, and is kept by
    reference instead."""
    def made() -> tuple[Any, type]:
        class Local:
            pass
        return (lambda: 1), Local

    function, local = made()
    snapshot = _Snapshot.of({"code": [function, local, local(), len]}, _Shared.of({"code": []}))
    one = snapshot.fork()
    assert one["code"][0] is function and one["code"][1] is local and one["code"][3] is len
    assert type(one["code"][2]) is local and one["code"][2] is not snapshot.fork()["code"][2]


def test_a_forked_generators_token_names_its_state_after_every_draw() -> None:
    """A forked generator keeps the token it was asked for until it draws again: after each
    draw it names the new state, as the token of a plain generator in that state does."""
    plain = random.Random(7)
    forked = _ForkedRandom(plain.getstate(), _generator_token(plain))
    tokens = []
    for draw in (lambda g: g.random(), lambda g: g.getrandbits(3), lambda g: g.randrange(9),
                 lambda g: g.gauss(0, 1), lambda g: g.choice("abc")):
        assert _generator_token(forked) == _generator_token(plain)
        assert draw(forked) == draw(plain)
        tokens.append(_generator_token(forked))
        assert tokens[-1] == _generator_token(plain) == _generator_token(forked)
    assert len(set(tokens)) == len(tokens)


def test_forks_share_the_envelopes_in_flight() -> None:
    system = registry.lookup("sso")
    sim = new_simulation(system, "correct", system.config("small"), 0)
    sim.start()
    while not sim.network.in_flight:
        _advance(sim, sim.enabled("fire")[0], [])
    fork = _Snapshot.of(sim, _Shared.of(sim)).fork()
    assert fork.network.in_flight.keys() == sim.network.in_flight.keys()
    assert all(fork.network.in_flight[key] is envelope
               for key, envelope in sim.network.in_flight.items())


def test_a_search_leaves_the_collector_as_it_found_it() -> None:
    """The search freezes the older heap while it runs (`_older_objects_frozen`) and collects
    the young less often (`_fewer_young_collections`); only what it froze itself is unfrozen
    after, and the thresholds are the caller's again."""
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    explore(COMMIT, "correct", COMMIT.config("small"), max_depth=3)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        explore(COMMIT, "correct", COMMIT.config("small"), max_depth=3)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


FINGERPRINT_SCRIPT = """
from checker import registry
from checker.explore import _Canon, _NodeTexts, _Namer, explore
from checker.run import new_simulation
from checker.strategies import RandomWalk
from tests.toys_explore import COMMIT
system = registry.lookup("sso")
config = system.config("small")
sim = new_simulation(system, "correct", config, 4)
texts = _NodeTexts(sim)
sim.start()
walk = RandomWalk(4, max_pause=config.max_pause)
for _ in range(60):
    event = walk.next(sim)
    if event is None:
        break
    sim.execute(event)
print(_Namer([], False).fingerprint(_Canon.of(sim, texts), sim)[0].hex())
r = explore(COMMIT, "correct", COMMIT.config("small"), max_depth=6)
print(r.states, r.transitions, r.verdict.status)
"""


def test_fingerprints_and_searches_are_the_same_under_any_hash_seed() -> None:
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", FINGERPRINT_SCRIPT], env=env, text=True,
                              capture_output=True, cwd=Path(__file__).resolve().parent.parent,
                              check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1 and len(outputs.pop().split()) == 4


def test_sso_small_bounded_search_is_the_same_with_sleep_sets() -> None:
    """The same set of distinct states, and the same verdict, with fewer transitions."""
    system = registry.lookup("sso")
    config = system.config("small")
    faults = {"crash": 1, "drop": 1, "partition": 1}
    reached: dict[bool, set[bytes]] = {False: set(), True: set()}
    full, reduced = (explore(system, "correct", config, max_depth=3, faults=faults,
                             sleep_sets=sleep,
                             on_transition=lambda _, child, sleep=sleep:
                             reached[sleep].add(child)) for sleep in (False, True))
    assert full.verdict == reduced.verdict and full.states == reduced.states
    assert reached[False] == reached[True] and len(reached[True]) == full.states
    # sleep sets skip `slept` transitions, some taken later from a path with fewer asleep
    assert 0 < full.transitions - reduced.transitions <= reduced.slept
    bug = explore(system, "minority-quorum", config, max_depth=4, faults=faults)
    assert bug.violated and bug.verdict.invariant in ("one-lease-holder", "chosen-on-majority")
    again = replayed(system, "minority-quorum", config, 0, bug.choices)
    assert again.verdict.invariant == bug.verdict.invariant


def test_bad_order_is_refused() -> None:
    with pytest.raises(ValueError, match="order"):
        explore(REGISTER, "correct", REGISTER.config("small"), order="sideways")


def test_every_transition_is_reported_with_its_states() -> None:
    """`on_transition` sees the start once and every transition the search takes, so a
    benchmark can measure the state graph (how many paths a stateless search would run)."""
    seen: list[tuple[bytes | None, bytes]] = []
    result = explore(COMMIT, "correct", COMMIT.config("small"), max_depth=None,
                     sleep_sets=False, symmetry=False,
                     on_transition=lambda parent, child: seen.append((parent, child)))
    assert result.complete and result.states == COMMIT_STATES
    starts = [child for parent, child in seen if parent is None]
    assert len(starts) == 1
    assert len(seen) - 1 == result.transitions
    assert len({child for _, child in seen}) == result.states


@pytest.mark.parametrize("system_name, variant, faults, depth", [
    ("sso", "correct", {"crash": 1, "drop": 1, "partition": 1}, 3),
    ("sso", "ack-before-majority", {}, 12),
    ("kafka", "correct", {"reset": 1}, 3),  # FIFO channels
])
def test_states_left_uncopied_are_made_again_exactly(monkeypatch: pytest.MonkeyPatch,
                                                      system_name: str, variant: str,
                                                      faults: dict[str, int],
                                                      depth: int) -> None:
    """Breadth-first, a state is kept as the state it was reached from and the event (see
    `_Search._copied_when_reached`); expanded, it is made again by running the event once
    more. The search takes the same transitions, in the same order, to the same verdict as
    with every state copied when reached."""
    system = registry.lookup(system_name)
    config = system.config("small") if "small" in system.configs else system.config("default")

    def search() -> tuple[Any, list]:
        taken: list = []
        result = explore(system, variant, config, max_depth=depth, faults=faults,
                         max_states=2_000, ends="leaves",
                         on_transition=lambda parent, child: taken.append((parent, child)))
        return result, taken

    made_again, made_again_taken = search()
    monkeypatch.setattr(_Search, "_copied_when_reached", lambda self: True)
    copied, copied_taken = search()
    assert made_again_taken == copied_taken and len(copied_taken) > 50
    assert (made_again.verdict, made_again.choices, made_again.states) == \
        (copied.verdict, copied.choices, copied.states)


def test_a_breadth_first_search_copies_only_the_states_it_expands(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Breadth-first, the states of the level a search stops in are mostly left unexpanded:
    it keeps no copy of those (one for each, before)."""
    system = registry.lookup("sso")
    copies = []
    snapshot_of = _Snapshot.of.__func__
    monkeypatch.setattr(_Snapshot, "of", classmethod(
        lambda cls, sim, shared=None: copies.append(sim) or snapshot_of(cls, sim, shared)))
    result = explore(system, "correct", system.config("small"), max_depth=None, faults={},
                     max_states=3_000, ends="leaves")
    assert result.states == 3_000 and result.frontier > result.states / 2
    assert len(copies) < result.states / 2


def test_the_states_share_one_object_for_each_distinct_event_and_sleep_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    searches: list[_Search] = []
    run = _Search.run
    monkeypatch.setattr(_Search, "run", lambda self, faults: searches.append(self) or
                        run(self, faults))
    system = registry.lookup("sso")
    explore(system, "correct", system.config("small"), max_depth=4, faults={}, ends="done")
    [search] = searches
    kept = list(search.seen.values())
    for field in ("event", "sleep"):
        values = [getattr(seen, field) for seen in kept]
        assert len({id(value) for value in values}) == len(set(values)) < len(values) / 5
