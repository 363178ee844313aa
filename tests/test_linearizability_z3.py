"""Linearizability of small register / key-value histories, decided by z3, against the checker.

The encoding, per history:

* every op that did not fail gets a real position `pos` (its linearization point); an `ok` op
  lies in its interval, an `info` op anywhere after its call, and all positions are distinct.
  Intervals are stretched to `[2 * call, 2 * ret + 1]` so that touching intervals (one op
  returning at the very time another is called) overlap: the checker treats them as concurrent,
  while one that returned strictly before another was called must come first;
* `ok` ops are present; an `info` op is present iff its Bool "took effect" holds; `fail` ops are
  absent (left out);
* `before[i]` is the value of op i's key just before op i: the value written by the latest
  present writer of that key placed before it (a write, or a cas that found its expected value),
  or the initial value if there is none. This is stated over the finite set of writers: "if
  writer j is before i and no other writer lies between them, then `before[i]` is j's value";
* an `ok` read returns `before[i]`, an `ok` cas returns whether `before[i]` was its expected
  value.

The history is linearizable iff the constraints are satisfiable: a model's positions order the
present ops into a sequential run that respects real time and yields every recorded result.
"""

from __future__ import annotations

import time
from typing import Any

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from invariants.history import FAIL, INFO, OK, Operation
from invariants.linearizability import check_linearizable
from invariants.verdict import UNKNOWN
from models.kv import KV
from models.sequential import Register
from tests.oracles import brute_force_linearizable
from tests.test_linearizability import histories, kv_ops, linearizable_both_ways, register_ops

NONE = -1  # z3 stand-in for None; the generated values are small non-negative integers


def _encode(value: Any) -> int:
    return NONE if value is None else value


def _split(op: Operation, kv: bool) -> tuple[Any, tuple]:
    """(key, remaining args) of a KV or register op."""
    if kv:
        return op.args[0], tuple(op.args[1:])
    if op.f == "read":
        return None, ()
    if op.f == "write":
        return None, (op.args,)
    return None, tuple(op.args)


def z3_linearizable(ops: list[Operation], *, kv: bool, initial: Any = None) -> bool:
    """Whether z3 finds linearization points for `ops` (reads, writes and cas only)."""
    happened = [op for op in ops if op.status != FAIL]
    solver = z3.Solver()
    pos = [z3.Real(f"pos{i}") for i in range(len(happened))]
    present: list[z3.BoolRef] = []
    before = [z3.Int(f"before{i}") for i in range(len(happened))]
    for i, op in enumerate(happened):
        solver.add(pos[i] >= 2 * op.call)
        if op.status == OK:
            solver.add(pos[i] <= 2 * op.ret + 1)
            present.append(z3.BoolVal(True))
        else:
            assert op.status == INFO
            present.append(z3.Bool(f"took_effect{i}"))
    if len(pos) > 1:
        solver.add(z3.Distinct(*pos))

    keys, rest = zip(*(_split(op, kv) for op in happened), strict=True) if happened else ((), ())
    # Does writer j change its key (it took effect and, if a cas, found its expected value)?
    effective: dict[int, z3.BoolRef] = {}
    written: dict[int, int] = {}
    for j, op in enumerate(happened):
        if op.f == "write":
            effective[j], written[j] = present[j], _encode(rest[j][0])
        elif op.f == "cas":
            old, new = rest[j]
            effective[j] = z3.And(present[j], before[j] == _encode(old))
            written[j] = _encode(new)

    for i, op in enumerate(happened):
        if op.f == "write" or (op.f == "read" and op.status != OK):
            continue  # nothing depends on the value before it
        writers = [j for j in effective if j != i and keys[j] == keys[i]]
        earlier = {j: z3.And(effective[j], pos[j] < pos[i]) for j in writers}
        for j in writers:
            between = [z3.And(effective[k], pos[j] < pos[k], pos[k] < pos[i])
                       for k in writers if k != j]
            solver.add(z3.Implies(z3.And(earlier[j], z3.Not(z3.Or(*between))),
                                  before[i] == written[j]))
        solver.add(z3.Implies(z3.Not(z3.Or(*earlier.values())), before[i] == _encode(initial)))
        if op.status != OK:
            continue
        if op.f == "read":
            solver.add(before[i] == _encode(op.result))
        elif op.f == "cas":
            found = before[i] == _encode(rest[i][0])
            solver.add(found if op.result else z3.Not(found))
    verdict = solver.check()
    assert verdict != z3.unknown
    return verdict == z3.sat


def _checker_ok(ops: list[Operation], model) -> bool:
    verdict = check_linearizable(ops, model)
    assert verdict.status != UNKNOWN, verdict.explanation
    return linearizable_both_ways(ops, model)


# -- differential tests ------------------------------------------------------------------

@settings(max_examples=300, derandomize=True, deadline=None)
@given(histories(kv_ops))
def test_kv_checker_agrees_with_z3(ops):
    expected = z3_linearizable(ops, kv=True)
    assert _checker_ok(ops, KV()) == expected
    assert brute_force_linearizable(ops, KV()) == expected  # the encoding itself is right


@settings(max_examples=300, derandomize=True, deadline=None)
@given(histories(register_ops))
def test_register_checker_agrees_with_z3(ops):
    expected = z3_linearizable(ops, kv=False, initial=0)
    assert _checker_ok(ops, Register(0)) == expected
    assert brute_force_linearizable(ops, Register(0)) == expected


@st.composite
def larger_histories(draw):
    """Up to 12 ops on one register, many of them `info`: beyond brute force, not beyond z3."""
    ops = []
    for id_ in range(draw(st.integers(0, 12))):
        f, args, result = draw(register_ops)
        status = draw(st.sampled_from([OK, OK, INFO, INFO, FAIL]))
        call = draw(st.integers(0, 20))
        ret = call + draw(st.integers(0, 5))
        if status != OK:
            result = None
        ops.append(Operation(id_, f"p{id_}", f, args, result, status, call,
                             None if status == INFO else ret))
    return ops


@settings(max_examples=50, derandomize=True, deadline=None)
@given(larger_histories())
def test_larger_register_histories_agree_with_z3(ops):
    assert _checker_ok(ops, Register(0)) == z3_linearizable(ops, kv=False, initial=0)


# -- regression: many unacknowledged writes and a read of the initial value ----------------

def _kv(id_: int, process: str, f: str, args: tuple, status: str, call: int,
        ret: int | None = None, result: Any = None) -> Operation:
    return Operation(id_, process, f, args, result, status, call, ret)


def _unacknowledged_writes_history(key: str = "x", first_id: int = 0) -> list[Operation]:
    rows = [
        ("c2", "write", (key, 10), INFO, 14136, None),
        ("c1", "write", (key, 2), INFO, 38306, None),
        ("c3", "read", (key,), FAIL, 39356, 48806),
        ("c1", "write", (key, 3), INFO, 48365, None),
        ("c3", "write", (key, 21), INFO, 48806, None),
        ("c2", "write", (key, 12), INFO, 57515, None),
        ("c1", "read", (key,), FAIL, 67120, 76570),
        ("c2", "write", (key, 14), INFO, 77780, None),
        ("c3", "write", (key, 24), INFO, 86332, None),
        ("c3", "read", (key,), FAIL, 95882, 105332),
        ("c2", "read", (key,), FAIL, 96000, 105450),
        ("c1", "write", (key, 6), INFO, 107180, None),
        ("c1", "write", (key, 8), INFO, 145451, None),
        ("c1", "read", (key,), OK, 155051, 155051),  # -> None: no write ever took effect
    ]
    return [_kv(first_id + n, *row) for n, row in enumerate(rows)]


def test_unacknowledged_writes_then_initial_read_is_quick():
    ops = _unacknowledged_writes_history()
    verdict = check_linearizable(ops, KV(), max_steps=50_000)
    assert verdict.ok, verdict.explanation
    assert z3_linearizable(ops, kv=True)


def test_unacknowledged_writes_on_two_keys_are_quick():
    ops = _unacknowledged_writes_history("x") + _unacknowledged_writes_history("y", 100)
    started = time.monotonic()
    verdict = check_linearizable(ops, KV(), max_steps=50_000)
    assert verdict.ok, verdict.explanation
    assert time.monotonic() - started < 1.0


def test_many_unacknowledged_writes_with_reads_between_are_quick():
    """Thirty info writes, ok reads of None between them: every subset used to be tried."""
    ops: list[Operation] = []
    for n in range(30):
        ops.append(_kv(len(ops), f"c{n % 3}", "write", ("x", n), INFO, 100 * n))
        if n % 5 == 4:
            ops.append(_kv(len(ops), "r", "read", ("x",), OK, 100 * n + 50, 100 * n + 60))
    verdict = check_linearizable(ops, KV(), max_steps=50_000)
    assert verdict.ok, verdict.explanation


def test_info_write_still_needed_when_a_read_sees_it():
    """Ok-first ordering must not lose the info ops a later read depends on."""
    ops = _unacknowledged_writes_history()
    ops[-1] = _with_result(ops[-1], 8)
    assert check_linearizable(ops, KV(), max_steps=50_000).ok
    assert z3_linearizable(ops, kv=True)
    ops[-1] = _with_result(ops[-1], 99)  # no write wrote 99
    assert check_linearizable(ops, KV(), max_steps=200_000).violated


def _with_result(op: Operation, result: Any) -> Operation:
    return Operation(op.id, op.process, op.f, op.args, result, op.status, op.call, op.ret)
