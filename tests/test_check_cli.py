import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.check_cmd import check_command
from checker.historyio import (
    EdnReader,
    HistoryFileError,
    hashable,
    load_history,
    parse_edn_history,
    parse_jsonl,
)
from invariants.history import Event

DATA = Path(__file__).parent / "data"


def run(*args):
    return CliRunner().invoke(check_command, [str(a) for a in args])


def assert_bad_input(result, *fragments):
    """Exit 2, one line on stderr naming the problem, nothing on stdout, no traceback."""
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("deepdives: error: ")
    for fragment in fragments:
        assert fragment in line


def write_jsonl(tmp_path, events, name="history.jsonl"):
    """Events as (process, type, f, value) tuples, one JSON object a line."""
    path = tmp_path / name
    path.write_text("".join(json.dumps({"process": p, "type": t, "f": f, "value": v}) + "\n"
                            for p, t, f, v in events))
    return path


def call(process, f, args, result, completion="ok"):
    """An invocation and its completion."""
    return [(process, "invoke", f, args), (process, completion, f, result)]


# -- verdicts and exit codes on the sample files -----------------------------------------

@pytest.mark.parametrize("name, args, status, code", [
    ("register-linearizable.jsonl", ["--model", "register"], "linearizable: ok", 0),
    ("register-crashed-write.edn", ["--model", "register"], "linearizable: ok", 0),
    ("register-stale-read.jsonl", ["--model", "register"], "linearizable: violated", 1),
    ("register-stale-read.edn", ["--model", "register"], "linearizable: violated", 1),
    ("append-serializable.edn", ["--consistency", "serializable"], "serializable: ok", 0),
    ("append-g-single.jsonl", ["--consistency", "serializable"], "serializable: violated", 1),
    ("append-g-single.jsonl", ["--consistency", "read-committed"], "read-committed: ok", 0),
    ("append-g1c.edn", ["--consistency", "read-committed"], "read-committed: violated", 1),
])
def test_sample_verdicts_and_exit_codes(name, args, status, code):
    result = run(DATA / name, *args)
    assert result.exit_code == code, result.output
    assert result.stdout.splitlines()[0] == status


def test_stale_read_is_explained_with_the_ops_involved():
    result = run(DATA / "register-stale-read.edn", "--model", "register")
    out = result.stdout
    assert "it could only return 4" in out
    assert "witness: 3 operation(s)" in out
    assert "#2 1 read(None) -> 3 [t=500..t=600]" in out


def test_anomalies_are_named():
    assert "G-single" in run(DATA / "append-g-single.jsonl", "--consistency",
                             "serializable").stdout
    assert "G1c" in run(DATA / "append-g1c.edn", "--consistency", "serializable").stdout


def test_markdown_report(tmp_path):
    out = tmp_path / "verdict.md"
    result = run(DATA / "register-stale-read.jsonl", "--model", "register", "--markdown", out)
    assert result.exit_code == 1
    text = out.read_text()
    assert text.startswith("# `linearizable`: violated")
    assert "against the `register` model" in text
    assert "## Explanation" in text and "## Witness" in text
    assert "```json" in text


def test_spent_budget_is_unknown_exit_3(tmp_path):
    """Twenty writes that never returned and an impossible read: every subset is tried."""
    events = [(f"w{i}", "invoke", "write", i) for i in range(20)]
    events += call("r", "read", None, 99)
    path = write_jsonl(tmp_path, events)
    result = run(path, "--model", "register", "--budget-seconds", "0.05")
    assert result.exit_code == 3
    assert result.stdout.startswith("linearizable: unknown")


# -- models and the conventions of other tools -------------------------------------------

@pytest.mark.parametrize("model, good, bad", [
    ("set", call(0, "add", 1, 1) + call(1, "read", None, [1]),
     call(0, "add", 1, None) + call(1, "read", None, [])),
    ("set", call(0, "add", 2, None) + call(0, "add", 1, None) + call(1, "read", None, [1, 2]),
     call(0, "add", 2, None) + call(1, "contains", 2, False)),
    ("kv", call(0, "write", ["x", 1], ["x", 1]) + call(1, "read", ["x", None], ["x", 1]),
     call(0, "write", ["x", 1], ["x", 1]) + call(1, "read", ["x", None], ["x", None])),
    ("kv", call(0, "cas", ["x", [None, 2]], ["x", [None, 2]]) + call(1, "read", ["x"], 2),
     call(0, "cas", ["x", None, 2], True) + call(1, "read", ["x"], None)),
    ("lock", call(0, "acquire", None, None) + call(0, "release", None, None)
     + call(1, "acquire", None, None),
     call(0, "acquire", None, None) + call(1, "acquire", None, None)),
    ("queue", call(0, "enqueue", 1, 1) + call(0, "enqueue", 2, 2) + call(1, "dequeue", None, 1),
     call(0, "enqueue", 1, 1) + call(0, "enqueue", 2, 2) + call(1, "dequeue", None, 2)),
    ("log", call(0, "append", "a", 0) + call(0, "append", "b", None)
     + call(1, "read", None, ["a", "b"]),
     call(0, "append", "a", 1) + call(1, "read", None, ["a"])),
    ("counter", call(0, "add", 2, 2) + call(1, "read", None, 2),
     call(0, "add", 2, None) + call(1, "read", None, 3)),
])
def test_models_read_native_and_jepsen_histories(tmp_path, model, good, bad):
    assert run(write_jsonl(tmp_path, good, "good.jsonl"), "--model", model).exit_code == 0
    assert run(write_jsonl(tmp_path, bad, "bad.jsonl"), "--model", model).exit_code == 1


def test_edn_set_reads_match_as_sets(tmp_path):
    path = tmp_path / "set.edn"
    path.write_text("{:process 0 :type :invoke :f :add :value 2}\n"
                    "{:process 0 :type :ok :f :add :value 2}\n"
                    "{:process 1 :type :invoke :f :read :value nil}\n"
                    "{:process 1 :type :ok :f :read :value #{2}}\n")
    assert run(path, "--model", "set").exit_code == 0


def test_an_op_the_model_does_not_know_is_a_violation_in_words(tmp_path):
    path = write_jsonl(tmp_path, call(0, "increment", None, None))
    result = run(path, "--model", "counter")
    assert result.exit_code == 1
    assert "cannot be applied" in result.stdout


# -- bad input: one line, exit 2 ---------------------------------------------------------

def test_malformed_json_line_names_file_and_line():
    assert_bad_input(run(DATA / "malformed.jsonl", "--model", "register"),
                     "malformed.jsonl, line 3: expected one JSON object per line")


def test_malformed_edn_line_names_file_and_line():
    assert_bad_input(run(DATA / "malformed.edn", "--model", "register"),
                     "malformed.edn, line 3: expected a value for every key in the map")


def test_unknown_event_type_names_the_line():
    assert_bad_input(run(DATA / "bad-type.jsonl", "--model", "register"),
                     "bad-type.jsonl, line 2: expected type to be one of invoke, ok, fail, "
                     "info, found 'done'")


def test_exactly_one_check_must_be_asked_for():
    assert_bad_input(run(DATA / "register-linearizable.jsonl"), "exactly one of")
    assert_bad_input(run(DATA / "register-linearizable.jsonl", "--model", "register",
                         "--consistency", "serializable"), "exactly one of")


def test_format_comes_from_the_extension_or_the_option(tmp_path):
    path = tmp_path / "history.log"
    path.write_text((DATA / "register-stale-read.edn").read_text())
    assert_bad_input(run(path, "--model", "register"), "cannot tell the format")
    assert run(path, "--model", "register", "--format", "edn").exit_code == 1
    assert_bad_input(run(path, "--model", "register", "--format", "jsonl"), "line 1")


def test_missing_file_and_empty_history(tmp_path):
    assert_bad_input(run(tmp_path / "absent.jsonl", "--model", "register"), "cannot read")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert_bad_input(run(empty, "--model", "register"), "expected at least one event")


def test_consistency_needs_transactions():
    assert_bad_input(run(DATA / "register-linearizable.jsonl", "--consistency",
                         "serializable"), "no txn operations")


def test_history_with_only_completions_has_nothing_to_check(tmp_path):
    path = write_jsonl(tmp_path, [("nemesis", "info", "start", None)])
    assert_bad_input(run(path, "--model", "register"), "no operations to check")


@pytest.mark.parametrize("model, events", [
    ("kv", call(0, "read", None, 1)),
    ("register", call(0, "cas", 5, True)),
])
def test_ops_the_model_cannot_take_are_bad_input(tmp_path, model, events):
    assert_bad_input(run(write_jsonl(tmp_path, events), "--model", model),
                     "operation #0", f"does not fit the {model} model")


def test_unwritable_markdown_is_bad_input_after_the_verdict(tmp_path):
    out = tmp_path / "missing-dir" / "verdict.md"
    result = run(DATA / "register-linearizable.jsonl", "--model", "register", "--markdown", out)
    assert result.exit_code == 2
    assert result.stdout.startswith("linearizable: ok")
    assert result.stderr.startswith(f"deepdives: error: cannot write {out}")


# -- the loaders -------------------------------------------------------------------------

def test_jsonl_time_defaults_to_position():
    events = parse_jsonl('{"process": 1, "type": "invoke", "f": "read"}\n\n'
                         '{"process": 1, "type": "ok", "f": "read", "value": 2}\n')
    assert events == [Event("1", "invoke", "read", None, 0), Event("1", "ok", "read", 2, 1)]


@pytest.mark.parametrize("text, message", [
    ('[1, 2]', "line 1: expected an event map, found a list"),
    ('{"type": "ok"}', "line 1: expected the event to have process, f (it has type)"),
    ('{"process": 0, "type": "ok", "f": "read", "time": 1}\n'
     '{"process": 0, "type": "ok", "f": "read"}', "line 2: expected a time"),
    ('{"process": 0, "type": "ok", "f": "read", "time": 5}\n'
     '{"process": 0, "type": "ok", "f": "read", "time": 4}',
     "line 2: expected events in time order, found time 4 after 5"),
    ('{"process": 0, "type": "ok", "f": "read", "time": "noon"}',
     "line 1: expected time to be an integer, found 'noon'"),
    ('{"process": [0], "type": "ok", "f": "read"}', "expected process to be a name or number"),
    ('{"process": 0, "type": "ok", "f": 3}', "expected f to be a name, found a number"),
])
def test_jsonl_errors_say_what_was_expected(text, message):
    with pytest.raises(HistoryFileError, match="^h.jsonl, ") as info:
        parse_jsonl(text, "h.jsonl")
    assert message in str(info.value)


def test_edn_reader_handles_the_jepsen_subset():
    text = ('; a comment\n[{:process 0, :type :invoke, :f :txn, :value [[:append 1 2] '
            '[:r 1 nil]]}\n #_{:discarded true}\n'
            '#jepsen.history.Op{:process 0, :type :ok, :f :txn, '
            ':value [[:append 1 2] [:r 1 [1 2]]], :time 9N}]')
    with pytest.raises(HistoryFileError, match="expected a time"):
        parse_edn_history(text)
    first, second = parse_edn_history(text.replace(", :time 9N", ""))
    assert first.value == [["append", 1, 2], ["r", 1, None]]
    assert second == Event("0", "ok", "txn", [["append", 1, 2], ["r", 1, [1, 2]]], 1)


@pytest.mark.parametrize("text, value", [
    ('"a\\"b\\u0041\\n"', 'a"bA\n'),
    ("-12", -12), ("1.5e3", 1500.0), ("2.5M", 2.5), ("true", True), ("nil", None),
    (":ns/name", "ns/name"), ("#{1 [2 3]}", frozenset({1, (2, 3)})),
    ("{[1 2] (3 4)}", {(1, 2): [3, 4]}), ('#inst "2024-01-01"', "2024-01-01"),
])
def test_edn_values(text, value):
    assert EdnReader(text).read() == value


@pytest.mark.parametrize("text, message", [
    ("{:a 1}\n{:b", "line 2: expected '}' to close the collection opened on line 2, found "
                    "the end of the file"),
    ("[1 2\n", "expected ']' to close the collection opened on line 1"),
    ('\n"open', 'line 2: expected a closing " for the string'),
    ("sym", "expected a value (map, vector"),
    ("#", "expected a set #{...}, a discard #_ or a tag"),
    ('"\\q"', "expected a string escape"),
])
def test_edn_errors_say_where_and_what_was_expected(text, message):
    with pytest.raises(HistoryFileError) as info:
        reader = EdnReader(text, "h.edn")
        while reader.more():
            reader.read()
    assert str(info.value).startswith("h.edn, line ")
    assert message in str(info.value)


def test_edn_top_level_must_hold_event_maps():
    with pytest.raises(HistoryFileError, match="line 2: expected an event map, found a number"):
        parse_edn_history("[{:process 0 :type :invoke :f :read}\n 7]", "h.edn")


def test_load_history_picks_the_format_by_extension():
    assert len(load_history(DATA / "register-stale-read.edn")) == 8
    assert len(load_history(DATA / "register-stale-read.jsonl")) == 4


def test_hashable_freezes_nested_values():
    assert hashable([1, [2, {"a": [3]}]]) == (1, (2, frozenset({("a", (3,))})))
