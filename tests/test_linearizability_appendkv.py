"""The append key-value model (`append-kv`), its histories in files, and the search on them."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bench_linearizability import simulate_append_kv
from checker import check_cmd
from invariants.history import FAIL, INFO, OK, Operation
from invariants.linearizability import check_linearizable
from invariants.verdict import UNKNOWN
from models.appendkv import AppendKV
from tests.oracles import brute_force_linearizable
from tests.test_check_cli import DATA, assert_bad_input, run, write_text
from tests.test_linearizability import _ReferenceSearch, linearizable_both_ways


def op(id_: int, f: str, args: tuple, result=None, call: int = 0, ret: int | None = None,
       status: str = OK) -> Operation:
    return Operation(id_, f"p{id_}", f, args, result, status, call, ret)


# -- the model ---------------------------------------------------------------------------

def test_missing_keys_read_empty_and_appends_concatenate():
    model, state = AppendKV(), AppendKV().initial()
    assert model.apply(state, "get", ("k",)) == [("", state)]
    [(_, state)] = model.apply(state, "append", ("k", "x 1 y"))
    [(_, state)] = model.apply(state, "append", ("k", "x 2 y"))
    assert model.apply(state, "get", ("k",))[0][0] == "x 1 yx 2 y"
    [(_, state)] = model.apply(state, "put", ("k", "new"))
    assert model.apply(state, "get", ("k",))[0][0] == "new"
    assert model.describe_state(state) == "{'k': 'new'}"


def test_a_key_put_empty_is_the_state_of_a_key_never_written():
    model = AppendKV()
    [(_, state)] = model.apply(model.initial(), "put", ("k", ""))
    assert state == model.initial()  # one memo entry for two states that read alike


def test_only_get_is_read_only():
    model = AppendKV()
    assert model.read_only("get", ("k",), "x")
    assert not model.read_only("append", ("k", "x"), None)
    assert not model.read_only("put", ("k", "x"), None)


@pytest.mark.parametrize("args", [None, (), ("k",), ("k", 5), ("k", "a", "b")])
def test_malformed_calls_raise_type_error_for_the_shape_check(args):
    with pytest.raises(TypeError):
        AppendKV().apply(AppendKV().initial(), "append", args)


def test_by_key_splits_the_history_and_whole_map_does_not():
    ops = [op(0, "append", ("a", "1"), None, 0, 1), op(1, "append", ("b", "2"), None, 0, 1),
           op(2, "get", ("a",), "1", 2, 3)]
    assert [len(part) for part in AppendKV().partition(ops)] == [2, 1]
    assert AppendKV(by_key=False).partition(ops) == [ops]


# -- small histories against brute force ----------------------------------------------------

@st.composite
def append_histories(draw):
    ops = []
    for id_ in range(draw(st.integers(0, 6))):
        key = draw(st.sampled_from("ab"))
        f = draw(st.sampled_from(["get", "get", "append", "put"]))
        if f == "get":
            args, result = (key,), draw(st.sampled_from(["", "1", "2", "12", "21", "3"]))
        else:
            args, result = (key, draw(st.sampled_from(["1", "2", "3"]))), None
        status = draw(st.sampled_from([OK, OK, OK, INFO, FAIL]))
        call = draw(st.integers(0, 12))
        ret = call + draw(st.integers(1, 4))
        if status != OK:
            result, ret = None, (None if status == INFO else ret)
        ops.append(op(id_, f, args, result, call, ret, status))
    return ops


@settings(max_examples=500, derandomize=True, deadline=None)
@given(append_histories())
def test_agrees_with_brute_force_by_key_and_on_the_whole_map(ops):
    expected = brute_force_linearizable(ops, AppendKV())
    assert linearizable_both_ways(ops, AppendKV()) == expected
    assert linearizable_both_ways(ops, AppendKV(by_key=False)) == expected


@st.composite
def simulated_stores(draw):
    """Short histories of the simulated store from a few clients, some with a planted bug."""
    clients = draw(st.integers(1, 4))
    bug = draw(st.sampled_from([None, None, "stale-read", "lost-append"]))
    seed, n_ops, keys = draw(st.integers(0, 2**32)), draw(st.integers(1, 30)), \
        draw(st.integers(1, 3))
    try:
        return simulate_append_kv(n_ops, clients, keys, random.Random(seed), bug)
    except IndexError:  # no append followed by a get of its key to plant the bug at
        return simulate_append_kv(n_ops, clients, keys, random.Random(seed))


@settings(max_examples=150, derandomize=True, deadline=None)
@given(simulated_stores())
def test_the_whole_map_agrees_with_the_split_and_the_plain_search(ops):
    """On the whole map only the ops on the key of the op that must go next are branched on
    (`footprint`): the verdict is the split search's, and the plain search's."""
    by_key = check_linearizable(ops, AppendKV(), max_steps=None)
    assert linearizable_both_ways(ops, AppendKV(by_key=False), max_steps=None) == by_key.ok
    plain = _ReferenceSearch([op for op in ops if op.status != FAIL], AppendKV(by_key=False))
    assert plain.run() == by_key.status


# -- simulated stores --------------------------------------------------------------------

@pytest.mark.parametrize(("clients", "whole_map"), [(1, True), (5, True), (10, True),
                                                    (20, False), (50, False)])
def test_a_correct_store_passes_and_planted_bugs_are_violations(clients, whole_map):
    """Split by key always; as one map too where that is quick (many clients contending for
    the map make that search exponential)."""
    for bug in (None, "stale-read", "lost-append"):
        ops = simulate_append_kv(300, clients, clients, random.Random(clients), bug)
        for model in (AppendKV(), AppendKV(by_key=False))[:1 + whole_map]:
            verdict = check_linearizable(ops, model, max_steps=200_000)
            assert verdict.status == ("ok" if bug is None else "violated"), \
                (bug, model.by_key, verdict.explanation)


def test_a_lost_append_is_explained_by_the_get_that_misses_it():
    ops = [op(0, "put", ("k", "a"), None, 0, 1), op(1, "append", ("k", "b"), None, 2, 3),
           op(2, "get", ("j",), "", 2, 3), op(3, "get", ("k",), "a", 4, 5)]
    verdict = check_linearizable(ops, AppendKV())
    assert verdict.violated
    [failure] = verdict.witness
    assert failure["linearized"] == [0, 1] and failure["stuck"] == [3]
    assert "get('k') -> 'a'" in verdict.explanation
    assert "could only return 'ab'" in verdict.explanation
    assert "1 later partition(s) not checked" in verdict.explanation


def test_a_spent_budget_on_the_whole_map_is_unknown_never_a_pass():
    ops = simulate_append_kv(400, 10, 10, random.Random(1), "stale-read")
    verdict = check_linearizable(ops, AppendKV(by_key=False), max_steps=100)
    assert verdict.status == UNKNOWN


# -- files: the key as a field of its own ---------------------------------------------------

def test_edn_with_a_key_field_is_read_without_conversion():
    result = run(DATA / "append-kv-lost-append.edn", "--model", "append-kv")
    assert result.exit_code == 1, result.output
    assert "linearizable: violated" in result.output
    assert "#3 2 get('7') -> 'x 1 0 y'" in result.output
    assert "could only return 'x 1 0 yx 1 1 y'" in result.output


def test_json_lines_with_a_key_field_and_echoed_appends(tmp_path):
    lines = [
        '{"process": 0, "type": "invoke", "f": "append", "key": 7, "value": "x"}',
        '{"process": 0, "type": "ok", "f": "append", "key": 7, "value": "x"}',
        '{"process": 1, "type": "invoke", "f": "get", "key": 7, "value": null}',
        '{"process": 1, "type": "ok", "f": "get", "key": 7, "value": "x"}',
        '{"process": 1, "type": "invoke", "f": "get", "key": 8, "value": null}',
        '{"process": 1, "type": "ok", "f": "get", "key": 8, "value": null}',
    ]
    path = write_text(tmp_path, "\n".join(lines) + "\n")
    result = run(path, "--model", "append-kv")
    assert result.exit_code == 0, result.output
    assert "3 ops in 2 partition(s) linearize against append-kv" in result.output


def test_keys_inside_the_value_are_read_too(tmp_path):
    lines = [
        '{"process": 0, "type": "invoke", "f": "put", "value": ["k", "a"]}',
        '{"process": 0, "type": "ok", "f": "put", "value": ["k", "a"]}',
        '{"process": 1, "type": "invoke", "f": "get", "value": ["k"]}',
        '{"process": 1, "type": "ok", "f": "get", "value": "b"}',
    ]
    result = run(write_text(tmp_path, "\n".join(lines) + "\n"), "--model", "append-kv")
    assert result.exit_code == 1, result.output


def test_kv_reads_a_key_field_as_well(tmp_path):
    lines = [
        '{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1}',
        '{"process": 0, "type": "ok", "f": "write", "key": "x", "value": 1}',
        '{"process": 1, "type": "invoke", "f": "cas", "key": "x", "value": [1, 2]}',
        '{"process": 1, "type": "ok", "f": "cas", "key": "x", "value": [1, 2]}',
        '{"process": 1, "type": "invoke", "f": "read", "key": "x", "value": null}',
        '{"process": 1, "type": "ok", "f": "read", "key": "x", "value": 2}',
    ]
    result = run(write_text(tmp_path, "\n".join(lines) + "\n"), "--model", "kv")
    assert result.exit_code == 0, result.output


def test_a_key_field_for_a_model_without_keys_is_bad_input():
    result = run(DATA / "append-kv-lost-append.edn", "--model", "register")
    assert_bad_input(result, "line 3", "key field", "register model does not read")


def test_a_key_that_is_a_list_is_bad_input(tmp_path):
    path = write_text(tmp_path, '{"process": 0, "type": "invoke", "f": "get", "value": null}\n'
                                '{"process": 0, "type": "ok", "f": "get", "key": [1], '
                                '"value": ""}\n')
    assert_bad_input(run(path, "--model", "append-kv"), "line 2", "key", "found a list")


def test_an_append_of_a_number_is_bad_input(tmp_path):
    path = write_text(tmp_path, '{"process": 0, "type": "invoke", "f": "append", "key": "k", '
                                '"value": 5}\n')
    assert_bad_input(run(path, "--model", "append-kv"), "line 1", "does not fit the append-kv")


def test_append_kv_is_a_model_of_the_check_command():
    assert check_cmd.MODELS["append-kv"].keyed
