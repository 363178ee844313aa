import json
import random

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bench_transactions import make_stale, timed_history
from invariants.external import (
    TimedTxn,
    check_external_consistency,
    timed_txns,
    timestamp_violations,
)
from invariants.history import FAIL, INFO, OK, Operation
from invariants.verdict import UNKNOWN
from tests.txn_oracles import brute_force_externally_consistent


def txn(id_, call, ret, ts, reads=None, writes=None):
    return TimedTxn(id_, call, ret, ts, reads or {}, writes or {})


def check(txns, **budget):
    verdict = check_external_consistency(txns, **budget)
    json.dumps(verdict.witness)
    return verdict


def core_txns(verdict):
    return verdict.witness["txns"]


def test_no_transactions_is_consistent():
    assert check([]).ok


def test_sequential_history_is_consistent_and_shows_the_order():
    txns = [txn(1, 0, 1, 10, writes={"x": 1}), txn(2, 2, 3, 20, {"x": 1}, {"x": 2}),
            txn(3, 4, 5, 30, {"x": 2})]
    verdict = check(txns)
    assert verdict.ok
    assert "T1, T2, T3" in verdict.explanation


def test_timestamp_below_an_earlier_transactions_is_a_violation():
    txns = [txn(1, 0, 1, 20, writes={"x": 1}), txn(2, 2, 3, 10, writes={"y": 1})]
    verdict = check(txns)
    assert verdict.violated
    [late] = verdict.witness["timestamp_violations"]
    assert (late["earlier"], late["later"]) == (1, 2)
    assert "commit timestamp 20 is not below T2's 10" in verdict.explanation
    assert "unsat_core" not in verdict.witness


def test_equal_timestamps_for_ordered_transactions_are_a_violation_when_the_later_writes():
    assert [(a.id, b.id) for a, b in timestamp_violations(
        [txn(1, 0, 1, 5), txn(2, 2, 3, 5, writes={"x": 1})])] == [(1, 2)]


def test_a_later_read_only_transaction_may_share_a_timestamp_but_not_precede_it():
    # two snapshot reads in one instant both read at TT.now().latest
    assert check([txn(1, 0, 1, 5, {"x": None}), txn(2, 2, 3, 5, {"x": None})]).ok
    assert check([txn(1, 0, 1, 5, writes={"x": 1}), txn(2, 2, 3, 5, {"x": 1})]).ok
    verdict = check([txn(1, 0, 1, 6, {"x": None}), txn(2, 2, 3, 5, {"x": None})])
    assert verdict.violated
    assert "commit timestamp 6 is above T2's 5 (a read-only transaction may share it, " \
           "not precede it)" in verdict.explanation


def test_concurrent_transactions_may_have_any_timestamps():
    assert check([txn(1, 0, 5, 20), txn(2, 1, 6, 10)]).ok


def test_stale_read_after_real_time_is_explained_by_the_core():
    txns = [txn(1, 0, 2, 10, writes={"x": 1}), txn(2, 3, 4, 11, {"x": None}),
            txn(3, 0, 9, 12, writes={"y": 3})]
    verdict = check(txns)
    assert verdict.violated
    assert core_txns(verdict) == [1, 2]
    facts = [fact["fact"] for fact in verdict.witness["unsat_core"]]
    assert sorted(facts) == ["read T2 x=None before T1", "realtime T1 < T2"]
    assert "T1 returned at t=2 before T2 was called at t=3" in verdict.explanation
    assert "T2 read x=nil, the initial value, so it comes before T1" in verdict.explanation


def test_explanations_do_not_depend_on_earlier_z3_work():
    """Each check solves in its own z3 context, and states its core in the order the facts
    were asserted: terms an earlier check left in the shared context change nothing."""
    txns = [txn(1, 0, 2, 10, writes={"x": 1}), txn(2, 3, 4, 11, {"x": None}),
            txn(3, 0, 9, 12, writes={"y": 3})]
    first = check(txns)
    clutter = z3.Solver()
    for i in range(300):
        clutter.add(z3.Int(f"realtime T{i}") < z3.Int(f"read T{i + 1}"))
    clutter.check()
    again = check(txns)
    assert (again.explanation, again.witness) == (first.explanation, first.witness)
    facts = [fact["fact"] for fact in first.witness["unsat_core"]]
    assert facts == ["read T2 x=None before T1", "realtime T1 < T2"]  # stated order


def test_read_skew_without_real_time_is_explained_by_two_reads():
    txns = [txn(1, 0, 10, 10, writes={"x": 1, "y": 1}), txn(2, 0, 10, 11, {"x": 1, "y": None})]
    verdict = check(txns)
    assert core_txns(verdict) == [1, 2]
    assert all(fact["fact"].startswith("read T2") for fact in verdict.witness["unsat_core"])


def test_overwritten_value_cannot_be_read():
    txns = [txn(1, 0, 1, 1, writes={"x": 1}), txn(2, 2, 3, 2, writes={"x": 2}),
            txn(3, 4, 5, 3, {"x": 1})]
    verdict = check(txns)
    assert core_txns(verdict) == [1, 2, 3]
    assert "T2, which also writes x, comes before T1 or after T3" in verdict.explanation


def test_value_nobody_wrote_is_a_one_fact_core():
    verdict = check([txn(1, 0, 1, 1, {"x": 7})])
    assert [fact["why"] for fact in verdict.witness["unsat_core"]] == [
        "T1 read x=7, but no transaction wrote that value"]


def test_same_value_written_twice_may_come_from_either_writer():
    txns = [txn(1, 0, 1, 1, writes={"x": 1}), txn(2, 2, 3, 2, writes={"x": 2}),
            txn(3, 4, 5, 3, writes={"x": 1}), txn(4, 6, 7, 4, {"x": 1})]
    assert check(txns).ok


def test_unknown_outcome_may_take_effect_later_or_never():
    write = txn(1, 0, None, None, writes={"x": 1})
    assert check([write, txn(2, 5, 6, 1, {"x": 1})]).ok
    assert check([write, txn(2, 5, 6, 1, {"x": None})]).ok
    assert check([write, txn(2, 5, 6, 1, {"x": 1}), txn(3, 7, 8, 2, {"x": None})]).violated


def test_unknown_outcome_cannot_take_effect_before_its_call():
    txns = [txn(1, 0, 1, 1, {"x": 1}), txn(2, 5, None, None, writes={"x": 1})]
    verdict = check(txns)
    assert core_txns(verdict) == [1, 2]


def test_spent_budget_is_unknown():
    verdict = check(timed_history(400, seed=11), timeout_ms=1)
    assert verdict.status == UNKNOWN
    assert "1 ms" in verdict.explanation


def test_generated_histories_pass_and_a_stale_read_is_caught():
    txns = timed_history(60, seed=2)
    assert check(txns).ok
    verdict = check(make_stale(txns))
    assert verdict.violated
    assert len(core_txns(verdict)) == 2


def test_committed_transaction_needs_a_timestamp():
    with pytest.raises(ValueError):
        check([txn(1, 0, 1, None)])


def test_operations_convert_to_timed_transactions():
    ops = [Operation(0, "p0", "txn", [["w", "x", 1], ["r", "x", None]],
                     {"commit_ts": 7, "txn": [["w", "x", 1], ["r", "x", 1]]}, OK, 0, 1),
           Operation(1, "p1", "txn", [["r", "x", None], ["r", "x", None], ["w", "y", 2]],
                     {"commit_ts": 9, "txn": [["r", "x", 1], ["r", "x", 1], ["w", "y", 2]]},
                     OK, 2, 3),
           Operation(2, "p2", "txn", [["w", "x", 5]], None, FAIL, 4, 5),
           Operation(3, "p3", "txn", [["r", "y", None], ["w", "y", 3]], None, INFO, 6, None),
           Operation(4, "p4", "read", "x", 1, OK, 7, 8)]
    txns = timed_txns(ops)
    assert [(x.id, x.call, x.ret, x.commit_ts, x.reads, x.writes) for x in txns] == [
        (0, 0, 1, 7, {}, {"x": 1}), (1, 2, 3, 9, {"x": 1}, {"y": 2}),
        (3, 6, None, None, {}, {"y": 3})]
    assert check(txns).ok


# -- differential: versus trying every serial order ------------------------------------------

@st.composite
def timed_histories(draw):
    """Up to five register transactions run in some serial order, then perhaps perturbed.

    Values come from {1, 2}, so several transactions may write the same value.
    """
    n = draw(st.integers(1, 5))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    order = list(range(n))
    rng.shuffle(order)
    state = {}
    txns = []
    for position, id_ in enumerate(order):
        known = rng.random() < 0.85
        takes_effect = known or rng.random() < 0.5
        reads = {key: state.get(key) for key in ("x", "y") if known and rng.random() < 0.5}
        writes = {key: rng.choice([1, 2]) for key in ("x", "y") if rng.random() < 0.5}
        if takes_effect:
            state.update(writes)
        call = 2 * position - rng.randint(0, 3)
        txns.append(TimedTxn(id_, call, 2 * position + rng.randint(0, 3) if known else None,
                             position if known else None, reads, writes))
    return _perturb(rng, sorted(txns, key=lambda txn: txn.id))


def _perturb(rng, txns):
    committed = [txn for txn in txns if txn.committed]
    how = rng.choice([None, "read", "read", "timestamp", "interval"])
    if how is None or not committed:
        return txns
    victim = rng.choice(committed)
    if how == "read" and victim.reads:
        key = rng.choice(sorted(victim.reads))
        changed = TimedTxn(victim.id, victim.call, victim.ret, victim.commit_ts,
                           {**victim.reads, key: rng.choice([None, 1, 2])}, victim.writes)
    elif how == "timestamp":
        changed = TimedTxn(victim.id, victim.call, victim.ret, rng.randint(0, len(txns)),
                           victim.reads, victim.writes)
    else:
        call = rng.randint(-3, 2 * len(txns))
        changed = TimedTxn(victim.id, call, call + rng.randint(0, 3), victim.commit_ts,
                           victim.reads, victim.writes)
    return [changed if txn is victim else txn for txn in txns]


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(timed_histories())
def test_agrees_with_brute_force(txns):
    verdict = check_external_consistency(txns)
    assert verdict.status != UNKNOWN
    assert verdict.ok == brute_force_externally_consistent(txns), verdict.explanation
