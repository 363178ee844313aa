"""The Kafka-style log checker (invariants/logs.py) and `deepdives check --log`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.cli import cli
from invariants.history import FAIL, INFO, OK, Operation
from invariants.logs import ANOMALIES, MalformedLog, check_log

DATA = Path(__file__).parent / "data"


class History:
    """Builds ops one after another (each returns before the next is called)."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def op(self, process, f, args, result, status=OK) -> Operation:
        i, pos = len(self.ops), 2 * len(self.ops)
        op = Operation(i, str(process), f, args, result if status == OK else None, status,
                       pos, pos + 1 if status != INFO else None)
        self.ops.append(op)
        return op

    def send(self, process, key, value, offset=None, status=OK):
        acked = value if offset is None else [offset, value]
        return self.op(process, "send", [["send", key, value]], [["send", key, acked]], status)

    def poll(self, process, reads):
        return self.op(process, "poll", [["poll"]], [["poll", reads]])

    def assign(self, process, keys):
        return self.op(process, "assign", keys, keys)


def kinds(verdict):
    return {item["anomaly"] for item in verdict.witness or []}


def only(verdict, kind):
    [item] = [item for item in verdict.witness if item["anomaly"] == kind]
    return item


# -- each anomaly, with its witness --------------------------------------------------------

def test_clean_log_is_ok():
    h = History()
    h.send("p", "x", 1, 0)
    h.send("q", "x", 2, 1)
    h.poll("c", {"x": [[0, 1]]})
    h.poll("c", {"x": [[1, 2]]})
    verdict = check_log(h.ops)
    assert verdict.ok, verdict.explanation
    assert "2 send(s), 2 poll(s)" in verdict.explanation


def test_lost_write():
    h = History()
    h.send("p", "x", 1, 0)
    lost = h.send("p", "x", 2, 1)
    h.send("p", "x", 3, 2)
    h.assign("c", ["x"])
    reader = h.poll("c", {"x": [[2, 3]]})
    h.poll("d", {"x": [[0, 1]]})
    verdict = check_log(h.ops)
    assert verdict.violated and kinds(verdict) == {"lost-write"}
    item = only(verdict, "lost-write")
    assert item["value"] == 2 and item["offset"] == 1 and item["highest_polled"] == 2
    assert [op["id"] for op in item["ops"]] == [lost.id, reader.id]
    assert (f"operation #{lost.id} (p) sent 2 to key 'x' and was acknowledged at offset 1, "
            f"but no poll returned it") in verdict.explanation


def test_unread_tail_is_not_lost():
    h = History()
    h.send("p", "x", 1, 0)
    h.send("p", "x", 2, 1)
    h.poll("c", {"x": [[0, 1]]})
    assert check_log(h.ops).ok


def test_duplicate():
    h = History()
    sender = h.send("p", "x", 1, 0)
    h.send("p", "x", 2, 1)
    reader = h.poll("c", {"x": [[0, 1], [1, 2], [2, 1]]})
    verdict = check_log(h.ops)
    assert kinds(verdict) == {"duplicate"}
    item = only(verdict, "duplicate")
    assert item["offsets"] == [0, 2]
    assert [(r["offset"], r["op"], r["by"]) for r in item["records"]] == \
        [(0, sender.id, "send"), (2, reader.id, "poll")]
    assert "value 1 of key 'x' is at 2 offsets" in verdict.explanation


def test_inconsistent_offsets():
    h = History()
    sender = h.send("p", "x", 1, 0)
    reader = h.poll("c", {"x": [[0, 9]]})
    h.send("p", "x", 9, 5)  # 9 was sent, so reading it is not an invention
    verdict = check_log(h.ops)
    assert "inconsistent-offsets" in kinds(verdict)
    item = only(verdict, "inconsistent-offsets")
    assert item["offset"] == 0 and set(item["values"]) == {1, 9}
    assert {op["id"] for op in item["ops"]} == {sender.id, reader.id}
    assert "offset 0 of key 'x' holds 2 values" in verdict.explanation


def test_poll_skip_across_polls():
    h = History()
    for offset in range(4):
        h.send("p", "x", offset * 10, offset)
    first = h.poll("c", {"x": [[0, 0]]})
    second = h.poll("c", {"x": [[3, 30]]})
    h.poll("d", {"x": [[0, 0], [1, 10], [2, 20], [3, 30]]})
    verdict = check_log(h.ops)
    assert kinds(verdict) == {"poll-skip"}
    item = only(verdict, "poll-skip")
    assert (item["process"], item["from_offset"], item["to_offset"], item["skipped"]) == \
        ("c", 0, 3, 2)
    assert {first.id, second.id} <= {op["id"] for op in item["ops"]}
    assert f"from operation #{first.id} to #{second.id}" in verdict.explanation


def test_gaps_nobody_saw_filled_are_not_skips():
    h = History()
    h.send("p", "x", 1, 0)
    h.send("p", "x", 2, 5)  # offsets 1-4: transaction markers, compacted, ...
    h.poll("c", {"x": [[0, 1], [5, 2]]})
    assert check_log(h.ops).ok


def test_rebalance_lets_a_consumer_jump_or_go_back():
    h = History()
    for offset in range(3):
        h.send("p", "x", offset, offset)
    h.poll("c", {"x": [[0, 0]]})
    h.assign("c", ["x"])
    h.poll("c", {"x": [[2, 2]]})
    h.op("c", "subscribe", ["x"], ["x"])
    h.poll("c", {"x": [[0, 0], [1, 1], [2, 2]]})
    assert check_log(h.ops).ok


def test_nonmonotonic_poll():
    h = History()
    h.send("p", "x", 1, 0)
    h.send("p", "x", 2, 1)
    h.poll("c", {"x": [[0, 1], [1, 2]]})
    back = h.poll("c", {"x": [[1, 2]]})
    verdict = check_log(h.ops)
    assert kinds(verdict) == {"nonmonotonic-poll"}
    item = only(verdict, "nonmonotonic-poll")
    assert (item["from_offset"], item["to_offset"]) == (1, 1)
    assert back.id in {op["id"] for op in item["ops"]}
    assert "going back with no rebalance between" in verdict.explanation


def test_nonmonotonic_send():
    h = History()
    a = h.send("p", "x", 1, 3)
    b = h.send("p", "x", 2, 2)
    h.send("q", "x", 3, 1)  # another producer: its own order
    verdict = check_log(h.ops)
    assert kinds(verdict) == {"nonmonotonic-send"}
    item = only(verdict, "nonmonotonic-send")
    assert [op["id"] for op in item["ops"]] == [a.id, b.id]
    assert "producer p sent 1 to key 'x'" in verdict.explanation


def test_txn_mixes_sends_and_polls_and_keys_compare_as_text():
    h = History()
    h.op(0, "txn", [["send", 1, "a"], ["poll"]],
         [["send", 1, [0, "a"]], ["poll", {"1": [[0, "a"]]}]])
    assert check_log(h.ops).ok


def test_unacknowledged_sends_make_no_promise():
    h = History()
    h.send("p", "x", 1, 0)
    h.send("p", "x", 2, status=INFO)
    h.send("p", "x", 3, status=FAIL)
    h.send("p", "x", 4, 2)
    h.poll("c", {"x": [[0, 1], [1, 2], [2, 4]]})
    assert check_log(h.ops).ok


def test_budget_is_unknown():
    h = History()
    for i in range(100):
        h.send("p", "x", i, i)
    verdict = check_log(h.ops, max_steps=50)
    assert verdict.status == "unknown" and "step budget" in verdict.explanation


@pytest.mark.parametrize("args, result, fragment", [
    ("send", None, "expected a list of micro-ops"),
    ([["read", "x", 1]], None, "'read', which this checker does not interpret"),
    ([["send", "x"]], None, "expected ['send', key, value]"),
    ([["send", ["x"], 1]], None, "expected a key"),
    ([["send", "x", 1]], [["send", "x", [0, 2]]], "expected the sent value 1"),
    ([["send", "x", 1]], [["send", "x", [-1, 1]]], "expected an offset"),
    ([["poll"]], [["poll", [1]]], "expected a map"),
    ([["poll"]], [["poll", {"x": [[0]]}]], "expected an [offset, value] pair"),
    ([["poll"]], [], "expected 1 micro-op(s)"),
])
def test_malformed_ops_are_refused(args, result, fragment):
    h = History()
    h.op(0, "txn", args, result)
    with pytest.raises(MalformedLog) as exc:
        check_log(h.ops)
    assert fragment in exc.value.problem


def test_a_value_sent_twice_to_a_key_is_refused():
    h = History()
    h.send("p", "x", 1, 0)
    h.send("q", "x", 1, 1)
    with pytest.raises(MalformedLog, match="unique per key"):
        check_log(h.ops)


# -- random logs: clean ones pass, each planted fault is found ---------------------------

def simulate(seed: int, steps: int = 60):
    """A correct single-copy log per key, several producers and consumers; ends with a send
    to every key and a fresh consumer reading everything."""
    rng = random.Random(seed)
    keys = ["k0", "k1", "k2"][:rng.randint(1, 3)]
    logs: dict[str, list] = {k: [] for k in keys}
    position: dict[tuple[str, str], int] = {}
    h, counter = History(), iter(range(10**6))
    for _ in range(steps):
        if rng.random() < 0.5:
            process, key, value = f"p{rng.randint(0, 2)}", rng.choice(keys), next(counter)
            status = rng.choices([OK, INFO, FAIL], [8, 1, 1])[0]
            offset = len(logs[key])
            if status == OK or (status == INFO and rng.random() < 0.5):
                logs[key].append(value)
            h.send(process, key, value, offset if status == OK else None, status)
        elif rng.random() < 0.1:
            consumer = f"c{rng.randint(0, 2)}"
            for key in keys:
                position[(consumer, key)] = rng.randint(0, len(logs[key]))
            h.assign(consumer, keys)
        else:
            consumer, reads = f"c{rng.randint(0, 2)}", {}
            for key in rng.sample(keys, rng.randint(1, len(keys))):
                start = position.get((consumer, key), 0)
                end = min(len(logs[key]), start + rng.randint(0, 4))
                if end > start:
                    reads[key] = [[o, logs[key][o]] for o in range(start, end)]
                position[(consumer, key)] = end
            h.poll(consumer, reads)
    for key in keys:
        h.send("p0", key, next(counter), len(logs[key]))
        logs[key].append(h.ops[-1].args[0][2])
    h.assign("final", keys)
    h.poll("final", {k: [[o, v] for o, v in enumerate(log)] for k, log in logs.items()})
    return h.ops


def poll_records(ops):
    """(op index, key, position in the op's list) of every polled record."""
    return [(i, key, j) for i, op in enumerate(ops) if op.f == "poll" and op.status == OK
            for key, pairs in op.result[0][1].items() for j in range(len(pairs))]


def skippable(ops):
    """Polled records inside their poll's list at offsets an ack shows hold a value."""
    known = {(key, offset) for _, key, _, offset in acked(ops)}
    return [(i, k, j) for i, k, j in poll_records(ops)
            if 0 < j < len(ops[i].result[0][1][k]) - 1
            and (k, ops[i].result[0][1][k][j][0]) in known]


def rewrite_poll(ops, i, key, change):
    op = ops[i]
    reads = {k: [list(p) for p in pairs] for k, pairs in op.result[0][1].items()}
    change(reads[key])
    ops[i] = Operation(op.id, op.process, op.f, op.args, [["poll", reads]], op.status,
                       op.call, op.ret)


def acked(ops):
    return [(i, op.args[0][1], op.args[0][2], op.result[0][2][0]) for i, op in enumerate(ops)
            if op.f == "send" and op.status == OK]


def plant(ops, kind, rng):
    ops = list(ops)
    if kind == "lost-write":
        last = {key: offset for _, key, _, offset in acked(ops)}
        _, key, value, _ = rng.choice([s for s in acked(ops) if s[3] < last[s[1]]])
        for i, k, _ in {(i, k, 0) for i, k, _ in poll_records(ops)}:
            if k == key:
                rewrite_poll(ops, i, k, lambda pairs: pairs.__setitem__(
                    slice(None), [p for p in pairs if p[1] != value]))
    elif kind == "duplicate":
        i = len(ops) - 1  # the final reader: append an earlier value again, at a new offset
        key = rng.choice(sorted(ops[i].result[0][1]))
        rewrite_poll(ops, i, key, lambda pairs: pairs.append([len(pairs), pairs[0][1]]))
    elif kind == "inconsistent-offsets":
        known = {(key, offset) for _, key, _, offset in acked(ops)}  # and acknowledged
        i, key, j = rng.choice([(i, k, j) for i, k, j in poll_records(ops)
                                if (k, ops[i].result[0][1][k][j][0]) in known])
        rewrite_poll(ops, i, key, lambda pairs: pairs[j].__setitem__(1, "never-sent"))
    elif kind == "poll-skip":
        i, key, j = rng.choice(skippable(ops))
        rewrite_poll(ops, i, key, lambda pairs: pairs.pop(j))
    elif kind == "nonmonotonic-poll":
        i, key, _ = rng.choice(poll_records(ops))
        rewrite_poll(ops, i, key, lambda pairs: pairs.append(list(pairs[0])))
    elif kind == "nonmonotonic-send":
        by = {}
        for s in acked(ops):
            by.setdefault((ops[s[0]].process, s[1]), []).append(s)
        pairs = [(a, b) for sends in by.values() for a, b in zip(sends, sends[1:])]
        (ia, key, va, oa), (ib, _, vb, ob) = rng.choice(pairs)
        swap = {va: vb, vb: va}
        for i, (send_offset, value) in ((ia, (ob, va)), (ib, (oa, vb))):
            op = ops[i]
            ops[i] = Operation(op.id, op.process, op.f, op.args,
                               [["send", key, [send_offset, value]]], op.status, op.call, op.ret)
        for i, k, _ in {(i, k, 0) for i, k, _ in poll_records(ops)}:
            if k == key:
                rewrite_poll(ops, i, k, lambda pairs: [p.__setitem__(1, swap.get(p[1], p[1]))
                                                       for p in pairs])
    return ops


RANDOM = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))


def plantable(ops, kind):
    if kind == "lost-write":
        last = {key: offset for _, key, _, offset in acked(ops)}
        return any(s[3] < last[s[1]] for s in acked(ops))
    if kind == "poll-skip":
        return bool(skippable(ops))
    if kind == "nonmonotonic-send":
        seen = set()
        for i, key, _, _ in acked(ops):
            if (ops[i].process, key) in seen:
                return True
            seen.add((ops[i].process, key))
        return False
    return True


@RANDOM
@given(st.integers(0, 2**32))
def test_random_correct_logs_are_ok(seed):
    verdict = check_log(simulate(seed))
    assert verdict.ok, verdict.explanation


@RANDOM
@given(st.integers(0, 2**32), st.sampled_from(ANOMALIES))
def test_a_planted_fault_is_found(seed, kind):
    ops = simulate(seed)
    if not plantable(ops, kind):
        return
    verdict = check_log(plant(ops, kind, random.Random(seed)))
    assert verdict.violated and kind in kinds(verdict), (kind, verdict.explanation)


# -- the command line --------------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(cli, ["check", *(str(a) for a in args)])


def assert_bad_input(result, *fragments):
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("deepdives: error: ")
    assert line.isprintable()
    for fragment in fragments:
        assert fragment in line


@pytest.mark.parametrize("name, code, fragment", [
    ("kafka-clean.edn", 0, "kafka-log: ok"),
    ("kafka-lost-write.jsonl", 1, "kafka-log: violated"),
    ("kafka-duplicate.jsonl", 1, "kafka-log: violated"),
])
def test_samples(name, code, fragment):
    result = run(DATA / name, "--log")
    assert result.exit_code == code, result.output
    assert result.stdout.splitlines()[0] == fragment


def test_cli_names_anomalies_and_ops(tmp_path):
    out = run(DATA / "kafka-lost-write.jsonl", "--log", "--markdown", tmp_path / "v.md")
    assert "- lost-write: operation #1 (0) sent 2 to key 'x'" in out.stdout
    assert "witness: 2 operation(s)" in out.stdout
    assert '"anomaly": "lost-write"' in (tmp_path / "v.md").read_text()
    assert "- duplicate: value 1 of key 'x' is at 2 offsets" in \
        run(DATA / "kafka-duplicate.jsonl", "--log").stdout


def test_exactly_one_mode():
    assert_bad_input(run(DATA / "kafka-clean.edn", "--log", "--model", "log"),
                     "exactly one of --model, --consistency or --log")
    assert_bad_input(run(DATA / "kafka-clean.edn"), "exactly one of")


def write(tmp_path, lines):
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_no_log_ops_is_bad_input(tmp_path):
    path = write(tmp_path, [{"process": 0, "type": "invoke", "f": "read", "value": None}])
    assert_bad_input(run(path, "--log"), "no send, poll, txn operations")


def test_malformed_op_is_one_line_naming_file_line_and_op(tmp_path):
    path = write(tmp_path, [
        {"process": 0, "type": "invoke", "f": "send", "value": [["send", "x", 1]]},
        {"process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]},
        {"process": 0, "type": "ok", "f": "send", "value": [["send", "x", [0, 1]]]},
        {"process": 1, "type": "ok", "f": "poll", "value": [["poll", {"x\n\x1b": 5}]]},
    ])
    assert_bad_input(run(path, "--log"), "h.jsonl, line 4: operation #1 (the completion of "
                     "a poll by process 1)", "expected a list of [offset, value] pairs",
                     "\\n\\x1b")


def test_spent_budget_is_unknown_exit_3(tmp_path, monkeypatch):
    import invariants.budget as budget
    monkeypatch.setattr(budget, "CLOCK_EVERY", 1)
    lines = []
    for i in range(2000):
        lines += [{"process": 0, "type": "invoke", "f": "send", "value": [["send", "x", i]]},
                  {"process": 0, "type": "ok", "f": "send", "value": [["send", "x", [i, i]]]}]
    result = run(write(tmp_path, lines), "--log", "--budget-seconds", "1e-9")
    assert result.exit_code == 3, result.output
    assert result.stdout.startswith("kafka-log: unknown")
