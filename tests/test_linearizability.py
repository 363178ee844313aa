import json

from hypothesis import given, settings
from hypothesis import strategies as st

from invariants.history import FAIL, INFO, OK, Operation
from invariants.linearizability import check_linearizable, linearizable
from invariants.verdict import UNKNOWN
from models.kv import KV
from models.sequential import Register
from tests.oracles import brute_force_linearizable


def op(id_: int, f: str, args, result=None, call: int = 0, ret: int | None = None,
       status: str = OK) -> Operation:
    return Operation(id_, f"p{id_}", f, args, result, status, call, ret)


def check(ops, model=None, **budget):
    return check_linearizable(ops, model or Register(0), **budget)


# -- registers ---------------------------------------------------------------------------

def test_empty_history_is_linearizable():
    assert check([]).ok


def test_sequential_history_is_linearizable():
    ops = [op(0, "write", 1, None, 0, 1), op(1, "read", None, 1, 2, 3),
           op(2, "write", 2, None, 4, 5), op(3, "read", None, 2, 6, 7)]
    assert check(ops).ok


def test_concurrent_read_may_see_old_or_new_value():
    write = op(0, "write", 1, None, 0, 10)
    assert check([write, op(1, "read", None, 0, 1, 2)]).ok
    assert check([write, op(1, "read", None, 1, 1, 2)]).ok


def test_touching_intervals_are_concurrent():
    assert check([op(0, "write", 1, None, 0, 1), op(1, "read", None, 0, 1, 2)]).ok


def test_stale_read_is_a_violation_with_witness():
    ops = [op(0, "write", 1, None, 0, 1), op(1, "read", None, 0, 2, 3)]
    verdict = check(ops)
    assert verdict.violated
    [failure] = verdict.witness
    assert failure["partition"] == 0
    assert failure["linearized"] == [0]
    assert failure["stuck"] == [1]
    assert [o["id"] for o in failure["ops"]] == [0, 1]
    assert "value=1" in verdict.explanation
    assert "could only return 1" in verdict.explanation
    json.dumps(verdict.witness)


def test_lost_write_is_a_violation():
    ops = [op(0, "write", 1, None, 0, 1), op(1, "write", 2, None, 2, 3),
           op(2, "read", None, 1, 4, 5)]
    verdict = check(ops)
    assert verdict.violated
    assert verdict.witness[0]["linearized"] == [0, 1]
    assert verdict.witness[0]["stuck"] == [2]


def test_real_time_order_is_explained():
    ops = [op(0, "read", None, 1, 0, 1), op(1, "write", 1, None, 2, 3)]
    verdict = check(ops)
    assert verdict.violated
    assert verdict.witness[0]["linearized"] == []
    assert "called after #0 returned" in verdict.explanation


def test_info_write_may_take_effect_later():
    ops = [op(0, "write", 1, call=0, status=INFO), op(1, "read", None, 0, 1, 2),
           op(2, "read", None, 1, 3, 4), op(3, "read", None, 1, 5, 6)]
    assert check(ops).ok


def test_info_write_may_never_take_effect():
    ops = [op(0, "write", 1, call=0, status=INFO), op(1, "read", None, 0, 1, 2),
           op(2, "read", None, 0, 3, 4)]
    assert check(ops).ok


def test_info_write_takes_effect_at_most_once():
    ops = [op(0, "write", 1, call=0, status=INFO), op(1, "read", None, 1, 1, 2),
           op(2, "write", 2, None, 3, 4), op(3, "read", None, 1, 5, 6)]
    assert check(ops).violated


def test_info_write_cannot_take_effect_before_its_call():
    ops = [op(0, "read", None, 1, 0, 1), op(1, "write", 1, call=2, status=INFO)]
    assert check(ops).violated


def test_failed_op_is_ignored():
    failed = op(0, "write", 1, None, 0, 1, status=FAIL)
    assert check([failed, op(1, "read", None, 0, 2, 3)]).ok
    assert check([failed, op(1, "read", None, 1, 2, 3)]).violated


def test_cas():
    assert check([op(0, "cas", (0, 1), True, 0, 1), op(1, "read", None, 1, 2, 3)]).ok
    assert check([op(0, "cas", (5, 1), False, 0, 1), op(1, "read", None, 0, 2, 3)]).ok
    assert check([op(0, "cas", (5, 1), True, 0, 1)]).violated


def test_two_concurrent_cas_from_same_value_cannot_both_succeed():
    ops = [op(0, "cas", (0, 1), True, 0, 5), op(1, "cas", (0, 2), True, 1, 6)]
    assert check(ops).violated


# -- key-value store ---------------------------------------------------------------------

def test_kv_keys_are_independent():
    ops = [op(0, "write", ("x", 1), None, 0, 10), op(1, "write", ("y", 2), None, 0, 10),
           op(2, "read", ("x",), 1, 11, 12), op(3, "read", ("y",), 2, 11, 12),
           op(4, "read", ("z",), None, 11, 12)]
    assert check(ops, KV()).ok


def test_kv_violation_names_the_failing_partition():
    ops = [op(0, "write", ("x", 1), None, 0, 1), op(1, "write", ("y", 1), None, 0, 1),
           op(2, "cas", ("y", 1, 2), True, 2, 3), op(3, "read", ("y",), 1, 4, 5),
           op(4, "read", ("x",), 1, 4, 5)]
    verdict = check(ops, KV())
    assert verdict.violated
    [failure] = verdict.witness
    assert failure["partition"] == 1
    assert failure["linearized"] == [1, 2]
    assert failure["stuck"] == [3]
    assert "'y': 2" in verdict.explanation


# -- budget ------------------------------------------------------------------------------

def test_spent_step_budget_is_unknown_never_a_pass():
    ops = [op(i, "write", i, None, 0, 10) for i in range(5)] + [op(5, "read", None, 4, 11, 12)]
    assert check(ops).ok
    verdict = check(ops, max_steps=3)
    assert verdict.status == UNKNOWN
    assert verdict.witness["partitions_checked"] == 0
    json.dumps(verdict.witness)


def test_spent_time_budget_is_unknown():
    """Twenty info writes and an impossible read: the search would try every subset."""
    ops = [op(i, "write", i, call=i, status=INFO) for i in range(20)]
    ops.append(op(20, "read", None, 99, 30, 31))
    verdict = check(ops, max_seconds=0.05)
    assert verdict.status == UNKNOWN
    assert "budget spent" in verdict.explanation


def test_linearizable_helper_is_a_history_invariant():
    invariant = linearizable(Register(0))
    assert invariant([op(0, "read", None, 0, 0, 1)]).ok
    assert invariant([op(0, "read", None, 3, 0, 1)]).violated


# -- differential test against brute force -----------------------------------------------

@st.composite
def histories(draw, model_ops):
    ops = []
    for id_ in range(draw(st.integers(0, 6))):
        f, args, result = draw(model_ops)
        status = draw(st.sampled_from([OK, OK, OK, INFO, FAIL]))
        call = draw(st.integers(0, 12))
        ret = call + draw(st.integers(1, 4))
        if status == INFO:
            result, ret = None, None
        elif status == FAIL:
            result = None
        ops.append(op(id_, f, args, result, call, ret, status))
    return ops


values = st.sampled_from([0, 1, 2])
results = st.sampled_from([None, 0, 1, 2])
kv_ops = st.one_of(
    st.tuples(st.just("read"), st.tuples(st.sampled_from("xy")), results),
    st.tuples(st.just("write"), st.tuples(st.sampled_from("xy"), values), st.none()),
    st.tuples(st.just("cas"), st.tuples(st.sampled_from("xy"), results, values), st.booleans()),
)
register_ops = st.one_of(
    st.tuples(st.just("read"), st.none(), results),
    st.tuples(st.just("write"), values, st.none()),
    st.tuples(st.just("cas"), st.tuples(values, values), st.booleans()),
)


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(histories(kv_ops))
def test_kv_agrees_with_brute_force(ops):
    model = KV()
    assert check_linearizable(ops, model).ok == brute_force_linearizable(ops, model)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(histories(register_ops))
def test_register_agrees_with_brute_force(ops):
    model = Register(0)
    assert check_linearizable(ops, model).ok == brute_force_linearizable(ops, model)
