import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invariants.history import FAIL, INFO, OK, Operation
from invariants.linearizability import check_linearizable
from models.collections import Counter, Lock, Log, Queue, Set
from tests.oracles import brute_force_linearizable


def op(id_: int, f: str, args=None, result=None, call: int = 0, ret: int | None = None,
       status: str = OK, process: str | None = None) -> Operation:
    return Operation(id_, process or f"p{id_}", f, args, result, status, call, ret)


def sequential(model, *steps):
    """Apply (f, args) steps one after another; returns the results."""
    state, results = model.initial(), []
    for f, args in steps:
        [(result, state)] = model.apply(state, f, args)
        results.append(result)
    return results


# -- the specs themselves ----------------------------------------------------------------

def test_set_adds_and_answers_membership():
    assert sequential(Set(), ("add", 1), ("contains", 1), ("contains", 2), ("add", 1),
                      ("read", None)) == [None, True, False, None, frozenset({1})]


def test_log_append_reports_offset_or_nothing():
    model = Log()
    assert model.apply((), "append", "a") == [(0, ("a",)), (None, ("a",))]
    assert model.apply(("a",), "append", "b")[0] == (1, ("a", "b"))
    assert model.apply(("a", "b"), "read", None) == [(("a", "b"), ("a", "b"))]


def test_queue_is_fifo_and_empty_dequeue_returns_none():
    assert sequential(Queue(), ("enqueue", 1), ("enqueue", 2), ("dequeue", None),
                      ("dequeue", None), ("dequeue", None)) == [None, None, 1, 2, None]


def test_lock_is_exclusive_and_only_the_holder_releases():
    assert sequential(Lock(), ("acquire", "a"), ("acquire", "b"), ("release", "b"),
                      ("acquire", "a"), ("release", "a"), ("acquire", "b")) == \
        [True, False, False, False, True, True]


def test_counter_adds():
    assert sequential(Counter(), ("add", 2), ("add", -1), ("read", None)) == [None, None, 1]
    assert Counter().apply(0, "add", "two") == []


@pytest.mark.parametrize("model", [Set(), Log(), Queue(), Lock(), Counter()])
def test_unknown_operations_are_not_applicable(model):
    assert model.apply(model.initial(), "frobnicate", None) == []
    assert model.describe_state(model.initial())


# -- small histories, good and bad -------------------------------------------------------

def test_set_read_after_add_must_include_it():
    add = op(0, "add", 1, None, 0, 1)
    assert check_linearizable([add, op(1, "read", None, frozenset({1}), 2, 3)], Set()).ok
    verdict = check_linearizable([add, op(1, "read", None, frozenset(), 2, 3)], Set())
    assert verdict.violated
    assert "could only return frozenset({1})" in verdict.explanation


def test_set_membership_splits_by_element():
    ops = [op(0, "add", 1, None, 0, 1), op(1, "add", 2, None, 0, 1),
           op(2, "contains", 1, True, 2, 3), op(3, "contains", 2, False, 2, 3)]
    verdict = check_linearizable(ops, Set())
    assert verdict.violated
    assert verdict.witness[0]["partition"] == 1
    assert len(Set().partition(ops)) == 2
    assert len(Set().partition([*ops, op(4, "read", None, frozenset(), 4, 5)])) == 1


def test_log_offsets_must_match_the_order_reads_see():
    good = [op(0, "append", "a", 0, 0, 5), op(1, "append", "b", 1, 0, 5),
            op(2, "read", None, ("a", "b"), 6, 7)]
    assert check_linearizable(good, Log()).ok
    bad = [op(0, "append", "a", 1, 0, 5), op(1, "append", "b", 0, 0, 5),
           op(2, "read", None, ("a", "b"), 6, 7)]
    assert check_linearizable(bad, Log()).violated


def test_log_appends_without_offsets_are_ordered_by_reads():
    ops = [op(0, "append", "a", None, 0, 1), op(1, "append", "b", None, 2, 3),
           op(2, "read", None, ("b", "a"), 4, 5)]
    assert check_linearizable(ops, Log()).violated
    ops[2] = op(2, "read", None, ("a", "b"), 4, 5)
    assert check_linearizable(ops, Log()).ok


def test_queue_cannot_dequeue_twice_or_out_of_order():
    enqueues = [op(0, "enqueue", 1, None, 0, 1), op(1, "enqueue", 2, None, 2, 3)]
    assert check_linearizable([*enqueues, op(2, "dequeue", None, 1, 4, 5)], Queue()).ok
    assert check_linearizable([*enqueues, op(2, "dequeue", None, 2, 4, 5)], Queue()).violated
    twice = [enqueues[0], op(1, "dequeue", None, 1, 2, 9), op(2, "dequeue", None, 1, 3, 9)]
    assert check_linearizable(twice, Queue()).violated


def test_lock_cannot_be_held_twice():
    ok = [op(0, "acquire", "a", True, 0, 1), op(1, "release", "a", True, 2, 3),
          op(2, "acquire", "b", True, 4, 5)]
    assert check_linearizable(ok, Lock()).ok
    both = [op(0, "acquire", "a", True, 0, 3), op(1, "acquire", "b", True, 1, 4)]
    verdict = check_linearizable(both, Lock())
    assert verdict.violated
    assert "held by" in verdict.explanation


def test_counter_read_must_sum_the_adds_before_it():
    adds = [op(0, "add", 1, None, 0, 1), op(1, "add", 2, None, 0, 9)]
    assert check_linearizable([*adds, op(2, "read", None, 1, 2, 3)], Counter()).ok
    assert check_linearizable([*adds, op(2, "read", None, 3, 2, 3)], Counter()).ok
    assert check_linearizable([*adds, op(2, "read", None, 2, 2, 3)], Counter()).violated


def test_info_enqueue_may_show_up_later():
    ops = [op(0, "enqueue", 1, status=INFO, call=0), op(1, "dequeue", None, None, 1, 2),
           op(2, "dequeue", None, 1, 3, 4)]
    assert check_linearizable(ops, Queue()).ok


# -- differential tests against brute force ----------------------------------------------

@st.composite
def histories(draw, model_ops):
    ops = []
    for id_ in range(draw(st.integers(0, 5))):
        f, args, result = draw(model_ops)
        status = draw(st.sampled_from([OK, OK, OK, INFO, FAIL]))
        call = draw(st.integers(0, 10))
        ret = call + draw(st.integers(1, 4))
        if status != OK:
            result = None
        ops.append(op(id_, f, args, result, call, None if status == INFO else ret, status))
    return ops


small = st.sampled_from([1, 2])
OPS = {
    "set": (Set(), st.one_of(
        st.tuples(st.just("add"), small, st.none()),
        st.tuples(st.just("contains"), small, st.booleans()),
        st.tuples(st.just("read"), st.none(),
                  st.sampled_from([frozenset(), frozenset({1}), frozenset({1, 2})])))),
    "log": (Log(), st.one_of(
        st.tuples(st.just("append"), small, st.sampled_from([None, 0, 1])),
        st.tuples(st.just("read"), st.none(), st.sampled_from([(), (1,), (1, 2), (2, 1)])))),
    "queue": (Queue(), st.one_of(
        st.tuples(st.just("enqueue"), small, st.none()),
        st.tuples(st.just("dequeue"), st.none(), st.sampled_from([None, 1, 2])))),
    "lock": (Lock(), st.tuples(st.sampled_from(["acquire", "release"]),
                               st.sampled_from("ab"), st.booleans())),
    "counter": (Counter(), st.one_of(
        st.tuples(st.just("add"), small, st.none()),
        st.tuples(st.just("read"), st.none(), st.integers(0, 4)))),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_models_agree_with_brute_force(name):
    model, model_ops = OPS[name]

    @settings(max_examples=150, derandomize=True, deadline=None)
    @given(histories(model_ops))
    def agree(ops):
        assert check_linearizable(ops, model).ok == brute_force_linearizable(ops, model)

    agree()
