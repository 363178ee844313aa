import json

from hypothesis import given, settings
from hypothesis import strategies as st

from invariants.sessions import (
    SessionOp,
    at_least,
    check_convergence,
    check_monotonic_reads,
    check_read_your_writes,
    extends,
)


def w(session, key, value, time=None):
    return SessionOp(session, "write", key, value, time)


def r(session, key, value, time=None):
    return SessionOp(session, "read", key, value, time)


# -- convergence -------------------------------------------------------------------------

def test_equal_replicas_converge():
    verdict = check_convergence({"a": {"x": 1, "y": 2}, "b": {"y": 2, "x": 1}})
    assert verdict.ok
    assert "agree on all 2 key(s)" in verdict.explanation


def test_first_differing_key_and_its_holders():
    verdict = check_convergence({"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 3},
                                 "c": {"x": 2, "y": 2}, "d": {"y": 2}})
    assert verdict.violated
    assert verdict.witness["key"] == "x"
    assert verdict.witness["differing_keys"] == ["x", "y"]
    assert verdict.witness["holders"] == [{"replicas": ["a", "b"], "value": 1},
                                          {"replicas": ["c"], "value": 2},
                                          {"replicas": ["d"], "missing": True}]
    assert "first 'x': {a, b} hold 1; {c} hold 2; {d} lack 'x'" in verdict.explanation
    json.dumps(verdict.witness)


def test_a_single_replica_converges_only_vacuously():
    assert "vacuously" in check_convergence({"a": {"x": 1}}).explanation


def test_unorderable_keys_still_give_a_deterministic_first_key():
    verdict = check_convergence({"a": {1: "p", "k": "q"}, "b": {1: "p", "k": "r"}})
    assert verdict.witness["key"] == "k"


# -- read-your-writes --------------------------------------------------------------------

def test_reading_own_write_or_newer_is_fine():
    ops = [w("s1", "x", 1), r("s1", "x", 1), w("s2", "x", 2), r("s1", "x", 2)]
    assert check_read_your_writes(ops).ok


def test_reading_older_than_own_write_is_a_violation():
    ops = [w("s1", "x", 2, time=1), w("s2", "x", 1), r("s1", "x", 1, time=5)]
    verdict = check_read_your_writes(ops)
    assert verdict.violated
    assert "session s1 wrote 'x'=2 (op #0 at t=1), then read 1 (op #2 at t=5)" \
        in verdict.explanation
    [found] = verdict.witness
    assert found["earlier"]["index"] == 0 and found["read"]["index"] == 2


def test_never_written_read_after_own_write_is_a_violation():
    assert check_read_your_writes([w("s", "x", 1), r("s", "x", None)]).violated


def test_other_sessions_writes_do_not_bind_a_reader():
    assert check_read_your_writes([w("s1", "x", 5), r("s2", "x", None)]).ok


# -- monotonic reads ---------------------------------------------------------------------

def test_reads_going_back_are_a_violation():
    ops = [r("s", "x", 3), r("s", "x", 4), r("s", "x", 2)]
    verdict = check_monotonic_reads(ops)
    assert verdict.violated
    assert "session s read 'x'=4 (op #1), then read 2 (op #2)" in verdict.explanation


def test_keys_and_sessions_are_separate():
    ops = [r("s", "x", 3), r("s", "y", 1), r("t", "x", 1), r("s", "x", 3)]
    assert check_monotonic_reads(ops).ok


def test_version_tuples_and_grow_only_sets():
    assert check_monotonic_reads([r("s", "x", (2, "a")), r("s", "x", (1, "b"))]).violated
    grows = [r("s", "x", frozenset({1})), r("s", "x", frozenset({1, 2}))]
    assert check_monotonic_reads(grows).ok
    assert check_monotonic_reads(grows[::-1]).violated


def test_append_only_lists_use_the_prefix_order():
    ops = [r("s", "x", [1]), r("s", "x", [1, 2]), r("s", "x", [2, 1])]
    verdict = check_monotonic_reads(ops, newer_or_equal=extends)
    assert verdict.violated
    assert [found["read"]["index"] for found in verdict.witness] == [2]


# -- differential tests against all-pairs references -------------------------------------

def naive_violations(ops, floor_kind, newer_or_equal):
    """Indices of reads that are older than some earlier floor op of their session and key."""
    return {i for i, op in enumerate(ops) if op.f == "read"
            and any(e.f == floor_kind and (e.session, e.key) == (op.session, op.key)
                    and not newer_or_equal(op.value, e.value) for e in ops[:i])}


session_ops = st.lists(st.builds(SessionOp, st.sampled_from("st"), st.sampled_from(["read",
                                                                                    "write"]),
                                 st.sampled_from("xy"), st.one_of(st.none(),
                                                                  st.integers(0, 3))),
                       max_size=10)
list_ops = st.lists(st.builds(SessionOp, st.just("s"), st.sampled_from(["read", "write"]),
                              st.just("x"), st.lists(st.sampled_from([1, 2]), max_size=3)),
                    max_size=8)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.one_of(st.tuples(session_ops, st.just(at_least)),
                 st.tuples(list_ops, st.just(extends))))
def test_agrees_with_all_pairs_reference(ops_and_order):
    ops, order = ops_and_order
    for check, floor_kind in ((check_read_your_writes, "write"), (check_monotonic_reads, "read")):
        expected = naive_violations(ops, floor_kind, order)
        verdict = check(ops, newer_or_equal=order)
        found = {v["read"]["index"] for v in verdict.witness} if verdict.violated else set()
        assert found == expected
