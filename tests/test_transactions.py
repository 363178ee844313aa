import itertools
import json
import random
import re
import time

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bench_transactions import plant_g_single, serializable_history
from invariants.history import FAIL, INFO, OK
from invariants.transactions import (
    LEVELS,
    MalformedTransaction,
    check_transactions,
    dependency_graph,
    realtime_precedence,
    transactional,
    txn_op,
)
from invariants.verdict import UNKNOWN
from tests.txn_oracles import brute_force_serializable

t = txn_op


def check(ops, level="serializable", **options):
    verdict = check_transactions(ops, level, **options)
    json.dumps(verdict.witness)
    return verdict


def types(verdict):
    return sorted({anomaly["type"] for anomaly in verdict.witness or []})


def the(kind, verdict):
    [anomaly] = [a for a in verdict.witness if a["type"] == kind]
    return anomaly


# -- hand-made histories -------------------------------------------------------------------

READ_SKEW = [  # T2 saw T1's y but not its x: G-single
    t(1, [["append", "x", 1], ["append", "y", 1]]),
    t(2, [["r", "x", []], ["r", "y", [1]]]),
    t(3, [["r", "x", [1]], ["r", "y", [1]]]),
]
WRITE_SKEW = [  # each read the other's key empty, then appended to its own: G2-item
    t(1, [["r", "x", []], ["r", "y", []], ["append", "x", 1]]),
    t(2, [["r", "x", []], ["r", "y", []], ["append", "y", 2]]),
    t(3, [["r", "x", [1]], ["r", "y", [2]]]),
]
LOST_UPDATE = [
    t(1, [["r", "x", []], ["append", "x", 1]]),
    t(2, [["r", "x", []], ["append", "x", 2]]),
    t(3, [["r", "x", [1, 2]]]),
]
WRITE_CYCLE = [  # x says T1 then T2, y says T2 then T1: G0
    t(1, [["append", "x", 1], ["append", "y", 1]]),
    t(2, [["append", "x", 2], ["append", "y", 2]]),
    t(3, [["r", "x", [1, 2]], ["r", "y", [2, 1]]]),
]
CIRCULAR_FLOW = [  # each read the other's append: G1c
    t(1, [["append", "x", 1], ["r", "y", [2]]]),
    t(2, [["append", "y", 2], ["r", "x", [1]]]),
]


def test_empty_history_is_ok():
    assert check([]).ok


def test_serial_history_is_ok_at_every_level():
    ops = [t(1, [["r", "x", []], ["append", "x", 1]], call=0, ret=1),
           t(2, [["r", "x", [1]], ["append", "x", 2], ["r", "x", [1, 2]]], call=2, ret=3),
           t(3, [["append", "y", 3], ["r", "x", [1, 2]]], call=4, ret=5),
           t(4, [["r", "y", [3]], ["r", "x", [1, 2]]], call=6, ret=7)]
    for level in LEVELS:
        assert check(ops, level).ok, level


def test_write_cycle_is_g0_forbidden_even_under_read_committed():
    verdict = check(WRITE_CYCLE, "read-committed")
    assert verdict.violated
    g0 = the("G0", verdict)
    assert sorted(g0["cycle"]) == [1, 2]
    assert {edge["type"] for edge in g0["edges"]} == {"ww"}
    assert {edge["key"] for edge in g0["edges"]} == {"x", "y"}
    assert [op["id"] for op in g0["ops"]] == g0["cycle"]
    assert "must come both before and after" in verdict.explanation


def test_aborted_read_is_g1a():
    ops = [t(1, [["append", "x", 1]], status=FAIL), t(2, [["r", "x", [1]]])]
    verdict = check(ops, "read-committed")
    assert types(verdict) == ["G1a"]
    assert the("G1a", verdict)["txns"] == [2, 1]
    assert "failed" in verdict.explanation


def test_intermediate_read_is_g1b():
    ops = [t(1, [["append", "x", 1], ["append", "x", 2]]), t(2, [["r", "x", [1]]]),
           t(3, [["r", "x", [1, 2]]])]
    verdict = check(ops, "read-committed")
    assert types(verdict) == ["G1b"]
    assert "intermediate" in verdict.explanation


def test_circular_information_flow_is_g1c():
    verdict = check(CIRCULAR_FLOW, "read-committed")
    g1c = the("G1c", verdict)
    assert {edge["type"] for edge in g1c["edges"]} == {"wr"}


def test_read_skew_is_g_single_allowed_only_under_read_committed():
    assert check(READ_SKEW, "read-committed").ok
    for level in ("snapshot-isolation", "serializable"):
        verdict = check(READ_SKEW, level)
        assert types(verdict) == ["G-single-item"], level
    g_single = the("G-single-item", check(READ_SKEW))
    assert sorted(edge["type"] for edge in g_single["edges"]) == ["rw", "wr"]
    rw = next(edge for edge in g_single["edges"] if edge["type"] == "rw")
    assert (rw["from"], rw["to"], rw["key"]) == (2, 1, "x")
    assert rw["why"] == "T2 read x=[] before T1 appended 1 (rw)"


def test_write_skew_is_g2_item_allowed_under_snapshot_isolation():
    assert check(WRITE_SKEW, "read-committed").ok
    allowed = check(WRITE_SKEW, "snapshot-isolation")
    assert allowed.ok
    assert "cycles allowed" in allowed.explanation
    verdict = check(WRITE_SKEW, "serializable")
    assert types(verdict) == ["G2-item"]
    assert [edge["type"] for edge in the("G2-item", verdict)["edges"]] == ["rw", "rw"]


def test_lost_update_is_forbidden_from_snapshot_isolation_up():
    assert check(LOST_UPDATE, "read-committed").ok
    verdict = check(LOST_UPDATE, "snapshot-isolation")
    assert types(verdict) == ["G-single-item", "lost-update"]
    assert the("lost-update", verdict)["txns"] == [1, 2]


def test_reading_without_own_append_is_internal():
    verdict = check([t(1, [["append", "x", 1], ["r", "x", []]])])
    assert types(verdict) == ["internal"]
    assert "its own appends" in verdict.explanation


def test_reading_own_future_append_is_a_future_read():
    verdict = check([t(1, [["r", "x", [1]], ["append", "x", 1]])])
    assert types(verdict) == ["future-read"]
    assert "only appends later" in verdict.explanation


def test_non_repeatable_read_within_a_transaction_is_internal():
    ops = [t(1, [["r", "x", []], ["r", "x", [2]]]), t(2, [["append", "x", 2]])]
    assert check(ops, "read-committed").ok  # as in Elle, read atomic is the weakest to care
    assert "internal" in types(check(ops, "read-atomic"))


def test_appends_seen_out_of_order_are_internal():
    ops = [t(1, [["append", "x", 1], ["append", "x", 2]]), t(2, [["r", "x", [2, 1]]])]
    assert "internal" in types(check(ops))


def test_reads_that_are_not_prefixes_of_each_other_are_an_incompatible_order():
    ops = [t(1, [["append", "x", 1]]), t(2, [["append", "x", 2]]),
           t(3, [["r", "x", [1]]]), t(4, [["r", "x", [2]]])]
    verdict = check(ops, "read-committed")
    assert types(verdict) == ["incompatible-order"]
    assert the("incompatible-order", verdict)["txns"] == [3, 4]


def test_value_never_appended_is_garbage():
    assert types(check([t(1, [["r", "x", [7]]])], "read-committed")) == ["garbage-read"]


def test_value_appearing_twice_is_a_duplicate():
    ops = [t(1, [["append", "x", 1]]), t(2, [["r", "x", [1, 1]]])]
    assert types(check(ops, "read-committed")) == ["duplicate-elements"]


def test_stale_read_violates_only_strict_serializability():
    ops = [t(1, [["append", "x", 1]], call=0, ret=1), t(2, [["r", "x", []]], call=2, ret=3)]
    assert check(ops, "serializable").ok
    for verdict in (check(ops, "strict-serializable"), check(ops, realtime=True)):
        assert types(verdict) == ["G-single-item-realtime"]
    edges = the("G-single-item-realtime", check(ops, "strict-serializable"))["edges"]
    assert {edge["type"] for edge in edges} == {"rw", "realtime"}


def test_touching_intervals_are_concurrent():
    ops = [t(1, [["append", "x", 1]], call=0, ret=2), t(2, [["r", "x", []]], call=2, ret=3)]
    assert check(ops, "strict-serializable").ok


def test_real_time_is_the_order_of_events_and_is_explained_with_times():
    """Both transactions at time 5: the order of their events still says T1 returned before T2
    was called; the explanation shows the times, not the positions."""
    ops = [attrs.evolve(t(1, [["append", "x", 1]], call=0, ret=1), call_time=5, ret_time=5),
           attrs.evolve(t(2, [["r", "x", []]], call=2, ret=3), call_time=5, ret_time=5)]
    verdict = check(ops, "strict-serializable")
    assert types(verdict) == ["G-single-item-realtime"]
    assert "T1 returned at t=5 before T2 was called at t=5 (realtime)" in verdict.explanation


def test_process_order_edges_are_optional():
    ops = [t(1, [["append", "x", 1]], process="p", call=0, ret=1),
           t(2, [["r", "x", []]], process="p", call=2, ret=3)]
    assert check(ops).ok
    assert types(check(ops, process_order=True)) == ["G-single-item-process"]


def test_info_transaction_counts_once_a_read_saw_its_write():
    seen = [t(1, [["append", "x", 1]], status=INFO), t(2, [["r", "x", [1]]])]
    assert check(seen).ok
    assert 1 in dependency_graph(seen)
    unseen = [t(1, [["append", "x", 1]], status=INFO), t(2, [["r", "x", []]])]
    assert 1 not in dependency_graph(unseen)
    cycle = [t(1, [["append", "x", 1], ["append", "y", 1]], status=INFO),
             t(2, [["r", "x", []], ["r", "y", [1]]]), t(3, [["r", "x", [1]]])]
    assert types(check(cycle)) == ["G-single-item"]


def test_unobserved_committed_append_follows_every_read():
    ops = [t(1, [["r", "x", []], ["append", "x", 1]]), t(2, [["r", "x", []], ["append", "x", 2]]),
           t(3, [["r", "x", [1]]])]
    graph = dependency_graph(ops)
    assert graph.edges[1, 2]["types"] == ["ww"]
    assert graph.edges[3, 2]["types"] == ["rw"]
    assert "no read ever saw" in graph.edges[3, 2]["deps"][0]["why"]
    assert not brute_force_serializable(ops)
    assert check(ops).violated


def test_dependency_graph_edges_carry_their_reasons():
    graph = dependency_graph(READ_SKEW)
    assert set(graph.edges) == {(1, 2), (2, 1), (1, 3)}
    assert graph.edges[2, 1]["types"] == ["rw"]
    assert graph.edges[1, 2]["deps"] == [
        {"type": "wr", "key": "y", "why": "T2 read y=[1], which includes T1's append of 1 (wr)"}]


def test_an_edge_several_keys_imply_is_explained_by_the_first_key():
    """The check keeps no reason per edge: explaining finds the edge's first one again."""
    ops = [t(1, [["append", "x", 1], ["append", "y", 1], ["append", "z", 1]]),
           t(2, [["r", "y", [1]], ["r", "x", [1]], ["r", "z", []]]),
           t(3, [["r", "z", [1]]])]
    wr = {"type": "wr", "key": "x", "why": "T2 read x=[1], which includes T1's append of 1 (wr)"}
    assert dependency_graph(ops).edges[1, 2]["deps"] == [wr]
    [cycle] = check(ops).witness
    assert {"from": 1, "to": 2, **wr} in cycle["edges"]


def test_repeated_values_cannot_be_attributed():
    ops = [t(1, [["append", "x", 1]]), t(2, [["append", "x", 1]])]
    verdict = check(ops)
    assert verdict.status == UNKNOWN
    assert "unique" in verdict.explanation


def verdicts_by_step_budget(ops, level):
    """The verdict under every step budget, from none up to the first that needs no more."""
    verdicts = []
    while not verdicts or verdicts[-1].status == UNKNOWN:
        verdicts.append(check(ops, level, max_seconds=None, max_steps=len(verdicts)))
    return verdicts


def test_every_step_of_the_check_is_budgeted_and_a_spent_budget_is_unknown():
    *spent, enough = verdicts_by_step_budget(WRITE_SKEW, "snapshot-isolation")
    assert enough.ok
    assert all(verdict.status == UNKNOWN for verdict in spent)
    # spent while reading the micro-ops and inferring the graph, then within the cycle search
    assert "before the dependency graph was inferred" in spent[0].explanation
    assert spent[-1].witness["unresolved"]
    assert len(spent) > 50


def test_spent_budget_still_reports_a_cycle_when_every_cycle_is_forbidden():
    """Budgets that run out in the cycle search leave snapshot isolation undecided, but at
    serializable every cycle is forbidden: any cycle is a witness."""
    in_search = [steps for steps, verdict in enumerate(
        verdicts_by_step_budget(WRITE_SKEW, "snapshot-isolation"))
        if verdict.status == UNKNOWN and verdict.witness]
    assert in_search
    for steps in in_search:
        verdict = check(WRITE_SKEW, "serializable", max_seconds=None, max_steps=steps)
        assert types(verdict) == ["G2-item"]


def test_step_budgets_are_deterministic_and_counted_in_the_explanation():
    verdict = check(READ_SKEW[:1] + READ_SKEW[2:], max_seconds=None)
    steps = int(re.search(r"\((\d+) steps\)", verdict.explanation).group(1))
    assert check(READ_SKEW[:1] + READ_SKEW[2:], max_seconds=None, max_steps=steps).ok
    assert check(READ_SKEW[:1] + READ_SKEW[2:], max_seconds=None,
                 max_steps=steps - 1).status == UNKNOWN


def test_a_time_budget_covers_inferring_the_graph_too():
    assert check(WRITE_SKEW, "serializable", max_seconds=0).status == UNKNOWN


def test_a_time_budget_is_kept_on_a_large_history():
    """Reading the micro-ops and building the graph used to run outside the budget (20x)."""
    ops = serializable_history(5_000, seed=5)
    start = time.perf_counter()
    verdict = check_transactions(ops, "strict-serializable", max_seconds=0.05)
    elapsed = time.perf_counter() - start
    assert verdict.status == UNKNOWN
    assert elapsed < 0.05 * 1.2 + 0.1


def test_max_cycles_caps_the_witness():
    ops = [op for i in range(5) for op in
           [t(10 * i + 1, [["append", f"x{i}", 1], ["append", f"y{i}", 1]]),
            t(10 * i + 2, [["append", f"x{i}", 2], ["append", f"y{i}", 2]]),
            t(10 * i + 3, [["r", f"x{i}", [1, 2]], ["r", f"y{i}", [2, 1]]])]]
    assert len(check(ops).witness) == 5
    verdict = check(ops, max_cycles=2)
    assert len(verdict.witness) == 2
    assert verdict.explanation.startswith("not serializable: G0 x5")
    assert "3 more forbidden cycle(s) counted but not kept" in verdict.explanation


def test_shortest_cycle_is_the_witness():
    # x orders T1, T2, T3; y puts T3 before T1 (a 3-cycle); z puts T2 before T1 (a 2-cycle).
    ops = [t(1, [["append", "x", 1], ["append", "y", 1], ["append", "z", 1]]),
           t(2, [["append", "x", 2], ["append", "z", 2]]),
           t(3, [["append", "x", 3], ["append", "y", 3]]),
           t(4, [["r", "x", [1, 2, 3]], ["r", "y", [3, 1]], ["r", "z", [2, 1]]])]
    assert sorted(the("G0", check(ops))["cycle"]) == [1, 2]


def test_as_a_history_invariant():
    check_si = transactional("snapshot-isolation")
    assert check_si.__name__ == "snapshot_isolation"
    assert check_si(WRITE_SKEW).ok
    assert check_si(READ_SKEW).violated


@pytest.mark.parametrize("result, problem", [
    ([["read", "x", []]], "micro-op 0 is 'read', which this checker does not interpret"),
    ([["r", "x"]], "micro-op 0 is ['r', 'x']: expected [f, key, value]"),
    ([["append", "x", [1]]], "micro-op 0 writes [1], which cannot be compared"),
    ([["r", "x", 1]], "micro-op 0 read x, which is appended to, and returned 1"),
])
def test_micro_ops_the_checker_cannot_read_are_never_skipped(result, problem):
    malformed = attrs.evolve(t(2, [["r", "x", []]]), result=result)
    with pytest.raises(MalformedTransaction, match=re.escape(problem)) as info:
        check([t(1, [["append", "x", 1]]), malformed])
    assert (info.value.op.id, info.value.in_completion) == (2, True)


def test_unknown_level_is_an_error():
    with pytest.raises(ValueError):
        check([], "linearizable")


# -- read-write registers ------------------------------------------------------------------

def test_register_write_skew_and_read_skew():
    skew = [t(1, [["r", "x", None], ["r", "y", None], ["w", "x", 1]]),
            t(2, [["r", "x", None], ["r", "y", None], ["w", "y", 2]])]
    assert check(skew, "snapshot-isolation").ok
    assert types(check(skew)) == ["G2-item"]
    read_skew = [t(1, [["w", "x", 1], ["w", "y", 1]]), t(2, [["r", "x", None], ["r", "y", 1]])]
    assert types(check(read_skew, "snapshot-isolation")) == ["G-single-item"]


def test_register_aborted_intermediate_and_garbage_reads():
    assert types(check([t(1, [["w", "x", 1]], status=FAIL), t(2, [["r", "x", 1]])])) == ["G1a"]
    intermediate = [t(1, [["w", "x", 1], ["w", "x", 2]]), t(2, [["r", "x", 1]])]
    assert types(check(intermediate)) == ["G1b"]
    assert types(check([t(1, [["w", "x", 1]]), t(2, [["r", "x", 9]])])) == ["garbage-read"]


def test_register_lost_update():
    ops = [t(1, [["r", "x", None], ["w", "x", 1]]), t(2, [["r", "x", None], ["w", "x", 2]])]
    assert check(ops, "read-committed").ok
    assert "lost-update" in types(check(ops, "snapshot-isolation"))


def test_register_read_then_write_orders_versions():
    ops = [t(1, [["w", "x", 1]]), t(2, [["r", "x", 1], ["w", "x", 2]]), t(3, [["r", "x", 1]])]
    assert dependency_graph(ops).edges[1, 2]["types"] == ["wr"]  # Elle's default: no such rule
    graph = dependency_graph(ops, writes_follow_reads=True)
    assert graph.edges[1, 2]["types"] == ["wr", "ww"]
    assert graph.edges[3, 2]["types"] == ["rw"]
    assert check(ops, writes_follow_reads=True).ok


def test_register_internal_reads():
    assert types(check([t(1, [["w", "x", 1], ["r", "x", None]])])) == ["internal"]
    assert types(check([t(1, [["r", "x", 1], ["w", "x", 1]])])) == ["future-read"]


# -- real-time edges -----------------------------------------------------------------------

def test_realtime_precedence_implies_exactly_real_time_order():
    intervals = [(0, 0, 2), (1, 1, 5), (2, 3, 4), (3, 6, 8), (4, 6, None), (5, 9, 10)]
    edges = realtime_precedence(intervals)
    reach = {(a, b) for a, b in edges}
    for _ in intervals:
        reach |= {(a, d) for a, b in reach for c, d in reach if b == c}
    expected = {(a, b) for (a, _, ret), (b, call, _) in itertools.permutations(intervals, 2)
                if ret is not None and ret < call}
    assert reach == expected
    assert len(edges) < len(expected)


# -- size ----------------------------------------------------------------------------------

def test_large_history_is_checked_quickly_and_a_planted_anomaly_found():
    ops = serializable_history(5_000, seed=3)
    start = time.perf_counter()
    assert check_transactions(ops, "strict-serializable").ok
    planted, victim = plant_g_single(ops, random.Random(3))
    verdict = check_transactions(planted)
    assert time.perf_counter() - start < 20
    assert "G-single-item" in types(verdict)
    assert victim in the("G-single-item", verdict)["cycle"]


# -- differential: versus trying every serial order ------------------------------------------

KEYS = ("x", "y")
MICRO_OPS = st.tuples(st.sampled_from(["r", "append"]), st.sampled_from(KEYS))


@st.composite
def list_append_histories(draw):
    """A few transactions interleaved on one store, some reads stale or corrupted.

    Hypothesis draws the shape (micro-ops, outcomes); a drawn seed drives the many small
    choices (interleaving, stale reads, corruption), which keeps 1,000 examples quick. Every
    committed append is seen by a final read of every key, so the checker knows the full
    version order and must agree exactly with the brute-force oracle.
    """
    plans = draw(st.lists(st.lists(MICRO_OPS, min_size=1, max_size=3), min_size=1, max_size=4))
    statuses = draw(st.lists(st.sampled_from([OK, OK, OK, OK, FAIL, INFO]),
                             min_size=len(plans), max_size=len(plans)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    applied = [status == OK or rng.random() < 0.5 for status in statuses]
    schedule = [i for i, plan in enumerate(plans) for _ in plan]
    rng.shuffle(schedule)
    store = {key: [] for key in KEYS}
    done = [[] for _ in plans]
    steps = [[] for _ in plans]
    values = itertools.count(1)
    for time_, i in enumerate(schedule):
        f, key = plans[i][len(done[i])]
        steps[i].append(time_)
        if f == "append":
            done[i].append(["append", key, next(values)])
            if applied[i]:
                store[key].append(done[i][-1][2])
        else:
            stale = rng.random() < 0.3
            done[i].append(["r", key, store[key][:rng.randint(0, len(store[key]))] if stale
                            else store[key][:]])
    _corrupt(rng, [mop for i, mops in enumerate(done) if statuses[i] == OK
                   for mop in mops if mop[0] == "r"])
    ops = [t(i, mops, status=statuses[i], call=2 * steps[i][0],
             ret=2 * steps[i][-1] + 1 + 2 * rng.randint(0, 2)) for i, mops in enumerate(done)]
    end = 2 * len(schedule) + 10
    return ops + [t(len(ops), [["r", key, store[key][:]] for key in KEYS], call=end, ret=end + 1)]


def _corrupt(rng, reads):
    how = rng.choice([None] * 8 + ["garbage", "duplicate", "drop", "swap"])
    if how is None or not reads:
        return
    seen = rng.choice(reads)[2]
    if how == "garbage":
        seen.append(99)
    elif how == "duplicate" and seen:
        seen.append(seen[0])
    elif how == "drop" and seen:
        del seen[rng.randrange(len(seen))]
    elif how == "swap" and len(seen) > 1:
        seen[-1], seen[-2] = seen[-2], seen[-1]


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(list_append_histories())
def test_serializable_and_strict_agree_with_brute_force(ops):
    for level, realtime in (("serializable", False), ("strict-serializable", True)):
        verdict = check_transactions(ops, level)
        assert verdict.status != UNKNOWN
        assert verdict.ok == brute_force_serializable(ops, realtime=realtime), \
            f"{level}: {verdict.explanation}"


@st.composite
def register_histories(draw):
    """Register transactions reading the current or an older value: checked for soundness."""
    n = draw(st.integers(1, 5))
    written = {key: [None] for key in KEYS}
    values = itertools.count(1)
    ops = []
    for i in range(n):
        mops = []
        for f, key in draw(st.lists(st.tuples(st.sampled_from(["r", "w"]),
                                              st.sampled_from(KEYS)), min_size=1, max_size=3)):
            if f == "w":
                mops.append(["w", key, next(values)])
            else:
                mops.append(["r", key, draw(st.sampled_from(written[key]))])
        status = draw(st.sampled_from([OK, OK, OK, FAIL, INFO]))
        for f, key, value in mops:
            if f == "w":
                written[key].append(value)
        ops.append(t(i, mops, status=status, call=2 * i, ret=2 * i + 1))
    return ops


@settings(max_examples=500, derandomize=True, deadline=None)
@given(register_histories())
def test_register_violations_are_real(ops):
    verdict = check_transactions(ops, "serializable")
    assert verdict.status != UNKNOWN
    if brute_force_serializable(ops):
        assert verdict.ok, verdict.explanation
